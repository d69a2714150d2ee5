/*
 * Reviews with an injected clock: schedules in a zone (quarterly across a
 * DST change, cron rules, malformed rules), a scheduled start that fell
 * due while the daemon was down started once, and the deadline's default:
 * revoke, keep, and escalate to the fallback reviewer for a further
 * period, then revoke.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "control_ops.h"
#include "keys.h"
#include "mfastate.h"
#include "reviews.h"
#include "schedule.h"
#include "testutil.h"

#define T0 1800000000 /* 2027-01-15T08:00:00Z */

struct fixture {
	struct test_env env;
	struct journal j;
	struct review_ctx r;
};

static const char conf[] = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
			   "[reviews]\nfallback_reviewer = boss, root\n"
			   "[campaign daily]\nschedule = 0 9 * * *\nduration = 2d\n"
			   "scope = groups\ngroups = dev\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    test_env_open(
		    &f->env, "reviews", conf, review_config_extensions,
		    "INSERT INTO users (uuid, dn, dn_norm, uid, manager_dn, status, first_seen, "
		    "last_changed) VALUES ('u1', 'uid=boss,dc=x', 'uid=boss,dc=x', 'boss', NULL, "
		    "'active', 0, 0), ('u2', 'uid=ann,dc=x', 'uid=ann,dc=x', 'ann', "
		    "'uid=boss,dc=x', 'active', 0, 0), ('u3', 'uid=ben,dc=x', 'uid=ben,dc=x', "
		    "'ben', 'uid=boss,dc=x', 'active', 0, 0);"
		    "INSERT INTO groups (id, uuid, dn, dn_norm, cn, privileged, first_seen, "
		    "last_changed) VALUES (1, 'g1', 'cn=dev,dc=x', 'cn=dev,dc=x', 'dev', 0, 0, 0);"
		    "INSERT INTO member_refs (id, kind, value) VALUES (1, 1, 'ann'), (2, 1, "
		    "'ben'), (3, 1, 'boss');"
		    "INSERT INTO memberships (group_id, ref_id, since) VALUES (1, 1, 0), (1, 2, "
		    "0), (1, 3, 0);",
		    TEST_ENV_AUDIT) != 0)
		return -1;
	f->j = (struct journal){
		.cfg = f->env.cfg, .st = f->env.st, .audit = f->env.audit, .actor = "test"};
	f->r = (struct review_ctx){.cfg = f->env.cfg,
				   .st = f->env.st,
				   .audit = f->env.audit,
				   .journal = &f->j,
				   .actor = "idgovd",
				   .admin = 1};
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

static void
test_scheduled_start_once(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	int64_t next;

	/* First seen at 08:00: the 09:00 of yesterday is not a missed start. */
	assert_int_equal(reviews_tick(&f->r, T0, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM campaigns"), 0);
	assert_int_equal(next, T0 + 3600);
	/* Down from 08:00 to 10:30: the 09:00 start happens once, at the next tick. */
	idg_set_now(T0 + 9000);
	assert_int_equal(reviews_tick(&f->r, T0 + 9000, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM campaigns WHERE name = 'daily' AND due_at = "
			   "1800003600"),
		1);
	assert_int_equal(reviews_tick(&f->r, T0 + 9001, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM campaigns"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM review_items"), 3);
	/* ann and ben: their manager boss; boss: the fallback list, skipping boss. */
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM review_items WHERE reviewer = 'boss'"),
		2);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM review_items WHERE user_uid = 'boss' AND "
				    "reviewer = 'root'"),
			 1);
}

static int64_t
open_with(struct fixture *f, enum review_default deflt)
{
	struct campaign_def d = {.name = "t",
				 .scope = REVIEW_SCOPE_ALL,
				 .fallback = "root",
				 .duration = 86400,
				 .escalation = 3600,
				 .deflt = deflt,
				 .schedule = "none",
				 .timezone = "UTC"};
	struct idg_err err;
	int64_t id;

	assert_int_equal(review_open(&f->r, &d, 0, &id, &err), 0);
	return id;
}

static void
boss_decides_ann(struct fixture *f)
{
	struct review_ctx boss = f->r;
	struct idg_err err;

	boss.actor = "boss";
	boss.admin = 0;
	assert_int_equal(review_decide(&boss, 1, "approve", NULL, &err), 0);
	/* boss may not decide boss's own item (it is root's), nor change things once closed. */
	assert_int_equal(review_decide(&boss, 3, "approve", NULL, &err), REVIEW_DENIED);
}

