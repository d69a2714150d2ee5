/*
 * Unit tests for the mirror's copy of the fleet-wide MFA tokens
 * (tokenmirror.c, fleet_tokens): rows written and read back whole, an
 * entry without a token deleting its row, an unreadable token marking the
 * row unusable (locked, the step kept), and rows edited into malformed
 * values refused whole. The mirror is fed parsed entries (no LDAP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "mirror.h"
#include "tokenmirror.h"

#define UA "00000000-0000-0000-0000-00000000000a"
#define UB "00000000-0000-0000-0000-00000000000b"

struct fixture {
	struct test_env env;
	struct mirror *m;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct idg_err err;

	if (f == NULL ||
	    test_env_open(&f->env, "tokenmirror",
			  "[directory]\nuri = ldap://h/\nbase = dc=x\n[fleet]\nmfa = directory\n",
			  NULL, NULL, 0) != 0)
		return -1;
	if (mirror_open(f->env.st, NULL, f->env.cfg, NULL, &f->m, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mirror_close(f->m);
	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

/* An enrolled token as the directory would hold it (a blob of the sealed size). */
static void
enrolled(struct token *t, int64_t last_step)
{
	memset(t, 0, sizeof(*t));
	t->enrolled = 1;
	t->sealed_len = FLEET_SEAL_OVERHEAD + 20;
	memset(t->sealed, 0xA5, t->sealed_len);
	t->sealed[0] = FLEET_SEAL_VERSION;
	strcpy(t->algorithm, "sha1");
	t->digits = 6;
	t->period = 30;
	t->last_step = last_step;
	t->failures = 2;
	t->failure_start = 1700000000;
	t->n_recovery = 2;
	strcpy(t->recovery[0], "ABCD:$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
	strcpy(t->recovery[1], "WXYZ:$argon2id$v=19$m=65536,t=2,p=1$c2FsdB$aGFzaB");
	t->last_login = 1700000100;
	t->has_token_class = t->has_login_class = 1;
}

static struct dir_entry
user(const char *uuid, const char *uid, enum dir_token_state ts, struct token *t)
{
	struct dir_entry e = {
		.kind = DIR_USER, .uid_number = -1, .shadow_expire = -1, .gid_number = -1};

	strcpy(e.uuid, uuid);
	e.uid = idg_unconst(uid);
	e.dn = e.dn_norm = idg_unconst(uid[0] == 'a' ? "uid=a,dc=x" : "uid=b,dc=x");
	e.token_state = ts;
	e.token = t;
	return e;
}

static void
apply(struct fixture *f, struct dir_entry *e)
{
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	if (mirror_apply(f->m, e, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(mirror_check_guard(f->m, 0, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
}

static int
get(struct fixture *f, const char *uuid, struct token *t, int *unusable)
{
	struct idg_err err;
	int rc = tokenmirror_get(f->env.st, uuid, t, unusable, &err);

	if (rc < 0)
		fprintf(stderr, "tokenmirror_get: %s\n", err.msg);
	return rc;
}

static void
test_row_round_trips_every_field(void **state)
{
	struct fixture *f = *state;
	struct token t, back;
	int unusable = -1;
	struct idg_err err;

	enrolled(&t, 56666666);
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(unusable, 0);
	assert_int_equal(back.enrolled, 1);
	assert_int_equal(back.sealed_len, t.sealed_len);
	assert_memory_equal(back.sealed, t.sealed, t.sealed_len);
	assert_string_equal(back.algorithm, "sha1");
	assert_int_equal(back.digits, 6);
	assert_int_equal(back.period, 30);
	assert_int_equal(back.last_step, 56666666);
	assert_int_equal(back.failures, 2);
	assert_int_equal(back.failure_start, 1700000000);
	assert_int_equal(back.locked_until, 0);
	assert_int_equal(back.n_recovery, 2);
	assert_string_equal(back.recovery[0], t.recovery[0]);
	assert_string_equal(back.recovery[1], t.recovery[1]);
	assert_int_equal(back.last_login, 1700000100);
	/* No row: 0, not an error. */
	assert_int_equal(get(f, UB, &back, &unusable), 0);
}

static void
test_last_login_alone_is_a_row_without_a_secret(void **state)
{
	struct fixture *f = *state;
	struct token t = {0}, back;
	int unusable = -1;
	struct idg_err err;

	assert_true(tokenmirror_empty(&t));
	t.last_login = 1700000000;
	assert_false(tokenmirror_empty(&t));
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(back.enrolled, 0);
	assert_int_equal(unusable, 0);
	assert_int_equal(back.n_recovery, 0);
	assert_int_equal(back.last_login, 1700000000);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens WHERE sealed IS "
					     "NULL AND algorithm IS NULL AND digits IS NULL"),
			 1);
}

static void
test_sync_writes_the_token_and_deletes_it_when_the_entry_has_none(void **state)
{
	struct fixture *f = *state;
	struct token t, back;
	struct dir_entry e;
	int unusable;

	enrolled(&t, 100);
	e = user(UA, "a", DIR_TOKEN_PRESENT, &t);
	apply(f, &e);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(back.last_step, 100);
	/* A later step replaces the row. */
	t.last_step = 101;
	t.failures = 0;
	apply(f, &e);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(back.last_step, 101);
	assert_int_equal(back.failures, 0);
	/* The entry lost its token (mfa reset elsewhere): the row goes. */
	e = user(UA, "a", DIR_TOKEN_ABSENT, NULL);
	apply(f, &e);
	assert_int_equal(get(f, UA, &back, &unusable), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens"), 0);
	/* No token change is an audit event or a user change. */
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM events WHERE kind = "
					     "'user.changed'"),
			 0);
}

static void
test_unreadable_token_marks_the_row_locked_and_keeps_the_step(void **state)
{
	struct fixture *f = *state;
	struct token t, back;
	struct dir_entry e;
	int unusable;

	enrolled(&t, 5000);
	e = user(UA, "a", DIR_TOKEN_PRESENT, &t);
	apply(f, &e);
	e = user(UA, "a", DIR_TOKEN_UNREADABLE, NULL);
	apply(f, &e);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(unusable, 1);
	assert_int_equal(back.enrolled, 0);
	assert_true(back.locked_until == TOKENMIRROR_UNUSABLE);
	assert_int_equal(back.last_step, 5000); /* never reopened */
	/* A user first seen with an unreadable token gets a locked row too. */
	e = user(UB, "b", DIR_TOKEN_UNREADABLE, NULL);
	apply(f, &e);
	assert_int_equal(get(f, UB, &back, &unusable), 1);
	assert_int_equal(unusable, 1);
	/* The next readable copy replaces the mark. */
	e = user(UA, "a", DIR_TOKEN_PRESENT, &t);
	apply(f, &e);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(unusable, 0);
	assert_int_equal(back.locked_until, 0);
	assert_int_equal(back.enrolled, 1);
}

static void
test_local_mode_entries_leave_the_table_alone(void **state)
{
	struct fixture *f = *state;
	struct token t;
	struct dir_entry e;
	struct idg_err err;

	enrolled(&t, 7);
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
	/* DIR_TOKEN_NONE: the attributes were not asked for; nothing is implied. */
	e = user(UA, "a", DIR_TOKEN_NONE, NULL);
	apply(f, &e);
	assert_int_equal(test_count(&f->env, "SELECT last_step FROM fleet_tokens"), 7);
}

static void
test_present_without_a_token_is_refused(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e = user(UA, "a", DIR_TOKEN_PRESENT, NULL);
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_apply(f->m, &e, &err), -1);
	assert_non_null(strstr(err.msg, "without its token"));
	mirror_rollback(f->m);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 0);
}

