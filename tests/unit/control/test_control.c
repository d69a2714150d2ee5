/*
 * Unit tests for the control protocol: request validation (malformed,
 * wrong version, unknown operation or argument, bad types, over-long
 * names), role checks, that every request is audited with its outcome,
 * and that what a caller sends reaches a record only validated and
 * bounded: long or control-laden names never, refusals of non-admins
 * coalesced per uid and minute with a count that adds up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "control.h"
#include "sync.h"
#include "keys.h"
#include "mfa.h"
#include "totp.h"

#include <liboath/oath.h>

#define T0 1800000000 /* a fixed "now", on a step boundary */

struct fixture {
	struct test_env env;
	struct control_ctx ctx;
	struct control_refusals refusals;
	int syncs;
};

static int
fake_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	struct fixture *f = arg;

	(void)err;
	f->syncs++;
	snprintf(res->mode, sizeof(res->mode), "%s", opts->full ? "full" : "incr");
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    test_env_open(&f->env, "control",
			  "[directory]\nuri = ldap://h/\nbase = dc=x\n[store]\naudit_public_key = "
			  "$DIR/audit.pub\naudit_anchor = $DIR/audit.anchor\n",
			  NULL,
			  "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			  "last_changed) VALUES ('u1', 'uid=alice,dc=x', 'uid=alice,dc=x', "
			  "'alice', 'active', 0, 0)",
			  TEST_ENV_AUDIT | TEST_ENV_MASTER_KEY) != 0)
		return -1;
	f->ctx = (struct control_ctx){.cfg = f->env.cfg,
				      .st = f->env.st,
				      .audit = f->env.audit,
				      .key = f->env.key,
				      .run_sync = fake_sync,
				      .refusals = &f->refusals,
				      .arg = f};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	idg_set_now(-1);
	store_close(f->ctx.mfa_state); /* opened by the first MFA operation */
	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

static const struct caller root = {.uid = 0, .name = "root", .admin = 1};
static const struct caller alice = {.uid = 1001, .name = "alice", .admin = 0};
static const struct caller bob = {.uid = 1002, .name = "bob", .admin = 0};

/* Sends request as who; checks ok/code and returns the parsed reply. */
static json_t *
ask(struct fixture *f, const struct caller *who, const char *request, const char *want_code)
{
	char *reply = control_handle(&f->ctx, who, request, strlen(request));
	json_t *r = json_loads(reply, 0, NULL);

	if (r == NULL)
		fail_msg("reply is not JSON: %s", reply);
	assert_int_equal(json_integer_value(json_object_get(r, "v")), 1);
	if (want_code == NULL) {
		if (!json_is_true(json_object_get(r, "ok")))
			fail_msg("expected ok, got %s", reply);
	} else {
		const char *code =
			json_string_value(json_object_get(json_object_get(r, "error"), "code"));

		if (code == NULL || strcmp(code, want_code) != 0)
			fail_msg("expected %s, got %s", want_code, reply);
	}
	free(reply);
	return r;
}

static const char *
last_audit(struct fixture *f, const char *col)
{
	static char buf[512];
	sqlite3_stmt *s;
	char q[128];

	snprintf(q, sizeof(q), "SELECT %s FROM audit ORDER BY seq DESC LIMIT 1", col);
	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

static void
test_malformed_requests_are_rejected_and_audited(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"v\":1,\"op\":",
		"{\"op\":\"status\"}",
		"{\"v\":2,\"op\":\"status\"}",
		"{\"v\":\"1\",\"op\":\"status\"}",
		"{\"v\":1,\"op\":\"nuke\"}",
		"{\"v\":1,\"op\":42}",
		"{\"v\":1,\"op\":\"status\",\"args\":[]}",
		"{\"v\":1,\"op\":\"status\",\"op\":\"sync\"}",
		"{\"v\":1,\"op\":\"status\",\"args\":{},\"extra\":1}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_decref(ask(f, &root, bad[i], "bad_request"));
		assert_string_equal(last_audit(f, "action"), "control.malformed");
	}
	assert_int_equal(f->syncs, 0);
}