static void
test_deadline_revoke(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	int64_t next, id = open_with(f, REVIEW_DEFAULT_REVOKE);

	boss_decides_ann(f);
	assert_int_equal(reviews_tick(&f->r, T0 + 86399, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM campaigns WHERE state = 'open'"),
			 1);
	assert_int_equal(next, T0 + 86400);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM campaigns WHERE state = 'closed'"), 1);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM review_items WHERE decision = 'revoke' AND "
			   "decision_source = 'default'"),
		2);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM dir_journal WHERE op = 'del_value' AND attr "
			   "= 'memberUid'"),
		2);
	assert_int_equal(review_close(&f->r, id, &err), REVIEW_CONFLICT);
}

/* The auth service's state file of the fixture's store (mfastate.h), opened. */
static struct store *
state_file(struct fixture *f)
{
	char path[PATH_MAX];
	struct store *state = NULL;
	struct idg_err err;

	assert_int_equal(mfastate_path(f->env.cfg, f->env.st->path, path, sizeof(path), &err), 0);
	assert_int_equal(mfastate_open(path, f->env.st, &state, &err), 0);
	return state;
}

/* A session of uid opened at t on this host, where PAM records it. */
static void
host_session(struct fixture *f, const char *uid, int64_t t)
{
	struct store *state = state_file(f);
	char sql[256];
	struct idg_err err;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO sessions (uid, service, pid, opened_at) VALUES ('%s', 'sshd', 1, "
		 "%lld)",
		 uid, (long long)t);
	assert_int_equal(store_exec(state, sql, &err), 0);
	store_close(state);
}

/*
 * Recommendations from every login on record: this host's sessions and the
 * fleet's last-login stamps (fleet_tokens.last_login, idgovLastLogin in the
 * directory). ann logged in on another host 10 days ago (a stamp only),
 * ben here 10 days ago and on another host 200 days ago, boss nowhere.
 */
static void
test_last_login_from_the_fleet(void **state)
{
	struct fixture *f = *state;
	char sql[512];
	struct idg_err err;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO fleet_tokens (user_uuid, last_login) VALUES ('u2', %d), ('u3', %d);",
		 T0 - 10 * 86400, T0 - 200 * 86400);
	assert_int_equal(store_exec(f->env.st, sql, &err), 0);
	host_session(f, "ben", T0 - 10 * 86400);
	open_with(f, REVIEW_DEFAULT_REVOKE);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM review_items WHERE user_uid = 'ann' AND last_login = %d "
		 "AND recommendation = 'approve'",
		 T0 - 10 * 86400);
	assert_int_equal(test_count(&f->env, sql), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM review_items WHERE user_uid = 'ben' AND last_login = %d "
		 "AND recommendation = 'approve'",
		 T0 - 10 * 86400);
	assert_int_equal(test_count(&f->env, sql), 1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM review_items WHERE user_uid = 'boss' AND "
				    "last_login IS NULL AND recommendation = 'revoke' AND "
				    "recommend_why = 'never logged in'"),
			 1);
}

/*
 * Sessions an earlier idgov recorded in the main store still count: the
 * state file takes them over when it is first opened at version 3, and a
 * login since then adds to them there.
 */
static void
test_sessions_of_an_earlier_idgov_count(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	char sql[256];
	struct idg_err err;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO sessions (uid, service, pid, opened_at, closed_at) VALUES "
		 "('ann', 'sshd', 7, %d, %d)",
		 T0 - 20 * 86400, T0 - 20 * 86400 + 60);
	assert_int_equal(store_exec(f->env.st, sql, &err), 0);
	host_session(f, "ben", T0 - 3 * 86400);
	open_with(f, REVIEW_DEFAULT_REVOKE);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM review_items WHERE recommendation = 'approve' AND "
		 "((user_uid = 'ann' AND last_login = %d) OR (user_uid = 'ben' AND last_login = "
		 "%d))",
		 T0 - 20 * 86400, T0 - 3 * 86400);
	assert_int_equal(test_count(&f->env, sql), 2);
	st = state_file(f);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sessions WHERE uid = 'ann' AND pid = 7 AND closed_at = %d",
		 T0 - 20 * 86400 + 60);
	assert_int_equal(test_store_count(st, sql), 1);
	store_close(st);
}

