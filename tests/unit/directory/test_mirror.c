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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "mirror.h"
#include "packed.h"

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

/* The secondary indexes of the tables a baseline fills: all present after it. */
static long long
baseline_indexes_present(struct fixture *f)
{
	return test_count(&f->env, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
				   "name IN ('users_dn_norm', 'users_uid', "
				   "'users_uid_nocase', 'member_refs_target')");
}

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
	assert_int_equal(baseline_indexes_present(f), 4);
	/* One packed row for the group, one per member value, each the other's inverse. */
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM group_members"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM ref_groups"), 2);
	assert_int_equal(test_count(&f->env, TEST_PACKED_DISAGREE_SQL), 0);
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

/* n users u0..u(n-1) with uuids ...0000-00000000NNNN. */
static void
make_users(struct dir_entry *e, char (*uuids)[40], char (*uids)[16], char (*dns)[32], int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(uuids[i], 40, "00000000-0000-0000-0000-%012d", i);
		snprintf(uids[i], 16, "u%d", i);
		snprintf(dns[i], 32, "uid=u%d,dc=x", i);
		e[i] = user(uuids[i], uids[i], dns[i]);
	}
}

static void
delete_users(struct fixture *f, char (*uuids)[40], int from, int to, struct mirror_stats *out)
{
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	for (int i = from; i < to; i++)
		assert_int_equal(mirror_delete(f->m, uuids[i], &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	if (out != NULL)
		*out = *mirror_stats(f->m);
}

static int
active(struct fixture *f)
{
	return (int)test_count(&f->env, "SELECT count(*) FROM users WHERE status = 'active'");
}

/*
 * A refresh that sees nobody holds every departure instead of applying
 * them or refusing the whole sync: other changes still commit, later
 * departures join the hold, and a release with the right number applies
 * them all, audited with the admin.
 */
static void
test_guard_holds_mass_departure_and_release_applies_it(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[6];
	char uuids[6][40], uids[6][16], dns[6][32];
	struct mirror_stats st;
	struct idg_err err;
	int64_t released;

	make_users(e, uuids, uids, dns, 6);
	apply_all(f, 1, e, 5, 1);
	/* A refresh that sees only u0..u3: one leaver, applied. */
	apply_all(f, 1, e, 4, 1);
	assert_int_equal(active(f), 4);
	/*
	 * A refresh that sees nobody but a joiner: the joiner commits, the four
	 * departures are held (with the leaver above, 5 of the 6 users active
	 * when the window began).
	 */
	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	assert_int_equal(mirror_apply(f->m, &e[5], &err), 0);
	assert_int_equal(mirror_sweep(f->m, &err), 0);
	assert_int_equal(mirror_check_guard(f->m, 0, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	st = *mirror_stats(f->m);
	assert_int_equal(st.held, 4);
	assert_int_equal(st.hold_started, 1);
	assert_non_null(strstr(st.hold_reason, "5 of 6 active users"));
	assert_int_equal(active(f), 5);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM held_departures"), 4);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM events WHERE kind = 'sync.departures_held'"),
		1);
	/* While held, one more departure joins the hold without a second alert. */
	delete_users(f, uuids, 5, 6, &st);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.hold_started, 0);
	/* The same departures again (a later refresh's sweep) are not counted twice. */
	delete_users(f, uuids, 0, 4, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM held_departures"), 5);
	/* A release must name the number held: a wrong one changes nothing. */
	assert_int_equal(mirror_release(f->m, 4, "root", &released, &err), -1);
	assert_non_null(strstr(err.msg, "5 departures are held, not 4"));
	assert_int_equal(active(f), 5);
	assert_int_equal(mirror_release(f->m, 5, "root", &released, &err), 0);
	assert_int_equal(released, 5);
	assert_int_equal(active(f), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM held_departures"), 0);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM events WHERE kind = "
				    "'sync.guard_released' AND details LIKE "
				    "'%\"by\":\"root\"%' AND details LIKE '%\"confirm\":5%'"),
			 1);
	assert_int_equal(mirror_release(f->m, 0, "root", &released, &err), -1);
	assert_non_null(strstr(err.msg, "no departures are held"));
}

/* A user held and then seen again is simply still there. */
static void
test_a_held_user_who_returns_is_taken_off_the_hold(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[4];
	char uuids[4][40], uids[4][16], dns[4][32];

	make_users(e, uuids, uids, dns, 4);
	apply_all(f, 0, e, 4, 0);
	delete_users(f, uuids, 0, 4, NULL);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM held_departures"), 4);
	apply_all(f, 0, e, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM held_departures"), 3);
}

/*
 * Departures count over the window: spread out, they are ordinary leavers;
 * close together, the one that passes the limit is held. In persist mode
 * too (batches that are not refreshes).
 */
static void
test_guard_counts_departures_over_a_sliding_window(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[20];
	char uuids[20][40], uids[20][16], dns[20][32];
	const int64_t t0 = 1800000000;
	struct mirror_stats st;

	make_users(e, uuids, uids, dns, 20);
	idg_set_now(t0);
	apply_all(f, 0, e, 20, 0);
	delete_users(f, uuids, 0, 2, &st); /* 2 of 20: applied */
	assert_int_equal(st.held, 0);
	assert_int_equal(active(f), 18);
	idg_set_now(t0 + 11 * 60); /* the window (10 minutes) has moved past them */
	delete_users(f, uuids, 2, 4, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(active(f), 16);
	idg_set_now(t0 + 12 * 60); /* 3 within the window, of 18: over 10% and over two */
	delete_users(f, uuids, 4, 5, &st);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.hold_started, 1);
	assert_int_equal(active(f), 16);
	idg_set_now(-1);
}

/* --force applies what the guard would hold, and the audit trail says what was forced. */
static void
test_force_applies_and_records_what_was_forced(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[5];
	char uuids[5][40], uids[5][16], dns[5][32];
	struct idg_err err;

	make_users(e, uuids, uids, dns, 5);
	apply_all(f, 1, e, 5, 1);
	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	assert_int_equal(mirror_sweep(f->m, &err), 0);
	assert_int_equal(mirror_check_guard(f->m, 1, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(mirror_stats(f->m)->forced, 5);
	assert_int_equal(active(f), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM events WHERE kind = 'sync.guard_forced' "
			   "AND details LIKE '%\"departures\":5%' AND details LIKE '%u0%'"),
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

/* A value's warning reaches the log once its transaction commits; a rolled-back one never. */
static void
test_warnings_are_logged_after_commit_only(void **state)
{
	struct fixture *f = *state;
	struct dir_entry a = user("00000000-0000-0000-0000-00000000000a", "a", m_a);
	struct mirror *m = NULL;
	struct logger lg;
	struct idg_err err;
	char sock[128], buf[1024];
	int fd, seen = 0;
	ssize_t n;

	snprintf(sock, sizeof(sock), "%s/log.sock", f->env.dir);
	assert_true((fd = test_listen_dgram(sock)) >= 0);
	log_open(&lg, "idgov-test", sock, 0);
	assert_int_equal(mirror_open(f->env.st, NULL, f->env.cfg, &lg, &m, &err), 0);
	a.warnings[0] = (struct dir_warning){"displayName", "over 1024 bytes: stored truncated"};
	a.n_warnings = 1;
	assert_int_equal(mirror_begin(m, 0, &err), 0);
	assert_int_equal(mirror_apply(m, &a, &err), 0);
	mirror_rollback(m);
	assert_true(recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT) < 0);
	assert_int_equal(mirror_begin(m, 0, &err), 0);
	assert_int_equal(mirror_apply(m, &a, &err), 0);
	assert_true(recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT) < 0); /* not before the commit */
	assert_int_equal(mirror_commit(m, &err), 0);
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		seen += strstr(buf, "sync: a (uid=a,dc=x): displayName over 1024 bytes") != NULL;
	}
	assert_int_equal(seen, 1);
	mirror_close(m);
	log_close(&lg);
	close(fd);
}

/* Membership pairs of a user (by uuid) in a group (by cn), resolved by identity. */
static long long
pairs(struct fixture *f, const char *uuid, const char *cn)
{
	char q[512];

	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM memberships m JOIN member_refs r ON r.id = m.ref_id "
		 "JOIN groups g ON g.id = m.group_id WHERE r.target = '%s' AND g.cn = '%s'",
		 uuid, cn);
	return test_count(&f->env, q);
}

#define UA "00000000-0000-0000-0000-00000000000a"
#define UB "00000000-0000-0000-0000-00000000000b"
#define UN "00000000-0000-0000-0000-0000000000a2"
#define G1 "00000000-0000-0000-0000-0000000000g1"
#define G2 "00000000-0000-0000-0000-0000000000g2"

/*
 * A baseline whose groups come before the users they name: the index by
 * target, put off while the refs are loaded, is built again the moment a
 * user's memberships are looked up by it, and every pair is resolved.
 */
static void
test_baseline_groups_first_builds_the_target_index_when_needed(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a, m_b};
	struct dir_entry e[] = {group(G1, "ops", members, 2), user(UA, "a", m_a),
				user(UB, "b", m_b)};

	apply_all(f, 1, e, 3, 1);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(pairs(f, UB, "ops"), 1);
	assert_int_equal(baseline_indexes_present(f), 4);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM member_refs WHERE target IS NULL"), 0);
}

