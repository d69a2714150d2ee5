/*
 * Unit tests for the web frontend's side of the control protocol: who
 * may act on behalf of a person (only [web] user, only with a session
 * idgovd issued), what a session may do at each step of signing in, a
 * token's life through verify, idle timeout and sign-out, throttling of
 * failed steps, and that every step is audited with the person and the
 * address. The directory bind itself is tested against a real slapd in
 * tests/integration/test_web_signin.sh.
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
#include "mfa.h"
#include "totp.h"
#include "websession.h"

#include <liboath/oath.h>

#define T0 1800000000 /* a fixed "now", on a step boundary */
#define ADDR "192.0.2.7"

struct fixture {
	struct test_env env;
	struct control_ctx ctx;
	struct control_refusals refusals;
	unsigned char secret[64];
	size_t secret_len;
};

/* The frontend runs as "nobody" here: a user every Debian system has. */
static const struct caller web = {.uid = 65534, .name = "nobody", .admin = 0};
static const struct caller root = {.uid = 0, .name = "root", .admin = 1};
static const struct caller alice = {.uid = 1001, .name = "alice", .admin = 0};

static int
fake_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	(void)arg;
	(void)opts;
	(void)res;
	(void)err;
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	/* An address nothing listens on: a sign-in that reaches the directory cannot bind. */
	if (f == NULL ||
	    test_env_open(&f->env, "controlweb",
			  "[directory]\nuri = ldap://127.0.0.1:9/\nbase = dc=x\ntimeout = 1\n"
			  "[store]\naudit_public_key = $DIR/audit.pub\naudit_anchor = "
			  "$DIR/audit.anchor\n[web]\nuser = nobody\nsignin_max_failures = 3\n",
			  NULL,
			  "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			  "last_changed) VALUES ('u1', 'uid=alice,dc=x', 'uid=alice,dc=x', "
			  "'alice', 'active', 0, 0), ('u2', 'uid=bob,dc=x', 'uid=bob,dc=x', "
			  "'bob', 'active', 0, 0)",
			  TEST_ENV_AUDIT | TEST_ENV_MASTER_KEY) != 0)
		return -1;
	f->ctx = (struct control_ctx){.cfg = f->env.cfg,
				      .st = f->env.st,
				      .audit = f->env.audit,
				      .key = f->env.key,
				      .run_sync = fake_sync,
				      .refusals = &f->refusals,
				      .arg = f};
	idg_set_now(T0);
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

static json_t *
ask(struct fixture *f, const struct caller *who, const char *request, const char *want_code)
{
	char *reply = control_handle(&f->ctx, who, request, strlen(request));
	json_t *r = json_loads(reply, 0, NULL);

	if (r == NULL)
		fail_msg("reply is not JSON: %s", reply);
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

/* Sends op with args as the frontend for the session token; checks like ask(). */
static json_t *
ask_as(struct fixture *f, const char *token, const char *op, const char *args,
       const char *want_code)
{
	char req[1024];

	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"%s\",\"args\":%s,\"session\":\"%s\",\"addr\":\"" ADDR "\"}", op,
		 args, token);
	return ask(f, &web, req, want_code);
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

/* How many records of action by actor have details containing what. */
static int
count_audit(struct fixture *f, const char *action, const char *actor, const char *what)
{
	sqlite3_stmt *s;
	int n;

	assert_int_equal(sqlite3_prepare_v2(f->env.st->db,
					    "SELECT count(*) FROM audit WHERE action = ?1 AND "
					    "actor = ?2 AND instr(details, ?3) > 0",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, what, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void
enrol_alice(struct fixture *f)
{
	struct mfa_ctx c = {.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "test"};
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	struct totp_params p;
	struct idg_err err;
	char *uri, *b32, *raw = NULL, code[TOTP_MAX_DIGITS + 1];

	assert_int_equal(mfa_enroll_begin(&c, "alice", &uri, &err), 0);
	b32 = strstr(uri, "secret=") + 7;
	assert_int_equal(oath_base32_decode(b32, strcspn(b32, "&"), &raw, &f->secret_len), OATH_OK);
	memcpy(f->secret, raw, f->secret_len);
	free(raw);
	free(uri);
	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code(f->secret, f->secret_len, &p, T0 / p.period - 2, code), 0);
	assert_int_equal(mfa_enroll_confirm(&c, "alice", code, T0 - 2 * p.period, codes, &err), 0);
}

static void
code_at(struct fixture *f, int64_t t, char code[TOTP_MAX_DIGITS + 1])
{
	struct totp_params p;

	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code(f->secret, f->secret_len, &p, t / p.period, code), 0);
}

/* What web.signin leaves after a right password: a session that owes its code. */
static void
password_step(struct fixture *f, const char *user, enum websession_step step,
	      char token[WEBSESSION_TOKEN_LEN + 1])
{
	struct idg_err err;

	if (websession_issue(f->env.st, user, ADDR, step, idg_now(), 300, token, &err) != 0)
		fail_msg("%s", err.msg);
}

/* Gives the code for a session at step code; returns the full session's token. */
static void
verify(struct fixture *f, const char *token, char full[WEBSESSION_TOKEN_LEN + 1])
{
	char code[TOTP_MAX_DIGITS + 1], args[64];
	json_t *r;

	code_at(f, idg_now(), code);
	snprintf(args, sizeof(args), "{\"code\":\"%s\"}", code);
	r = ask_as(f, token, "web.verify", args, NULL);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r, "result"), "step")), "full");
	snprintf(full, WEBSESSION_TOKEN_LEN + 1, "%s",
		 json_string_value(json_object_get(json_object_get(r, "result"), "session")));
	json_decref(r);
}