static void
test_reminders_go_to_reviewers_once(void **state)
{
	struct fixture *f = *state;
	struct campaign_def d = {.name = "r",
				 .scope = REVIEW_SCOPE_ALL,
				 .fallback = "root",
				 .duration = 86400,
				 .reminders = {7200, 3600},
				 .n_reminders = 2,
				 .schedule = "none",
				 .timezone = "UTC"};
	char script[200], out[200], cmd[400], buf[4096] = "";
	struct idg_err err;
	int64_t id, next;
	FILE *fp;

	snprintf(script, sizeof(script), "%s/notify.sh", f->env.dir);
	snprintf(out, sizeof(out), "%s/mail", f->env.dir);
	fp = fopen(script, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\ncat >> %s\n", out);
	fclose(fp);
	assert_int_equal(chmod(script, 0755), 0);
	cfg_free(f->env.cfg);
	snprintf(cmd, sizeof(cmd),
		 "[directory]\nuri = ldap://h/\nbase = dc=x\n[reviews]\nfallback_reviewer = "
		 "root\n[notify]\ncommand = %s\n[web]\nurl = https://idgov.example.com:8443\n",
		 script);
	assert_int_equal(
		cfg_load_string_with(cmd, "t.conf", review_config_extensions, &f->env.cfg, &err),
		0);
	f->r.cfg = f->j.cfg = f->env.cfg;
	assert_int_equal(
		store_exec(f->env.st, "UPDATE users SET mail = 'boss@x' WHERE uid = 'boss'", &err),
		0);
	assert_int_equal(review_open(&f->r, &d, 0, &id, &err), 0);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400 - 7201, &next, &err), 0);
	assert_int_equal(next, T0 + 86400 - 7200);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400 - 7200, &next, &err), 0);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400 - 7000, &next, &err), 0);
	assert_int_equal(test_count(&f->env, "SELECT reminders_sent FROM campaigns"), 1);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM audit WHERE action = 'review.remind'"),
		1);
	while (wait(NULL) > 0) /* the notify commands */
		;
	fp = fopen(out, "r");
	assert_non_null(fp);
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) > 0);
	fclose(fp);
	assert_non_null(strstr(buf, "To: boss@x"));
	assert_non_null(strstr(buf, "Subject: [idgov] access review reminder"));
	assert_non_null(strstr(buf, "boss has 2 undecided item(s)"));
	/* The mail says until when, and where: the web page's link. */
	assert_non_null(strstr(buf, "Deadline: 2027-01-16 08:00 UTC"));
	assert_non_null(strstr(buf, "Review them at: https://idgov.example.com:8443/reviews"));
}

static void
test_deadline_keep(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	int64_t next;

	open_with(f, REVIEW_DEFAULT_APPROVE);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM review_items WHERE decision = 'approve' AND "
			   "decision_source = 'default'"),
		3);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM dir_journal"), 0);
}

static void
test_deadline_escalate(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	int64_t next;

	open_with(f, REVIEW_DEFAULT_ESCALATE);
	boss_decides_ann(f);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM campaigns WHERE state = 'open' AND deadline "
			   "= 1800090000"),
		1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM review_items WHERE reviewer = 'root' AND "
				    "decision IS NULL AND reviewer_why LIKE 'escalated from %'"),
			 2);
	assert_int_equal(next, T0 + 86400 + 3600);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT json_extract(details, '$.items') FROM audit WHERE action = "
			   "'review.escalate'"),
		2);
	assert_int_equal(reviews_tick(&f->r, T0 + 86400 + 3600, &next, &err), 0);
	assert_int_equal(
		test_count(&f->env,
			   "SELECT count(*) FROM review_items WHERE decision = 'revoke' AND "
			   "decision_source = 'default after escalation'"),
		2);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM campaigns WHERE state = 'closed'"), 1);
}

