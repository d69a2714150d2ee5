/*
 * Unit tests for the parsers of a token's values (token.h): numbers as
 * LDAP INTEGER writes them and nothing looser, GeneralizedTimes in UTC,
 * recovery values "ID:HASH"; and the attribute list the sync asks for.
 * Whole entries from a real slapd, the writes and their assertions are
 * tests/integration/test_fleet_token.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "token.h"

static int
num(const char *s, int64_t max, int64_t *out)
{
	*out = -7;
	return token_parse_number(s, strlen(s), max, out);
}

static void
test_numbers_in_range_parse(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(num("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(num("8", 8, &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(num("59000000", INT64_MAX, &v), 0);
	assert_int_equal(v, 59000000);
	assert_int_equal(num("9223372036854775807", INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
}

static void
test_malformed_numbers_are_refused(void **state)
{
	static const char *const bad[] = {"",
					  "-1",
					  "+1",
					  " 1",
					  "1 ",
					  "01",
					  "00",
					  "1a",
					  "0x10",
					  "1.5",
					  "1e3",
					  "\xd9\xa1",
					  "9223372036854775808",
					  "99999999999999999999"};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (num(bad[i], INT64_MAX, &v) != -1)
			fail_msg("'%s' parsed as %lld", bad[i], (long long)v);
		assert_int_equal(v, -7); /* nothing written on failure */
	}
	/* A NUL inside the value's length is not a digit. */
	assert_int_equal(token_parse_number("1\0002", 3, 1000, &v), -1);
}

static void
test_numbers_over_the_maximum_are_refused(void **state)
{
	int64_t v;

	(void)state;
	/* The last digit alone over max: the case that a division rounding toward zero misses. */
	assert_int_equal(num("9", 8, &v), -1);
	assert_int_equal(num("11", 10, &v), -1);
	assert_int_equal(num("10", 10, &v), 0);
	assert_int_equal(num("1000001", 1000000, &v), -1);
	assert_int_equal(num("1", 0, &v), -1);
}

static void
test_times_parse_and_keep_their_raw_form(void **state)
{
	char raw[LEASE_TIME_MAX];
	int64_t t;

	(void)state;
	assert_int_equal(token_parse_time("20261202101010Z", 15, raw, sizeof(raw), &t), 0);
	assert_int_equal(t, 1796206210);
	assert_string_equal(raw, "20261202101010Z");
	assert_int_equal(token_parse_time("20261202101010.5Z", 17, raw, sizeof(raw), &t), 0);
	assert_int_equal(t, 1796206210);
	assert_string_equal(raw, "20261202101010.5Z");
}

static void
test_malformed_times_are_refused(void **state)
{
	static const char *const bad[] = {"",
					  "2026120210Z",
					  "202612021010Z",
					  "20261202101010",
					  "20261202101010+0100",
					  "20261302101010Z",
					  "20261200101010Z",
					  "20261202241010Z",
					  "2026120210101OZ",
					  "20261202101010ZZ",
					  "20261202101010.123456789012345678901234567Z"};
	char raw[LEASE_TIME_MAX] = "untouched";
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (token_parse_time(bad[i], strlen(bad[i]), raw, sizeof(raw), &t) != -1)
			fail_msg("'%s' parsed", bad[i]);
	assert_string_equal(raw, "untouched");
	/* A NUL inside the value, and a raw buffer too small for the value. */
	assert_int_equal(token_parse_time("20261202101010Z\0", 16, raw, sizeof(raw), &t), -1);
	assert_int_equal(token_parse_time("20261202101010Z", 15, raw, 15, &t), -1);
}

static void
test_recovery_values(void **state)
{
	static const char *const good[] = {"AB2C:$argon2id$v=19$m=65536,t=2,p=1$salt$hash",
					   "ZZZZ:x"};
	static const char *const bad[] = {"",        "AB2C",   "AB2C:",    "ab2c:x", "AB2:x",
					  "AB2CD:x", "AB2C x", "AB2C:a b", "AB-C:x", "AB2C:\x7f"};
	char big[TOKEN_RECOVERY_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(token_parse_recovery(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (token_parse_recovery(bad[i], strlen(bad[i])) != -1)
			fail_msg("'%s' taken as a recovery value", bad[i]);
	/* The longest that fits, and one byte more. */
	memset(big, 'h', sizeof(big));
	memcpy(big, "AB2C:", 5);
	assert_int_equal(token_parse_recovery(big, TOKEN_RECOVERY_MAX - 1), 0);
	assert_int_equal(token_parse_recovery(big, TOKEN_RECOVERY_MAX), -1);
	assert_int_equal(token_parse_recovery("AB2C:a\0b", 8), -1);
}

static void
test_attrs_name_every_token_attribute(void **state)
{
	static const char *const want[] = {
		"objectClass",       "idgovTokenSecret",        "idgovTokenAlgorithm",
		"idgovTokenDigits",  "idgovTokenPeriod",        "idgovLastStep",
		"idgovFailureCount", "idgovFailureWindowStart", "idgovLockEnd",
		"idgovRecoveryCode", "idgovLastLogin"};
	const char *const *a = token_attrs();
	size_t n = 0;

	(void)state;
	while (a[n] != NULL)
		n++;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(a[i], want[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers_in_range_parse),
		cmocka_unit_test(test_malformed_numbers_are_refused),
		cmocka_unit_test(test_numbers_over_the_maximum_are_refused),
		cmocka_unit_test(test_times_parse_and_keep_their_raw_form),
		cmocka_unit_test(test_malformed_times_are_refused),
		cmocka_unit_test(test_recovery_values),
		cmocka_unit_test(test_attrs_name_every_token_attribute),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