/* A baseline rolled back keeps the index its DROP INDEX removed. */
static void
test_baseline_rolled_back_keeps_the_target_index(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a};
	struct dir_entry g = group(G1, "ops", members, 1);
	struct dir_entry e[] = {user(UA, "a", m_a), group(G1, "ops", members, 1)};
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	assert_int_equal(mirror_apply(f->m, &g, &err), 0);
	mirror_rollback(f->m);
	assert_int_equal(baseline_indexes_present(f), 4);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs"), 0);
	/* The next baseline, after the rollback, is whole. */
	apply_all(f, 1, e, 2, 1);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(baseline_indexes_present(f), 4);
}

/*
 * A baseline inserts a user without looking for it first; an entry sent
 * twice in it is then refused by the primary key and updated instead.
 */
static void
test_baseline_entry_sent_twice_is_updated(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[] = {user(UA, "a", m_a), user(UA, "a", m_a)};

	e[1].mail = idg_unconst("a@example.com");
	apply_all(f, 1, e, 2, 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE uuid = '" UA
					     "' AND mail = 'a@example.com'"),
			 1);
}

static void
test_rename_repoints_memberships_without_the_group(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a};
	struct dir_entry e[] = {user(UA, "a", m_a), group(G1, "ops", members, 1)};
	struct dir_entry moved = user(UA, "a2", "uid=a2,ou=moved,dc=x");

	apply_all(f, 1, e, 2, 1);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	/* refint rewrote the group's member value; only the user's rename is sent. */
	apply_all(f, 0, &moved, 1, 0);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM membership_values WHERE "
					     "value = 'uid=a2,ou=moved,dc=x'"),
			 1);
	/* When the group is sent later with the new value, nothing changes. */
	{
		char *now[] = {idg_unconst("uid=a2,ou=moved,dc=x")};
		struct dir_entry g = group(G1, "ops", now, 1);

		apply_all(f, 0, &g, 1, 0);
	}
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 1);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM events WHERE kind LIKE 'membership.%'"),
		0);
}

