/*
 * Unit tests for the mirror, fed parsed entries directly (no LDAP):
 * joiners, movers, leavers, membership diffs, mark-and-sweep, the
 * departure guard, and the cookie stored with the changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "mirror.h"

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
	    test_env_open(&f->env, "mirror",
			  "[directory]\nuri = ldap://h/\nbase = dc=x\n[groups]\nprivileged = ops\n",
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

static struct dir_entry
user(const char *uuid, const char *uid, const char *dn)
{
	struct dir_entry e = {
		.kind = DIR_USER, .uid_number = -1, .shadow_expire = -1, .gid_number = -1};

	strcpy(e.uuid, uuid);
	e.uid = idg_unconst(uid);
	e.dn = idg_unconst(dn);
	e.dn_norm = idg_unconst(dn);
	return e;
}

static struct dir_entry
group(const char *uuid, const char *cn, char **members, size_t n)
{
	struct dir_entry e = {
		.kind = DIR_GROUP, .uid_number = -1, .shadow_expire = -1, .gid_number = -1};

	strcpy(e.uuid, uuid);
	e.cn = idg_unconst(cn);
	e.dn = e.dn_norm = idg_unconst("cn=g,dc=x");
	e.members = members;
	e.n_members = n;
	return e;
}

static void
apply_all(struct fixture *f, int refresh, struct dir_entry *e, size_t n, int sweep)
{
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, refresh, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (mirror_apply(f->m, &e[i], &err) != 0)
			fail_msg("%s", err.msg);
	if (sweep)
		assert_int_equal(mirror_sweep(f->m, &err), 0);
	assert_int_equal(mirror_check_guard(f->m, 0, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
}

static char m_a[] = "uid=a,dc=x", m_b[] = "uid=b,dc=x", m_c[] = "uid=c,dc=x";

static void
test_baseline_records_no_events(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a, m_b};
	struct dir_entry e[] = {user("00000000-0000-0000-0000-00000000000a", "a", m_a),
				user("00000000-0000-0000-0000-00000000000b", "b", m_b),
				group("00000000-0000-0000-0000-0000000000g1", "ops", members, 2)};

	apply_all(f, 1, e, 3, 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 2);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 2);
	assert_int_equal(test_count(&f->env, "SELECT privileged FROM groups"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM events"), 0);
}

static void
test_membership_diff_touches_only_changes(void **state)
{
	struct fixture *f = *state;
	char *before[] = {m_a, m_b}, *after[] = {m_b, m_c};
	struct dir_entry e1 = group("00000000-0000-0000-0000-0000000000g1", "ops", before, 2);
	struct dir_entry e2 = group("00000000-0000-0000-0000-0000000000g1", "ops", after, 2);
	struct dir_entry seed = user("00000000-0000-0000-0000-00000000000a", "a", m_a);

	apply_all(f, 0, &seed, 1, 0); /* not a baseline from here on */
	apply_all(f, 0, &e1, 1, 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM events WHERE kind='membership.added'"),
		2);
	apply_all(f, 0, &e2, 1, 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM events WHERE kind='membership.added'"),
		3);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM events WHERE kind='membership.removed'"),
		1);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM membership_values WHERE value='uid=a,dc=x'"),
		0);
}