static void
test_only_the_frontend_may_send_a_session(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], full[WEBSESSION_TOKEN_LEN + 1], req[512];

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, full);
	/* The same valid token from alice's own uid, or root's, is refused. */
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"web.session\",\"session\":\"%s\",\"addr\":\"" ADDR "\"}", full);
	json_decref(ask(f, &alice, req, "denied"));
	json_decref(ask(f, &root, req, "denied"));
	assert_string_equal(last_audit(f, "action"), "control.web.session");
	json_decref(ask(f, &web, req, NULL));
}

static void
test_frontend_alone_may_only_sign_in(void **state)
{
	struct fixture *f = *state;

	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"user.show\",\"args\":{\"name\":\"nobody\"}}",
			"denied"));
	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"review.pending\"}", "bad_request"));
	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"mfa.status\"}", "denied"));
	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"grant.list\"}", "denied"));
	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"web.session\"}", "denied"));
	json_decref(ask(f, &web, "{\"v\":1,\"op\":\"status\"}", NULL));
	/* Anyone else may not sign people in. */
	json_decref(ask(f, &alice,
			"{\"v\":1,\"op\":\"web.signin\",\"args\":{\"name\":\"alice\","
			"\"password\":\"x\",\"addr\":\"" ADDR "\"}}",
			"denied"));
	json_decref(ask(f, &root,
			"{\"v\":1,\"op\":\"web.signin\",\"args\":{\"name\":\"alice\","
			"\"password\":\"x\",\"addr\":\"" ADDR "\"}}",
			"denied"));
}

static void
test_malformed_session_requests_are_rejected(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], req[512];
	/* The token goes after each prefix, then the suffix. */
	static const char *const bad[][2] = {
		{"{\"v\":1,\"op\":\"web.session\",\"session\":7,\"x\":\"", "\"}"},
		{"{\"v\":1,\"op\":\"web.session\",\"session\":\"", "\",\"addr\":7}"},
		{"{\"v\":1,\"op\":\"web.session\",\"addr\":\"" ADDR "\",\"x\":\"", "\"}"},
		{"{\"v\":1,\"op\":\"web.session\",\"session\":\"",
		 "\",\"addr\":\"" ADDR "\",\"extra\":1}"},
	};

	password_step(f, "alice", WEBSESSION_FULL, token);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), "%s%s%s", bad[i][0], token, bad[i][1]);
		json_decref(ask(f, &web, req, "bad_request"));
	}
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"web.session\",\"session\":\"%s\",\"addr\":\"<script>\"}",
		 token);
	json_decref(ask(f, &web, req, "bad_request"));
}

static void
test_unknown_or_forged_token_is_signed_out(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];

	password_step(f, "alice", WEBSESSION_FULL, token);
	json_decref(ask_as(f, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "web.session", "{}",
			   "signed_out"));
	json_decref(ask_as(f, "nonsense", "web.session", "{}", "signed_out"));
	token[3] = token[3] == 'x' ? 'y' : 'x';
	json_decref(ask_as(f, token, "web.session", "{}", "signed_out"));
}

