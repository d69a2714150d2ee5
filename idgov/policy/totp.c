/* TOTP generation and matching; see totp.h. */
#include "totp.h"

#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
oath_flags(enum totp_algorithm a)
{
	return a == TOTP_SHA256   ? OATH_TOTP_HMAC_SHA256
	       : a == TOTP_SHA512 ? OATH_TOTP_HMAC_SHA512
				  : 0;
}

int
totp_code(const unsigned char *secret, size_t len, const struct totp_params *p, int64_t step,
	  char out[TOTP_MAX_DIGITS + 1])
{
	/*
	 * oath_init() only sets up the crypto backend and may be called again;
	 * oath_done() is never called, so another module in the same process
	 * (pam_oath) keeps a working library.
	 */
	if (step < 0 || p->digits < 6 || p->digits > TOTP_MAX_DIGITS || oath_init() != OATH_OK)
		return -1;
	return oath_totp_generate2((const char *)secret, len, (time_t)(step * p->period), p->period,
				   0, p->digits, oath_flags(p->algorithm), out) == OATH_OK
		       ? 0
		       : -1;
}

static int
well_formed(const char *code, unsigned digits)
{
	unsigned i;

	for (i = 0; code[i] != '\0'; i++)
		if (code[i] < '0' || code[i] > '9' || i >= digits)
			return 0;
	return i == digits;
}

enum totp_result
totp_match(const unsigned char *secret, size_t len, const struct totp_params *p, int64_t now,
	   int64_t watermark, const char *code, int64_t *step)
{
	int64_t current = now / p->period, matched = -1;
	char candidate[TOTP_MAX_DIGITS + 1];

	if (!well_formed(code, p->digits))
		return TOTP_MALFORMED;
	/* Every candidate is computed and compared, so the time taken does not say which matched.
	 */
	for (int64_t s = current - p->window; s <= current + (int64_t)p->window; s++) {
		if (totp_code(secret, len, p, s, candidate) != 0) {
			sodium_memzero(candidate, sizeof(candidate));
			return TOTP_ERROR;
		}
		if (sodium_memcmp(candidate, code, p->digits) == 0)
			matched = s;
	}
	sodium_memzero(candidate, sizeof(candidate));
	if (matched < 0)
		return TOTP_MISMATCH;
	if (matched <= watermark)
		return TOTP_REPLAY;
	*step = matched;
	return TOTP_OK;
}

/* Percent-encodes s for a URI label or query value. */
static void
uri_escape(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || c == '@')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

char *
totp_uri(const unsigned char *secret, size_t len, const struct totp_params *p, const char *issuer,
	 const char *account)
{
	static const char *const names[] = {"SHA1", "SHA256", "SHA512"};
	char *b32 = NULL, *uri = NULL;
	size_t b32len = 0, urilen = 0;
	FILE *f;

	if (oath_init() != OATH_OK ||
	    oath_base32_encode((const char *)secret, len, &b32, &b32len) != OATH_OK)
		return NULL;
	while (b32len > 0 && b32[b32len - 1] == '=') /* apps expect no padding */
		b32[--b32len] = '\0';
	f = open_memstream(&uri, &urilen);
	if (f != NULL) {
		fputs("otpauth://totp/", f);
		uri_escape(f, issuer);
		fputc(':', f);
		uri_escape(f, account);
		fprintf(f, "?secret=%s&issuer=", b32);
		uri_escape(f, issuer);
		fprintf(f, "&algorithm=%s&digits=%u&period=%u", names[p->algorithm], p->digits,
			p->period);
		fclose(f);
	}
	sodium_memzero(b32, b32len);
	free(b32);
	return uri;
}
