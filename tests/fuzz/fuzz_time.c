/*
 * Fuzz target: the time parsers of core, which read what admins write in
 * idgov.conf and what callers send over the socket ("--until 2026-12-01",
 * "--for 4h", access windows, campaign schedules). The first byte picks
 * the parser, the rest is its text; whatever parses is also used (matched,
 * formatted, stepped through a calendar), since that is where a value
 * accepted but not understood would show.
 */
#include "fuzz.h"

#include "schedule.h"
#include "timeparse.h"
#include "timewin.h"

#include <assert.h>

/* A fixed now, so an input does the same thing on every run: 2026-11-26 08:00:00Z. */
#define FUZZ_NOW INT64_C(1795680000)

static void
fuzz_duration(const char *s)
{
	struct idg_err err;
	int64_t d, again;
	char text[32];

	if (duration_parse(s, &d, &err) != 0)
		return;
	/* What idgov prints of a duration must read back as the same duration. */
	duration_format(d, text);
	if (duration_parse(text, &again, &err) != 0 || again != d) {
		fprintf(stderr, "duration '%s' = %lld printed as '%s'\n", s, (long long)d, text);
		abort();
	}
}

static void
fuzz_time_parse(const char *s)
{
	struct idg_err err;
	char text[32], gen[16];
	int64_t t;

	if (time_parse(s, FUZZ_NOW, &t, &err) == 0) {
		time_format(t, text);
		time_format_generalized(t, gen);
	}
	if (time_parse_absolute(s, &t, &err) == 0)
		time_format(t, text);
}

static void
fuzz_timewin(const char *s)
{
	struct time_window w[TIMEWIN_MAX];
	struct idg_err err;
	size_t n = 0;

	if (timewin_parse(s, w, &n, &err) != 0)
		return;
	assert(n <= TIMEWIN_MAX);
	for (int day = 0; day < 7; day++)
		for (int minute = 0; minute < 1440; minute += 97)
			(void)timewin_match(w, n, day, minute);
}

/* "SPEC|HH:MM|ZONE": a schedule, its time of day and the zone it runs in. */
static void
fuzz_schedule(char *s)
{
	char *at = strchr(s, '|'), *zone = NULL;
	struct schedule sc;
	struct idg_err err;
	int64_t t;

	if (at != NULL) {
		*at++ = '\0';
		if ((zone = strchr(at, '|')) != NULL)
			*zone++ = '\0';
	}
	if (schedule_parse(s, at != NULL ? at : "00:00", &sc, &err) != 0)
		return;
	if (zone == NULL || !timewin_zone_valid(zone))
		zone = (char *)"UTC";
	(void)schedule_prev(&sc, zone, FUZZ_NOW, &t, &err);
	(void)schedule_next(&sc, zone, FUZZ_NOW, &t, &err);
}

/* "ZONE": whether a zone is valid and what local time it gives. */
static void
fuzz_zone(const char *s)
{
	struct idg_err err;
	int wd, min, y, mo, d;
	int64_t t;

	if (!timewin_zone_valid(s))
		return;
	(void)timewin_local(s, FUZZ_NOW, &wd, &min, &err);
	(void)timewin_local_date(s, FUZZ_NOW, &y, &mo, &d, &wd, &err);
	(void)timewin_to_utc(s, 2026, 3, 29, 2, 30, &t, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = fuzz_string(data + 1, size - 1);
	switch (data[0] % 5) {
	case 0:
		fuzz_time_parse(s);
		break;
	case 1:
		fuzz_duration(s);
		break;
	case 2:
		fuzz_timewin(s);
		break;
	case 3:
		fuzz_schedule(s);
		break;
	case 4:
		fuzz_zone(s);
		break;
	}
	free(s);
	return 0;
}