static void
test_code_step_may_only_verify(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	json_decref(ask_as(f, token, "user.show", "{\"name\":\"alice\"}", "denied"));
	json_decref(ask_as(f, token, "grant.list", "{}", "denied"));
	json_decref(ask_as(f, token, "mfa.enroll.begin", "{}", "denied"));
	assert_non_null(strstr(last_audit(f, "details"), "\"addr\":\"" ADDR "\""));
	json_decref(ask_as(f, token, "web.session", "{}", NULL));
}

static void
test_enrol_step_may_only_enrol(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1];
	json_t *r;

	password_step(f, "alice", WEBSESSION_ENROL, token);
	json_decref(ask_as(f, token, "user.show", "{\"name\":\"alice\"}", "denied"));
	r = ask_as(f, token, "mfa.enroll.begin", "{}", NULL);
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(r, "result"), "uri")),
		       "otpauth://"));
	json_decref(r);
	/* Only for themself: the session is alice's, whatever the frontend asks. */
	json_decref(ask_as(f, token, "mfa.enroll.begin", "{\"name\":\"bob\"}", "denied"));
}

static void
test_verify_replaces_token_and_runs_as_the_person(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], full[WEBSESSION_TOKEN_LEN + 1];
	json_t *r;

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, full);
	assert_string_equal(last_audit(f, "actor"), "alice");
	/* The token from before the code is over. */
	json_decref(ask_as(f, token, "web.session", "{}", "signed_out"));
	r = ask_as(f, full, "user.show", "{\"name\":\"alice\"}", NULL);
	json_decref(r);
	assert_string_equal(last_audit(f, "actor"), "alice");
	assert_non_null(strstr(last_audit(f, "details"), "\"via\":\"web\""));
	assert_non_null(strstr(last_audit(f, "details"), "\"addr\":\"" ADDR "\""));
	/* alice is no admin: another user's record is refused to her session. */
	json_decref(ask_as(f, full, "user.show", "{\"name\":\"bob\"}", "denied"));
	json_decref(ask_as(f, full, "user.list", "{}", "denied"));
	/* A session cannot sign someone else in. */
	json_decref(ask_as(f, full, "web.signin",
			   "{\"name\":\"bob\",\"password\":\"x\",\"addr\":\"" ADDR "\"}",
			   "denied"));
	/* Nor give its code again. */
	json_decref(ask_as(f, full, "web.verify", "{\"code\":\"123456\"}", "bad_request"));
}

static void
test_wrong_codes_are_counted_then_throttled(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], code[TOTP_MAX_DIGITS + 1], args[64];

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	code_at(f, T0, code);
	code[0] = code[0] == '0' ? '1' : '0';
	snprintf(args, sizeof(args), "{\"code\":\"%s\"}", code);
	for (int i = 0; i < 3; i++)
		json_decref(ask_as(f, token, "web.verify", args, "denied"));
	/* Each is in the chain as alice's, with the address. */
	assert_int_equal(count_audit(f, "web.verify", "alice", "\"addr\":\"" ADDR "\""), 3);
	assert_int_equal(count_audit(f, "web.verify", "alice", "\"outcome\":\"refused\""), 3);
	/* The right code now is refused too, without being tried. */
	code_at(f, T0, code);
	snprintf(args, sizeof(args), "{\"code\":\"%s\"}", code);
	json_decref(ask_as(f, token, "web.verify", args, "denied"));
	assert_int_equal(count_audit(f, "web.verify", "alice", "throttled"), 0);
	assert_int_equal(count_audit(f, "web.signin", "alice", "throttled"), 1);
	/* After the interval it is accepted. */
	idg_set_now(T0 + 901);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, args);
}

static void
test_signin_throttled_before_the_directory_is_asked(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	const char *req = "{\"v\":1,\"op\":\"web.signin\",\"args\":{\"name\":\"alice\","
			  "\"password\":\"secret\",\"addr\":\"" ADDR "\"}}";
	json_t *r;

	/* The directory cannot be reached: not the person's fault, not counted. */
	for (int i = 0; i < 4; i++)
		json_decref(ask(f, &web, req, "unavailable"));
	for (int i = 0; i < 3; i++)
		assert_int_equal(websession_note_failure(f->env.st, "alice", "198.51.100.1", T0,
							 T0 - 900, &err),
				 0);
	r = ask(f, &web, req, "denied");
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
		       "too many"));
	json_decref(r);
	/* The throttled attempt is in the chain as alice's, with the address. */
	assert_int_equal(count_audit(f, "web.signin", "alice", "throttled"), 1);
	assert_int_equal(count_audit(f, "web.signin", "alice", ADDR), 1);
	/* Another user from the address is not throttled by alice's failures. */
	json_decref(ask(f, &web,
			"{\"v\":1,\"op\":\"web.signin\",\"args\":{\"name\":\"bob\","
			"\"password\":\"secret\",\"addr\":\"" ADDR "\"}}",
			"unavailable"));
}