static void
test_argument_validation(void **state)
{
	struct fixture *f = *state;
	char big[600];

	json_decref(
		ask(f, &root, "{\"v\":1,\"op\":\"sync\",\"args\":{\"full\":1}}", "bad_request"));
	json_decref(
		ask(f, &root, "{\"v\":1,\"op\":\"sync\",\"args\":{\"fast\":true}}", "bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.show\"}", "bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":7}}",
			"bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"a\\nb\"}}",
			"bad_request"));
	json_decref(ask(f, &root,
			"{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"a\\u0000b\"}}",
			"bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.list\",\"args\":{\"status\":\"gone\"}}",
			"bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"audit.list\",\"args\":{\"limit\":-1}}",
			"bad_request"));
	snprintf(big, sizeof(big), "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"%0300d\"}}",
		 0);
	json_decref(ask(f, &root, big, "bad_request"));
	assert_int_equal(f->syncs, 0);
	assert_string_equal(last_audit(f, "action"), "control.user.show");
	assert_non_null(strstr(last_audit(f, "details"), "bad_request"));
}

static void
test_roles_decide_and_refusals_are_audited(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"sync\"}", "denied"));
	assert_int_equal(f->syncs, 0);
	assert_string_equal(last_audit(f, "actor"), "alice");
	assert_non_null(strstr(last_audit(f, "details"), "\"outcome\":\"refused\""));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"user.list\"}", "denied"));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"audit.verify\"}", "denied"));
	json_decref(ask(f, &alice,
			"{\"v\":1,\"op\":\"audit.anchor_reset\",\"args\":{\"confirm\":1}}",
			"denied"));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"bob\"}}",
			"denied"));
	r = ask(f, &alice, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"alice\"}}", NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "uid")),
			    "alice");
	json_decref(r);
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"status\"}", NULL));
}

static void
test_admin_requests_run(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	r = ask(f, &root, "{\"v\":1,\"op\":\"sync\",\"args\":{\"full\":true}}", NULL);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r, "result"), "mode")), "full");
	json_decref(r);
	assert_int_equal(f->syncs, 1);
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"zed\"}}",
			"not_found"));
	r = ask(f, &root, "{\"v\":1,\"op\":\"audit.verify\"}", NULL);
	assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "ok")));
	json_decref(r);
	assert_string_equal(last_audit(f, "action"), "control.audit.verify");
	/* Re-anchoring needs the head the admin saw, and only that one. */
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"audit.anchor_reset\"}", "bad_request"));
	json_decref(ask(f, &root,
			"{\"v\":1,\"op\":\"audit.anchor_reset\",\"args\":{\"confirm\":999}}",
			"failed"));
	assert_non_null(strstr(last_audit(f, "details"), "the store's head is"));
}

static void
test_reject_names_the_reason(void **state)
{
	struct fixture *f = *state;
	char *reply =
		control_reject(&f->ctx, &alice, "bad_request", "request larger than 65536 bytes");

	assert_non_null(strstr(reply, "request larger than 65536 bytes"));
	assert_string_equal(last_audit(f, "action"), "control.malformed");
	assert_string_equal(last_audit(f, "actor"), "alice");
	free(reply);
}

static int64_t
count_audit(struct fixture *f, const char *where)
{
	sqlite3_stmt *s;
	char q[256];
	int64_t n;

	snprintf(q, sizeof(q), "SELECT count(*) FROM audit WHERE %s", where);
	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* The one number a query gives. */
static int64_t
count_rows(struct fixture *f, const char *query)
{
	sqlite3_stmt *s;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, query, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* No byte of the text is a C0 control, DEL or the start of a UTF-8 C1 control. */
static void
assert_no_controls(const char *what, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			fail_msg("%s has control byte 0x%02x: %s", what, *p, text);
}

/* Every record's fields, and every string in its details once decoded, are free of controls. */
static void
assert_records_clean(struct fixture *f)
{
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db,
					    "SELECT actor, subject, action, details FROM audit", -1,
					    &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *d = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL);
		const char *key;
		json_t *v;

		for (int i = 0; i < 4; i++)
			assert_no_controls("record field", (const char *)sqlite3_column_text(s, i));
		assert_non_null(d);
		json_object_foreach(d, key, v)
		{
			assert_no_controls("details key", key);
			if (json_is_string(v))
				assert_no_controls("details value", json_string_value(v));
		}
		json_decref(d);
	}
	sqlite3_finalize(s);
}

