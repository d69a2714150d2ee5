/*
 * Unit tests for schedules (core/schedule.c): quarterly occurrences across
 * a DST change in a named zone, cron rules, and malformed rules, including
 * steps and numbers that would overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "schedule.h"

#define T0 1800000000 /* Fri 2027-01-15 08:00:00 UTC */

static void
test_schedules(void **state)
{
	struct schedule s;
	struct idg_err err;
	int64_t t;
	static const char *const bad[] = {
		"", "0 9 * *", "60 9 * * *", "0 24 * * *", "0 9 0 * *", "0 9 * 13 *", "0 9 * * 8",
		"0 9 5-1 * *", "0 9 */0 * *", "a b c d e", "0 9 * * * *",
		/* Steps and bounds past the field or past a long: refused, never overflowed. */
		"59/9223372036854775807 * * * *", "0/60 * * * *", "0 9 */32 * *",
		"99999999999999999999 * * * *", "0-99999999999999999999 * * * *", "0 9 1/-1 * *"};

	(void)state;
	/* Quarterly at 09:00 Paris: 07:00Z in summer time (October), 08:00Z in winter (January). */
	assert_int_equal(schedule_parse("quarterly", "09:00", &s, &err), 0);
	assert_int_equal(schedule_prev(&s, "Europe/Paris", 1795651200, &t, &err), 0);
	assert_int_equal(t, 1790838000);
	assert_int_equal(schedule_next(&s, "Europe/Paris", 1795651200, &t, &err), 0);
	assert_int_equal(t, 1798790400);
	/* On the occurrence itself, it is the previous one; the next is three months on. */
	assert_int_equal(schedule_prev(&s, "Europe/Paris", 1798790400, &t, &err), 0);
	assert_int_equal(t, 1798790400);
	assert_int_equal(schedule_parse("0 9 * * *", NULL, &s, &err), 0);
	assert_int_equal(schedule_prev(&s, "UTC", T0, &t, &err), 0);
	assert_int_equal(t, 1799917200);
	assert_int_equal(schedule_parse("*/15 * * * 1-5", NULL, &s, &err), 0);
	assert_int_equal(schedule_next(&s, "UTC", T0, &t, &err), 0); /* a Friday */
	assert_int_equal(t, T0 + 900);
	assert_int_equal(schedule_parse("none", NULL, &s, &err), 0);
	assert_int_equal(schedule_next(&s, "UTC", T0, &t, &err), 0);
	assert_int_equal(t, 0);
	assert_int_equal(schedule_parse("quarterly", "9am", &s, &err), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (schedule_parse(bad[i], NULL, &s, &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err.msg, "is not a schedule"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