static void
test_idle_session_is_signed_out(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], full[WEBSESSION_TOKEN_LEN + 1];

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, full);
	idg_set_now(T0 + 14 * 60);
	json_decref(ask_as(f, full, "web.session", "{}", NULL));
	idg_set_now(T0 + 14 * 60 + 15 * 60);
	json_decref(ask_as(f, full, "web.session", "{}", "signed_out"));
	idg_set_now(T0 + 14 * 60 + 1);
	json_decref(ask_as(f, full, "web.session", "{}", "signed_out"));
}

static void
test_signout_ends_the_session(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], full[WEBSESSION_TOKEN_LEN + 1];

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, full);
	json_decref(ask_as(f, full, "web.signout", "{}", NULL));
	assert_string_equal(last_audit(f, "action"), "control.web.signout");
	json_decref(ask_as(f, full, "web.session", "{}", "signed_out"));
}

static void
test_session_token_is_not_in_the_audit_chain(void **state)
{
	struct fixture *f = *state;
	char token[WEBSESSION_TOKEN_LEN + 1], full[WEBSESSION_TOKEN_LEN + 1], q[256];
	sqlite3_stmt *s;

	enrol_alice(f);
	password_step(f, "alice", WEBSESSION_CODE, token);
	verify(f, token, full);
	json_decref(ask_as(f, full, "user.show", "{\"name\":\"bob\"}", "denied"));
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM audit WHERE instr(details, '%.20s') > 0 OR "
		 "instr(subject, '%.20s') > 0 OR instr(details, '%.20s') > 0",
		 full, full, token);
	assert_int_equal(sqlite3_prepare_v2(f->env.st->db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
}

/*
 * A person's role is looked up on each request whose operation reads it
 * (control_handle()), never kept from one request to the next: bob, whom
 * the system does not know, is made an admin by the directory's mirror
 * between two requests of one session, and is one on the next request;
 * taken out, he is not.
 */
static void
test_session_role_is_decided_on_each_request(void **state)
{
	struct fixture *f = *state;
	char full[WEBSESSION_TOKEN_LEN + 1];
	struct idg_err err;
	json_t *r;

	password_step(f, "bob", WEBSESSION_FULL, full);
	json_decref(ask_as(f, full, "user.list", "{}", "denied"));
	r = ask_as(f, full, "web.session", "{}", NULL);
	assert_true(json_is_false(json_object_get(json_object_get(r, "result"), "admin")));
	json_decref(r);
	assert_int_equal(
		store_exec(f->env.st,
			   "INSERT INTO groups (id, uuid, dn, dn_norm, cn, privileged, "
			   "first_seen, last_changed) VALUES (1, 'g1', "
			   "'cn=idgov-admins,dc=x', 'cn=idgov-admins,dc=x', 'idgov-admins', "
			   "1, 0, 0); INSERT INTO member_refs (id, kind, value) VALUES (1, "
			   "1, 'bob'); INSERT INTO memberships (group_id, ref_id, since) "
			   "VALUES (1, 1, 0);",
			   &err),
		0);
	json_decref(ask_as(f, full, "user.list", "{}", NULL));
	r = ask_as(f, full, "web.session", "{}", NULL);
	assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "admin")));
	json_decref(r);
	assert_int_equal(store_exec(f->env.st, "DELETE FROM memberships", &err), 0);
	json_decref(ask_as(f, full, "user.list", "{}", "denied"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_only_the_frontend_may_send_a_session),
		T(test_frontend_alone_may_only_sign_in),
		T(test_malformed_session_requests_are_rejected),
		T(test_unknown_or_forged_token_is_signed_out),
		T(test_code_step_may_only_verify),
		T(test_enrol_step_may_only_enrol),
		T(test_verify_replaces_token_and_runs_as_the_person),
		T(test_wrong_codes_are_counted_then_throttled),
		T(test_signin_throttled_before_the_directory_is_asked),
		T(test_idle_session_is_signed_out),
		T(test_signout_ends_the_session),
		T(test_session_token_is_not_in_the_audit_chain),
		T(test_session_role_is_decided_on_each_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
