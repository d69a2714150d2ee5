/*
 * When something recurs: "quarterly" (the first day of January, April,
 * July and October), "monthly", "none", or a cron rule of five fields
 * "minute hour day-of-month month day-of-week". Each field is *, a number,
 * a range a-b, a step (star-slash-n or a-b/n), or a comma list of those;
 * day-of-week is 0-7, 0 and 7 both Sunday; when both day fields are
 * restricted, a day matching either counts, as in cron. Evaluated in an
 * IANA time zone, never the server's local time.
 */
#ifndef IDGOV_SCHEDULE_H
#define IDGOV_SCHEDULE_H

#include "util.h"

#include <stdint.h>

struct schedule {
	int none;         /* never: started on demand only */
	uint64_t minutes; /* bit per minute 0-59 */
	uint32_t hours;   /* bit per hour 0-23 */
	uint32_t days;    /* bit per day of month 1-31 */
	uint16_t months;  /* bit per month 1-12 */
	uint8_t weekdays; /* bit per weekday 0-6, 0 = Sunday */
	int days_any, weekdays_any;
};

/* Parses spec; at ("HH:MM") is the time of day for quarterly and monthly. */
int schedule_parse(const char *spec, const char *at, struct schedule *s, struct idg_err *err);

/*
 * The latest occurrence at or before now (*out 0: none in the last 400
 * days, or a "none" schedule) and the first one after now (0: none within
 * 400 days).
 */
int schedule_prev(const struct schedule *s, const char *zone, int64_t now, int64_t *out,
		  struct idg_err *err);
int schedule_next(const struct schedule *s, const char *zone, int64_t now, int64_t *out,
		  struct idg_err *err);

#endif
