/*
 * TOTP (RFC 6238) on top of liboath's HOTP/TOTP code generation.
 *
 * Matching is done here rather than with oath_totp_validate*(): every
 * candidate step in the window is computed and compared in constant time
 * (sodium_memcmp), with no early exit, and the replay watermark is part of
 * the decision: a code is accepted only for a step above the last one
 * accepted for that user.
 */
#ifndef IDGOV_TOTP_H
#define IDGOV_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define TOTP_MAX_DIGITS 8

enum totp_algorithm { TOTP_SHA1, TOTP_SHA256, TOTP_SHA512 };

struct totp_params {
	unsigned digits; /* 6..8 */
	unsigned period; /* seconds per step */
	unsigned window; /* steps accepted on each side of now */
	enum totp_algorithm algorithm;
};

enum totp_result {
	TOTP_OK,        /* *step is the matched step */
	TOTP_MISMATCH,  /* no step in the window has this code */
	TOTP_REPLAY,    /* the code is for a step already used (<= watermark) */
	TOTP_MALFORMED, /* not exactly `digits` decimal digits */
	TOTP_ERROR,     /* the library failed */
};

/* The code for one time step; out holds digits + 1 bytes. */
int totp_code(const unsigned char *secret, size_t len, const struct totp_params *p, int64_t step,
	      char out[TOTP_MAX_DIGITS + 1]);

enum totp_result totp_match(const unsigned char *secret, size_t len, const struct totp_params *p,
			    int64_t now, int64_t watermark, const char *code, int64_t *step);

/* The otpauth:// URI for authenticator apps (caller frees). secret is raw bytes. */
char *totp_uri(const unsigned char *secret, size_t len, const struct totp_params *p,
	       const char *issuer, const char *account);

#endif
