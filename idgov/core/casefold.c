/*
 * UTF-8 case folding; see casefold.h.
 *
 * Decoding is written out here rather than left to a library so that what
 * is refused is stated in one place and tested byte by byte (tests/unit/
 * core/test_casefold.c). The tables are ICU's, already linked for time
 * zones. The steps are OpenLDAP's (UTF8bvnormalize with
 * LDAP_UTF8_CASEFOLD, what its caseIgnoreMatch and DN matching use): each
 * code point is lower-cased on its own (u_tolower, not the case folding
 * that would also make a final sigma a sigma, which OpenLDAP does not),
 * then the text is put in Unicode normalisation form KC, so that "a" with
 * a combining diaeresis is "\u00e4" and the ligature "\ufb01" is "fi", as
 * the directory matches them. The result is lower-cased once more, since
 * NFKC can yield capitals ("\u3392" is "MHz"), so that folding what was
 * folded changes nothing. Lower-casing can change a character's encoded
 * length (U+212A KELVIN SIGN, 3 bytes, is "k", 1 byte; U+023A, 2 bytes,
 * is U+2C65, 3 bytes): at most 3 bytes out for every 2 in, and never more
 * than 4 for a 4-byte input. NFKC can make text longer still, so its output
 * is sized by ICU's preflight. ASCII text needs neither table.
 */
#include "casefold.h"

#include <stdint.h>
#include <stdlib.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

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

/* Each code point lower-cased; *non_ascii tells whether any was not ASCII. */
static int
lower_each(const char *in, size_t len, char **out, size_t *out_len, int *non_ascii)
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
		*non_ascii = 1;
		c = (uint32_t)u_tolower((UChar32)c);
		o += encode(c, buf + o);
	}
	buf[o] = '\0';
	*out = (char *)buf;
	*out_len = o;
	return 0;
}

/*
 * NFKC of well-formed UTF-8 (NULs allowed), through ICU's UTF-16: a new
 * NUL-terminated buffer, or -1.
 */
static int
nfkc(const char *in, size_t len, char **out, size_t *out_len)
{
	UErrorCode st = U_ZERO_ERROR;
	const UNormalizer2 *nf = unorm2_getNFKCInstance(&st);
	UChar *src = NULL, *dst = NULL;
	int32_t n16 = 0, nn = 0, n8 = 0;
	char *buf = NULL;

	*out = NULL;
	if (U_FAILURE(st) || len > INT32_MAX / 4)
		return -1;
	/* len bytes of UTF-8 are at most len UTF-16 units. */
	src = malloc((len + 1) * sizeof(*src));
	if (src != NULL)
		u_strFromUTF8(src, (int32_t)len + 1, &n16, in, (int32_t)len, &st);
	if (src != NULL && U_SUCCESS(st)) {
		nn = unorm2_normalize(nf, src, n16, NULL, 0, &st);
		if (st == U_BUFFER_OVERFLOW_ERROR && nn < INT32_MAX / 4) {
			st = U_ZERO_ERROR;
			if ((dst = malloc(((size_t)nn + 1) * sizeof(*dst))) != NULL)
				nn = unorm2_normalize(nf, src, n16, dst, nn + 1, &st);
		}
	}
	if (dst != NULL && U_SUCCESS(st)) {
		/* At most 3 UTF-8 bytes per UTF-16 unit. */
		if ((buf = malloc(3 * (size_t)nn + 1)) != NULL)
			u_strToUTF8(buf, 3 * nn + 1, &n8, dst, nn, &st);
	}
	free(src);
	free(dst);
	if (buf == NULL || U_FAILURE(st)) {
		free(buf);
		return -1;
	}
	buf[n8] = '\0';
	*out = buf;
	*out_len = (size_t)n8;
	return 0;
}

int
idg_casefold(const char *in, size_t len, char **out, size_t *out_len)
{
	char *lower = NULL, *norm = NULL;
	size_t n = 0, nn = 0;
	int non_ascii = 0, rc;

	*out = NULL;
	if (lower_each(in, len, &lower, &n, &non_ascii) != 0)
		return -1;
	if (!non_ascii) {
		*out = lower;
		if (out_len != NULL)
			*out_len = n;
		return 0;
	}
	rc = nfkc(lower, n, &norm, &nn);
	free(lower);
	if (rc != 0)
		return -1;
	rc = lower_each(norm, nn, out, &n, &non_ascii);
	free(norm);
	if (rc == 0 && out_len != NULL)
		*out_len = n;
	return rc;
}
