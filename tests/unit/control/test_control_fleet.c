/*
 * Unit tests for the fleet-wide MFA operations ([fleet] mfa = directory)
 * when no directory provider answers (a closed port): status comes from
 * the mirror and says so, an enrolment is refused when the mirror has a
 * token (usable or not) and stays pending when it cannot be written,
 * reset, unlock and migrate change nothing, and fleet.check names each
 * check, the mirror's tokens under this key or another. The directory
 * side is tested against a real slapd (tests/integration/test_fleet_*.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "control.h"
#include "fleetseal.h"
#include "keys.h"
#include "mfa.h"
#include "tokenmirror.h"
#include "totp.h"

#include <liboath/oath.h>

#define UA "00000000-0000-0000-0000-00000000000a"
#define T0 1800000000 /* a fixed "now", on a step boundary */

struct fixture {
	struct test_env env;
	struct control_ctx ctx;
	char fleet_key[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct idg_err err;

	if (f == NULL ||
	    test_env_open(&f->env, "control-fleet",
			  "[directory]\nuri = ldap://127.0.0.1:1/\nbase = dc=x\n[fleet]\nmfa = "
			  "directory\nkey = $DIR/fleet.key\ntimeout_ms = 200\n",
			  NULL,
			  "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			  "last_changed) VALUES ('" UA "', 'uid=alice,dc=x', 'uid=alice,dc=x', "
			  "'alice', 'active', 0, 0)",
			  TEST_ENV_AUDIT | TEST_ENV_MASTER_KEY) != 0)
		return -1;
	snprintf(f->fleet_key, sizeof(f->fleet_key), "%s/fleet.key", f->env.dir);
	if (keys_create_master(f->fleet_key, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->ctx = (struct control_ctx){.cfg = f->env.cfg,
				      .st = f->env.st,
				      .audit = f->env.audit,
				      .key = f->env.key,
				      .arg = f};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	idg_set_now(-1);
	store_close(f->ctx.mfa_state);
	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

static const struct caller root = {.uid = 0, .name = "root", .admin = 1};

/* Sends request as root; checks ok (want NULL) or the error code, and returns the reply. */
static json_t *
ask(struct fixture *f, const char *request, const char *want_code)
{
	char *reply = control_handle(&f->ctx, &root, request, strlen(request));
	json_t *r = json_loads(reply, 0, NULL);
	const char *code;

	if (r == NULL)
		fail_msg("reply is not JSON: %s", reply);
	code = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
	if (want_code == NULL ? !json_is_true(json_object_get(r, "ok"))
			      : code == NULL || strcmp(code, want_code) != 0)
		fail_msg("expected %s, got %s", want_code ? want_code : "ok", reply);
	free(reply);
	return r;
}

static const char *
message(json_t *r)
{
	const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

	return m != NULL ? m : "";
}

/* A mirror row for alice sealed under the key in path (the fixture's, or another). */
static void
mirror_row(struct fixture *f, const char *key_path, int64_t locked_until)
{
	struct secret_key *k;
	struct token t;
	struct idg_err err;
	unsigned char secret[20] = {1, 2, 3};

	memset(&t, 0, sizeof(t));
	if (secret_key_load_one(key_path, &k, &err) != 0 ||
	    fleet_seal(k, UA, secret, sizeof(secret), t.sealed, &t.sealed_len, &err) != 0)
		fail_msg("%s", err.msg);
	secret_key_free(k);
	t.enrolled = 1;
	strcpy(t.algorithm, "sha1");
	t.digits = 6;
	t.period = 30;
	t.last_step = 1000;
	t.failures = 3;
	t.locked_until = locked_until;
	assert_int_equal(tokenmirror_put(f->env.st, UA, &t, &err), 0);
}

static void
test_status_comes_from_the_mirror_when_no_provider_answers(void **state)
{
	struct fixture *f = *state;
	json_t *r, *res;

	r = ask(f, "{\"v\":1,\"op\":\"mfa.status\",\"args\":{\"name\":\"alice\"}}", NULL);
	res = json_object_get(r, "result");
	assert_string_equal(json_string_value(json_object_get(res, "source")), "mirror");
	assert_false(json_is_true(json_object_get(res, "enrolled")));
	json_decref(r);
	mirror_row(f, f->fleet_key, 4000000000);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.status\",\"args\":{\"name\":\"alice\"}}", NULL);
	res = json_object_get(r, "result");
	assert_true(json_is_true(json_object_get(res, "enrolled")));
	assert_true(json_is_true(json_object_get(res, "locked")));
	assert_int_equal(json_integer_value(json_object_get(res, "recent_failures")), 3);
	assert_int_equal(json_integer_value(json_object_get(res, "last_step")), 1000);
	assert_null(json_object_get(res, "unusable"));
	json_decref(r);
	/* An unusable row reads as locked and says it is unusable. */
	{
		struct idg_err err;

		assert_int_equal(tokenmirror_put_unusable(f->env.st, UA, &err), 0);
	}
	r = ask(f, "{\"v\":1,\"op\":\"mfa.status\",\"args\":{\"name\":\"alice\"}}", NULL);
	res = json_object_get(r, "result");
	assert_true(json_is_true(json_object_get(res, "unusable")));
	assert_true(json_is_true(json_object_get(res, "locked")));
	json_decref(r);
}

static void
test_enrolment_is_refused_over_a_mirrored_token_usable_or_not(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	json_t *r;

	mirror_row(f, f->fleet_key, 0);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.enroll.begin\",\"args\":{\"name\":\"alice\"}}", "failed");
	assert_non_null(strstr(message(r), "already enrolled fleet-wide"));
	json_decref(r);
	assert_int_equal(tokenmirror_put_unusable(f->env.st, UA, &err), 0);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.enroll.begin\",\"args\":{\"name\":\"alice\"}}", "failed");
	json_decref(r);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM mfa"), 0);
}

/* Begins alice's enrolment through the control op; fills code with the app's code at T0. */
static void
begin_alice(struct fixture *f, char code[TOTP_MAX_DIGITS + 1])
{
	json_t *r =
		ask(f, "{\"v\":1,\"op\":\"mfa.enroll.begin\",\"args\":{\"name\":\"alice\"}}", NULL);
	const char *uri = json_string_value(json_object_get(json_object_get(r, "result"), "uri"));
	const char *b32 = strstr(uri, "secret=") + 7;
	struct totp_params p;
	char *raw = NULL;
	size_t len = 0;

	assert_int_equal(oath_base32_decode(b32, strcspn(b32, "&"), &raw, &len), OATH_OK);
	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code((unsigned char *)raw, len, &p, T0 / p.period, code), 0);
	free(raw);
	json_decref(r);
}