/* A 60 KB name is refused, and its record has no subject, not 60 KB of it. */
static void
test_long_name_never_reaches_a_record(void **state)
{
	struct fixture *f = *state;
	const struct caller *who[] = {&alice, &root};
	size_t n = 60000;
	char *req = malloc(n + 100);
	int off;

	idg_set_now(1000000);
	off = snprintf(req, n + 100, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"");
	memset(req + off, 'a', n);
	snprintf(req + off + n, 100 - (size_t)off, "\"}}");
	for (size_t i = 0; i < 2; i++) {
		json_decref(ask(f, who[i], req, "bad_request"));
		assert_string_equal(last_audit(f, "actor"), who[i]->name);
		assert_string_equal(last_audit(f, "subject"), "-");
		assert_int_equal(count_audit(f, "length(subject) > 256 OR length(details) > 1024"),
				 0);
	}
	/* The same for an admin-only operation refused for its role. */
	off = snprintf(req, n + 100, "{\"v\":1,\"op\":\"mfa.reset\",\"args\":{\"name\":\"");
	memset(req + off, 'b', n);
	snprintf(req + off + n, 100 - (size_t)off, "\"}}");
	idg_set_now(1000000 + CONTROL_REFUSAL_WINDOW); /* alice's next window */
	json_decref(ask(f, &alice, req, "denied"));
	assert_string_equal(last_audit(f, "subject"), "-");
	assert_int_equal(count_audit(f, "length(subject) > 256"), 0);
	free(req);
}

/* Newlines and escape sequences in a name or an argument's name never reach a record raw. */
static void
test_controls_never_reach_a_record(void **state)
{
	struct fixture *f = *state;
	static const char *const reqs[] = {
		("{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"x\\n     7 2026-11-30 "
		 "root grant.approve grant:1\\u001b[2J\"}}"),
		"{\"v\":1,\"op\":\"mfa.reset\",\"args\":{\"name\":\"x\\u001b]0;pwned\\u0007\"}}",
		"{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"x\\u009b31m\"}}",
		"{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"del\\u007f\"}}",
		"{\"v\":1,\"op\":\"user.list\",\"args\":{\"a\\nb\\u001b[31m\":1}}",
		"{\"v\":1,\"op\":\"user.list\",\"args\":{\"\\u009bbad\":1}}",
	};
	const struct caller *who[] = {&root, &alice, &bob};
	int64_t before = count_audit(f, "1");

	for (size_t w = 0; w < 3; w++)
		for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
			char *reply = control_handle(&f->ctx, who[w], reqs[i], strlen(reqs[i]));

			assert_non_null(strstr(reply, "\"ok\":false"));
			free(reply);
		}
	/* root's are each recorded; alice's and bob's first, the rest counted. */
	assert_int_equal(count_audit(f, "1") - before, 6 + 1 + 1);
	control_refusals_flush(&f->ctx, idg_now(), 1);
	assert_int_equal(count_audit(f, "action = 'control.refused'"), 2);
	assert_int_equal(count_audit(f, "subject = '-'"), count_audit(f, "1"));
	assert_records_clean(f);
	assert_string_equal(last_audit(f, "action"), "control.refused");
}

static int64_t
details_int(struct fixture *f, const char *path)
{
	char col[128];

	snprintf(col, sizeof(col), "json_extract(details, '%s')", path);
	return strtoll(last_audit(f, col), NULL, 10);
}