static void
test_put_refuses_a_half_token(void **state)
{
	struct fixture *f = *state;
	struct token t;
	struct idg_err err;

	enrolled(&t, 1);
	t.sealed_len = 0;
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), -1);
	enrolled(&t, 1);
	t.n_recovery = TOKEN_MAX_RECOVERY + 1;
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), -1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens"), 0);
}

/* A well-formed row is written, then one column is edited; the row must be refused whole. */
static void
expect_malformed(struct fixture *f, const char *update, const char *column)
{
	struct token t, back;
	struct idg_err err;
	int unusable = 0;
	char msg[64];

	enrolled(&t, 9);
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
	assert_int_equal(store_exec(f->env.st, update, &err), 0);
	if (tokenmirror_get(f->env.st, UA, &back, &unusable, &err) != -1)
		fail_msg("accepted after: %s", update);
	snprintf(msg, sizeof(msg), "(%s)", column);
	if (strstr(err.msg, msg) == NULL)
		fail_msg("'%s' does not name %s", err.msg, column);
	/* Nothing half-read is left for a careless caller. */
	assert_int_equal(back.enrolled, 0);
	assert_int_equal(back.last_step, 0);
	assert_int_equal(back.n_recovery, 0);
}

static void
test_malformed_rows_are_refused_whole(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *sql, *column;
	} cases[] = {
		{"UPDATE fleet_tokens SET sealed = x'01'", "sealed"},
		{"UPDATE fleet_tokens SET sealed = zeroblob(500)", "sealed"},
		{"UPDATE fleet_tokens SET sealed = 'text, not a blob of the right size at all "
		 "because it is text'",
		 "sealed"},
		{"UPDATE fleet_tokens SET algorithm = 'md5'", "algorithm"},
		{"UPDATE fleet_tokens SET algorithm = 'sha1 '", "algorithm"},
		{"UPDATE fleet_tokens SET algorithm = 7", "algorithm"},
		{"UPDATE fleet_tokens SET digits = 5", "digits"},
		{"UPDATE fleet_tokens SET digits = 9", "digits"},
		{"UPDATE fleet_tokens SET digits = '6x'", "digits"},
		{"UPDATE fleet_tokens SET period = -30", "period"},
		{"UPDATE fleet_tokens SET period = 30.5", "period"},
		{"UPDATE fleet_tokens SET last_step = -1", "last_step"},
		{"UPDATE fleet_tokens SET last_step = 'many'", "last_step"},
		{"UPDATE fleet_tokens SET failures = -2", "failures"},
		{"UPDATE fleet_tokens SET failure_start = 1.5", "failure_start"},
		{"UPDATE fleet_tokens SET locked_until = -9223372036854775808", "locked_until"},
		{"UPDATE fleet_tokens SET recovery = recovery || char(10)", "recovery"},
		{"UPDATE fleet_tokens SET recovery = char(10) || recovery", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD$argon2id$x'", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'abcd:$argon2id$x'", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'AB-D:$argon2id$x'", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD:$argon2id$x y'", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD:$argon2id$x' || char(127)", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD:'", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD:$' || char(1)", "recovery"},
		{"UPDATE fleet_tokens SET recovery = 'ABCD:$' || printf('%.200c', 'x')",
		 "recovery"},
		{"UPDATE fleet_tokens SET recovery = x'4142434400'", "recovery"},
		{"UPDATE fleet_tokens SET last_login = 'yesterday'", "last_login"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_malformed(f, cases[i].sql, cases[i].column);
}

static void
test_recovery_values_up_to_the_limit_are_read(void **state)
{
	struct fixture *f = *state;
	struct token t, back;
	struct idg_err err;
	int unusable;

	enrolled(&t, 1);
	t.n_recovery = TOKEN_MAX_RECOVERY;
	for (size_t i = 0; i < TOKEN_MAX_RECOVERY; i++) {
		memset(t.recovery[i], 'x', TOKEN_RECOVERY_MAX - 1);
		memcpy(t.recovery[i], "ABCD:$", 6);
		t.recovery[i][3] = "ABCDEFGHJKLMNPQR"[i];
		t.recovery[i][TOKEN_RECOVERY_MAX - 1] = '\0';
	}
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
	assert_int_equal(get(f, UA, &back, &unusable), 1);
	assert_int_equal(back.n_recovery, TOKEN_MAX_RECOVERY);
	assert_string_equal(back.recovery[15], t.recovery[15]);
	/* One more line is one too many. */
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE fleet_tokens SET recovery = recovery || char(10) || "
				    "'ZZZZ:$argon2id$x'",
				    &err),
			 0);
	assert_int_equal(tokenmirror_get(f->env.st, UA, &back, &unusable, &err), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_row_round_trips_every_field),
		T(test_last_login_alone_is_a_row_without_a_secret),
		T(test_sync_writes_the_token_and_deletes_it_when_the_entry_has_none),
		T(test_unreadable_token_marks_the_row_locked_and_keeps_the_step),
		T(test_local_mode_entries_leave_the_table_alone),
		T(test_present_without_a_token_is_refused),
		T(test_put_refuses_a_half_token),
		T(test_malformed_rows_are_refused_whole),
		T(test_recovery_values_up_to_the_limit_are_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
