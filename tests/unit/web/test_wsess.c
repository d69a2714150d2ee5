/*
 * Unit tests for idgov-web's session table: ids and CSRF tokens are
 * random and checked in constant time; each step replaces the id; idle,
 * absolute and sign-in-form limits; a full table makes room by the entry
 * used least recently; dropped entries are gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wsess.h"

#include <sodium.h>

#define T0 1800000000
#define IDLE 900
#define MAX 28800

static void
test_new_entry_is_anonymous_with_csrf(void **state)
{
	struct wsess_table *t = wsess_table_new(8, IDLE, MAX);
	struct wsess a, b, got;

	(void)state;
	assert_int_equal(wsess_new(t, T0, &a), 0);
	assert_int_equal(wsess_new(t, T0, &b), 0);
	assert_int_equal(strlen(a.id), WSESS_ID_LEN);
	assert_int_equal(strlen(a.csrf), WSESS_ID_LEN);
	assert_string_not_equal(a.id, b.id);
	assert_string_not_equal(a.id, a.csrf);
	assert_int_equal(a.step, WSESS_ANON);
	assert_int_equal(wsess_get(t, a.id, T0 + 1, &got), 1);
	assert_string_equal(got.csrf, a.csrf);
	assert_true(wsess_csrf_ok(&got, a.csrf));
	assert_false(wsess_csrf_ok(&got, b.csrf));
	assert_false(wsess_csrf_ok(&got, NULL));
	assert_false(wsess_csrf_ok(&got, ""));
	wsess_table_free(t);
}

static void
test_advance_replaces_id_and_csrf(void **state)
{
	struct wsess_table *t = wsess_table_new(8, IDLE, MAX);
	struct wsess a, b, got;

	(void)state;
	wsess_new(t, T0, &a);
	assert_int_equal(wsess_advance(t, a.id, T0 + 5, "tok", "bin", WSESS_CODE, 0, &b), 1);
	assert_string_not_equal(a.id, b.id);
	assert_string_not_equal(a.csrf, b.csrf);
	assert_int_equal(wsess_get(t, a.id, T0 + 6, &got), 0);
	assert_int_equal(wsess_get(t, b.id, T0 + 6, &got), 1);
	assert_string_equal(got.user, "bin");
	assert_string_equal(got.token, "tok");
	assert_int_equal(got.step, WSESS_CODE);
	assert_false(wsess_csrf_ok(&got, a.csrf));
	assert_int_equal(wsess_advance(t, a.id, T0 + 7, "t2", "x", WSESS_FULL, 1, &got), 0);
	wsess_table_free(t);
}

static void
test_limits(void **state)
{
	struct wsess_table *t = wsess_table_new(8, IDLE, MAX);
	struct wsess a, s, got;
	int64_t now;

	(void)state;
	/* A sign-in form lives WSESS_ANON_MAX seconds. */
	wsess_new(t, T0, &a);
	assert_int_equal(wsess_get(t, a.id, T0 + WSESS_ANON_MAX, &got), 0);
	/* A signed-in session: idle limit, then the absolute one however used. */
	wsess_new(t, T0, &a);
	wsess_advance(t, a.id, T0, "tok", "bin", WSESS_FULL, 0, &s);
	assert_int_equal(wsess_get(t, s.id, T0 + IDLE - 1, &got), 1);
	for (now = T0 + IDLE - 1; now < T0 + MAX - 600; now += 600)
		assert_int_equal(wsess_get(t, s.id, now, &got), 1);
	assert_int_equal(wsess_get(t, s.id, T0 + MAX, &got), 0);
	/* An idle one is over, and stays over. */
	wsess_new(t, T0, &a);
	wsess_advance(t, a.id, T0, "tok", "bin", WSESS_FULL, 0, &s);
	assert_int_equal(wsess_get(t, s.id, T0 + IDLE, &got), 0);
	assert_int_equal(wsess_get(t, s.id, T0 + 1, &got), 0);
	wsess_table_free(t);
}

static void
test_full_table_evicts_least_recently_used(void **state)
{
	struct wsess_table *t = wsess_table_new(3, IDLE, MAX);
	struct wsess a, b, c, d, got;

	(void)state;
	wsess_new(t, T0, &a);
	wsess_new(t, T0 + 1, &b);
	wsess_new(t, T0 + 2, &c);
	assert_int_equal(wsess_get(t, a.id, T0 + 3, &got), 1); /* a is now the newest use */
	wsess_new(t, T0 + 4, &d);
	assert_int_equal(wsess_get(t, b.id, T0 + 5, &got), 0);
	assert_int_equal(wsess_get(t, a.id, T0 + 5, &got), 1);
	assert_int_equal(wsess_get(t, c.id, T0 + 5, &got), 1);
	assert_int_equal(wsess_get(t, d.id, T0 + 5, &got), 1);
	assert_int_equal(wsess_count(t, T0 + 5), 3);
	wsess_table_free(t);
}