static void
test_a_confirmation_no_provider_takes_stays_pending(void **state)
{
	struct fixture *f = *state;
	char code[TOTP_MAX_DIGITS + 1], req[256];
	json_t *r;

	idg_set_now(T0);
	begin_alice(f, code);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM mfa WHERE confirmed = 0"), 1);
	/* A wrong code is refused before any provider is tried. */
	r = ask(f,
		"{\"v\":1,\"op\":\"mfa.enroll.confirm\",\"args\":{\"name\":\"alice\",\"code\":"
		"\"12345x\"}}",
		"failed");
	assert_non_null(strstr(message(r), "does not match"));
	json_decref(r);
	/* The right code, but no provider takes the token: nothing is enrolled, the row waits. */
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"op\":\"mfa.enroll.confirm\",\"args\":{\"name\":\"alice\","
		 "\"code\":\"%s\"}}",
		 code);
	r = ask(f, req, "failed");
	assert_non_null(strstr(message(r), "no directory provider answers"));
	assert_null(json_object_get(r, "result"));
	json_decref(r);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM mfa WHERE confirmed = 0"), 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM mfa_recovery"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens"), 0);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM audit WHERE action = 'mfa.enrolled'"), 0);
}

static void
test_reset_and_unlock_change_nothing_without_a_provider(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	mirror_row(f, f->fleet_key, 4000000000);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.reset\",\"args\":{\"name\":\"alice\"}}", "failed");
	assert_non_null(strstr(message(r), "no directory provider answers"));
	json_decref(r);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.unlock\",\"args\":{\"name\":\"alice\"}}", "failed");
	assert_non_null(strstr(message(r), "no directory provider answers"));
	json_decref(r);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens WHERE "
					     "locked_until = 4000000000 AND sealed IS NOT NULL"),
			 1);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM audit WHERE action IN "
					     "('mfa.reset', 'mfa.unlocked')"),
			 0);
	r = ask(f, "{\"v\":1,\"op\":\"mfa.reset\",\"args\":{\"name\":\"nobody\"}}", "not_found");
	json_decref(r);
}