/* 300 refusals of one uid in a minute: one record, then one with the count. */
static void
test_refusals_are_coalesced_per_uid_per_minute(void **state)
{
	struct fixture *f = *state;
	static const char *const reqs[] = {
		"{\"v\":1,\"op\":\"sync\"}",
		"{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"bob\"}}",
		"{\"v\":1,\"op\":\"nuke\"}",
	};
	const int64_t t0 = 1700000000;
	int64_t before;

	idg_set_now(t0);
	before = count_audit(f, "1");
	for (int i = 0; i < 300; i++) {
		char *reply;

		idg_set_now(t0 + i / 6); /* 300 requests over 50 seconds */
		reply = control_handle(&f->ctx, &alice, reqs[i % 3], strlen(reqs[i % 3]));
		free(reply);
	}
	assert_int_equal(count_audit(f, "1") - before, 1);
	assert_string_equal(last_audit(f, "action"), "control.sync");
	assert_non_null(strstr(last_audit(f, "details"), "\"outcome\":\"refused\""));

	/* Others are not held up by alice's window; successes and admins are recorded. */
	json_decref(ask(f, &bob, "{\"v\":1,\"op\":\"sync\"}", "denied"));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"status\"}", NULL));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"nuke\"}", "bad_request"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"nuke\"}", "bad_request"));
	assert_int_equal(count_audit(f, "1") - before, 5);

	/* Not yet over: nothing written. Over: one record with the count. */
	control_refusals_flush(&f->ctx, t0 + CONTROL_REFUSAL_WINDOW - 1, 0);
	assert_int_equal(count_audit(f, "action = 'control.refused'"), 0);
	control_refusals_flush(&f->ctx, t0 + CONTROL_REFUSAL_WINDOW, 0);
	/* bob's window (from t0 + 49) is not over, and has nothing counted anyway. */
	assert_int_equal(count_audit(f, "action = 'control.refused'"), 1);
	assert_string_equal(last_audit(f, "actor"), "alice");
	assert_int_equal(details_int(f, "$.uid"), 1001);
	assert_int_equal(details_int(f, "$.count"), 299);
	assert_int_equal(details_int(f, "$.from"), t0);
	assert_int_equal(details_int(f, "$.until"), t0 + 49);
	assert_int_equal(details_int(f, "$.actions.\"control.sync\""), 99);
	assert_int_equal(details_int(f, "$.actions.\"control.user.show\""), 100);
	assert_int_equal(details_int(f, "$.actions.\"control.malformed\""), 100);
	assert_int_equal(details_int(f, "$.outcomes.refused"), 199);
	assert_int_equal(details_int(f, "$.outcomes.bad_request"), 100);
	assert_int_equal(count_audit(f, "1") - before, 6);

	/* A new minute: the first refusal is recorded again. */
	idg_set_now(t0 + 100);
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"sync\"}", "denied"));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"sync\"}", "denied"));
	assert_int_equal(count_audit(f, "1") - before, 7);
	/* Over without a flush: the next refusal writes the count, then itself. */
	idg_set_now(t0 + 200);
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"user.list\"}", "denied"));
	assert_int_equal(count_audit(f, "1") - before, 9);
	assert_int_equal(count_audit(f, "action = 'control.refused'"), 2);
	assert_string_equal(last_audit(f, "action"), "control.user.list");
	assert_int_equal(count_audit(f, "action = 'control.refused' AND "
					"json_extract(details, '$.count') = 1"),
			 1);
	/* Shutdown writes what is still open; a window with nothing counted writes nothing. */
	control_refusals_flush(&f->ctx, t0 + 201, 1);
	assert_int_equal(count_audit(f, "1") - before, 9);
	assert_records_clean(f);
}

/* More callers than slots: the oldest window is written out early, nothing is lost. */
static void
test_refusal_table_full_loses_nothing(void **state)
{
	struct fixture *f = *state;
	const char *req = "{\"v\":1,\"op\":\"sync\"}";
	int64_t before = count_audit(f, "1");

	idg_set_now(5000);
	for (int round = 0; round < 2; round++)
		for (uid_t u = 0; u < CONTROL_REFUSAL_UIDS + 1; u++) {
			struct caller c = {.uid = 2000 + u, .admin = 0};

			snprintf(c.name, sizeof(c.name), "u%u", (unsigned)u);
			free(control_handle(&f->ctx, &c, req, strlen(req)));
		}
	control_refusals_flush(&f->ctx, 5000, 1);
	/* Every refusal is a record or is in a count. */
	assert_int_equal(count_audit(f, "action = 'control.sync'") +
				 count_audit(f, "action = 'control.refused' AND "
						"json_extract(details, '$.count') = 1"),
			 2 * (CONTROL_REFUSAL_UIDS + 1));
	assert_true(count_audit(f, "1") - before <= 3 * (CONTROL_REFUSAL_UIDS + 1));
}

/* In-process (no table), each refusal is its own record. */
static void
test_without_a_table_each_refusal_is_recorded(void **state)
{
	struct fixture *f = *state;
	int64_t before = count_audit(f, "1");

	f->ctx.refusals = NULL;
	for (int i = 0; i < 5; i++)
		json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"sync\"}", "denied"));
	assert_int_equal(count_audit(f, "1") - before, 5);
	control_refusals_flush(&f->ctx, idg_now(), 1);
	assert_int_equal(count_audit(f, "1") - before, 5);
}