static void
test_rename_is_a_mover_and_delete_departs(void **state)
{
	struct fixture *f = *state;
	struct dir_entry a = user("00000000-0000-0000-0000-00000000000a", "a", m_a);
	struct dir_entry b = user("00000000-0000-0000-0000-00000000000b", "b", m_b);
	struct dir_entry moved =
		user("00000000-0000-0000-0000-00000000000a", "a", (char *)"uid=a,ou=new,dc=x");
	struct idg_err err;

	apply_all(f, 0, &a, 1, 0);
	apply_all(f, 0, &b, 1, 0);
	apply_all(f, 0, &moved, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM events WHERE kind='user.mover'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 2);
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_delete(f->m, "00000000-0000-0000-0000-00000000000b", &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE status='departed'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 2);
	/* Coming back is a joiner again, and the user is active. */
	apply_all(f, 0, &b, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE status='departed'"),
			 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM events WHERE kind='user.joiner'"), 2);
}

static void
test_sweep_departs_unseen_and_guard_refuses_mass_departure(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[5];
	char uuids[5][40], uids[5][8], dns[5][24];
	struct idg_err err;

	for (int i = 0; i < 5; i++) {
		snprintf(uuids[i], sizeof(uuids[i]), "00000000-0000-0000-0000-00000000000%d", i);
		snprintf(uids[i], sizeof(uids[i]), "u%d", i);
		snprintf(dns[i], sizeof(dns[i]), "uid=u%d,dc=x", i);
		e[i] = user(uuids[i], uids[i], dns[i]);
	}
	apply_all(f, 1, e, 5, 1);
	/* A refresh that sees only u0..u3: one leaver, allowed. */
	apply_all(f, 1, e, 4, 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE status='departed'"),
			 1);
	/* A refresh that sees nobody: refused, and rolled back by the caller. */
	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	assert_int_equal(mirror_sweep(f->m, &err), 0);
	assert_int_equal(mirror_check_guard(f->m, 0, &err), MIRROR_GUARD_TRIPPED);
	assert_non_null(strstr(err.msg, "4 of 4 active users"));
	assert_int_equal(mirror_check_guard(f->m, 1, &err), 0); /* --force */
	mirror_rollback(f->m);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE status='departed'"),
			 1);
}

static void
test_cookie_commits_with_changes_or_not_at_all(void **state)
{
	struct fixture *f = *state;
	struct dir_entry a = user("00000000-0000-0000-0000-00000000000a", "a", m_a);
	struct berval cookie = {4, (char *)"c=42"}, got;
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_apply(f->m, &a, &err), 0);
	assert_int_equal(mirror_save_state(f->m, &cookie, "persist", "ok", &err), 0);
	mirror_rollback(f->m);
	assert_int_equal(mirror_load_cookie(f->env.st, "default", &got, &err), 0);
	assert_null(got.bv_val);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 0);

	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_apply(f->m, &a, &err), 0);
	assert_int_equal(mirror_save_state(f->m, &cookie, "persist", "ok", &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(mirror_load_cookie(f->env.st, "default", &got, &err), 0);
	assert_int_equal(got.bv_len, 4);
	assert_memory_equal(got.bv_val, "c=42", 4);
	free(got.bv_val);
}

/*
 * An entry whose name could not be read is disabled, not skipped: it keeps
 * the stored name; its warnings are rewritten with each change, so they
 * describe the entry as it is.
 */
static void
test_unreadable_values_disable_or_warn_and_never_skip(void **state)
{
	struct fixture *f = *state;
	struct dir_entry a = user("00000000-0000-0000-0000-00000000000a", "a", m_a);
	struct dir_entry bad = a;
	char reason[] = "uid cannot be read (not text)";
	struct idg_err err;

	apply_all(f, 0, &a, 1, 0);
	bad.uid = NULL;
	bad.disabled_reason = reason;
	bad.warnings[0] = (struct dir_warning){"displayName", "over 1024 bytes: stored truncated"};
	bad.n_warnings = 1;
	apply_all(f, 0, &bad, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE uid = 'a' AND "
					     "status = 'disabled' AND disabled_reason = "
					     "'uid cannot be read (not text)'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM entry_warnings"), 1);
	/* A joiner without a readable name is stored disabled, with no name. */
	bad.uuid[35] = 'b';
	bad.n_warnings = 0;
	apply_all(f, 0, &bad, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE uid IS NULL AND "
					     "status = 'disabled'"),
			 1);
	/* Without a reason, a nameless user is refused: nothing may be stored half-understood. */
	bad.disabled_reason = NULL;
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_apply(f->m, &bad, &err), -1);
	mirror_rollback(f->m);
	/* Put right: active again, and the warning is gone. */
	apply_all(f, 0, &a, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE uid = 'a' AND "
					     "status = 'active' AND disabled_reason IS NULL"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM entry_warnings"), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_baseline_records_no_events),
		T(test_membership_diff_touches_only_changes),
		T(test_rename_is_a_mover_and_delete_departs),
		T(test_sweep_departs_unseen_and_guard_refuses_mass_departure),
		T(test_cookie_commits_with_changes_or_not_at_all),
		T(test_unreadable_values_disable_or_warn_and_never_skip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
