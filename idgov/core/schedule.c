/* Recurring times in a zone; see schedule.h. */
#include "schedule.h"

#include "timewin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_DAYS 400

/* One comma-separated cron field into a bit set over [lo, hi]. */
static int
parse_field(const char *f, size_t len, int lo, int hi, uint64_t *bits, int *any)
{
	char buf[64];
	char *save = NULL;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, f, len);
	buf[len] = '\0';
	*bits = 0;
	*any = strcmp(buf, "*") == 0;
	for (char *item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		long a = lo, b = hi, step = 1;
		char *p = item, *end;

		/* errno is checked: a number past a long is refused, not clamped. */
		errno = 0;
		if (*p == '*') {
			p++;
		} else {
			a = strtol(p, &end, 10);
			if (end == p)
				return -1;
			b = a;
			p = end;
			if (*p == '-') {
				b = strtol(p + 1, &end, 10);
				if (end == p + 1)
					return -1;
				p = end;
			}
		}
		if (*p == '/') {
			step = strtol(p + 1, &end, 10);
			/* A step past the field's range would only overflow the loop below. */
			if (end == p + 1 || step < 1 || step > hi - lo)
				return -1;
			p = end;
		}
		if (errno != 0)
			return -1;
		if (*p != '\0' || a < lo || b > hi || a > b)
			return -1;
		for (long v = a; v <= b; v += step)
			*bits |= UINT64_C(1) << v;
	}
	return 0;
}

static int
parse_cron(const char *spec, struct schedule *s)
{
	static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
	uint64_t bits[5];
	int any[5], n = 0;
	const char *p = spec;

	while (n < 5) {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0 || parse_field(p, len, lo[n], hi[n], &bits[n], &any[n]) != 0)
			return -1;
		p += len;
		n++;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		return -1;
	s->minutes = bits[0];
	s->hours = (uint32_t)bits[1];
	s->days = (uint32_t)bits[2];
	s->months = (uint16_t)bits[3];
	/* 7 is Sunday too. */
	s->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	s->days_any = any[2];
	s->weekdays_any = any[4];
	return 0;
}

int
schedule_parse(const char *spec, const char *at, struct schedule *s, struct idg_err *err)
{
	char cron[64];
	int h, m;
	char extra;

	memset(s, 0, sizeof(*s));
	if (strcmp(spec, "none") == 0) {
		s->none = 1;
		return 0;
	}
	if (strcmp(spec, "quarterly") == 0 || strcmp(spec, "monthly") == 0) {
		if (at == NULL || sscanf(at, "%2d:%2d%c", &h, &m, &extra) != 2 || h < 0 || h > 23 ||
		    m < 0 || m > 59 || strlen(at) != 5)
			return idg_seterr(err, "'%s' is not a time of day HH:MM", at ? at : "");
		snprintf(cron, sizeof(cron), "%d %d 1 %s *", m, h,
			 spec[0] == 'q' ? "1,4,7,10" : "*");
		spec = cron;
	}
	if (strlen(spec) > 200 || parse_cron(spec, s) != 0)
		return idg_seterr(err,
				  "'%.60s' is not a schedule (quarterly, monthly, none, or cron "
				  "fields \"minute hour day month weekday\")",
				  spec);
	return 0;
}

static int
day_matches(const struct schedule *s, int month, int day, int weekday)
{
	int dom = (s->days >> day) & 1, dow = (s->weekdays >> weekday) & 1;

	if (!((s->months >> month) & 1))
		return 0;
	if (s->days_any || s->weekdays_any)
		return dom && dow;
	return dom || dow; /* both restricted: either, as cron does */
}

/* The civil date k days after (y, mo, d): calendar arithmetic, no time zone involved. */
static void
add_days(int y, int mo, int d, int k, int *oy, int *omo, int *od, int *owd)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = 12};
	time_t t = timegm(&tm) + (time_t)k * 86400;

	gmtime_r(&t, &tm);
	*oy = tm.tm_year + 1900;
	*omo = tm.tm_mon + 1;
	*od = tm.tm_mday;
	*owd = tm.tm_wday;
}

/*
 * Walks local days from now's day in direction dir (-1 or +1) and returns
 * the first occurrence on the right side of now.
 */
static int
search(const struct schedule *s, const char *zone, int64_t now, int dir, int64_t *out,
       struct idg_err *err)
{
	int y0, mo0, d0, wd0;

	*out = 0;
	if (s->none)
		return 0;
	if (timewin_local_date(zone, now, &y0, &mo0, &d0, &wd0, err) != 0)
		return -1;
	for (int k = 0; k < SEARCH_DAYS; k++) {
		int y, mo, d, wd;

		add_days(y0, mo0, d0, dir * k, &y, &mo, &d, &wd);
		if (!day_matches(s, mo, d, wd))
			continue;
		for (int i = 0; i < 24 * 60; i++) {
			int minute_of_day = dir > 0 ? i : 24 * 60 - 1 - i;
			int h = minute_of_day / 60, m = minute_of_day % 60;
			int64_t t;

			if (!((s->hours >> h) & 1) || !((s->minutes >> m) & 1))
				continue;
			if (timewin_to_utc(zone, y, mo, d, h, m, &t, err) != 0)
				return -1;
			if ((dir < 0 && t <= now) || (dir > 0 && t > now)) {
				*out = t;
				return 0;
			}
		}
	}
	return 0;
}

int
schedule_prev(const struct schedule *s, const char *zone, int64_t now, int64_t *out,
	      struct idg_err *err)
{
	return search(s, zone, now, -1, out, err);
}

int
schedule_next(const struct schedule *s, const char *zone, int64_t now, int64_t *out,
	      struct idg_err *err)
{
	return search(s, zone, now, 1, out, err);
}
