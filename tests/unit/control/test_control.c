/*
 * Unit tests for the control protocol: request validation (malformed,
 * wrong version, unknown operation or argument, bad types, over-long
 * names), role checks, and that every request is audited with its outcome.
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

struct fixture {
	struct test_env env;
	struct control_ctx ctx;
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
			  "$DIR/audit.pub\n",
			  NULL,
			  "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			  "last_changed) VALUES ('u1', 'uid=alice,dc=x', 'uid=alice,dc=x', "
			  "'alice', 'active', 0, 0)",
			  TEST_ENV_AUDIT) != 0)
		return -1;
	f->ctx = (struct control_ctx){.cfg = f->env.cfg,
				      .st = f->env.st,
				      .audit = f->env.audit,
				      .run_sync = fake_sync,
				      .arg = f};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

static const struct caller root = {.uid = 0, .name = "root", .admin = 1};
static const struct caller alice = {.uid = 1001, .name = "alice", .admin = 0};

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_malformed_requests_are_rejected_and_audited),
		T(test_argument_validation),
		T(test_roles_decide_and_refusals_are_audited),
		T(test_admin_requests_run),
		T(test_reject_names_the_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
