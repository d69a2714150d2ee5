/* Unit tests for command-line times: every accepted form, and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timeparse.h"

static const int64_t NOW = 1764144000; /* 2025-11-26T08:00:00Z */

static int64_t
parse_ok(const char *s)
{
	struct idg_err err;
	int64_t t = -1;

	if (time_parse(s, NOW, &t, &err) != 0)
		fail_msg("'%s' rejected: %s", s, err.msg);
	return t;
}

static void
test_calendar_forms(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2025-11-26"), 1764115200);
	assert_int_equal(parse_ok("2025-11-26T08:00:00Z"), NOW);
	assert_int_equal(parse_ok("2025-11-26T08:00:00"), NOW);
	assert_int_equal(parse_ok("2025-11-26T08:00"), NOW);
	assert_int_equal(parse_ok("2024-02-29"), 1709164800);
}

static void
test_epoch_and_ages(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("@0"), 0);
	assert_int_equal(parse_ok("@1764144000"), NOW);
	assert_int_equal(parse_ok("7d"), NOW - 7 * 86400);
	assert_int_equal(parse_ok("24h"), NOW - 86400);
	assert_int_equal(parse_ok("30m"), NOW - 1800);
	assert_int_equal(parse_ok("90s"), NOW - 90);
}

static void
test_malformed_times_are_rejected(void **state)
{
	static const char *const bad[] = {
		"",
		"yesterday",
		"2025-13-01",
		"2025-02-30",
		"2023-02-29",
		"2025-11-26T24:00",
		"2025-11-26T08:60",
		"2025-11-26X08:00",
		"2025-11-26T08:00:00+01:00",
		"1969-12-31",
		"@",
		"@-5",
		"@12x",
		"d",
		"-7d",
		"7w",
		"7.5d",
		"99999999999999999999d",
		"2025-1-26",
		"@99999999999999999999",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct idg_err err;
	int64_t t = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (time_parse(bad[i], NOW, &t, &err) == 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err.msg, "is not a time"));
		assert_int_equal(t, 42); /* untouched on error */
	}
}

static void
test_format_round_trips(void **state)
{
	char buf[32];

	(void)state;
	time_format(NOW, buf);
	assert_string_equal(buf, "2025-11-26T08:00:00Z");
	assert_int_equal(parse_ok(buf), NOW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calendar_forms),
		cmocka_unit_test(test_epoch_and_ages),
		cmocka_unit_test(test_malformed_times_are_rejected),
		cmocka_unit_test(test_format_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