/* Decides through a batch of chunks: all of a batch, or none of it. */
static void
test_batches_are_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct review_ctx boss = f->r, other = f->r;
	struct idg_err err;
	int64_t id, again, total, n;
	json_t *c1 = json_loads("[{\"item\": 1, \"decision\": \"approve\"}]", 0, NULL);
	json_t *c2 = json_loads("[{\"item\": 2, \"decision\": \"revoke\", \"comment\": \"left\"}]",
				0, NULL);
	json_t *bad = json_loads("[{\"item\": 3, \"decision\": \"approve\"}]", 0, NULL);
	json_t *shape = json_loads("[{\"item\": \"one\", \"decision\": \"approve\"}]", 0, NULL);

	open_with(f, REVIEW_DEFAULT_REVOKE);
	boss.actor = "boss";
	boss.admin = 0;
	other.actor = "ann";
	other.admin = 0;
	assert_int_equal(review_batch_add(&boss, 0, c1, T0, &id, &total, &err), 0);
	assert_int_equal(total, 1);
	assert_int_equal(review_batch_add(&boss, id, c2, T0, &again, &total, &err), 0);
	assert_int_equal(again, id);
	assert_int_equal(total, 2);
	/* Nothing is decided until the commit, and the batch is boss's alone. */
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM review_items WHERE decision IS NOT NULL"),
		0);
	assert_int_equal(review_batch_add(&other, id, c1, T0, &again, &total, &err),
			 REVIEW_NOT_FOUND);
	assert_int_equal(review_batch_commit(&other, id, T0, &n, &err), REVIEW_NOT_FOUND);
	assert_int_equal(review_batch_commit(&boss, id, T0, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM review_items WHERE id = 2 AND decision = "
				    "'revoke' AND comment = 'left'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM review_batches"), 0);

	/* One decision boss may not make spoils the whole batch; the batch is gone after. */
	assert_int_equal(review_batch_add(&boss, 0, c2, T0, &id, &total, &err), 0);
	assert_int_equal(review_batch_add(&boss, id, bad, T0, &id, &total, &err), 0);
	assert_int_equal(
		store_exec(f->env.st, "UPDATE review_items SET comment = 'x' WHERE id = 2", &err),
		0);
	assert_int_equal(review_batch_commit(&boss, id, T0, &n, &err), REVIEW_DENIED);
	assert_non_null(strstr(err.msg, "nothing was recorded"));
	assert_int_equal(n, 0);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM review_items WHERE id = 2 AND comment = "
				    "'x'"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM review_batches"), 0);

	/* A malformed decision is refused as it arrives; nothing is kept. */
	assert_int_equal(review_batch_add(&boss, 0, shape, T0, &id, &total, &err), REVIEW_INVALID);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM review_batches"), 0);

	/* An uncommitted batch is forgotten after an hour; a reviewer holds at most four. */
	assert_int_equal(review_batch_add(&boss, 0, c1, T0, &id, &total, &err), 0);
	assert_int_equal(review_batch_commit(&boss, id, T0 + 3601, &n, &err), REVIEW_NOT_FOUND);
	for (int i = 0; i < 4; i++)
		assert_int_equal(review_batch_add(&boss, 0, c1, T0, &id, &total, &err), 0);
	assert_int_equal(review_batch_add(&boss, 0, c1, T0, &id, &total, &err), REVIEW_CONFLICT);
	json_decref(c1);
	json_decref(c2);
	json_decref(bad);
	json_decref(shape);
}

/* Decision files: every line is one decision or the file is refused, never a line dropped. */
static void
test_decision_files(void **state)
{
	static const char csv[] =
		"item,decision,comment\n1,approve,\n2,revoke,\"a, \"\"b\"\"\"\r\n";
	static const char latin1[] = "1,approve\n2,revoke,caf\xe9\n3,revoke\n";
	static const char bad_decision[] = "1,\xff\n";
	static const char nul[] = "1,approve\n\0"
				  "2,revoke\n";
	static const char json[] = " [{\"item\":5,\"decision\":\"approve\"}]";
	char why[256];
	json_t *a;

	(void)state;
	a = review_decisions_parse(csv, strlen(csv), why, sizeof(why));
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "comment")),
			    "a, \"b\"");
	json_decref(a);
	assert_null(review_decisions_parse(latin1, strlen(latin1), why, sizeof(why)));
	assert_string_equal(why, "line 2: not UTF-8 text");
	assert_null(review_decisions_parse(bad_decision, strlen(bad_decision), why, sizeof(why)));
	assert_string_equal(why, "line 1: not UTF-8 text");
	assert_null(review_decisions_parse(nul, sizeof(nul) - 1, why, sizeof(why)));
	assert_non_null(strstr(why, "NUL"));
	a = review_decisions_parse(json, strlen(json), why, sizeof(why));
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
}

/* The items of one page and its counts for query q, as reviewer. */
static json_t *
page_of(struct fixture *f, const char *reviewer, struct review_page_query q)
{
	struct idg_err err;
	json_t *o = review_page(f->env.st, reviewer, &q, &err);

	assert_non_null(o);
	return o;
}

static json_int_t
num(json_t *o, const char *key)
{
	assert_true(json_is_integer(json_object_get(o, key)));
	return json_integer_value(json_object_get(o, key));
}

static json_int_t
item_at(json_t *o, size_t i)
{
	return num(json_array_get(json_object_get(o, "items"), i), "item");
}

static size_t
shown(json_t *o)
{
	return json_array_size(json_object_get(o, "items"));
}

/* A page is cut in SQL: the window, the filters, and counts that the filters narrow
 * ("matched") or leave alone ("total", "decided": the progress). */