/* Enrols alice at T0 as an app would, keeping her secret and her recovery codes. */
static void
enrol_alice(struct fixture *f, unsigned char *secret, size_t *len,
	    char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN])
{
	struct mfa_ctx c = {.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "test"};
	struct totp_params p;
	struct idg_err err;
	char *uri, *b32, *raw = NULL, code[TOTP_MAX_DIGITS + 1];

	assert_int_equal(mfa_enroll_begin(&c, "alice", &uri, &err), 0);
	b32 = strstr(uri, "secret=") + 7;
	assert_int_equal(oath_base32_decode(b32, strcspn(b32, "&"), &raw, len), OATH_OK);
	memcpy(secret, raw, *len);
	free(raw);
	free(uri);
	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code(secret, *len, &p, T0 / p.period - 1, code), 0);
	assert_int_equal(mfa_enroll_confirm(&c, "alice", code, T0, codes, &err), 0);
}

static void
test_own_recovery_codes_need_a_current_code(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], req[256], now_code[TOTP_MAX_DIGITS + 1];
	unsigned char secret[64];
	size_t len;
	struct totp_params p;
	struct mfa_ctx c = {.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "test"};
	enum mfa_outcome out;
	struct idg_err err;
	json_t *r;

	idg_set_now(T0);
	enrol_alice(f, secret, &len, codes);
	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code(secret, len, &p, T0 / p.period, now_code), 0);

	json_decref(
		ask(f, &alice, "{\"v\":1,\"op\":\"mfa.recovery_codes\",\"args\":{}}", "denied"));
	/* A recovery code is refused for its shape, and is not spent by trying. */
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"mfa.recovery_codes\",\"args\":{\"code\":\"%s\"}}", codes[0]);
	json_decref(ask(f, &alice, req, "denied"));
	json_decref(ask(f, &alice,
			"{\"v\":1,\"op\":\"mfa.recovery_codes\",\"args\":{\"code\":\"000000\"}}",
			"denied"));
	assert_int_equal(mfa_verify(&c, "alice", codes[1], T0, &out, &err), 0);
	assert_int_equal(out, MFA_OK_RECOVERY);
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"mfa.recovery_codes\",\"args\":{\"code\":\"%s\"}}", now_code);
	r = ask(f, &alice, req, NULL);
	assert_int_equal(
		json_array_size(json_object_get(json_object_get(r, "result"), "recovery_codes")),
		MFA_RECOVERY_CODES);
	json_decref(r);
	/* The old set no longer works; the one tried above was not spent, yet is gone too. */
	assert_int_equal(mfa_verify(&c, "alice", codes[0], T0, &out, &err), 0);
	assert_int_equal(out, MFA_BAD_CODE);
	/* root, and an admin acting for alice, are not asked for a code. */
	json_decref(ask(f, &root,
			"{\"v\":1,\"op\":\"mfa.recovery_codes\",\"args\":{\"name\":\"alice\"}}",
			NULL));
}

/* A run_sync that hands the request to the background, as idgovd's does. */
static int
background_sync(void *arg, const struct sync_opts *opts, struct sync_result *res,
		struct idg_err *err)
{
	struct fixture *f = arg;

	(void)opts;
	(void)res;
	(void)err;
	f->syncs++;
	return CONTROL_SYNC_STARTED;
}

/*
 * A sync the daemon runs in the background gets no reply and no audit
 * record from control_handle(); control_sync_reply() gives both when it
 * ends, the same as a synchronous run would have: stats on success, the
 * worker's error on failure.
 */
