/*
 * Unit tests for login names (policy/account.c): what a name may look like
 * before anything looks it up, and its directory spelling, found the way
 * LDAP matches uid (ignoring case).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "account.h"
#include "mfastate.h"
#include "query.h"
#include "testutil.h"

static void
test_names_with_edges_or_controls_are_refused(void **state)
{
	static const char *const bad[] = {"",        "alice ",   " alice", "alice\t", "\talice",
					  "ali\nce", "ali\x1b[", "a\x7f",  "a\r"};
	char longest[ACCOUNT_NAME_MAX + 2];
	struct idg_err err;

	(void)state;
	assert_int_equal(account_name_valid("alice", &err), 0);
	assert_int_equal(account_name_valid("jean pierre", &err), 0); /* inside: allowed */
	assert_int_equal(account_name_valid("élodie", &err), 0);      /* UTF-8 letters */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (account_name_valid(bad[i], &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	memset(longest, 'a', sizeof(longest) - 1);
	longest[ACCOUNT_NAME_MAX] = '\0';
	assert_int_equal(account_name_valid(longest, &err), 0);
	longest[ACCOUNT_NAME_MAX] = 'a';
	longest[ACCOUNT_NAME_MAX + 1] = '\0';
	assert_int_equal(account_name_valid(longest, &err), -1);
	assert_non_null(strstr(err.msg, "1 to 256 bytes"));
}

static void
test_canonical_uid_follows_ldap_case_rules(void **state)
{
	struct test_env env;
	struct idg_err err;
	char canon[ACCOUNT_NAME_MAX + 1];

	(void)state;
	assert_int_equal(
		test_env_open(&env, "account", "[directory]\nuri = ldap://h/\nbase = dc=x\n", NULL,
			      "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			      "last_changed) VALUES "
			      "('u1', 'uid=alice', 'uid=alice', 'alice', 'active', 0, 0), "
			      "('u2', 'uid=Bob', 'uid=bob', 'Bob', 'active', 0, 0), "
			      "('u3', 'uid=BOB', 'uid=bob', 'BOB', 'departed', 0, 0), "
			      "('u4', 'uid=carol', 'uid=carol', 'carol', 'departed', 0, 0), "
			      "('u5', 'uid=carol2', 'uid=carol', 'carol', 'active', 0, 0), "
			      "('u6', 'uid=\xc3\xa4RGER', 'uid=\xc3\xa4rger', '\xc3\xa4RGER', "
			      "'active', 0, 0), "
			      "('u7', 'uid=\xc3\xa9mile', 'uid=\xc3\xa9mile', '\xc3\xa9mile', "
			      "'active', 0, 0), "
			      "('u8', 'uid=\xc3\x89MILE', 'uid=\xc3\xa9mile', '\xc3\x89MILE', "
			      "'departed', 0, 0)",
			      0),
		0);
	assert_int_equal(account_canonical_uid(env.st, "alice", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "alice");
	assert_int_equal(account_canonical_uid(env.st, "ALICE", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "alice");
	assert_int_equal(account_canonical_uid(env.st, "aLiCe", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "alice");
	/* An exact spelling wins over others that differ in case. */
	assert_int_equal(account_canonical_uid(env.st, "Bob", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "Bob");
	/* Also when the index finds the other spelling first. */
	assert_int_equal(account_canonical_uid(env.st, "BOB", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "BOB");
	/* Two spellings, neither exact: which one is meant is unknown; the name stays. */
	assert_int_equal(account_canonical_uid(env.st, "bob", canon, sizeof(canon), &err), 0);
	assert_string_equal(canon, "bob");
	/* A uid re-used after a departure: both rows are this spelling. */
	assert_int_equal(account_canonical_uid(env.st, "CAROL", canon, sizeof(canon), &err), 1);
	assert_string_equal(canon, "carol");
	assert_int_equal(account_canonical_uid(env.st, "mallory", canon, sizeof(canon), &err), 0);
	assert_string_equal(canon, "mallory");
	/* Non-ASCII letters match in any case too, as LDAP's caseIgnoreMatch does (U+00C4/U+00E4).
	 */
	assert_int_equal(account_canonical_uid(env.st, "\xc3\x84rger", canon, sizeof(canon), &err),
			 1);
	assert_string_equal(canon, "\xc3\xa4RGER");
	assert_int_equal(account_canonical_uid(env.st, "\xc3\x84RGER", canon, sizeof(canon), &err),
			 1);
	assert_string_equal(canon, "\xc3\xa4RGER");
	/* Two spellings differing in a non-ASCII letter, neither exact: unknown. */
	assert_int_equal(account_canonical_uid(env.st, "\xc3\xa9MILE", canon, sizeof(canon), &err),
			 0);
	assert_string_equal(canon, "\xc3\xa9MILE");
	assert_int_equal(account_canonical_uid(env.st, "\xc3\x89MILE", canon, sizeof(canon), &err),
			 1);
	assert_string_equal(canon, "\xc3\x89MILE");
	/* Not UTF-8: no match, the name stays. */
	assert_int_equal(account_canonical_uid(env.st, "\xc4rger", canon, sizeof(canon), &err), 0);
	assert_string_equal(canon, "\xc4rger");
	assert_int_equal(test_env_close(&env), 0);
}

/*
 * One state everywhere: what account_check decides is what user show,
 * user list and status print, with the reason and the expiry date.
 */
static void
test_account_state_is_the_one_user_show_and_status_print(void **state)
{
	struct test_env env;
	struct idg_err err;
	const int64_t now = 20000 * 86400LL + 3600; /* 2024-10-04 01:00 UTC */
	static const struct {
		const char *uid, *state, *rule, *reason, *expires;
	} want[] = {
		{"ann", "active", NULL, NULL, NULL},
		{"ben", "active", NULL, NULL, "2024-10-05"},
		{"cid", "expired", "account.expired", "shadowExpire 2024-10-04 has passed",
		 "2024-10-04"},
		{"dot", "disabled", "account.disabled", "login shell /usr/sbin/nologin", NULL},
		{"eve", "disabled", "account.disabled", "disabled in the directory", "2024-10-01"},
		{"fay", "departed", "account.departed", "removed from the directory", NULL},
	};
	enum account_decision d;
	const char *rule;
	char reason[160];
	json_t *counts;

	(void)state;
	assert_int_equal(
		test_env_open(&env, "account", "[directory]\nuri = ldap://h/\nbase = dc=x\n", NULL,
			      "INSERT INTO users (uuid, dn, dn_norm, uid, status, shadow_expire, "
			      "disabled_reason, first_seen, last_changed) VALUES "
			      "('u1', 'uid=ann', 'uid=ann', 'ann', 'active', NULL, NULL, 0, 0), "
			      "('u2', 'uid=ben', 'uid=ben', 'ben', 'active', 20001, NULL, 0, 0), "
			      "('u3', 'uid=cid', 'uid=cid', 'cid', 'active', 20000, NULL, 0, 0), "
			      "('u4', 'uid=dot', 'uid=dot', 'dot', 'disabled', NULL, "
			      "'login shell /usr/sbin/nologin', 0, 0), "
			      "('u5', 'uid=eve', 'uid=eve', 'eve', 'disabled', 19997, NULL, 0, 0), "
			      "('u6', 'uid=fay', 'uid=fay', 'fay', 'departed', NULL, NULL, 0, 0)",
			      0),
		0);
	idg_set_now(now);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *u = query_user_show(env.st, want[i].uid, 5, &err);
		const char *expires;

		assert_non_null(u);
		assert_int_equal(account_check(env.st, want[i].uid, now, &d, &rule, reason,
					       sizeof(reason), &err),
				 0);
		assert_string_equal(json_string_value(json_object_get(u, "status")), want[i].state);
		if (want[i].rule == NULL) {
			assert_int_equal(d, ACCOUNT_OK);
			assert_true(json_is_null(json_object_get(u, "reason")));
		} else {
			assert_string_equal(rule, want[i].rule);
			assert_string_equal(reason, want[i].reason);
			assert_string_equal(json_string_value(json_object_get(u, "reason")),
					    want[i].reason);
		}
		expires = json_string_value(json_object_get(u, "expires"));
		if (want[i].expires == NULL)
			assert_null(expires);
		else
			assert_string_equal(expires, want[i].expires);
		json_decref(u);
	}
	assert_int_equal(account_check(env.st, "zed", now, &d, &rule, reason, sizeof(reason), &err),
			 0);
	assert_int_equal(d, ACCOUNT_UNKNOWN);
	counts = query_counts(env.st, &err);
	assert_non_null(counts);
	assert_int_equal(json_integer_value(json_object_get(counts, "users_active")), 2);
	assert_int_equal(json_integer_value(json_object_get(counts, "users_expired")), 1);
	assert_int_equal(json_integer_value(json_object_get(counts, "users_disabled")), 2);
	assert_int_equal(json_integer_value(json_object_get(counts, "users_departed")), 1);
	json_decref(counts);
	idg_set_now(-1);
	assert_int_equal(test_env_close(&env), 0);
}

/*
 * [pam] password_age: an expired password stops a login that gave one in
 * both modes; a login that gave none (an ssh key and a code) is only
 * warned under password-logins and stopped under all-logins. A password
 * within its age, or an account refused for another reason, is never
 * turned into a password change.
 */
static void
test_password_age_follows_the_credential_used(void **state)
{
	static const char *const conf[] = {
		"[directory]\nuri = ldap://h/\nbase = dc=x\n",
		"[directory]\nuri = ldap://h/\nbase = dc=x\n[pam]\npassword_age = all-logins\n",
	};
	static const enum account_pwage want[2][2] = {
		/* no password, password */
		{ACCOUNT_PWAGE_WARN, ACCOUNT_PWAGE_CHANGE},   /* password-logins */
		{ACCOUNT_PWAGE_CHANGE, ACCOUNT_PWAGE_CHANGE}, /* all-logins */
	};
	const int64_t now = 20000 * 86400LL + 3600;
	struct access_verdict v;
	struct test_env env;
	struct idg_err err;

	(void)state;
	for (size_t mode = 0; mode < 2; mode++) {
		assert_int_equal(
			test_env_open(
				&env, "account", conf[mode], NULL,
				"INSERT INTO users (uuid, dn, dn_norm, uid, status, "
				"shadow_last_change, first_seen, last_changed) VALUES "
				"('u1', 'uid=old', 'uid=old', 'old', 'active', 19800, 0, 0), "
				"('u2', 'uid=new', 'uid=new', 'new', 'active', 19990, 0, 0), "
				"('u3', 'uid=gone', 'uid=gone', 'gone', 'departed', 19800, 0, 0)",
				0),
			0);
		assert_int_equal(env.cfg->pam_password_age, (int)mode);
		assert_int_equal(account_decide(env.st, NULL, env.cfg, "old", "sshd", "192.0.2.1",
						now, NULL, NULL, &v, &err),
				 0);
		assert_true(v.password_expired);
		assert_non_null(strstr(v.why, "200 days old; the maximum is 90"));
		for (int used = 0; used < 2; used++)
			if (account_password_age(env.cfg, &v, used) != want[mode][used])
				fail_msg("mode %zu, password used %d: got %d, want %d", mode, used,
					 account_password_age(env.cfg, &v, used), want[mode][used]);
		assert_int_equal(account_decide(env.st, NULL, env.cfg, "new", "sshd", "192.0.2.1",
						now, NULL, NULL, &v, &err),
				 0);
		assert_false(v.password_expired);
		assert_int_equal(account_password_age(env.cfg, &v, 0), ACCOUNT_PWAGE_NONE);
		assert_int_equal(account_password_age(env.cfg, &v, 1), ACCOUNT_PWAGE_NONE);
		assert_int_equal(account_decide(env.st, NULL, env.cfg, "gone", "sshd", "192.0.2.1",
						now, NULL, NULL, &v, &err),
				 0);
		assert_int_equal(v.state, ACCOUNT_DEPARTED);
		assert_int_equal(account_password_age(env.cfg, &v, 0), ACCOUNT_PWAGE_NONE);
		assert_int_equal(account_password_age(env.cfg, &v, 1), ACCOUNT_PWAGE_NONE);
		assert_int_equal(test_env_close(&env), 0);
	}
}

/*
 * A change made through the password stack is in the auth service's state
 * file: it counts when later than the directory's date, and only for a
 * user the directory has.
 */
static void
test_password_age_from_the_state_file(void **state)
{
	const int64_t now = 20000 * 86400LL + 3600;
	struct access_verdict v;
	struct test_env env;
	struct store *st;
	struct idg_err err;
	char path[512], sql[256];

	(void)state;
	assert_int_equal(test_env_open(&env, "account",
				       "[directory]\nuri = ldap://h/\nbase = dc=x\n", NULL,
				       "INSERT INTO users (uuid, dn, dn_norm, uid, status, "
				       "shadow_last_change, first_seen, last_changed) VALUES "
				       "('u1', 'uid=old', 'uid=old', 'old', 'active', 19800, 0, 0)",
				       0),
			 0);
	snprintf(path, sizeof(path), "%s/authd.db", env.dir);
	assert_int_equal(mfastate_open(path, env.st, &st, &err), 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO password_history (uid, hash, changed_at) VALUES "
		 "('old', 'h1', %lld), ('old', 'h2', %lld), ('nobody', 'h3', %lld)",
		 (long long)(now - 300 * 86400), (long long)(now - 10 * 86400),
		 (long long)(now - 86400));
	assert_int_equal(store_exec(st, sql, &err), 0);
	assert_int_equal(account_decide(env.st, st, env.cfg, "old", "sshd", "192.0.2.1", now, NULL,
					NULL, &v, &err),
			 0);
	assert_false(v.password_expired);
	/* Without the state file only the directory's date, 200 days ago, counts. */
	assert_int_equal(account_decide(env.st, NULL, env.cfg, "old", "sshd", "192.0.2.1", now,
					NULL, NULL, &v, &err),
			 0);
	assert_true(v.password_expired);
	/* A recorded change older than the directory's does not make it older. */
	assert_int_equal(store_exec(st, "DELETE FROM password_history WHERE hash = 'h2'", &err), 0);
	assert_int_equal(account_decide(env.st, st, env.cfg, "old", "sshd", "192.0.2.1", now, NULL,
					NULL, &v, &err),
			 0);
	assert_true(v.password_expired);
	assert_non_null(strstr(v.why, "200 days old"));
	store_close(st);
	assert_int_equal(test_env_close(&env), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_with_edges_or_controls_are_refused),
		cmocka_unit_test(test_canonical_uid_follows_ldap_case_rules),
		cmocka_unit_test(test_account_state_is_the_one_user_show_and_status_print),
		cmocka_unit_test(test_password_age_follows_the_credential_used),
		cmocka_unit_test(test_password_age_from_the_state_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