static void
test_page_windows_and_filters(void **state)
{
	struct fixture *f = *state;
	struct review_ctx boss = f->r;
	struct idg_err err;
	json_t *o;

	open_with(f, REVIEW_DEFAULT_REVOKE);
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE users SET display_name = 'Zoë Quill' WHERE uid = 'ben';"
				    "UPDATE review_items SET privileged = 1 WHERE user_uid = 'ben'",
				    &err),
			 0);

	/* The window: one item a page, in item order while nothing is decided. */
	o = page_of(f, "boss", (struct review_page_query){.limit = 1});
	assert_int_equal(num(o, "total"), 2);
	assert_int_equal(num(o, "decided"), 0);
	assert_int_equal(num(o, "matched"), 2);
	assert_int_equal(shown(o), 1);
	assert_int_equal(item_at(o, 0), 1);
	assert_int_equal(json_array_size(json_object_get(o, "campaigns")), 1);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .offset = 1});
	assert_int_equal(shown(o), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .offset = 2});
	assert_int_equal(shown(o), 0);
	assert_int_equal(num(o, "total"), 2);
	json_decref(o);

	/* Person: a case-insensitive substring of the uid or the display name. */
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .person = "AN"});
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(num(o, "total"), 2);
	assert_int_equal(item_at(o, 0), 1);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .person = "quill"});
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);
	/* '%' and '_' are characters, not patterns. */
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .person = "%"});
	assert_int_equal(num(o, "matched"), 0);
	assert_int_equal(shown(o), 0);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .group = "_"});
	assert_int_equal(num(o, "matched"), 0);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .group = "DE"});
	assert_int_equal(num(o, "matched"), 2);
	json_decref(o);

	/* Privileged only. */
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .privileged = 1});
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);

	/* A decision moves the item after the undecided ones and counts in the progress. */
	boss.actor = "boss";
	boss.admin = 0;
	assert_int_equal(review_decide(&boss, 1, "approve", NULL, &err), 0);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "decided"), 1);
	assert_int_equal(item_at(o, 0), 2);
	assert_int_equal(item_at(o, 1), 1);
	/* Items carry what the page draws; empty columns are left out, set ones kept. */
	{
		json_t *undecided = json_array_get(json_object_get(o, "items"), 0);
		json_t *decided = json_array_get(json_object_get(o, "items"), 1);

		assert_null(json_object_get(undecided, "decision"));
		assert_string_equal(json_string_value(json_object_get(decided, "decision")),
				    "approve");
		assert_non_null(json_object_get(undecided, "grp"));
		assert_null(json_object_get(decided, "deadline"));
		assert_null(json_object_get(decided, "reviewer_why"));
	}
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .undecided = 1});
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(num(o, "decided"), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);

	/* Another reviewer's page holds only their items; nobody's holds none. */
	o = page_of(f, "root", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "total"), 1);
	assert_int_equal(item_at(o, 0), 3);
	json_decref(o);
	o = page_of(f, "nobody", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "total"), 0);
	assert_int_equal(shown(o), 0);
	assert_int_equal(json_array_size(json_object_get(o, "campaigns")), 0);
	json_decref(o);
}

/* review_counts rows that disagree with review_items (schema 018's invariant): 0 when exact. */
static long long
counts_wrong(struct fixture *f)
{
	return test_count(
		&f->env,
		"SELECT (SELECT count(*) FROM (SELECT reviewer, campaign_id, count(*) AS n, "
		"count(decision) AS d, sum(privileged != 0) AS p, sum(privileged != 0 AND decision "
		"IS NOT NULL) AS pd FROM review_items WHERE reviewer IS NOT NULL GROUP BY "
		"reviewer, "
		"campaign_id) a LEFT JOIN review_counts k USING (reviewer, campaign_id) WHERE "
		"k.items IS NOT a.n OR k.decided IS NOT a.d OR k.privileged IS NOT a.p OR "
		"k.privileged_decided IS NOT a.pd) + (SELECT count(*) FROM review_counts k WHERE "
		"k.items != (SELECT count(*) FROM review_items i WHERE i.reviewer = k.reviewer AND "
		"i.campaign_id = k.campaign_id))");
}

