/*
 * UTF-8 case folding; see casefold.h.
 *
 * Decoding is written out here rather than left to a library so that what
 * is refused is stated in one place and tested byte by byte (tests/unit/
 * core/test_casefold.c). The folding table is ICU's (u_foldCase), already
 * linked for time zones; only the per-code-point simple folding is used.
 * Folding can change a character's encoded length (U+212A KELVIN SIGN, 3
 * bytes, folds to "k", 1 byte; U+023A, 2 bytes, to U+2C65, 3 bytes), so
 * the output is sized for the worst case: at most 3 bytes out for every 2
 * in, and never more than 4 for a 4-byte input.
 */
#include "casefold.h"

#include <stdint.h>
#include <stdlib.h>
#include <unicode/uchar.h>

/*
 * Decodes one code point at s (n > 0 bytes left). Returns its length in
 * bytes and sets *cp, or 0 when the sequence is not well-formed.
 */
static size_t
decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5..0xff */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static size_t
encode(uint32_t c, unsigned char *out)
{
	if (c < 0x80) {
		out[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (unsigned char)(0xc0 | (c >> 6));
		out[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (c >> 12));
		out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (c >> 18));
	out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

int
idg_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t c;

	while (i < len) {
		if ((k = decode(p + i, len - i, &c)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

int
idg_casefold(const char *in, size_t len, char **out, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char *buf;
	size_t i = 0, o = 0, k;

	*out = NULL;
	if (len > (SIZE_MAX - 4) / 2)
		return -1;
	/* 3 bytes out per 2 in at worst; 2 * len + 1 covers that and the NUL. */
	buf = malloc(2 * len + 1);
	if (buf == NULL)
		return -1;
	while (i < len) {
		uint32_t c;

		if ((k = decode(p + i, len - i, &c)) == 0) {
			free(buf);
			return -1;
		}
		i += k;
		if (c < 0x80) {
			buf[o++] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
			continue;
		}
		c = (uint32_t)u_foldCase((UChar32)c, U_FOLD_CASE_DEFAULT);
		o += encode(c, buf + o);
	}
	buf[o] = '\0';
	*out = (char *)buf;
	if (out_len != NULL)
		*out_len = o;
	return 0;
}
