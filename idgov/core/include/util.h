/*
 * Small helpers shared by every module: the caller-owned error buffer,
 * bounded string copies, and the injectable clock.
 *
 * Errors follow one convention across libidgov: a function returns 0 on
 * success or -1 on failure and, on failure, writes one sentence saying
 * what failed and why into the caller's buffer (struct idg_err).
 */
#ifndef IDGOV_UTIL_H
#define IDGOV_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define IDG_ERRLEN 512

struct idg_err {
	char msg[IDG_ERRLEN];
};

/* Sets err->msg (if err is not NULL) and returns -1. */
int idg_seterr(struct idg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#ifdef __clang_analyzer__
/*
 * scan-build analyses one file at a time and cannot see that idg_seterr
 * always returns -1: say so, or every "return idg_seterr(...)" path is
 * explored as if it could return 0.
 */
#define idg_seterr(err, ...) (idg_seterr((err), __VA_ARGS__), -1)
#endif

/* Returns the current UTC time in seconds, unless a test overrode it. */
int64_t idg_now(void);
/* For tests: make idg_now() return t; t < 0 restores the real clock. */
void idg_set_now(int64_t t);

/* strlcpy semantics: always NUL-terminates, returns strlen(src). */
size_t idg_strlcpy(char *dst, const char *src, size_t size);

/* Duplicates s or returns NULL; s may be NULL. */
char *idg_strdup(const char *s);

/*
 * The one audited way to drop a const: for libldap's LDAPMod, whose strings
 * are char * although libldap never writes through them, and for a struct
 * that borrows a caller's strings without freeing or writing them (a grant
 * as its request is written), and for wiping a dead JSON string in place
 * (secret_wipe_json). Anything else should take const.
 */
static inline char *
idg_unconst(const char *s)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
	return (char *)s;
#pragma GCC diagnostic pop
}

/*
 * Walks a comma-separated list: *cursor starts at the text and becomes
 * NULL after the last item. Returns 1 with the next item, spaces trimmed,
 * in *item and *len (len 0 for an empty item: "", "a,,b" or a trailing comma,
 * which callers refuse), or 0 when there is none left.
 */
int idg_list_next(const char **cursor, const char **item, size_t *len);

/* 1 if s is 1..max bytes of text on one line (no control characters), else 0. */
int idg_text_line(const char *s, size_t max);

/*
 * Makes text safe to show on a terminal or to keep in a one-line record:
 * copies src into dst (size bytes, always NUL-terminated when size > 0)
 * with C0 controls, DEL and bytes that are not UTF-8 written as \xNN, and
 * C1 controls (U+0080..U+009F) as \u00NN, so that no newline can start a
 * forged line and no escape sequence reaches a terminal. Other UTF-8
 * characters are copied whole; a backslash is left alone, so names such as
 * DNs read as they are. Stops at a character boundary when dst is full.
 * Returns 0, or 1 when src did not fit.
 */
int idg_strvis(char *dst, size_t size, const char *src);

/* 1 if idg_strvis() would copy s unchanged (valid UTF-8, no control characters), else 0. */
int idg_text_plain(const char *s);

/* Lower-cases ASCII letters in place. */
void idg_ascii_lower(char *s);

#endif
