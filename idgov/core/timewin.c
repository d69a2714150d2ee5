/*
 * Time windows; see timewin.h. Zone conversion is ICU's (ucal_*), which
 * carries its own time zone rules and needs no process-wide TZ setting,
 * so it is safe inside a PAM module and across threads.
 */
#include "timewin.h"

#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

static const char *const day_names[] = {"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"};

static int
parse_day(const char *s, int *day)
{
	for (int i = 0; i < 7; i++)
		if (s[0] == day_names[i][0] && s[1] == day_names[i][1]) {
			*day = i;
			return 0;
		}
	return -1;
}

static int
parse_hhmm(const char *s, int *minutes)
{
	int h, m;

	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
	    s[3] > '9' || s[4] < '0' || s[4] > '9')
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	*minutes = h * 60 + m;
	return 0;
}

/* One "DAYS HH:MM-HH:MM" item, exactly (no surrounding spaces). */
static int
parse_item(const char *s, size_t len, struct time_window *w)
{
	int d1, d2, i = 0;

	if (len < 2 || parse_day(s, &d1) != 0)
		return -1;
	i = 2;
	d2 = d1;
	if (s[i] == '-') {
		if (parse_day(s + i + 1, &d2) != 0)
			return -1;
		i += 3;
	}
	if (len != (size_t)i + 12 || s[i] != ' ' || s[i + 6] != '-' ||
	    parse_hhmm(s + i + 1, &w->start) != 0 || parse_hhmm(s + i + 7, &w->end) != 0 ||
	    w->start == 24 * 60)
		return -1;
	w->days = 0;
	for (int d = d1;; d = (d + 1) % 7) {
		w->days |= 1u << d;
		if (d == d2)
			break;
	}
	return 0;
}

int
timewin_parse(const char *spec, struct time_window *w, size_t *n, struct idg_err *err)
{
	const char *cursor = spec, *item;
	size_t len;

	*n = 0;
	while (idg_list_next(&cursor, &item, &len)) {
		if (*n == TIMEWIN_MAX)
			return idg_seterr(err, "more than %d time windows", TIMEWIN_MAX);
		if (parse_item(item, len, &w[*n]) != 0)
			return idg_seterr(
				err,
				"'%.*s' is not a time window (expected e.g. Mo-Fr 08:00-19:00)",
				(int)(len > 60 ? 60 : len), item);
		(*n)++;
	}
	return 0;
}

int
timewin_match(const struct time_window *w, size_t n, int weekday, int minute)
{
	int yesterday = (weekday + 6) % 7;

	for (size_t i = 0; i < n; i++) {
		if (w[i].end > w[i].start) {
			if ((w[i].days & (1u << weekday)) && minute >= w[i].start &&
			    minute < w[i].end)
				return 1;
		} else { /* crosses midnight: tonight from start, or this morning until end */
			if ((w[i].days & (1u << weekday)) && minute >= w[i].start)
				return 1;
			if ((w[i].days & (1u << yesterday)) && minute < w[i].end)
				return 1;
		}
	}
	return 0;
}

static UCalendar *
open_zone(const char *zone)
{
	UChar id[128];
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal;
	int32_t len;

	if (strlen(zone) >= 100)
		return NULL;
	u_uastrcpy(id, zone);
	len = u_strlen(id);
	/* ICU falls back to GMT for unknown ids; check the id is a real one. */
	{
		UChar canonical[128];
		UBool system = 0;

		ucal_getCanonicalTimeZoneID(id, len, canonical, 128, &system, &st);
		if (U_FAILURE(st) || !system)
			return NULL;
	}
	cal = ucal_open(id, len, "en_US", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st)) {
		if (cal != NULL)
			ucal_close(cal);
		return NULL;
	}
	return cal;
}

int
timewin_zone_valid(const char *zone)
{
	UCalendar *cal = open_zone(zone);

	if (cal == NULL)
		return -1;
	ucal_close(cal);
	return 0;
}

int
timewin_local(const char *zone, int64_t t, int *weekday, int *minute, struct idg_err *err)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = open_zone(zone);
	int32_t dow, h, m;

	if (cal == NULL)
		return idg_seterr(err, "unknown time zone '%s'", zone);
	ucal_setMillis(cal, (UDate)t * 1000.0, &st);
	dow = ucal_get(cal, UCAL_DAY_OF_WEEK, &st); /* 1 = Sunday */
	h = ucal_get(cal, UCAL_HOUR_OF_DAY, &st);
	m = ucal_get(cal, UCAL_MINUTE, &st);
	ucal_close(cal);
	if (U_FAILURE(st))
		return idg_seterr(err, "time zone conversion failed for '%s'", zone);
	*weekday = (dow + 5) % 7;
	*minute = h * 60 + m;
	return 0;
}

int
timewin_local_date(const char *zone, int64_t t, int *year, int *month, int *day, int *weekday,
		   struct idg_err *err)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = open_zone(zone);

	if (cal == NULL)
		return idg_seterr(err, "unknown time zone '%s'", zone);
	ucal_setMillis(cal, (UDate)t * 1000.0, &st);
	*year = ucal_get(cal, UCAL_YEAR, &st);
	*month = ucal_get(cal, UCAL_MONTH, &st) + 1;
	*day = ucal_get(cal, UCAL_DATE, &st);
	*weekday = ucal_get(cal, UCAL_DAY_OF_WEEK, &st) - 1;
	ucal_close(cal);
	if (U_FAILURE(st))
		return idg_seterr(err, "time zone conversion failed for '%s'", zone);
	return 0;
}

int
timewin_to_utc(const char *zone, int year, int month, int day, int hour, int minute, int64_t *out,
	       struct idg_err *err)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = open_zone(zone);
	UDate ms;

	if (cal == NULL)
		return idg_seterr(err, "unknown time zone '%s'", zone);
	ucal_clear(cal);
	ucal_setDateTime(cal, year, month - 1, day, hour, minute, 0, &st);
	ms = ucal_getMillis(cal, &st);
	ucal_close(cal);
	if (U_FAILURE(st))
		return idg_seterr(err, "time zone conversion failed for '%s'", zone);
	*out = (int64_t)(ms / 1000.0);
	return 0;
}