/* A cursor is "u" or "d" and an item number, and nothing else is one. */
static void
test_page_cursor_parse_rejects_malformed_text(void **state)
{
	static const char *const bad[] = {
		"",
		"u",
		"d",
		"x12",
		"U12",
		"u0",
		"u012",
		"u-1",
		"u+1",
		" u1",
		"u 1",
		"u1 ",
		"u12a",
		"u1.5",
		"ud1",
		"du1",
		"u0x1f",
		"\tu1",
		"d1\n",
		"u1e3",
		"u99999999999999999999", /* 20 digits */
		"u9223372036854775808",  /* INT64_MAX + 1 */
		"u18446744073709551617", /* wraps to 1 in 64 bits */
	};
	struct review_cursor c;
	char out[REVIEW_CURSOR_MAX];

	(void)state;
	assert_int_equal(review_cursor_parse(NULL, &c), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.id = 7;
		if (review_cursor_parse(bad[i], &c) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(c.id, 0);
	}
	assert_int_equal(review_cursor_parse("u4900", &c), 0);
	assert_int_equal(c.decided, 0);
	assert_int_equal(c.id, 4900);
	assert_int_equal(review_cursor_parse("d9223372036854775807", &c), 0);
	assert_int_equal(c.decided, 1);
	assert_true(c.id == INT64_MAX);
	review_cursor_format(&c, out);
	assert_string_equal(out, "d9223372036854775807");
}

static const char *
text(json_t *o, const char *key)
{
	assert_true(json_is_string(json_object_get(o, key)));
	return json_string_value(json_object_get(o, key));
}

static struct review_cursor
cursor(const char *s)
{
	struct review_cursor c;

	assert_int_equal(review_cursor_parse(s, &c), 0);
	return c;
}

/*
 * A window after or before a cursor is the one an offset gives, across
 * the undecided and decided halves of the order, and each page names the
 * cursors of its first and last items for the pager.
 */
static void
test_page_after_and_before_a_cursor(void **state)
{
	struct fixture *f = *state;
	struct review_ctx boss = f->r;
	struct idg_err err;
	json_t *o;

	boss.actor = "boss";
	boss.admin = 0;
	open_with(f, REVIEW_DEFAULT_REVOKE);
	/* Order: 2 (undecided), then 1 (decided). */
	assert_int_equal(review_decide(&boss, 1, "approve", NULL, &err), 0);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1});
	assert_int_equal(item_at(o, 0), 2);
	assert_string_equal(text(o, "first"), "u2");
	assert_string_equal(text(o, "last"), "u2");
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .after = cursor("u2")});
	assert_int_equal(shown(o), 1);
	assert_int_equal(item_at(o, 0), 1); /* into the decided half */
	assert_string_equal(text(o, "first"), "d1");
	assert_int_equal(num(o, "matched"), 2);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .after = cursor("d1")});
	assert_int_equal(shown(o), 0);
	assert_null(json_object_get(o, "first"));
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .before = cursor("d1")});
	assert_int_equal(shown(o), 1);
	assert_int_equal(item_at(o, 0), 2); /* back into the undecided half */
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .before = cursor("d9")});
	assert_int_equal(shown(o), 2);
	assert_int_equal(item_at(o, 0), 2); /* in the page's order, not walked backwards */
	assert_int_equal(item_at(o, 1), 1);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 1, .before = cursor("u2")});
	assert_int_equal(shown(o), 0);
	json_decref(o);
	/* The filters still hold: no undecided item after the last undecided one. */
	o = page_of(f, "boss",
		    (struct review_page_query){.limit = 10, .undecided = 1, .after = cursor("u1")});
	assert_int_equal(shown(o), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);
	o = page_of(f, "boss",
		    (struct review_page_query){.limit = 10, .undecided = 1, .after = cursor("u2")});
	assert_int_equal(shown(o), 0);
	json_decref(o);
	/* Another reviewer's items are never in the window, whatever the cursor. */
	o = page_of(f, "nobody", (struct review_page_query){.limit = 10, .after = cursor("u1")});
	assert_int_equal(shown(o), 0);
	json_decref(o);
	/* Both at once is refused. */
	assert_null(review_page(f->env.st, "boss",
				&(struct review_page_query){
					.limit = 1, .after = cursor("u1"), .before = cursor("d1")},
				&err));
}

/*
 * A page by offset is the same slice of the order whichever end it is
 * walked from (review_page walks from the nearer one): every page of 23
 * items, some decided and some privileged, at several sizes and filters,
 * against the whole list in one window.
 */
static void
test_page_by_offset_from_either_end(void **state)
{
	struct fixture *f = *state;
	static const struct review_page_query filters[] = {
		{.limit = 0}, {.undecided = 1}, {.privileged = 1}, {.person = "x1"}};
	struct idg_err err;

	open_with(f, REVIEW_DEFAULT_REVOKE);
	assert_int_equal(
		store_exec(
			f->env.st,
			"INSERT INTO review_items (campaign_id, user_uuid, user_uid, user_dn, "
			"user_status, group_id, group_cn, group_dn, privileged, held_as, source, "
			"recommendation, recommend_why, reviewer, reviewer_why, decision) SELECT "
			"i.campaign_id, 'x' || n, 'x' || n, 'uid=x' || n, 'active', i.group_id, "
			"i.group_cn, i.group_dn, n % 3 = 0, 'member', 'directory', 'approve', 'r', "
			"'boss', 'manager', CASE WHEN n % 4 = 0 THEN 'approve' END FROM "
			"review_items i, (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
			"FROM c WHERE n < 21) SELECT n FROM c) WHERE i.id = 1",
			&err),
		0);
	assert_int_equal(counts_wrong(f), 0);
	for (size_t k = 0; k < sizeof(filters) / sizeof(filters[0]); k++) {
		struct review_page_query q = filters[k];
		json_t *all;
		json_int_t matched;

		q.limit = 1000;
		all = page_of(f, "boss", q);
		matched = num(all, "matched");
		assert_int_equal((json_int_t)shown(all), matched);
		assert_true(matched >= 2);
		for (int64_t limit = 1; limit <= 5; limit += 2) {
			for (int64_t off = 0; off <= matched + 1; off++) {
				json_t *o;

				q.limit = limit;
				q.offset = off;
				o = page_of(f, "boss", q);
				assert_int_equal(num(o, "matched"), matched);
				assert_int_equal((int64_t)shown(o), off >= matched ? 0
								    : matched - off < limit
									    ? matched - off
									    : limit);
				for (size_t i = 0; i < shown(o); i++)
					assert_int_equal(item_at(o, i),
							 item_at(all, (size_t)off + i));
				json_decref(o);
			}
		}
		json_decref(all);
	}
}