static void
test_readded_uid_inherits_nothing(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a};
	/* b stays: the departure of the only user would be held by the guard. */
	struct dir_entry e[] = {user(UA, "a", m_a), user(UB, "b", m_b),
				group(G1, "ops", members, 1)};
	struct dir_entry again = user(UN, "a", m_a);
	struct idg_err err;

	apply_all(f, 1, e, 3, 1);
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_delete(f->m, UA, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM events WHERE kind = 'membership.removed'"),
		1);
	apply_all(f, 0, &again, 1, 0);
	assert_int_equal(pairs(f, UN, "ops"), 0);
	assert_int_equal(pairs(f, UA, "ops"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 0);
}

static void
test_readd_arriving_before_the_delete_inherits_nothing(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a};
	struct dir_entry e[] = {user(UA, "a", m_a), group(G1, "ops", members, 1)};
	struct dir_entry again = user(UN, "a", m_a);
	struct idg_err err;

	apply_all(f, 1, e, 2, 1);
	apply_all(f, 0, &again, 1, 0);
	/* The old entry still holds the DN: its row is parked, not handed over. */
	assert_int_equal(pairs(f, UN, "ops"), 0);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_delete(f->m, UA, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 0);
	assert_int_equal(pairs(f, UN, "ops"), 0);
}

static void
test_crossing_renames_keep_each_identity(void **state)
{
	struct fixture *f = *state;
	char *ops[] = {m_a}, *dev[] = {m_b};
	struct dir_entry e[] = {user(UA, "a", m_a), user(UB, "b", m_b), group(G1, "ops", ops, 1),
				group(G2, "dev", dev, 1)};
	/* a takes b's DN and b takes a's, in one batch, a first. */
	struct dir_entry swap[] = {user(UA, "a", m_b), user(UB, "b", m_a)};

	apply_all(f, 1, e, 4, 1);
	apply_all(f, 0, swap, 2, 0);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(pairs(f, UB, "dev"), 1);
	assert_int_equal(pairs(f, UA, "dev"), 0);
	assert_int_equal(pairs(f, UB, "ops"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM membership_values "
					     "WHERE group_cn = 'ops' AND value = 'uid=b,dc=x'"),
			 1);
}

