/* Unit tests for directory data handling that needs no server: DNs and UUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir.h"

static void
expect_norm(const char *in, const char *want)
{
	char *out = dir_dn_normalize(in);

	if (want == NULL) {
		if (out != NULL)
			fail_msg("'%s' normalised to '%s', expected rejection", in, out);
		return;
	}
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
test_plain_dns_are_lower_cased(void **state)
{
	(void)state;
	expect_norm("uid=Alice,ou=People,dc=Example,dc=com",
		    "uid=alice,ou=people,dc=example,dc=com");
}

static void
test_spacing_and_case_variants_normalise_alike(void **state)
{
	(void)state;
	expect_norm("UID=alice, OU=People , dc=example,dc=com",
		    "uid=alice,ou=people,dc=example,dc=com");
	expect_norm("cn=Smith\\, John,dc=example,dc=com", "cn=smith\\2c john,dc=example,dc=com");
}

static void
test_malformed_dns_are_rejected(void **state)
{
	char *huge = malloc(DIR_MAX_DN + 10);

	(void)state;
	expect_norm("not a dn", NULL);
	expect_norm("uid=alice,,dc=x", NULL);
	expect_norm("=alice", NULL);
	memset(huge, 'a', DIR_MAX_DN + 9);
	memcpy(huge, "cn=", 3);
	huge[DIR_MAX_DN + 9] = '\0';
	expect_norm(huge, NULL);
	free(huge);
}

static void
test_dn_within(void **state)
{
	(void)state;
	assert_true(dir_dn_within("uid=a,ou=people,dc=x", "ou=people,dc=x"));
	assert_true(dir_dn_within("ou=people,dc=x", "ou=people,dc=x"));
	assert_false(dir_dn_within("uid=a,ou=xpeople,dc=x", "ou=people,dc=x"));
	assert_false(dir_dn_within("dc=x", "ou=people,dc=x"));
	assert_true(dir_dn_within("anything", ""));
}

static void
test_uuid_format(void **state)
{
	char raw[16], out[DIR_UUID_LEN + 1];
	struct berval bv = {16, raw};

	(void)state;
	for (int i = 0; i < 16; i++)
		raw[i] = (char)(0xa0 + i);
	assert_int_equal(dir_uuid_format(&bv, out), 0);
	assert_string_equal(out, "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
	bv.bv_len = 15;
	assert_int_equal(dir_uuid_format(&bv, out), -1);
	bv.bv_len = 17;
	assert_int_equal(dir_uuid_format(&bv, out), -1);
}

static void
test_generalized_time(void **state)
{
	(void)state;
	assert_int_equal(dir_generalized_time("20261126083000Z"), 1795681800);
	assert_int_equal(dir_generalized_time("20261126083000.123Z"), 1795681800);
	assert_int_equal(dir_generalized_time("19700101000000Z"), 0);
	assert_int_equal(dir_generalized_time("20261126083000"), -1);  /* no zone */
	assert_int_equal(dir_generalized_time("20261326083000Z"), -1); /* month 13 */
	assert_int_equal(dir_generalized_time("2026112608300Z"), -1);  /* short */
	assert_int_equal(dir_generalized_time("20261126083000+0100"), -1);
	assert_int_equal(dir_generalized_time("2026-11-26T08:30:00Z"), -1);
	assert_int_equal(dir_generalized_time(""), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_dns_are_lower_cased),
		cmocka_unit_test(test_spacing_and_case_variants_normalise_alike),
		cmocka_unit_test(test_malformed_dns_are_rejected),
		cmocka_unit_test(test_dn_within),
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_generalized_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