/* Runs review.page with args (JSON) as boss through its control operation; the reply's code. */
static const char *
page_op(struct fixture *f, const char *args, json_t **out)
{
	static struct reply_err r;
	struct control_ctx ctx = {.cfg = f->env.cfg, .st = f->env.st};
	struct caller boss = {.uid = 1000, .name = "boss"};
	const struct control_op *ops, *op = NULL;
	json_t *a = json_loads(args, JSON_ALLOW_NUL, NULL);
	size_t n;

	assert_non_null(a);
	ops = review_control_ops(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].name, "review.page") == 0)
			op = &ops[i];
	assert_non_null(op);
	if (op == NULL) { /* assert_non_null() has failed the test; for the analyzer */
		json_decref(a);
		*out = NULL;
		return "no review.page";
	}
	assert_true(op->flags & CONTROL_OP_ROLELESS);
	memset(&r, 0, sizeof(r));
	*out = op->fn(&ctx, &boss, a, &r);
	json_decref(a);
	return *out != NULL ? "ok" : r.code;
}

/* The operation's cursor arguments: malformed text and two windows at once are refused. */
static void
test_page_op_refuses_malformed_cursors(void **state)
{
	static const char *const bad[] = {
		"{\"after\": \"\"}",
		"{\"after\": \"x1\"}",
		"{\"after\": \"u\"}",
		"{\"before\": \"u-3\"}",
		"{\"after\": 12}",
		"{\"before\": \"d01\"}",
		"{\"after\": \"u1\\u0000\"}",
		"{\"after\": \"u123456789012345678901234\"}",
		"{\"after\": \"u1\", \"before\": \"d1\"}",
		"{\"after\": \"u1\", \"offset\": 100}",
		"{\"before\": \"u1\", \"offset\": 1}",
		"{\"table\": 1}",
		"{\"table\": \"yes\"}",
	};
	struct fixture *f = *state;
	json_t *o;

	open_with(f, REVIEW_DEFAULT_REVOKE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *code = page_op(f, bad[i], &o);

		if (strcmp(code, "bad_request") != 0)
			fail_msg("%s: %s, not bad_request", bad[i], code);
	}
	/* A cursor alone, and offset 0 beside one, are a window. */
	assert_string_equal(page_op(f, "{\"after\": \"u1\"}", &o), "ok");
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);
	assert_string_equal(page_op(f, "{\"before\": \"u2\", \"offset\": 0}", &o), "ok");
	assert_int_equal(item_at(o, 0), 1);
	json_decref(o);
}

/*
 * Asked as a table, a page holds the same items as the objects do, value
 * for value (an empty column as null rather than left out), the same
 * counts and the same cursors; the table's columns are named once.
 */
static void
test_page_as_table_matches_the_objects(void **state)
{
	struct fixture *f = *state;
	struct review_ctx boss = f->r;
	struct idg_err err;
	json_t *objs, *tab, *cols, *rows, *c;
	const char *key;
	size_t i, k;

	boss.actor = "boss";
	boss.admin = 0;
	open_with(f, REVIEW_DEFAULT_REVOKE);
	assert_int_equal(review_decide(&boss, 1, "approve", "known", &err), 0);
	objs = page_of(f, "boss", (struct review_page_query){.limit = 10});
	tab = page_of(f, "boss", (struct review_page_query){.limit = 10, .table = 1});
	assert_null(json_object_get(tab, "items"));
	cols = json_object_get(tab, "columns");
	rows = json_object_get(tab, "rows");
	assert_true(json_is_array(cols));
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(shown(objs), 2);
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i),
		       *obj = json_array_get(json_object_get(objs, "items"), i);

		assert_int_equal(json_array_size(row), json_array_size(cols));
		json_array_foreach(cols, k, c)
		{
			json_t *want = json_object_get(obj, json_string_value(c)),
			       *got = json_array_get(row, k);

			if (want == NULL ? !json_is_null(got) : !json_equal(want, got))
				fail_msg("row %zu, column %s differs", i, json_string_value(c));
		}
		/* Every key of the object is a column of the table. */
		json_object_foreach(obj, key, c)
		{
			int found = 0;
			json_t *name;

			json_array_foreach(cols, k, name) found |=
				strcmp(json_string_value(name), key) == 0;
			if (!found)
				fail_msg("column %s missing from the table", key);
		}
	}
	assert_string_equal(text(tab, "first"), text(objs, "first"));
	assert_string_equal(text(tab, "last"), text(objs, "last"));
	assert_string_equal(text(tab, "last"), "d1");
	assert_int_equal(num(tab, "matched"), num(objs, "matched"));
	assert_int_equal(num(tab, "decided"), 1);
	json_decref(objs);
	json_decref(tab);
}