static const char *
check_detail(json_t *res, const char *name, int *pass)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(res, "checks"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "check")), name) == 0) {
			*pass = json_is_true(json_object_get(c, "pass"));
			return json_string_value(json_object_get(c, "detail"));
		}
	}
	fail_msg("no check named %s", name);
	return NULL;
}

static void
test_fleet_check_names_each_check(void **state)
{
	struct fixture *f = *state;
	char other[160];
	struct idg_err err;
	const char *d;
	json_t *r, *res;
	int pass = -1;

	mirror_row(f, f->fleet_key, 0);
	r = ask(f, "{\"v\":1,\"op\":\"fleet.check\",\"args\":{}}", NULL);
	res = json_object_get(r, "result");
	assert_false(json_is_true(json_object_get(res, "pass"))); /* no provider */
	check_detail(res, "[fleet] mfa = directory", &pass);
	assert_int_equal(pass, 1);
	check_detail(res, "key file root-owned and private", &pass);
	assert_int_equal(pass, 1);
	d = check_detail(res, "tokens in the mirror sealed under this key", &pass);
	assert_int_equal(pass, 1);
	assert_non_null(strstr(d, "1 under"));
	check_detail(res, "a provider answers and binds", &pass);
	assert_int_equal(pass, 0);
	assert_int_equal(strlen(json_string_value(json_object_get(res, "key_id"))),
			 2 * FLEET_KEY_ID_LEN);
	json_decref(r);
	/* A token sealed under another key: the check fails and counts it. */
	snprintf(other, sizeof(other), "%s/other.key", f->env.dir);
	assert_int_equal(keys_create_master(other, &err), 0);
	mirror_row(f, other, 0);
	r = ask(f, "{\"v\":1,\"op\":\"fleet.check\",\"args\":{}}", NULL);
	d = check_detail(json_object_get(r, "result"), "tokens in the mirror sealed under this key",
			 &pass);
	assert_int_equal(pass, 0);
	assert_non_null(strstr(d, "0 under"));
	assert_non_null(strstr(d, "1 under another key"));
	json_decref(r);
	/* A key file others may read fails its check and does not load. */
	assert_int_equal(chmod(f->fleet_key, 0644), 0);
	r = ask(f, "{\"v\":1,\"op\":\"fleet.check\",\"args\":{}}", NULL);
	res = json_object_get(r, "result");
	d = check_detail(res, "key file root-owned and private", &pass);
	assert_int_equal(pass, 0);
	assert_non_null(strstr(d, "mode 0644"));
	check_detail(res, "key loads", &pass);
	assert_int_equal(pass, 0);
	json_decref(r);
	/* Only admins. */
	{
		static const struct caller bob = {.uid = 1002, .name = "bob", .admin = 0};
		const char *req = "{\"v\":1,\"op\":\"fleet.check\",\"args\":{}}";
		char *reply = control_handle(&f->ctx, &bob, req, strlen(req));

		assert_non_null(strstr(reply, "\"denied\""));
		free(reply);
	}
}

static void
test_migrate_stops_when_no_provider_answers(void **state)
{
	struct fixture *f = *state;
	struct mfa_ctx c = {.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "t"};
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], code[TOTP_MAX_DIGITS + 1];
	struct idg_err err;
	json_t *r;

	/* A confirmed local enrolment, as local mode made it. */
	idg_set_now(T0);
	begin_alice(f, code);
	assert_int_equal(mfa_enroll_confirm(&c, "alice", code, T0, codes, &err), 0);
	r = ask(f, "{\"v\":1,\"op\":\"fleet.migrate\",\"args\":{}}", "failed");
	assert_non_null(strstr(message(r), "no directory provider answers (0 migrated"));
	json_decref(r);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM fleet_tokens"), 0);
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM mfa WHERE confirmed = 1"), 1);
	assert_int_equal(test_count(&f->env,
				    "SELECT count(*) FROM audit WHERE action = "
				    "'fleet.migrate' AND details LIKE '%\"complete\":false%'"),
			 1);
	assert_int_equal(
		test_count(&f->env, "SELECT count(*) FROM audit WHERE action = 'fleet.migrated'"),
		0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_status_comes_from_the_mirror_when_no_provider_answers),
		T(test_enrolment_is_refused_over_a_mirrored_token_usable_or_not),
		T(test_a_confirmation_no_provider_takes_stays_pending),
		T(test_reset_and_unlock_change_nothing_without_a_provider),
		T(test_fleet_check_names_each_check),
		T(test_migrate_stops_when_no_provider_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
