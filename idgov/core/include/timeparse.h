/*
 * Times given on the command line: "2026-11-26", "2026-11-26T08:00:00Z"
 * (UTC; the Z is optional), "@1764144000" (epoch seconds), or an age
 * such as "90m", "24h", "7d" meaning that long before now.
 */
#ifndef IDGOV_TIMEPARSE_H
#define IDGOV_TIMEPARSE_H

#include "util.h"

#include <stdint.h>

int time_parse(const char *s, int64_t now, int64_t *out, struct idg_err *err);

/* A point in time without the age form: a date, a date and time, or @EPOCH. */
int time_parse_absolute(const char *s, int64_t *out, struct idg_err *err);

/*
 * A length of time: a number and a unit (s, m, h, d, w), or several such
 * terms ("1h30m"). At least one second, at most ten years.
 */
int duration_parse(const char *s, int64_t *out, struct idg_err *err);

/* Formats seconds as the shortest exact duration: "4h", "1d2h", "90s" -> "1m30s". */
void duration_format(int64_t secs, char out[32]);

/* Formats UTC seconds as an LDAP GeneralizedTime: 20261126080000Z. */
void time_format_generalized(int64_t t, char out[16]);

/* Formats UTC seconds as 2026-11-26T08:00:00Z. */
void time_format(int64_t t, char out[32]);

#endif
