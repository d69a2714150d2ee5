/* Time windows: parsing, malformed specs, midnight and week wrap, named zones and DST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "timeparse.h"
#include "timewin.h"

enum { MO, TU, WE, TH, FR, SA, SU };
#define HM(h, m) ((h)*60 + (m))

static size_t
parse_ok(const char *spec, struct time_window *w)
{
	struct idg_err err;
	size_t n;

	if (timewin_parse(spec, w, &n, &err) != 0)
		fail_msg("'%s': %s", spec, err.msg);
	return n;
}

static void
test_office_hours(void **state)
{
	struct time_window w[TIMEWIN_MAX];
	size_t n = parse_ok("Mo-Fr 08:00-19:00, Sa 09:00-12:00", w);

	(void)state;
	assert_int_equal(n, 2);
	assert_true(timewin_match(w, n, MO, HM(8, 0)));
	assert_true(timewin_match(w, n, FR, HM(18, 59)));
	assert_false(timewin_match(w, n, FR, HM(19, 0)));
	assert_false(timewin_match(w, n, TU, HM(7, 59)));
	assert_true(timewin_match(w, n, SA, HM(11, 0)));
	assert_false(timewin_match(w, n, SA, HM(12, 0)));
	assert_false(timewin_match(w, n, SU, HM(10, 0)));
}

static void
test_ranges_across_midnight_and_week_end(void **state)
{
	struct time_window w[TIMEWIN_MAX];
	size_t n = parse_ok("Fr-Mo 22:00-06:00", w);

	(void)state;
	assert_true(timewin_match(w, n, FR, HM(23, 0)));
	assert_true(timewin_match(w, n, SA, HM(5, 59))); /* Friday night */
	assert_true(timewin_match(w, n, TU, HM(1, 0)));  /* Monday night */
	assert_false(timewin_match(w, n, FR, HM(1, 0))); /* Thursday night is not in */
	assert_false(timewin_match(w, n, TU, HM(22, 0)));
	n = parse_ok("Su 00:00-24:00", w);
	assert_true(timewin_match(w, n, SU, HM(23, 59)));
	assert_false(timewin_match(w, n, MO, 0));
}

static void
test_malformed_windows_are_rejected(void **state)
{
	static const char *const bad[] = {
		"",
		"Mo",
		"Mo 8:00-19:00",
		"Mo 08:00-19",
		"Xx 08:00-19:00",
		"Mo-Xx 08:00-19:00",
		"Mo 08:00-25:00",
		"Mo 08:60-09:00",
		"Mo 24:00-06:00",
		"Mo 08:00 19:00",
		"Mo-Fr 08:00-19:00,",
		"Mo-Fr  08:00-19:00",
		"mo 08:00-19:00",
		"Mo 08:00-19:00 x",
	};
	struct time_window w[TIMEWIN_MAX];
	struct idg_err err;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (timewin_parse(bad[i], w, &n, &err) == 0)
			fail_msg("'%s' was accepted", bad[i]);
}

static void
local(const char *zone, const char *utc, int want_day, int want_min)
{
	struct idg_err err;
	int64_t t;
	int day, min;

	assert_int_equal(time_parse(utc, 0, &t, &err), 0);
	if (timewin_local(zone, t, &day, &min, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(day, want_day);
	assert_int_equal(min, want_min);
}

static void
test_named_zone_and_dst(void **state)
{
	(void)state;
	local("Europe/Paris", "2026-01-07T07:30:00Z", WE, HM(8, 30)); /* CET, UTC+1 */
	local("Europe/Paris", "2026-07-01T06:30:00Z", WE, HM(8, 30)); /* CEST, UTC+2 */
	/* 2026-03-29: clocks go from 02:00 to 03:00 at 01:00 UTC. */
	local("Europe/Paris", "2026-03-29T00:59:00Z", SU, HM(1, 59));
	local("Europe/Paris", "2026-03-29T01:00:00Z", SU, HM(3, 0));
	local("America/New_York", "2026-11-26T13:00:00Z", TH, HM(8, 0));
	local("Asia/Tokyo", "2026-11-26T23:30:00Z", FR, HM(8, 30)); /* the next day there */
	local("UTC", "2026-11-26T13:00:00Z", TH, HM(13, 0));
}

static void
test_unknown_zone_is_an_error(void **state)
{
	struct idg_err err;
	int day, min;

	(void)state;
	assert_int_equal(timewin_local("Mars/Olympus_Mons", 0, &day, &min, &err), -1);
	assert_non_null(strstr(err.msg, "unknown time zone"));
	assert_int_equal(timewin_zone_valid("Europe/Paris"), 0);
	assert_int_equal(timewin_zone_valid("Nowhere"), -1);
	assert_int_equal(timewin_zone_valid(""), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_office_hours),
		cmocka_unit_test(test_ranges_across_midnight_and_week_end),
		cmocka_unit_test(test_malformed_windows_are_rejected),
		cmocka_unit_test(test_named_zone_and_dst),
		cmocka_unit_test(test_unknown_zone_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
