/* Shared helpers; see util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The clock override is a test hook only. It is process-wide on purpose:
 * production code never sets it, so the PAM module's "no hidden state"
 * rule holds (the value is constant -1 unless a test binary changes it).
 */
static int64_t fixed_now = -1;

#ifdef __clang_analyzer__
#undef idg_seterr /* the function itself, not the analyzer's model */
#endif

int
idg_seterr(struct idg_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int64_t
idg_now(void)
{
	struct timespec ts;

	if (fixed_now >= 0)
		return fixed_now;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

void
idg_set_now(int64_t t)
{
	fixed_now = t;
}

size_t
idg_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *
idg_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

void
idg_ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int
idg_list_next(const char **cursor, const char **item, size_t *len)
{
	const char *p = *cursor, *end;

	if (p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	end = strchr(p, ',');
	*len = end != NULL ? (size_t)(end - p) : strlen(p);
	while (*len > 0 && p[*len - 1] == ' ')
		(*len)--;
	*item = p;
	*cursor = end != NULL ? end + 1 : NULL;
	return 1;
}

int
idg_text_line(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * The length of the valid UTF-8 character at p (1 to 4 bytes), or 0 when
 * p does not start one: a stray continuation byte, a truncated sequence,
 * an overlong form, a surrogate or a code point above U+10FFFF.
 */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* How the character (len bytes, 0: an invalid byte) at p is shown; out gets at most 7 bytes. */
static size_t
vis_char(const unsigned char *p, size_t len, char out[8])
{
	if (len == 0 || (len == 1 && (p[0] < 0x20 || p[0] == 0x7f)))
		return (size_t)snprintf(out, 8, "\\x%02x", p[0]);
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return (size_t)snprintf(out, 8, "\\u%04x", p[1]);
	memcpy(out, p, len);
	return len;
}

int
idg_strvis(char *dst, size_t size, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t off = 0;

	if (size == 0)
		return *src != '\0';
	while (*p != '\0') {
		size_t len = utf8_len(p), n;
		char out[8];

		n = vis_char(p, len, out);
		if (off + n >= size) {
			dst[off] = '\0';
			return 1;
		}
		memcpy(dst + off, out, n);
		off += n;
		p += len > 0 ? len : 1;
	}
	dst[off] = '\0';
	return 0;
}

int
idg_text_plain(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t len = utf8_len(p);
		char out[8];

		if (len == 0 || vis_char(p, len, out) != len || memcmp(out, p, len) != 0)
			return 0;
		p += len;
	}
	return 1;
}
