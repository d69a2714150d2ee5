/*
 * Grant rules with an injected clock and no directory: who may request,
 * approve, deny and revoke (the two-person rule), what activation and
 * expiry journal (exactly what was added is removed), lapses, extensions,
 * the time the daemon should wake next, and malformed requests that
 * write nothing. Also the duration parser the requests use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grants.h"
#include "keys.h"
#include "timeparse.h"
#include "testutil.h"

#define T0 1800000000

struct fixture {
	struct test_env env;
};

static const char conf[] = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
			   "[grants]\napprovers = 2\nmax_pending = 1h\nending_soon = 10m\n"
			   "group_max_duration = admins = 8h\n"
			   "[accounts]\nbase = ou=People,dc=x\nuid_min = 70000\nuid_max = 70001\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    test_env_open(
		    &f->env, "grants", conf, NULL,
		    "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
		    "last_changed) VALUES ('u1', 'uid=bob,dc=x', 'uid=bob,dc=x', 'bob', 'active', "
		    "0, 0), ('u2', 'uid=ann,dc=x', 'uid=ann,dc=x', 'ann', 'active', 0, 0);"
		    "INSERT INTO groups (id, uuid, dn, dn_norm, cn, privileged, first_seen, "
		    "last_changed) VALUES (1, 'g1', 'cn=admins,dc=x', 'cn=admins,dc=x', "
		    "'admins', 1, 0, 0), (2, 'g2', 'cn=dev,dc=x', 'cn=dev,dc=x', 'dev', 0, 0, 0),"
		    /* sre is in admins, oncall in sre; ring1 and ring2 are in each other, and
		     * ring2 in oncall; loop1 and loop2 are in each other and nothing else. */
		    "(3, 'g3', 'cn=sre,dc=x', 'cn=sre,dc=x', 'sre', 0, 0, 0),"
		    "(4, 'g4', 'cn=oncall,dc=x', 'cn=oncall,dc=x', 'oncall', 0, 0, 0),"
		    "(5, 'g5', 'cn=ring1,dc=x', 'cn=ring1,dc=x', 'ring1', 0, 0, 0),"
		    "(6, 'g6', 'cn=ring2,dc=x', 'cn=ring2,dc=x', 'ring2', 0, 0, 0),"
		    "(7, 'g7', 'cn=loop1,dc=x', 'cn=loop1,dc=x', 'loop1', 0, 0, 0),"
		    "(8, 'g8', 'cn=loop2,dc=x', 'cn=loop2,dc=x', 'loop2', 0, 0, 0);"
		    "INSERT INTO member_refs (id, kind, value) VALUES (1, 1, 'ann'), "
		    "(2, 0, 'cn=sre,dc=x'), (3, 0, 'cn=oncall,dc=x'), (4, 0, 'cn=ring1,dc=x'), "
		    "(5, 0, 'cn=ring2,dc=x'), (6, 0, 'cn=loop1,dc=x'), (7, 0, 'cn=loop2,dc=x');"
		    "INSERT INTO memberships (group_id, ref_id, since) VALUES (2, 1, 0), "
		    "(1, 2, 0), (3, 3, 0), (6, 4, 0), (5, 5, 0), (4, 5, 0), (8, 6, 0), (7, 7, "
		    "0);" TEST_RESOLVE_MEMBERS_SQL,
		    TEST_ENV_AUDIT) != 0)
		return -1;
	idg_set_now(T0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	idg_set_now(-1);
	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

static struct grants_ctx
as(struct fixture *f, const char *who, int admin)
{
	return (struct grants_ctx){.cfg = f->env.cfg,
				   .st = f->env.st,
				   .audit = f->env.audit,
				   .actor = who,
				   .admin = admin};
}

/* The text in the first column of the first row of sql, or "(null)". */
static const char *
text(struct fixture *f, const char *sql)
{
	static char out[1024];
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, sql, -1, &s, NULL), SQLITE_OK);
	snprintf(out, sizeof(out), "(none)");
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(out, sizeof(out), "%s",
			 sqlite3_column_type(s, 0) == SQLITE_NULL
				 ? "(null)"
				 : (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static int64_t
request(struct fixture *f, struct grants_ctx *g, const char *user, const char *group,
	const char *duration)
{
	struct grant_request req = {
		.grantee = user, .group = group, .duration = duration, .reason = "maintenance"};
	struct idg_err err;
	int64_t id = 0;

	(void)f;
	assert_int_equal(grant_request(g, &req, &id, &err), 0);
	return id;
}

static void
test_durations(void **state)
{
	static const struct {
		const char *in;
		int64_t secs;
	} good[] = {{"90s", 90}, {"4h", 14400}, {"7d", 604800}, {"1h30m", 5400}, {"2w", 1209600}};
	static const char *const bad[] = {"",   "4",   "h",    "4x", "-4h",
					  "0s", "4h ", "1.5h", "4H", "99999999999999999999d"};
	struct idg_err err;
	char out[32];
	int64_t d;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(duration_parse(good[i].in, &d, &err), 0);
		assert_int_equal(d, good[i].secs);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(duration_parse(bad[i], &d, &err), -1);
		assert_non_null(strstr(err.msg, "is not a duration"));
	}
	duration_format(5400, out);
	assert_string_equal(out, "1h30m");
	duration_format(1209600, out);
	assert_string_equal(out, "2w");
	assert_int_equal(time_parse_absolute("7d", &d, &err), -1); /* ages are not points */
	assert_int_equal(time_parse_absolute("@1800000000", &d, &err), 0);
	assert_int_equal(d, 1800000000);
}

static void
test_two_person_rule(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), ann = as(f, "ann", 1), bob = as(f, "bob", 0),
			  carl = as(f, "carl", 1), dora = as(f, "dora", 1);
	struct idg_err err;
	int64_t id = request(f, &root, "ann", "admins", "4h"), next;

	assert_int_equal(grant_decide(&root, id, 1, NULL, &err), GRANT_DENIED);
	assert_non_null(strstr(err.msg, "two-person rule"));
	assert_int_equal(grant_decide(&ann, id, 1, NULL, &err), GRANT_DENIED);
	assert_non_null(strstr(err.msg, "to themself"));
	assert_int_equal(grant_decide(&bob, id, 1, NULL, &err), GRANT_DENIED);
	assert_int_equal(grant_decide(&carl, id, 1, "ok", &err), 0);
	assert_int_equal(grant_decide(&carl, id, 1, "again", &err), GRANT_CONFLICT);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'requested'"), 1);
	/* approvers = 2: the second distinct admin completes it. */
	assert_int_equal(grant_decide(&dora, id, 1, NULL, &err), 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'approved'"), 1);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM dir_journal WHERE op = 'add_member' AND "
				    "dn = 'cn=admins,dc=x' AND value = 'uid=ann,dc=x'"),
			 1);
	/* Next wake-up: the ending-soon notice, 10 minutes before the end. */
	assert_int_equal(next, T0 + 4 * 3600 - 600);
}