/*
 * In a baseline the mirror trusts its cache of member values (nothing is
 * stored yet): a group that names users before they arrive must still have
 * them resolved when they do, in the same transaction, and both kinds of
 * member go in.
 */
static void
test_baseline_resolves_members_named_before_their_entries(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a, m_c}, uid_a[] = "a", uid_z[] = "z", *uids[] = {uid_a, uid_z};
	struct dir_entry e[] = {group(G1, "ops", members, 2), user(UA, "a", m_a),
				user("00000000-0000-0000-0000-00000000000c", "c", m_c)};

	e[0].member_uids = uids;
	e[0].n_member_uids = 2;
	apply_all(f, 1, e, 3, 1);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(pairs(f, "00000000-0000-0000-0000-00000000000c", "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE problem "
					     "IS NOT NULL"),
			 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM membership_values WHERE "
					     "kind = 'memberUid' AND since > 0"),
			 2);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 4);
}

/*
 * Entries first, groups after (the usual order of a refresh): the baseline
 * resolves member values from the entries it created, without the store.
 * An entry renamed within the same baseline is not found under the DN it
 * no longer has, and one deleted in it keeps no membership.
 */
static void
test_baseline_resolves_from_its_own_entries_and_not_stale_ones(void **state)
{
	struct fixture *f = *state;
	char m_d[] = "uid=d,dc=x", m_d2[] = "uid=d2,dc=x";
	char *members[] = {m_a, m_b, m_c, m_d, m_d2};
	struct dir_entry e[] = {user(UA, "a", m_a),
				user(UB, "b", m_b),
				user("00000000-0000-0000-0000-00000000000c", "c", m_c),
				user("00000000-0000-0000-0000-00000000000d", "d", m_d),
				user("00000000-0000-0000-0000-00000000000d", "d", m_d2),
				group(G1, "ops", members, 5)};
	struct idg_err err;

	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(mirror_apply(f->m, &e[i], &err), 0);
	/* c's delete arrives before the group; departures are applied when judged, at the end. */
	assert_int_equal(mirror_delete(f->m, "00000000-0000-0000-0000-00000000000c", &err), 0);
	assert_int_equal(mirror_apply(f->m, &e[5], &err), 0);
	assert_int_equal(mirror_check_guard(f->m, 1, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(pairs(f, UB, "ops"), 1);
	assert_int_equal(pairs(f, "00000000-0000-0000-0000-00000000000c", "ops"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE value = "
					     "'uid=c,dc=x'"),
			 0);
	/* d is found under its new DN only; the old one names nobody. */
	assert_int_equal(pairs(f, "00000000-0000-0000-0000-00000000000d", "ops"), 1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM member_refs WHERE value = "
				    "'uid=d,dc=x' AND target IS NULL AND problem = 'no_entry'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE value = "
					     "'uid=d2,dc=x' AND target = "
					     "'00000000-0000-0000-0000-00000000000d'"),
			 1);
	/* Rebuilt when the rename needed them, and not twice at commit. */
	assert_int_equal(baseline_indexes_present(f), 4);
}

/* A store with no entries but a member value left behind is not trusted to be empty. */
static void
test_baseline_over_a_leftover_member_value_reuses_it(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_a};
	struct dir_entry e[] = {group(G1, "ops", members, 1), user(UA, "a", m_a)};
	struct idg_err err;

	assert_int_equal(store_exec(f->env.st,
				    "INSERT INTO member_refs (kind, value, problem) "
				    "VALUES (0, 'uid=a,dc=x', 'no_entry')",
				    &err),
			 0);
	apply_all(f, 1, e, 2, 1);
	assert_int_equal(pairs(f, UA, "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs"), 1);
}