static void
test_background_sync_is_answered_and_audited_when_it_ends(void **state)
{
	struct fixture *f = *state;
	const char *req = "{\"v\":1,\"op\":\"sync\",\"args\":{\"full\":true}}";
	int64_t before = count_audit(f, "action = 'control.sync'");
	struct sync_result res;
	struct idg_err err;
	char *reply;
	json_t *r;

	f->ctx.run_sync = background_sync;
	assert_null(control_handle(&f->ctx, &root, req, strlen(req)));
	assert_int_equal(f->syncs, 1);
	assert_int_equal(count_audit(f, "action = 'control.sync'"), before);

	memset(&res, 0, sizeof(res));
	snprintf(res.mode, sizeof(res.mode), "refreshOnly");
	res.stats.joiners = 3;
	res.drift = json_pack("{s:i}", "total", 2);
	reply = control_sync_reply(&f->ctx, &root, 0, &res, &err);
	assert_null(res.drift); /* taken */
	r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(r, "result"), "joiners")), 3);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(r, "result"), "drift"), "total")),
			 2);
	json_decref(r);
	free(reply);
	assert_int_equal(count_audit(f, "action = 'control.sync' AND details LIKE '%\"ok\"%'"),
			 before + 1);

	memset(&res, 0, sizeof(res));
	idg_seterr(&err, "sync stopped");
	reply = control_sync_reply(&f->ctx, &root, -1, &res, &err);
	r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r, "error"), "message")),
		"sync stopped");
	json_decref(r);
	free(reply);
	assert_int_equal(
		count_audit(f, "action = 'control.sync' AND details LIKE '%sync stopped%'"), 1);
}

/* A machine that may not govern (role.h): the refusal it gives, and how often it was asked. */
static int gate_asked;
static int
gate_refuses(void *arg, char *why, size_t size)
{
	(void)arg;
	gate_asked++;
	snprintf(why, size, "run this on the governor (gov1)");
	return 0;
}

static json_t *
gate_status(void *arg)
{
	(void)arg;
	return json_pack("{s:s, s:s}", "role", "host", "lease", "gov1 until then");
}

/*
 * Operations flagged CONTROL_OP_GOVERN (grants, accounts, reviews) are
 * refused where this machine may not govern, with the gate's words, before
 * their handler runs and whoever asks; the refusal is audited; other
 * operations are not asked about; status carries the fleet's state.
 */
static void
test_governance_is_refused_where_this_machine_may_not_govern(void **state)
{
	struct fixture *f = *state;
	int64_t grants;
	json_t *r;

	f->ctx.may_govern = gate_refuses;
	f->ctx.fleet_status = gate_status;
	gate_asked = 0;
	grants = count_rows(f, "SELECT count(*) FROM grants");
	r = ask(f, &root,
		"{\"v\":1,\"op\":\"grant.request\",\"args\":{\"user\":\"alice\",\"group\":"
		"\"admins\",\"for\":\"1h\",\"reason\":\"x\"}}",
		"denied");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r, "error"), "message")),
		"run this on the governor (gov1)");
	json_decref(r);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM grants"), grants);
	assert_string_equal(last_audit(f, "action"), "control.grant.request");
	assert_non_null(strstr(last_audit(f, "details"), "run this on the governor (gov1)"));
	json_decref(ask(f, &alice, "{\"v\":1,\"op\":\"grant.list\"}", "denied"));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"account.show\",\"args\":{\"name\":\"ops1\"}}",
			"denied"));
	assert_int_equal(gate_asked, 3);
	/* Not governance: the mirror, MFA, the audit chain answer on any machine. */
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"audit.verify\"}", NULL));
	json_decref(ask(f, &root, "{\"v\":1,\"op\":\"user.list\"}", NULL));
	r = ask(f, &root, "{\"v\":1,\"op\":\"status\"}", NULL);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(r, "result"), "fleet"), "role")),
		"host");
	json_decref(r);
	assert_int_equal(gate_asked, 3);
	/* A non-admin asking for an admin operation hears that first. */
	r = ask(f, &alice, "{\"v\":1,\"op\":\"grant.acknowledge\",\"args\":{\"id\":1}}", "denied");
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
		       "admins only"));
	json_decref(r);
	assert_int_equal(gate_asked, 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_background_sync_is_answered_and_audited_when_it_ends),
		T(test_malformed_requests_are_rejected_and_audited),
		T(test_argument_validation),
		T(test_roles_decide_and_refusals_are_audited),
		T(test_admin_requests_run),
		T(test_reject_names_the_reason),
		T(test_long_name_never_reaches_a_record),
		T(test_controls_never_reach_a_record),
		T(test_refusals_are_coalesced_per_uid_per_minute),
		T(test_refusal_table_full_loses_nothing),
		T(test_without_a_table_each_refusal_is_recorded),
		T(test_own_recovery_codes_need_a_current_code),
		T(test_governance_is_refused_where_this_machine_may_not_govern),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