static void
test_admin_request_for_unprivileged_group_is_approved(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0);
	struct idg_err err;
	int64_t next;

	request(f, &root, "bob", "dev", "1h");
	request(f, &bob, "bob", "admins", "1h");
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'approved'"), 1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM grants WHERE state = 'requested' AND "
				    "requester = 'bob'"),
			 1);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'active'"),
			 1);
}

static void
test_expiry_removes_what_was_added(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct idg_err err;
	int64_t next, id = request(f, &root, "bob", "dev", "1h");

	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	idg_set_now(T0 + 3599);
	assert_int_equal(grants_tick(&root, T0 + 3599, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM dir_journal WHERE op = 'del_member'"), 0);
	assert_int_equal(next, T0 + 3600);
	assert_int_equal(grants_tick(&root, T0 + 3600, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'expired'"),
			 1);
	assert_int_equal(
		test_count(
			&f->env,
			"SELECT count(*) FROM dir_journal d JOIN dir_journal a ON "
			"a.grant_id = d.grant_id AND a.op = 'add_member' WHERE d.op = "
			"'del_member' AND d.dn = a.dn AND d.value = a.value AND d.attr = a.attr"),
		1);
	assert_int_equal(next, 0);
	/* Revoking an ended grant is refused; its journal is not touched again. */
	assert_int_equal(grant_revoke(&root, id, "again", &err), GRANT_CONFLICT);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM dir_journal"), 2);
}

static void
test_unapproved_request_lapses(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx bob = as(f, "bob", 0), root = as(f, "root", 1);
	struct idg_err err;
	int64_t next;

	request(f, &bob, "bob", "admins", "4h");
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(next, T0 + 3600); /* max_pending */
	assert_int_equal(grants_tick(&root, T0 + 3600, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM grants WHERE state = 'lapsed'"),
			 1);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM audit WHERE action = 'grant.lapse'"), 1);
}

static void
test_held_group_and_duplicates_refused(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct grant_request req = {
		.grantee = "ann", .group = "dev", .duration = "1h", .reason = "x"};
	struct idg_err err;
	int64_t id;

	assert_int_equal(grant_request(&root, &req, &id, &err), GRANT_CONFLICT);
	assert_non_null(strstr(err.msg, "already a member"));
	request(f, &root, "bob", "admins", "1h");
	req.grantee = "bob";
	req.group = "admins";
	assert_int_equal(grant_request(&root, &req, &id, &err), GRANT_CONFLICT);
	assert_non_null(strstr(err.msg, "already open"));
}

static void
test_malformed_requests_write_nothing(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0);
	char long_reason[1100];
	struct {
		struct grant_request req;
		struct grants_ctx *g;
		int want;
		const char *msg;
	} cases[] = {
		{{"bob", "dev", NULL, NULL, NULL, NULL, "4x", "r", 0},
		 &root,
		 GRANT_INVALID,
		 "not a duration"},
		{{"bob", "dev", NULL, NULL, NULL, "soon", NULL, "r", 0},
		 &root,
		 GRANT_INVALID,
		 "not a time"},
		{{"bob", "dev", NULL, NULL, NULL, "2020-01-01", NULL, "r", 0},
		 &root,
		 GRANT_INVALID,
		 "after the start"},
		{{"bob", "dev", NULL, NULL, NULL, NULL, NULL, "r", 0},
		 &root,
		 GRANT_INVALID,
		 "exactly one of"},
		{{"bob", "admins", NULL, NULL, NULL, NULL, "9h", "r", 0},
		 &root,
		 GRANT_INVALID,
		 "at most 8h"},
		{{"bob", "dev", NULL, NULL, NULL, NULL, "8d", "r", 0},
		 &root,
		 GRANT_INVALID,
		 "at most 1w"},
		{{"zed", "dev", NULL, NULL, NULL, NULL, "1h", "r", 0},
		 &root,
		 GRANT_NOT_FOUND,
		 "no active user"},
		{{"bob", "nope", NULL, NULL, NULL, NULL, "1h", "r", 0},
		 &root,
		 GRANT_NOT_FOUND,
		 "no group"},
		{{"bob", "dev", NULL, NULL, NULL, NULL, "1h", "", 0},
		 &root,
		 GRANT_INVALID,
		 "a reason is required"},
		{{"bob", "dev", NULL, NULL, NULL, NULL, "1h", "two\nlines", 0},
		 &root,
		 GRANT_INVALID,
		 "one line"},
		{{"bob", "dev", NULL, NULL, NULL, NULL, "1h", long_reason, 0},
		 &root,
		 GRANT_INVALID,
		 "1 to 1000"},
		{{"ann", "dev", NULL, NULL, NULL, NULL, "1h", "r", 0},
		 &bob,
		 GRANT_DENIED,
		 "only admins"},
		{{"bob", NULL, "Ops 1", "dev", NULL, NULL, "1h", "r", 0},
		 &root,
		 GRANT_INVALID,
		 "not an account name"},
		{{"bob", NULL, "bob", "dev", NULL, NULL, "1h", "r", 0},
		 &root,
		 GRANT_CONFLICT,
		 "already exists"},
		{{"bob", NULL, "ops1", "dev,nope", NULL, NULL, "1h", "r", 0},
		 &root,
		 GRANT_NOT_FOUND,
		 "no group"},
	};
	struct idg_err err;
	int64_t id;

	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err.msg[0] = '\0';
		assert_int_equal(grant_request(cases[i].g, &cases[i].req, &id, &err),
				 cases[i].want);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, cases[i].msg, err.msg);
	}
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM grants"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM audit"), 0);
}