/* Warnings left behind by an entry no longer stored are not trusted to be gone. */
static void
test_baseline_clears_a_leftover_warning_of_a_returning_entry(void **state)
{
	struct fixture *f = *state;
	struct dir_entry a = user(UA, "a", m_a);
	struct idg_err err;

	assert_int_equal(
		store_exec(f->env.st,
			   "INSERT INTO entry_warnings (uuid, attribute, problem, seen_at) "
			   "VALUES ('" UA "', 'displayName', 'not UTF-8 text', 1)",
			   &err),
		0);
	apply_all(f, 1, &a, 1, 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM entry_warnings"), 0);
}

static void
test_unresolved_member_is_kept_then_resolved(void **state)
{
	struct fixture *f = *state;
	char *members[] = {m_c};
	struct dir_entry g = group(G1, "ops", members, 1);
	struct dir_entry c = user("00000000-0000-0000-0000-00000000000c", "c", m_c);

	apply_all(f, 1, &g, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE target IS "
					     "NULL AND problem = 'no_entry'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 1);
	apply_all(f, 0, &c, 1, 0);
	assert_int_equal(pairs(f, "00000000-0000-0000-0000-00000000000c", "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE problem "
					     "IS NOT NULL"),
			 0);
}

static void
test_member_dn_over_the_limit_is_kept_as_too_long(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(DIR_MAX_DN + 100), *members[2];
	struct dir_entry g;

	assert_non_null(big);
	memcpy(big, "cn=", 3);
	memset(big + 3, 'x', DIR_MAX_DN + 96);
	big[DIR_MAX_DN + 99] = '\0';
	members[0] = big;
	members[1] = idg_unconst("not a dn");
	g = group(G1, "ops", members, 2);
	apply_all(f, 1, &g, 1, 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE problem = "
					     "'too_long' AND target IS NULL"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM member_refs WHERE problem = "
					     "'not_a_dn'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 2);
	free(big);
}

static void
test_deleted_nested_group_leaves_its_parents(void **state)
{
	struct fixture *f = *state;
	char *inner_dn = idg_unconst("cn=inner,dc=x"), *outer[] = {inner_dn};
	struct dir_entry inner = group(G2, "inner", NULL, 0);
	struct dir_entry e[2];
	struct idg_err err;

	inner.dn = inner.dn_norm = inner_dn;
	e[0] = group(G1, "ops", outer, 1);
	e[1] = inner;
	apply_all(f, 1, e, 2, 1);
	assert_int_equal(pairs(f, G2, "ops"), 1);
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_delete(f->m, G2, &err), 0);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM memberships"), 0);
}

static void
test_verify_reports_differences_and_writes_nothing(void **state)
{
	struct fixture *f = *state;
	char *before[] = {m_a, m_b}, *after[] = {m_a};
	struct dir_entry e[] = {user(UA, "a", m_a), user(UB, "b", m_b),
				group(G1, "ops", before, 2)};
	struct dir_entry now[] = {user(UA, "a", m_a), group(G1, "ops", after, 1)};
	struct idg_err err;
	json_t *d;

	apply_all(f, 1, e, 3, 1);
	mirror_set_drift(f->m, MIRROR_DRIFT_VERIFY);
	assert_int_equal(mirror_begin(f->m, 1, &err), 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(mirror_apply(f->m, &now[i], &err), 0);
	assert_int_equal(mirror_sweep(f->m, &err), 0);
	/* b leaves (1 user gone, its membership with it) and would never trip the guard. */
	assert_int_equal(mirror_check_guard(f->m, 0, &err), 0);
	d = mirror_drift_report(f->m);
	assert_non_null(d);
	assert_int_equal(json_integer_value(json_object_get(d, "users_departed")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "memberships_removed")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "total")), 2);
	assert_int_equal(json_array_size(json_object_get(d, "examples")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(d, "examples"), 0), "kind")),
			    "membership.removed");
	json_decref(d);
	assert_int_equal(mirror_commit(f->m, &err), 0);
	/* Nothing was kept: b is still there, with its membership, and no event was written. */
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM users WHERE status = 'active'"),
			 2);
	assert_int_equal(pairs(f, UB, "ops"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM events"), 0);
	mirror_set_drift(f->m, MIRROR_DRIFT_NONE);
}

/*
 * The packed lists against a plain model, over random changes: groups
 * written with random `member` (users and other groups) and memberUid
 * values, deleted and returning, users and groups renamed, in a baseline,
 * then in refreshes and persist batches. After each: the memberships are
 * exactly the model's pairs, each with the since of when it was added
 * (kept while it stays, renewed when it comes back), every stored list is
 * sorted and in the stored form, and ref_groups is group_members' inverse.
 * Leaving either list unwritten on any path fails it.
 */
#define P_USERS 10
#define P_GROUPS 6
#define P_WHO (P_USERS + P_GROUPS)

struct pmodel {
	char uuid[P_WHO][40];
	char uid[P_USERS][16];
	char dn[P_WHO][48];
	char cn[P_GROUPS][16];
	int renames[P_WHO];
	int live[P_GROUPS];
	int64_t member[P_GROUPS][P_WHO]; /* since, 0: not a member */
	int64_t by_uid[P_GROUPS][P_USERS];
	char **vals, **uvals; /* where pgroup() puts the values */
};

static unsigned
prand(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct dir_entry
pgroup(struct pmodel *pm, int g)
{
	struct dir_entry e = group(pm->uuid[P_USERS + g], pm->cn[g], pm->vals, 0);
	size_t n = 0, nu = 0;

	e.dn = e.dn_norm = pm->dn[P_USERS + g];
	for (int w = 0; w < P_WHO; w++)
		if (pm->member[g][w] != 0)
			pm->vals[n++] = pm->dn[w];
	for (int u = 0; u < P_USERS; u++)
		if (pm->by_uid[g][u] != 0)
			pm->uvals[nu++] = pm->uid[u];
	qsort(pm->vals, n, sizeof(char *), cmp_str);
	qsort(pm->uvals, nu, sizeof(char *), cmp_str);
	e.n_members = n;
	e.member_uids = pm->uvals;
	e.n_member_uids = nu;
	return e;
}

/* New random members for group g, as of now. */
static void
pdraw(struct pmodel *pm, int g, unsigned *seed, int64_t now)
{
	for (int w = 0; w < P_WHO; w++) {
		int want = w != P_USERS + g && (w < P_USERS || pm->live[w - P_USERS]) &&
			   prand(seed) % 5 < 2;

		pm->member[g][w] = !want ? 0 : pm->member[g][w] != 0 ? pm->member[g][w] : now;
	}
	for (int u = 0; u < P_USERS; u++) {
		int want = prand(seed) % 4 == 0;

		pm->by_uid[g][u] = !want ? 0 : pm->by_uid[g][u] != 0 ? pm->by_uid[g][u] : now;
	}
}

static void
prename(struct pmodel *pm, int w)
{
	pm->renames[w]++;
	if (w < P_USERS)
		snprintf(pm->dn[w], 48, "uid=u%d,ou=r%d,dc=x", w, pm->renames[w]);
	else
		snprintf(pm->dn[w], 48, "cn=g%d,ou=r%d,dc=x", w - P_USERS, pm->renames[w]);
}

static char *
ptext(struct fixture *f, const char *sql)
{
	sqlite3_stmt *s;
	char *out;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	out = strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
	sqlite3_finalize(s);
	assert_non_null(out);
	return out;
}

/* Every stored list parses (the parser refuses an unsorted one). */
static void
plists_parse(struct fixture *f)
{
	sqlite3_stmt *s;
	struct packed_pair *pairs;
	int64_t *ids;
	size_t n;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db,
					    "SELECT 0, since, refs FROM group_members UNION ALL "
					    "SELECT 1, 0, groups FROM ref_groups",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);

		if (sqlite3_column_int(s, 0) == 0) {
			assert_int_equal(
				packed_parse_pairs(t, len, sqlite3_column_int64(s, 1), &pairs, &n),
				0);
			free(pairs);
		} else {
			assert_int_equal(packed_parse_ids(t, len, &ids, &n), 0);
			free(ids);
		}
		assert_true(n > 0);
	}
	sqlite3_finalize(s);
}

