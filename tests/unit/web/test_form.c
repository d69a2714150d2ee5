/*
 * Unit tests for idgov-web's form parser: well-formed forms and query
 * strings, repeated fields, and malformed input refused whole (bad
 * escapes, NUL bytes raw or escaped, fields without '=' or a name, too
 * many fields), never half-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "form.h"

static void
test_fields_are_decoded(void **state)
{
	const char s[] = "name=bin&password=Bin+password%211&empty=&x=%3Cscript%3E";
	struct form f;

	(void)state;
	assert_int_equal(form_parse(s, strlen(s), &f), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(form_get(&f, "name"), "bin");
	assert_string_equal(form_get(&f, "password"), "Bin password!1");
	assert_string_equal(form_get(&f, "empty"), "");
	assert_string_equal(form_get(&f, "x"), "<script>");
	assert_null(form_get(&f, "nope"));
	form_free(&f);
}

static void
test_repeated_fields_keep_their_order(void **state)
{
	const char s[] = "item=3&item=1&decision=approve&item=2";
	const char *v[4];
	struct form f;

	(void)state;
	assert_int_equal(form_parse(s, strlen(s), &f), 0);
	assert_int_equal(form_get_all(&f, "item", v, 4), 3);
	assert_string_equal(v[0], "3");
	assert_string_equal(v[1], "1");
	assert_string_equal(v[2], "2");
	/* More than fit: counted, only max written. */
	assert_int_equal(form_get_all(&f, "item", v, 1), 3);
	assert_string_equal(v[0], "3");
	form_free(&f);
}

static void
test_empty_input_and_empty_pairs(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(form_parse("", 0, &f), 0);
	assert_int_equal(f.n, 0);
	form_free(&f);
	assert_int_equal(form_parse("a=1&&b=2&", 9, &f), 0);
	assert_int_equal(f.n, 2);
	form_free(&f);
}

static void
test_length_bounds_the_input(void **state)
{
	const char s[] = "a=1&b=2";
	struct form f;

	(void)state;
	assert_int_equal(form_parse(s, 3, &f), 0);
	assert_int_equal(f.n, 1);
	assert_null(form_get(&f, "b"));
	form_free(&f);
}

static void
test_malformed_input_is_refused_whole(void **state)
{
	static const char *const bad[] = {
		"a=%",          "a=%4",   "a=%zz",  "a=%4g", "a=1&b=%0", "a=%00",
		"a=1&noequals", "=value", "a=1&=2", "%zz=1", "a=1&%=2",
	};
	struct form f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (form_parse(bad[i], strlen(bad[i]), &f) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(f.n, 0);
		assert_null(f.f);
	}
	/* A raw NUL byte inside the length. */
	assert_int_equal(form_parse("a=1\0b=2", 7, &f), -1);
	assert_int_equal(form_parse("a\0=1", 4, &f), -1);
}

static void
test_too_many_fields_are_refused(void **state)
{
	size_t n = FORM_MAX_FIELDS + 1, len = n * 4;
	char *s = malloc(len + 1);
	struct form f;

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * 4, "a=1&", 4);
	assert_int_equal(form_parse(s, len - 4, &f), 0); /* exactly the maximum */
	assert_int_equal(f.n, FORM_MAX_FIELDS);
	form_free(&f);
	assert_int_equal(form_parse(s, len - 1, &f), -1);
	free(s);
}

static void
test_free_wipes_and_resets(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(form_parse("p=secret", 8, &f), 0);
	form_free(&f);
	assert_int_equal(f.n, 0);
	assert_null(f.f);
	form_free(&f); /* twice is harmless */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_are_decoded),
		cmocka_unit_test(test_repeated_fields_keep_their_order),
		cmocka_unit_test(test_empty_input_and_empty_pairs),
		cmocka_unit_test(test_length_bounds_the_input),
		cmocka_unit_test(test_malformed_input_is_refused_whole),
		cmocka_unit_test(test_too_many_fields_are_refused),
		cmocka_unit_test(test_free_wipes_and_resets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