static void
test_account_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), carl = as(f, "carl", 1), dora = as(f, "dora", 1);
	struct grant_request req = {.grantee = "bob",
				    .account = "ops1",
				    .groups = "admins,dev",
				    .duration = "2h",
				    .reason = "upgrade"};
	struct idg_err err;
	int64_t id, next, ext;

	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	assert_int_equal(grant_decide(&carl, id, 1, NULL, &err), 0);
	assert_int_equal(grant_decide(&dora, id, 1, NULL, &err), 0);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT uid_number FROM temp_accounts"), 70000);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM dir_journal WHERE op = 'add_entry' AND dn "
			   "= 'uid=ops1,ou=People,dc=x'"),
		1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM dir_journal WHERE op = 'add_member' AND "
				    "attr = 'ops1'"),
			 2);
	/* An extension needs the same approvals, then moves the end. */
	assert_int_equal(grant_extend(&root, id, NULL, "1h", "overran", &ext, &err), 0);
	assert_int_equal(grant_decide(&carl, ext, 1, NULL, &err), 0);
	assert_int_equal(grant_decide(&dora, ext, 1, NULL, &err), 0);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT end_at FROM grants WHERE kind = 'account'"),
			 T0 + 3 * 3600);
	assert_int_equal(grants_tick(&root, T0 + 3 * 3600, &next, &err), 0);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM dir_journal WHERE op = 'replace' AND "
				    "attr = 'shadowExpire' AND value = '1'"),
			 1);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM dir_journal WHERE op = 'del_member'"), 2);
	/* Kept for the retention (default 365 days), then deleted. */
	assert_int_equal(next, T0 + 3 * 3600 + 365 * 86400);
	assert_int_equal(grants_tick(&root, next, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM dir_journal WHERE op = 'del_entry'"), 1);
}

static void
test_sudo_role_follows_the_grant(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), carl = as(f, "carl", 1);
	struct grant_request req = {
		.grantee = "bob", .group = "dev", .duration = "1h", .reason = "deploy", .sudo = 1};
	struct idg_err err;
	int64_t id, ext, next;

	assert_int_equal(grant_request(&root, &req, &id, &err), GRANT_INVALID);
	assert_non_null(strstr(err.msg, "sudo_base"));
	cfg_free(f->env.cfg);
	assert_int_equal(cfg_load_string("[directory]\nuri = ldap://h/\nbase = dc=x\n[grants]\n"
					 "sudo_base = ou=SUDOers,dc=x\n",
					 "t.conf", &f->env.cfg, &err),
			 0);
	root.cfg = carl.cfg = f->env.cfg;
	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	/* Sudo rights are privileged: another admin approves (approvers = 1). */
	assert_int_equal(grant_decide(&carl, id, 1, NULL, &err), 0);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM dir_journal WHERE op = 'add_entry' AND dn = "
			   "'cn=idgov-grant-1,ou=SUDOers,dc=x' AND value LIKE "
			   "'%\"sudoNotBefore\":[\"20270115080000Z\"]%' AND value LIKE "
			   "'%\"sudoNotAfter\":[\"20270115090000Z\"]%'"),
		1);
	/* An extension moves sudoNotAfter; the end deletes the entry. */
	assert_int_equal(grant_extend(&root, id, NULL, "30m", "longer", &ext, &err), 0);
	assert_int_equal(grant_decide(&carl, ext, 1, NULL, &err), 0);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM dir_journal WHERE op = 'replace' AND attr = "
			   "'sudoNotAfter' AND value = '20270115093000Z'"),
		1);
	assert_int_equal(grant_revoke(&root, id, "done", &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM dir_journal WHERE op = 'del_entry' AND dn = "
			   "'cn=idgov-grant-1,ou=SUDOers,dc=x'"),
		1);
}

