/* Every password rule, counted on UTF-8 characters, and the history and minimum age. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mfastate.h"
#include "password.h"
#include "testutil.h"

static struct cfg *
config(const char *extra)
{
	char text[512];
	struct cfg *cfg;
	struct idg_err err;

	snprintf(text, sizeof(text), "[directory]\nuri = ldap://h/\nbase = dc=x\n[password]\n%s",
		 extra);
	if (cfg_load_string(text, "t.conf", &cfg, &err) != 0)
		fail_msg("%s", err.msg);
	return cfg;
}

static void
expect(struct cfg *cfg, const char *pw, enum pw_verdict want, const char *why_part)
{
	char why[256] = "";
	enum pw_verdict v = password_check(cfg, "alice", pw, why, sizeof(why));

	if (v != want)
		fail_msg("'%s': verdict %d, expected %d (%s)", pw, v, want, why);
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("'%s': reason '%s' lacks '%s'", pw, why, why_part);
	if (v != PW_OK && strstr(why, pw) != NULL)
		fail_msg("the reason repeats the password");
}

static void
test_length_and_classes(void **state)
{
	struct cfg *cfg = config("dictionary =\n");

	(void)state;
	expect(cfg, "Sh0rt!", PW_TOO_SHORT, "at least 12 characters long (it has 6)");
	expect(cfg, "abcdefghijkl", PW_TOO_FEW_CLASSES, "(it has 1)");
	expect(cfg, "abcdefghijK1", PW_OK, NULL);
	expect(cfg, "abcdefghij 1", PW_OK, NULL); /* space counts as "other" */
	cfg_free(cfg);
}

static void
test_utf8_counts_characters_not_bytes(void **state)
{
	struct cfg *cfg = config("dictionary =\n");

	(void)state;
	/* 6 characters, 18 bytes: still too short. */
	expect(cfg, "\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81\xe5\xaf\x86\xe7\xa0\x81",
	       PW_TOO_SHORT, "(it has 6)");
	/* 12 characters with lower, digit and non-ASCII: three classes. */
	expect(cfg, "pässwörtlein1", PW_OK, NULL);
	expect(cfg,
	       "abc\xff\xfe"
	       "defghijk1",
	       PW_NOT_UTF8, NULL);
	expect(cfg, "abc\xc0\xafxdefghijk1", PW_NOT_UTF8, NULL);     /* overlong '/' */
	expect(cfg, "abc\xed\xa0\x80xdefghijk1", PW_NOT_UTF8, NULL); /* surrogate */
	expect(cfg, "abc\xe2\x82xdefghijk1", PW_NOT_UTF8, NULL);     /* truncated */
	cfg_free(cfg);
}

static void
test_user_name_forwards_and_backwards(void **state)
{
	struct cfg *cfg = config("dictionary =\n");

	(void)state;
	expect(cfg, "xxALICExx123", PW_CONTAINS_USER, "user name");
	expect(cfg, "xxecila!x123", PW_CONTAINS_USER, "backwards");
	cfg_free(cfg);
}

static void
test_dictionary_words_and_missing_dictionary(void **state)
{
	struct cfg *cfg;

	(void)state;
	if (access("/var/cache/cracklib/cracklib_dict.pwd", R_OK) != 0)
		skip();
	cfg = config("");
	expect(cfg, "Superintendent1", PW_DICTIONARY, "dictionary word");
	expect(cfg, "Tr0ub4dor&3x!qz", PW_OK, NULL);
	cfg_free(cfg);
	cfg = config("dictionary = /nonexistent/dict\n");
	expect(cfg, "Tr0ub4dor&3x!qz", PW_DICTIONARY_MISSING, "is missing");
	cfg_free(cfg);
}

static void
test_history_and_minimum_age(void **state)
{
	char dir[64], db[128], why[256];
	struct cfg *cfg = config("history = 2\nmin_age_days = 1\ndictionary =\n");
	struct store *st;
	struct idg_err err;
	enum pw_verdict v;
	const int64_t t = 1800000000;

	(void)state;
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "password"), 0);
	/* The history is the auth service's state file's (mfastate.h). */
	snprintf(db, sizeof(db), "%s/authd.db", dir);
	assert_int_equal(mfastate_open(db, NULL, &st, &err), 0);
	assert_int_equal(password_record(st, cfg, "alice", "First-pass-01", t, &err), 0);
	/* Too soon after a change, unless an admin sets it. */
	assert_int_equal(password_check_history(st, cfg, "alice", "Second-pass-2", t + 3600, 0, &v,
						why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_TOO_SOON);
	assert_int_equal(password_check_history(st, cfg, "alice", "Second-pass-2", t + 3600, 1, &v,
						why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_OK);
	assert_int_equal(password_check_history(st, cfg, "alice", "First-pass-01", t + 86400, 0, &v,
						why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_REUSED);
	assert_int_equal(password_record(st, cfg, "alice", "Second-pass-2", t + 86400, &err), 0);
	assert_int_equal(password_record(st, cfg, "alice", "Third-pass-03", t + 2 * 86400, &err),
			 0);
	/* Only the last 2 are remembered: the first may come back. */
	assert_int_equal(password_check_history(st, cfg, "alice", "First-pass-01", t + 3 * 86400, 0,
						&v, why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_OK);
	assert_int_equal(password_check_history(st, cfg, "alice", "Second-pass-2", t + 3 * 86400, 0,
						&v, why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_REUSED);
	/* Another user's history is theirs alone. */
	assert_int_equal(password_check_history(st, cfg, "bob", "Third-pass-03", t + 3 * 86400, 0,
						&v, why, sizeof(why), &err),
			 0);
	assert_int_equal(v, PW_OK);
	store_close(st);
	cfg_free(cfg);
	assert_int_equal(test_rmtree(dir), 0);
}

static void
test_malformed_password_config_is_rejected(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string("[directory]\nuri = ldap://h/\nbase = dc=x\n[password]\n"
					 "min_classes = 5\n",
					 "t.conf", &cfg, &err),
			 -1);
	assert_non_null(strstr(err.msg, "t.conf:5: [password] min_classes: out of range"));
	assert_int_equal(cfg_load_string("[directory]\nuri = ldap://h/\nbase = dc=x\n[password]\n"
					 "dictionary = relative/path\n",
					 "t.conf", &cfg, &err),
			 -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length_and_classes),
		cmocka_unit_test(test_utf8_counts_characters_not_bytes),
		cmocka_unit_test(test_user_name_forwards_and_backwards),
		cmocka_unit_test(test_dictionary_words_and_missing_dictionary),
		cmocka_unit_test(test_history_and_minimum_age),
		cmocka_unit_test(test_malformed_password_config_is_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