static void
test_drop_and_malformed_ids(void **state)
{
	struct wsess_table *t = wsess_table_new(4, IDLE, MAX);
	struct wsess a, got;
	char shorter[WSESS_ID_LEN + 1], longer[WSESS_ID_LEN + 2];

	(void)state;
	wsess_new(t, T0, &a);
	snprintf(shorter, sizeof(shorter), "%.*s", WSESS_ID_LEN - 1, a.id);
	snprintf(longer, sizeof(longer), "%sA", a.id);
	assert_int_equal(wsess_get(t, shorter, T0, &got), 0);
	assert_int_equal(wsess_get(t, longer, T0, &got), 0);
	assert_int_equal(wsess_get(t, "", T0, &got), 0);
	wsess_drop(t, "nonsense");
	assert_int_equal(wsess_get(t, a.id, T0, &got), 1);
	wsess_drop(t, a.id);
	assert_int_equal(wsess_get(t, a.id, T0, &got), 0);
	assert_int_equal(wsess_count(t, T0), 0);
	wsess_table_free(t);
}

/* An id names its entry's slot; an id with a slot past the table, another entry's slot, a
 * changed byte or characters outside base64url names nothing, and leaves the entries be. */
static void
test_ids_name_their_slot_and_nothing_else(void **state)
{
	struct wsess_table *t = wsess_table_new(4, IDLE, MAX);
	struct wsess a, b, got;
	unsigned char raw[32];
	char forged[WSESS_ID_LEN + 1];
	size_t len;

	(void)state;
	assert_int_equal(wsess_new(t, T0, &a), 0);
	assert_int_equal(wsess_new(t, T0, &b), 0);
	/* Each id carries its own slot: two entries, two slots. */
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), a.id, WSESS_ID_LEN, NULL, &len, NULL,
					   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			 0);
	assert_int_equal(len, sizeof(raw));
	assert_true(raw[0] == 0 && raw[1] < 4);
	{
		unsigned slot_a = raw[1];

		assert_int_equal(sodium_base642bin(raw, sizeof(raw), b.id, WSESS_ID_LEN, NULL, &len,
						   NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
				 0);
		assert_int_not_equal(raw[1], slot_a);
		/* b's random part with a's slot: a's entry, but not a's id. */
		raw[1] = (unsigned char)slot_a;
		sodium_bin2base64(forged, sizeof(forged), raw, sizeof(raw),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		assert_int_equal(wsess_get(t, forged, T0, &got), 0);
		/* A slot past the table. */
		raw[0] = 0xff;
		sodium_bin2base64(forged, sizeof(forged), raw, sizeof(raw),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		assert_int_equal(wsess_get(t, forged, T0, &got), 0);
	}
	/* a's id with its last character changed, and with a character outside base64url. */
	snprintf(forged, sizeof(forged), "%s", a.id);
	forged[WSESS_ID_LEN - 1] = forged[WSESS_ID_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(wsess_get(t, forged, T0, &got), 0);
	snprintf(forged, sizeof(forged), "%s", a.id);
	forged[10] = '+';
	assert_int_equal(wsess_get(t, forged, T0, &got), 0);
	wsess_drop(t, forged);
	/* Nothing above touched a or b. */
	assert_int_equal(wsess_get(t, a.id, T0, &got), 1);
	assert_string_equal(got.csrf, a.csrf);
	assert_int_equal(wsess_get(t, b.id, T0, &got), 1);
	/* A new id after a step keeps the entry's slot. */
	assert_int_equal(wsess_advance(t, a.id, T0, "tok", "ann", WSESS_FULL, 0, &got), 1);
	assert_int_equal(wsess_get(t, got.id, T0, &got), 1);
	assert_int_equal(wsess_count(t, T0), 2);
	wsess_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_entry_is_anonymous_with_csrf),
		cmocka_unit_test(test_advance_replaces_id_and_csrf),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_full_table_evicts_least_recently_used),
		cmocka_unit_test(test_drop_and_malformed_ids),
		cmocka_unit_test(test_ids_name_their_slot_and_nothing_else),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