static void
pcheck(struct fixture *f, struct pmodel *pm, int step)
{
	char *want = calloc(1, 1 << 16), *got;
	static char text[P_GROUPS * (P_WHO + P_USERS)][128];
	char *lines[P_GROUPS * (P_WHO + P_USERS)];
	size_t n = 0, len = 0;

	assert_non_null(want);
	for (int g = 0; g < P_GROUPS; g++) {
		for (int w = 0; w < P_WHO; w++) {
			if (pm->member[g][w] == 0)
				continue;
			snprintf(text[n], 128, "%s|0|%s|%lld", pm->uuid[P_USERS + g], pm->uuid[w],
				 (long long)pm->member[g][w]);
			lines[n] = text[n];
			n++;
		}
		for (int u = 0; u < P_USERS; u++) {
			if (pm->by_uid[g][u] == 0)
				continue;
			snprintf(text[n], 128, "%s|1|%s|%lld", pm->uuid[P_USERS + g], pm->uid[u],
				 (long long)pm->by_uid[g][u]);
			lines[n] = text[n];
			n++;
		}
	}
	qsort(lines, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) {
		len += (size_t)snprintf(want + len, (1 << 16) - len, "%s%s", i ? ";" : "",
					lines[i]);
	}
	got = ptext(f, "SELECT group_concat(x, ';') FROM (SELECT g.uuid || '|' || r.kind || '|' "
		       "|| coalesce(r.target, r.value) || '|' || m.since AS x FROM memberships m "
		       "JOIN groups g ON g.id = m.group_id JOIN member_refs r ON r.id = m.ref_id "
		       "ORDER BY x)");
	if (strcmp(got, want) != 0)
		fail_msg("step %d:\n got  %s\n want %s", step, got, want);
	assert_int_equal(test_count(&f->env, TEST_PACKED_DISAGREE_SQL), 0);
	plists_parse(f);
	free(got);
	free(want);
}