static void
test_grant_lapses_when_its_user_has_left(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct grant_request req = {.grantee = "bob",
				    .group = "dev",
				    .start = "@1800003600",
				    .duration = "1h",
				    .reason = "night shift"};
	struct idg_err err;
	int64_t id, next;

	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_int_equal(next, T0 + 3600); /* approved, waiting for its start */
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE users SET status = 'departed' WHERE uid = 'bob'", &err),
			 0);
	assert_int_equal(grants_tick(&root, T0 + 3600, &next, &err), 0);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM grants WHERE state = 'lapsed' AND "
				    "end_reason LIKE 'no active user%'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM dir_journal"), 0);
	assert_int_equal(next, 0);
}

/* ---- privilege judged on the effect of a grant ---- */

static const char *
grant_text(struct fixture *f, const char *column, int64_t id)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT %s FROM grants WHERE id = %lld", column, (long long)id);
	return text(f, sql);
}

/*
 * Grant id, requested by root, is privileged because of why: root may not
 * approve it too and is told why; one other admin is not enough
 * (approvers = 2); a second one approves it.
 */
static void
needs_two(struct fixture *f, int64_t id, const char *why)
{
	struct grants_ctx root = as(f, "root", 1), carl = as(f, "carl", 1), dora = as(f, "dora", 1);
	struct idg_err err;

	assert_string_equal(grant_text(f, "state", id), "requested");
	assert_string_equal(grant_text(f, "privileged_reason", id), why);
	assert_int_equal(grant_decide(&root, id, 1, NULL, &err), GRANT_DENIED);
	if (strstr(err.msg, "two-person rule") == NULL || strstr(err.msg, why) == NULL)
		fail_msg("'%s' does not say why (%s)", err.msg, why);
	assert_int_equal(grant_decide(&carl, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "requested");
	assert_int_equal(grant_decide(&dora, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "approved");
}

static void
test_nested_group_needs_two(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);

	needs_two(f, request(f, &root, "bob", "sre", "1h"), "sre is nested in admins");
	needs_two(f, request(f, &root, "ann", "admins", "1h"), "admins is a privileged group");
}

static void
test_nested_at_depth_two_needs_two(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);

	needs_two(f, request(f, &root, "bob", "oncall", "1h"),
		  "oncall is nested in admins (through sre)");
}

