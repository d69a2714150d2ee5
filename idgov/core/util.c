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