/* The page's counts come from review_counts, which every write to review_items keeps
 * exact; the "matched" they give equals the one a scan gives. */
static void
test_page_counts_follow_every_write(void **state)
{
	struct fixture *f = *state;
	struct review_ctx boss = f->r;
	struct idg_err err;
	int64_t n;
	json_t *o;

	boss.actor = "boss";
	boss.admin = 0;
	open_with(f, REVIEW_DEFAULT_REVOKE);
	assert_int_equal(counts_wrong(f), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM review_counts"), 2);
	/* A hand edit, a decision, a privileged decision. */
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE review_items SET privileged = 1 WHERE user_uid = 'ben'",
				    &err),
			 0);
	assert_int_equal(counts_wrong(f), 0);
	assert_int_equal(review_decide(&boss, 2, "approve", NULL, &err), 0);
	assert_int_equal(counts_wrong(f), 0);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .privileged = 1});
	assert_int_equal(num(o, "matched"), 1);
	json_decref(o);
	o = page_of(f, "boss",
		    (struct review_page_query){.limit = 10, .privileged = 1, .undecided = 1});
	assert_int_equal(num(o, "matched"), 0);
	assert_int_equal(num(o, "total"), 2);
	assert_int_equal(num(o, "decided"), 1);
	assert_int_equal(shown(o), 0);
	json_decref(o);
	/* The same filter with a substring that every item matches: counted by a scan. */
	o = page_of(f, "boss",
		    (struct review_page_query){
			    .limit = 10, .privileged = 1, .undecided = 1, .group = "dev"});
	assert_int_equal(num(o, "matched"), 0);
	json_decref(o);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10, .undecided = 1});
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(item_at(o, 0), 1);
	json_decref(o);

	/* A delegation moves the item's count from boss to ben. */
	assert_int_equal(review_delegate(&boss, 1, 0, "ben", &n, &err), 0);
	assert_int_equal(counts_wrong(f), 0);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "total"), 1);
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(item_at(o, 0), 2);
	json_decref(o);
	o = page_of(f, "ben", (struct review_page_query){.limit = 10, .undecided = 1});
	assert_int_equal(num(o, "total"), 1);
	assert_int_equal(num(o, "matched"), 1);
	assert_int_equal(item_at(o, 0), 1);
	json_decref(o);

	/* No reviewer, a deletion, a decision taken back by hand: still exact. */
	assert_int_equal(
		store_exec(f->env.st, "UPDATE review_items SET reviewer = NULL WHERE id = 3", &err),
		0);
	assert_int_equal(counts_wrong(f), 0);
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE review_items SET decision = NULL, decided_by = NULL, "
				    "decided_at = NULL WHERE id = 2",
				    &err),
			 0);
	assert_int_equal(counts_wrong(f), 0);
	assert_int_equal(store_exec(f->env.st, "DELETE FROM review_items WHERE id = 1", &err), 0);
	assert_int_equal(counts_wrong(f), 0);
	o = page_of(f, "ben", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "total"), 0);
	assert_int_equal(num(o, "matched"), 0);
	assert_int_equal(json_array_size(json_object_get(o, "campaigns")), 0);
	json_decref(o);

	/* A closed campaign's items leave the page and its counts. */
	assert_int_equal(review_close(&f->r, 1, &err), 0);
	o = page_of(f, "boss", (struct review_page_query){.limit = 10});
	assert_int_equal(num(o, "total"), 0);
	assert_int_equal(num(o, "matched"), 0);
	assert_int_equal(shown(o), 0);
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scheduled_start_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_login_from_the_fleet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_of_an_earlier_idgov_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_by_offset_from_either_end, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reminders_go_to_reviewers_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deadline_escalate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_are_all_or_nothing, setup, teardown),
		cmocka_unit_test(test_decision_files),
		cmocka_unit_test_setup_teardown(test_page_windows_and_filters, setup, teardown),
		cmocka_unit_test(test_page_cursor_parse_rejects_malformed_text),
		cmocka_unit_test_setup_teardown(test_page_after_and_before_a_cursor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_op_refuses_malformed_cursors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_counts_follow_every_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page_as_table_matches_the_objects, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