static void
test_nesting_cycle_terminates(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0);
	struct idg_err err;
	int64_t id;

	/* ring1 and ring2 contain each other, and ring2 leads up to admins. */
	needs_two(f, request(f, &root, "bob", "ring1", "1h"),
		  "ring1 is nested in admins (through ring2, oncall, sre)");
	/* loop1 and loop2 contain each other and nothing privileged. */
	id = request(f, &bob, "bob", "loop1", "1h");
	assert_string_equal(grant_text(f, "approvals_needed", id), "1");
	assert_string_equal(grant_text(f, "privileged_reason", id), "(null)");
	assert_int_equal(grant_decide(&root, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "approved");
}

static void
test_sudo_grant_needs_two(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0);
	struct grant_request req = {
		.grantee = "bob", .group = "dev", .duration = "1h", .reason = "deploy", .sudo = 1};
	struct idg_err err;
	int64_t id;

	cfg_free(f->env.cfg);
	assert_int_equal(cfg_load_string("[directory]\nuri = ldap://h/\nbase = dc=x\n[grants]\n"
					 "approvers = 2\nsudo_base = ou=SUDOers,dc=x\n",
					 "t.conf", &f->env.cfg, &err),
			 0);
	root.cfg = bob.cfg = f->env.cfg;
	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	needs_two(f, id, "carries sudo rights");
	/* bob asking for himself needs the same two, not one. */
	assert_int_equal(grant_revoke(&root, id, "not now", &err), 0);
	assert_int_equal(grant_request(&bob, &req, &id, &err), 0);
	assert_string_equal(grant_text(f, "approvals_needed", id), "2");
	/* Both reasons when both hold. */
	req.group = "sre";
	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	assert_string_equal(grant_text(f, "privileged_reason", id),
			    "sre is nested in admins; carries sudo rights");
}