static void
test_packed_lists_follow_random_changes(void **state)
{
	struct fixture *f = *state;
	struct pmodel *pm = calloc(1, sizeof(*pm));
	struct dir_entry e[P_WHO];
	unsigned seed = 20261203;
	int64_t t0 = 1800000000;
	struct idg_err err;

	assert_non_null(pm);
	idg_set_now(t0);
	for (int w = 0; w < P_WHO; w++) {
		snprintf(pm->uuid[w], 40, "00000000-0000-0000-%04d-%012d", w < P_USERS ? 0 : 1, w);
		prename(pm, w);
	}
	for (int u = 0; u < P_USERS; u++) {
		snprintf(pm->uid[u], 16, "u%d", u);
		e[u] = user(pm->uuid[u], pm->uid[u], pm->dn[u]);
	}
	for (int g = 0; g < P_GROUPS; g++) {
		snprintf(pm->cn[g], 16, "g%d", g);
		pm->live[g] = 1;
	}
	/* The baseline: users, then groups naming users and groups before and after them. */
	for (int g = 0; g < P_GROUPS; g++)
		pdraw(pm, g, &seed, t0);
	for (int g = 0; g < P_GROUPS; g++) {
		char **vals = malloc(P_WHO * sizeof(char *)),
		     **uvals = malloc(P_USERS * sizeof(char *));

		assert_true(vals != NULL && uvals != NULL);
		pm->vals = vals; /* each entry keeps its own arrays */
		pm->uvals = uvals;
		e[P_USERS + g] = pgroup(pm, g);
		e[P_USERS + g].members = vals;
	}
	apply_all(f, 1, e, P_WHO, 1);
	for (int g = 0; g < P_GROUPS; g++) {
		free(e[P_USERS + g].members);
		free(e[P_USERS + g].member_uids);
	}
	pcheck(f, pm, 0);
	for (int step = 1; step <= 300; step++) {
		int64_t now = t0 + step;
		unsigned op = prand(&seed) % 10;
		int g = (int)(prand(&seed) % P_GROUPS), w = (int)(prand(&seed) % P_WHO);
		char *vals[P_WHO], *uvals[P_USERS];
		struct dir_entry one;

		pm->vals = vals;
		pm->uvals = uvals;
		idg_set_now(now);
		if (op < 6) { /* a group written (created again if it was deleted) */
			pm->live[g] = 1;
			pdraw(pm, g, &seed, now);
			one = pgroup(pm, g);
			one.members = vals;
			apply_all(f, step % 3 == 0, &one, 1, 0);
		} else if (op < 7 && pm->live[g]) { /* a group deleted: it leaves its parents too */
			assert_int_equal(mirror_begin(f->m, 0, &err), 0);
			assert_int_equal(mirror_delete(f->m, pm->uuid[P_USERS + g], &err), 0);
			assert_int_equal(mirror_commit(f->m, &err), 0);
			pm->live[g] = 0;
			memset(pm->member[g], 0, sizeof(pm->member[g]));
			memset(pm->by_uid[g], 0, sizeof(pm->by_uid[g]));
			for (int h = 0; h < P_GROUPS; h++)
				pm->member[h][P_USERS + g] = 0;
		} else if (w < P_USERS) { /* a user renamed: memberships follow */
			prename(pm, w);
			one = user(pm->uuid[w], pm->uid[w], pm->dn[w]);
			apply_all(f, step % 3 == 0, &one, 1, 0);
		} else if (pm->live[w - P_USERS]) { /* a group renamed, members unchanged */
			prename(pm, w);
			one = pgroup(pm, w - P_USERS);
			one.members = vals;
			apply_all(f, step % 3 == 0, &one, 1, 0);
		}
		pcheck(f, pm, step);
	}
	idg_set_now(-1);
	free(pm);
}

