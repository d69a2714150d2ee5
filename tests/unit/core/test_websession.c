/*
 * Unit tests for web sessions: a token's life cycle (issued, used,
 * idle, past its limit, ended, replaced at the next step), that only its
 * hash is stored, that anything not shaped like a token is no token, and
 * the failed sign-in counts behind throttling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "websession.h"

#define T0 1800000000
#define IDLE 900
#define MAX 28800

static int
setup(void **state)
{
	return test_env_bare_open(state, "websession");
}

static int
teardown(void **state)
{
	return test_env_bare_close(state);
}

static int
check(struct test_env *env, const char *token, int64_t now, struct websession *s)
{
	struct idg_err err;
	int rc = websession_check(env->st, token, now, IDLE, s, &err);

	if (rc < 0)
		fail_msg("%s", err.msg);
	return rc;
}

static void
issue(struct test_env *env, const char *user, enum websession_step step, int64_t now,
      char token[WEBSESSION_TOKEN_LEN + 1])
{
	struct idg_err err;

	if (websession_issue(env->st, user, "192.0.2.7", step, now, MAX, token, &err) != 0)
		fail_msg("%s", err.msg);
}

static void
test_issued_token_names_its_person_and_step(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], other[WEBSESSION_TOKEN_LEN + 1];
	struct websession s;

	issue(env, "alice", WEBSESSION_FULL, T0, token);
	issue(env, "alice", WEBSESSION_FULL, T0, other);
	assert_int_equal(strlen(token), WEBSESSION_TOKEN_LEN);
	assert_string_not_equal(token, other);
	assert_int_equal(check(env, token, T0 + 10, &s), 1);
	assert_string_equal(s.user, "alice");
	assert_string_equal(s.addr, "192.0.2.7");
	assert_int_equal(s.step, WEBSESSION_FULL);
	assert_int_equal(s.created, T0);
	assert_int_equal(s.expires, T0 + MAX);
}

static void
test_store_holds_only_the_hash(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];
	sqlite3_stmt *stmt;
	int rows = 0;

	issue(env, "alice", WEBSESSION_FULL, T0, token);
	assert_int_equal(sqlite3_prepare_v2(env->st->db, "SELECT token_hash FROM web_sessions", -1,
					    &stmt, NULL),
			 SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(stmt, 0);
		int n = sqlite3_column_bytes(stmt, 0);

		rows++;
		assert_int_equal(n, 32);
		assert_memory_not_equal(h, token, 32);
	}
	sqlite3_finalize(stmt);
	assert_int_equal(rows, 1);
}

static void
test_idle_session_is_over_and_use_keeps_it_alive(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];
	struct websession s;

	issue(env, "alice", WEBSESSION_FULL, T0, token);
	/* Used every 14 minutes, it lives on well past one idle period. */
	for (int64_t t = T0; t < T0 + 4 * IDLE; t += IDLE - 60)
		assert_int_equal(check(env, token, t, &s), 1);
	assert_int_equal(check(env, token, T0 + 4 * IDLE + IDLE, &s), 0);
	/* Once over, it stays over, even if the clock were to go back. */
	assert_int_equal(check(env, token, T0 + 4 * IDLE, &s), 0);
}

static void
test_session_ends_at_its_absolute_limit_however_used(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];
	struct websession s;
	int64_t t;

	issue(env, "alice", WEBSESSION_FULL, T0, token);
	for (t = T0; t < T0 + MAX; t += 600)
		assert_int_equal(check(env, token, t, &s), 1);
	assert_int_equal(check(env, token, T0 + MAX, &s), 0);
}