static void
test_account_with_privileged_group_needs_two(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct grant_request req = {.grantee = "bob",
				    .account = "ops1",
				    .groups = "dev,sre",
				    .duration = "1h",
				    .reason = "upgrade"};
	struct idg_err err;
	int64_t id;

	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	needs_two(f, id, "the account joins sre, which is nested in admins");
	req.account = "ops2";
	req.groups = "admins";
	assert_int_equal(grant_request(&root, &req, &id, &err), 0);
	needs_two(f, id, "the account joins admins, a privileged group");
}

static void
test_ordinary_group_needs_one(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0);
	struct idg_err err;
	int64_t id;

	id = request(f, &root, "bob", "dev", "1h");
	assert_string_equal(grant_text(f, "state", id), "approved");
	assert_string_equal(grant_text(f, "privileged", id), "0");
	assert_string_equal(grant_text(f, "privileged_reason", id), "(null)");
	assert_int_equal(grant_revoke(&root, id, "again", &err), 0);
	id = request(f, &bob, "bob", "dev", "1h");
	assert_string_equal(grant_text(f, "approvals_needed", id), "1");
	assert_int_equal(grant_decide(&root, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "approved");
}

static void
test_privilege_reason_is_recorded(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct idg_err err;
	int64_t id = request(f, &root, "bob", "sre", "1h");
	json_t *o;

	o = grant_show(f->env.st, id, &err);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "privileged")));
	assert_string_equal(json_string_value(json_object_get(o, "privileged_reason")),
			    "sre is nested in admins");
	json_decref(o);
	o = grant_list(f->env.st, "pending", NULL, NULL, &err);
	assert_non_null(o);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(o, 0), "privileged_reason")),
		"sre is nested in admins");
	json_decref(o);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM audit WHERE action = 'grant.request' AND "
				    "json_extract(details, '$.privileged_reason') = "
				    "'sre is nested in admins' AND json_extract(details, "
				    "'$.privileged')"),
			 1);
}

static void
test_extension_of_nested_grant_needs_two(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1);
	struct idg_err err;
	int64_t id = request(f, &root, "bob", "sre", "1h"), ext, next;

	needs_two(f, id, "sre is nested in admins");
	assert_int_equal(grants_tick(&root, T0, &next, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "active");
	/* Judged again, not only copied: a grant recorded before nesting counted. */
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE grants SET privileged = 0, privileged_reason = NULL, "
				    "approvals_needed = 1",
				    &err),
			 0);
	assert_int_equal(grant_extend(&root, id, NULL, "30m", "overran", &ext, &err), 0);
	needs_two(f, ext, "sre is nested in admins");
}

static void
test_privilege_judged_again_at_approval(void **state)
{
	struct fixture *f = *state;
	struct grants_ctx root = as(f, "root", 1), bob = as(f, "bob", 0), carl = as(f, "carl", 1);
	struct idg_err err;
	int64_t id = request(f, &bob, "bob", "dev", "1h");

	assert_string_equal(grant_text(f, "approvals_needed", id), "1");
	/* dev is put into admins while the request waits. */
	assert_int_equal(
		store_exec(f->env.st,
			   "INSERT INTO member_refs (id, kind, value) VALUES "
			   "(100, 0, 'cn=dev,dc=x'); INSERT INTO memberships "
			   "(group_id, ref_id, since) VALUES (1, 100, 0);" TEST_RESOLVE_MEMBERS_SQL,
			   &err),
		0);
	assert_int_equal(grant_decide(&root, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "requested");
	assert_string_equal(grant_text(f, "approvals_needed", id), "2");
	assert_string_equal(grant_text(f, "privileged_reason", id), "dev is nested in admins");
	assert_int_equal(grant_decide(&carl, id, 1, NULL, &err), 0);
	assert_string_equal(grant_text(f, "state", id), "approved");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test_setup_teardown(test_two_person_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_admin_request_for_unprivileged_group_is_approved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_removes_what_was_added, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unapproved_request_lapses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_group_and_duplicates_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests_write_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_account_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sudo_role_follows_the_grant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_lapses_when_its_user_has_left, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nested_group_needs_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_at_depth_two_needs_two, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nesting_cycle_terminates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sudo_grant_needs_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_with_privileged_group_needs_two, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ordinary_group_needs_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_privilege_reason_is_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extension_of_nested_grant_needs_two, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_privilege_judged_again_at_approval, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