/* The stored list forms: what the writers make parses; anything else is refused, not guessed. */
static void
test_packed_lists_parse_only_their_form(void **state)
{
	static const char *const bad[] = {
		"",       "[",     "[1",    "[1,",     "[2,1]",     "[1,1]",
		"[0]",    "[-1]",  "[a]",   "[[1]]",   "[[1,2,3]]", "[1] x",
		"[1,,2]", "[1 2]", "[1.5]", "[\"1\"]", "{\"a\":1}", "[1234567890123456789]",
	};
	struct packed_pair *pairs;
	int64_t *ids;
	size_t n;

	(void)state;
	assert_int_equal(packed_parse_pairs("[1,[2,5],30]", 12, 7, &pairs, &n), 0);
	assert_int_equal(n, 3);
	assert_true(pairs[0].ref == 1 && pairs[0].since == 7 && pairs[1].ref == 2 &&
		    pairs[1].since == 5 && pairs[2].ref == 30 && pairs[2].since == 7);
	free(pairs);
	assert_int_equal(packed_parse_pairs("[ [4, -3] ]", 11, 0, &pairs, &n), 0);
	assert_true(n == 1 && pairs[0].ref == 4 && pairs[0].since == -3);
	free(pairs);
	assert_int_equal(packed_parse_ids("[]", 2, &ids, &n), 0);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(packed_parse_ids("[3,9]", 5, &ids, &n), 0);
	assert_true(n == 2 && ids[0] == 3 && ids[1] == 9);
	free(ids);
	assert_int_equal(packed_parse_ids("[[3,9]]", 7, &ids, &n), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (packed_parse_pairs(bad[i], strlen(bad[i]), 0, &pairs, &n) != -1)
			fail_msg("parsed %s", bad[i]);
		assert_null(pairs);
	}
}

/* A stored list not in that form stops the sync: the login path decides from these lists. */
static void
test_a_corrupt_member_list_fails_the_sync(void **state)
{
	struct fixture *f = *state;
	char *before[] = {m_a, m_b}, *after[] = {m_a};
	struct dir_entry seed = user("00000000-0000-0000-0000-00000000000a", "a", m_a);
	struct dir_entry e1 = group("00000000-0000-0000-0000-0000000000g1", "ops", before, 2);
	struct dir_entry e2 = group("00000000-0000-0000-0000-0000000000g1", "ops", after, 1);
	struct idg_err err;

	apply_all(f, 0, &seed, 1, 0);
	apply_all(f, 0, &e1, 1, 0);
	assert_int_equal(store_exec(f->env.st, "UPDATE group_members SET refs = '[2,1]'", &err), 0);
	assert_int_equal(mirror_begin(f->m, 0, &err), 0);
	assert_int_equal(mirror_apply(f->m, &e2, &err), -1);
	assert_non_null(strstr(err.msg, "not in the stored form"));
	mirror_rollback(f->m);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM events WHERE kind LIKE "
					     "'membership.removed'"),
			 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_baseline_records_no_events),
		T(test_baseline_groups_first_builds_the_target_index_when_needed),
		T(test_baseline_rolled_back_keeps_the_target_index),
		T(test_baseline_entry_sent_twice_is_updated),
		T(test_membership_diff_touches_only_changes),
		T(test_rename_is_a_mover_and_delete_departs),
		T(test_guard_holds_mass_departure_and_release_applies_it),
		T(test_a_held_user_who_returns_is_taken_off_the_hold),
		T(test_guard_counts_departures_over_a_sliding_window),
		T(test_force_applies_and_records_what_was_forced),
		T(test_cookie_commits_with_changes_or_not_at_all),
		T(test_unreadable_values_disable_or_warn_and_never_skip),
		T(test_warnings_are_logged_after_commit_only),
		T(test_rename_repoints_memberships_without_the_group),
		T(test_readded_uid_inherits_nothing),
		T(test_readd_arriving_before_the_delete_inherits_nothing),
		T(test_crossing_renames_keep_each_identity),
		T(test_baseline_resolves_members_named_before_their_entries),
		T(test_baseline_resolves_from_its_own_entries_and_not_stale_ones),
		T(test_baseline_over_a_leftover_member_value_reuses_it),
		T(test_baseline_clears_a_leftover_warning_of_a_returning_entry),
		T(test_unresolved_member_is_kept_then_resolved),
		T(test_member_dn_over_the_limit_is_kept_as_too_long),
		T(test_deleted_nested_group_leaves_its_parents),
		T(test_verify_reports_differences_and_writes_nothing),
		T(test_packed_lists_follow_random_changes),
		T(test_packed_lists_parse_only_their_form),
		T(test_a_corrupt_member_list_fails_the_sync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
