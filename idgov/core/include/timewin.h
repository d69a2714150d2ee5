/*
 * Time windows for access rules: "Mo-Fr 08:00-19:00, Sa 09:00-12:00",
 * evaluated in a named IANA time zone (never the server's local time).
 *
 * A window's days are a day or a range of days (Fr-Mo wraps the week);
 * its hours are HH:MM-HH:MM, with 24:00 allowed as an end. A range whose
 * end is before its start crosses midnight and belongs to the day it
 * starts on: "Fr 22:00-06:00" is Friday 22:00 to Saturday 06:00.
 */
#ifndef IDGOV_TIMEWIN_H
#define IDGOV_TIMEWIN_H

#include "util.h"

#include <stddef.h>
#include <stdint.h>

#define TIMEWIN_MAX 32

struct time_window {
	unsigned days;  /* bit 0 = Monday ... bit 6 = Sunday */
	int start, end; /* minutes since midnight; end may be <= start (crosses midnight) */
};

/* Parses spec into w (at most TIMEWIN_MAX windows). */
int timewin_parse(const char *spec, struct time_window *w, size_t *n, struct idg_err *err);

/* 1 if (weekday 0=Monday, minute of day) falls in any window. */
int timewin_match(const struct time_window *w, size_t n, int weekday, int minute);

/* Weekday (0=Monday) and minute of day of the instant t in zone. -1 if the zone is unknown. */
int timewin_local(const char *zone, int64_t t, int *weekday, int *minute, struct idg_err *err);

/* The local calendar date of the instant t in zone: year, month 1-12, day 1-31, weekday 0=Sunday.
 */
int timewin_local_date(const char *zone, int64_t t, int *year, int *month, int *day, int *weekday,
		       struct idg_err *err);

/*
 * The instant of a local date and time in zone. A time skipped by a DST
 * change is moved forward past the gap, as clocks are.
 */
int timewin_to_utc(const char *zone, int year, int month, int day, int hour, int minute,
		   int64_t *out, struct idg_err *err);

/* 0 if zone names a time zone ICU knows. */
int timewin_zone_valid(const char *zone);

#endif
