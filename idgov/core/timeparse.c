/* Command-line time parsing; see timeparse.h. */
#include "timeparse.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

static int
parse_calendar(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0;
	struct tm tm = {0};

	if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return -1;
	if (n > 10) {
		const char *t = s + 10;
		size_t rest = n - 10;

		if (rest > 0 && t[rest - 1] == 'Z')
			rest--;
		if ((rest != 6 && rest != 9) || (t[0] != 'T' && t[0] != ' ') ||
		    digits(t + 1, 2, &h) || t[3] != ':' || digits(t + 4, 2, &mi))
			return -1;
		if (rest == 9 && (t[6] != ':' || digits(t + 7, 2, &sec)))
			return -1;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int
parse_number(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

int
time_parse(const char *s, int64_t now, int64_t *out, struct idg_err *err)
{
	size_t n = strlen(s);
	int64_t v;

	if (n == 0 || n > 32)
		goto bad;
	if (s[0] == '@') {
		if (parse_number(s + 1, INT64_C(253402300799), &v) != 0)
			goto bad;
		*out = v;
		return 0;
	}
	if (strchr("smhd", s[n - 1]) != NULL && n >= 2) {
		char num[32];
		int64_t unit = s[n - 1] == 's'   ? 1
			       : s[n - 1] == 'm' ? 60
			       : s[n - 1] == 'h' ? 3600
						 : 86400;

		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (parse_number(num, INT64_C(100) * 365 * 86400 / unit, &v) != 0)
			goto bad;
		*out = now - v * unit;
		return 0;
	}
	if (parse_calendar(s, out) == 0)
		return 0;
bad:
	return idg_seterr(err,
			  "'%.40s' is not a time (use 2026-11-26, 2026-11-26T08:00:00Z, "
			  "@EPOCH, or an age like 7d, 24h, 30m)",
			  s);
}

int
time_parse_absolute(const char *s, int64_t *out, struct idg_err *err)
{
	size_t n = strlen(s);

	if (n > 0 && n <= 32 && (s[0] == '@' || parse_calendar(s, out) == 0))
		return s[0] == '@' ? time_parse(s, 0, out, err) : 0;
	return idg_seterr(
		err, "'%.40s' is not a time (use 2026-11-26, 2026-11-26T08:00:00Z or @EPOCH)", s);
}

static const struct {
	char unit;
	int64_t secs;
} duration_units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

#define DURATION_MAX (INT64_C(10) * 366 * 86400)

int
duration_parse(const char *s, int64_t *out, struct idg_err *err)
{
	const char *p = s;
	int64_t total = 0;

	if (*s == '\0' || strlen(s) > 32)
		goto bad;
	while (*p != '\0') {
		int64_t v = 0, unit = 0;

		if (*p < '0' || *p > '9')
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > DURATION_MAX)
				goto bad;
		}
		for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
			if (*p == duration_units[i].unit)
				unit = duration_units[i].secs;
		if (unit == 0)
			goto bad;
		p++;
		if (v > DURATION_MAX / unit || (total += v * unit) > DURATION_MAX)
			goto bad;
	}
	if (total < 1)
		goto bad;
	*out = total;
	return 0;
bad:
	return idg_seterr(err,
			  "'%.40s' is not a duration (use a number and a unit s, m, h, d or w, "
			  "like 90m, 4h, 7d or 1h30m; at most ten years)",
			  s);
}

void
duration_format(int64_t secs, char out[32])
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		int64_t n = secs / duration_units[i].secs;

		if (n == 0 || (duration_units[i].unit == 'w' && secs % 604800 != 0))
			continue;
		secs -= n * duration_units[i].secs;
		len += (size_t)snprintf(out + len, 32 - len, "%lld%c", (long long)n,
					duration_units[i].unit);
		if (len >= 32)
			break;
	}
	if (out[0] == '\0')
		snprintf(out, 32, "0s");
}

void
time_format(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%lld", (long long)t);
}

void
time_format_generalized(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 16, "%Y%m%d%H%M%SZ", &tm) == 0)
		snprintf(out, 16, "19700101000000Z");
}