static void
test_ended_session_is_refused_and_others_stay(void **state)
{
	struct test_env *env = *state;
	char a[WEBSESSION_TOKEN_LEN + 1], b[WEBSESSION_TOKEN_LEN + 1], c[WEBSESSION_TOKEN_LEN + 1];
	struct websession s;
	struct idg_err err;
	int n;

	issue(env, "alice", WEBSESSION_FULL, T0, a);
	issue(env, "alice", WEBSESSION_FULL, T0, b);
	issue(env, "bob", WEBSESSION_FULL, T0, c);
	assert_int_equal(websession_end(env->st, a, T0 + 1, &err), 0);
	assert_int_equal(check(env, a, T0 + 2, &s), 0);
	assert_int_equal(check(env, b, T0 + 2, &s), 1);
	assert_int_equal(websession_end_user(env->st, "alice", T0 + 3, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(check(env, b, T0 + 4, &s), 0);
	assert_int_equal(check(env, c, T0 + 4, &s), 1);
}

static void
test_advance_replaces_the_token(void **state)
{
	struct test_env *env = *state;
	char old[WEBSESSION_TOKEN_LEN + 1], new[WEBSESSION_TOKEN_LEN + 1];
	struct websession s, n;
	struct idg_err err;

	issue(env, "alice", WEBSESSION_CODE, T0, old);
	assert_int_equal(check(env, old, T0 + 5, &s), 1);
	assert_int_equal(s.step, WEBSESSION_CODE);
	assert_int_equal(
		websession_advance(env->st, old, &s, WEBSESSION_FULL, T0 + 6, 100, new, &err), 0);
	assert_string_not_equal(old, new);
	assert_int_equal(check(env, old, T0 + 7, &s), 0);
	assert_int_equal(check(env, new, T0 + 7, &n), 1);
	assert_int_equal(n.step, WEBSESSION_FULL);
	assert_string_equal(n.user, "alice");
	assert_int_equal(n.expires, T0 + 106);
}

static void
test_malformed_tokens_are_no_tokens(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], bad[WEBSESSION_TOKEN_LEN + 2];
	struct websession s;
	struct idg_err err;
	static const char *const junk[] = {
		"",
		"x",
		"' OR 1=1 --",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	};

	issue(env, "alice", WEBSESSION_FULL, T0, token);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		assert_int_equal(check(env, junk[i], T0, &s), 0);
		assert_int_equal(websession_end(env->st, junk[i], T0, &err), 0);
	}
	/* The real token with one more character, or one less, is not it. */
	snprintf(bad, sizeof(bad), "%sA", token);
	assert_int_equal(check(env, bad, T0, &s), 0);
	bad[WEBSESSION_TOKEN_LEN - 1] = '\0';
	assert_int_equal(check(env, bad, T0, &s), 0);
	/* Nor is it with one character changed. */
	snprintf(bad, sizeof(bad), "%s", token);
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	assert_int_equal(check(env, bad, T0, &s), 0);
	assert_int_equal(check(env, token, T0, &s), 1);
}

static void
test_failures_counted_per_user_and_address_within_window(void **state)
{
	struct test_env *env = *state;
	int64_t by_user, by_addr;
	struct idg_err err;

	for (int i = 0; i < 3; i++)
		assert_int_equal(websession_note_failure(env->st, "alice", "192.0.2.7", T0 + i,
							 T0 - 900, &err),
				 0);
	assert_int_equal(
		websession_note_failure(env->st, "bob", "192.0.2.7", T0 + 3, T0 - 900, &err), 0);
	assert_int_equal(
		websession_note_failure(env->st, "alice", "198.51.100.1", T0 + 4, T0 - 900, &err),
		0);
	assert_int_equal(
		websession_failures(env->st, "alice", "192.0.2.7", T0, &by_user, &by_addr, &err),
		0);
	assert_int_equal(by_user, 4);
	assert_int_equal(by_addr, 4);
	/* Outside the window they do not count, and a later failure forgets them. */
	assert_int_equal(websession_failures(env->st, "alice", "192.0.2.7", T0 + 3, &by_user,
					     &by_addr, &err),
			 0);
	assert_int_equal(by_user, 1);
	assert_int_equal(by_addr, 1);
	assert_int_equal(websession_note_failure(env->st, "carol", "203.0.113.9", T0 + 2000,
						 T0 + 1100, &err),
			 0);
	assert_int_equal(
		websession_failures(env->st, "alice", "192.0.2.7", 0, &by_user, &by_addr, &err), 0);
	assert_int_equal(by_user, 0);
	assert_int_equal(by_addr, 0);
}

static void
test_clear_forgets_only_that_user(void **state)
{
	struct test_env *env = *state;
	int64_t by_user, by_addr;
	struct idg_err err;

	assert_int_equal(websession_note_failure(env->st, "alice", "192.0.2.7", T0, T0 - 900, &err),
			 0);
	assert_int_equal(websession_note_failure(env->st, "bob", "192.0.2.7", T0, T0 - 900, &err),
			 0);
	assert_int_equal(websession_clear_failures(env->st, "alice", &err), 0);
	assert_int_equal(
		websession_failures(env->st, "alice", "192.0.2.7", 0, &by_user, &by_addr, &err), 0);
	assert_int_equal(by_user, 0);
	assert_int_equal(by_addr, 1);
}

static void
test_overlong_user_or_address_refused(void **state)
{
	struct test_env *env = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], name[WEBSESSION_MAX_USER + 2];
	struct idg_err err;

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(
		websession_issue(env->st, name, "192.0.2.7", WEBSESSION_FULL, T0, MAX, token, &err),
		-1);
	assert_string_equal(token, "");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_issued_token_names_its_person_and_step),
		T(test_store_holds_only_the_hash),
		T(test_idle_session_is_over_and_use_keeps_it_alive),
		T(test_session_ends_at_its_absolute_limit_however_used),
		T(test_ended_session_is_refused_and_others_stay),
		T(test_advance_replaces_the_token),
		T(test_malformed_tokens_are_no_tokens),
		T(test_failures_counted_per_user_and_address_within_window),
		T(test_clear_forgets_only_that_user),
		T(test_overlong_user_or_address_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
