/*
 * One MFA attempt decided on values; see mfadecide.h.
 *
 * Kept apart from mfa.c, which reads and writes the local store around
 * the same rules: here nothing is read or written, so the fleet-wide
 * login path (the auth service, which reads the state from the directory
 * and writes it back with a compare-and-swap) and the unit tests call it
 * with any state they like, and the answer is only a function of what
 * they gave.
 */
#include "mfadecide.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

static const char recovery_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

int
mfa_recovery_split(const char *code, char id[5], char secret[9])
{
	size_t j = 0;

	if (strlen(code) != MFA_RECOVERY_LEN - 1 || code[4] != '-' || code[9] != '-')
		return -1;
	for (size_t i = 0; i < MFA_RECOVERY_LEN - 1; i++) {
		char ch = (char)toupper((unsigned char)code[i]);

		if (i == 4 || i == 9)
			continue;
		if (ch == '\0' || strchr(recovery_alphabet, ch) == NULL)
			return -1;
		if (i < 4)
			id[i] = ch;
		else
			secret[j++] = ch;
	}
	id[4] = '\0';
	secret[8] = '\0';
	return 0;
}

int
mfa_token_params(const struct cfg *cfg, const char *algorithm, int digits, int period,
		 struct totp_params *p, struct idg_err *err)
{
	mfa_params(cfg, p);
	if (algorithm != NULL && algorithm[0] != '\0') {
		if (strcmp(algorithm, "sha1") == 0)
			p->algorithm = TOTP_SHA1;
		else if (strcmp(algorithm, "sha256") == 0)
			p->algorithm = TOTP_SHA256;
		else if (strcmp(algorithm, "sha512") == 0)
			p->algorithm = TOTP_SHA512;
		else
			return idg_seterr(err,
					  "token algorithm '%.16s' is not sha1, sha256 or sha512",
					  algorithm);
	}
	if (digits != 0) {
		if (digits < 6 || digits > TOTP_MAX_DIGITS)
			return idg_seterr(err, "token digits %d is not 6 to %d", digits,
					  TOTP_MAX_DIGITS);
		p->digits = (unsigned)digits;
	}
	if (period != 0) {
		if (period < 1 || period > 300)
			return idg_seterr(err, "token period %d is not 1 to 300 seconds", period);
		p->period = (unsigned)period;
	}
	return 0;
}

int
mfa_failure_next(const struct cfg *cfg, const struct mfa_token_state *in, int64_t now,
		 struct mfa_token_state *next)
{
	int64_t locked = 0;

	*next = *in;
	if (in->failures <= 0 || now - in->failure_start > cfg->mfa_failure_interval) {
		next->failures = 1;
		next->failure_start = now;
	} else {
		next->failures = in->failures + 1;
	}
	if (next->failures >= cfg->mfa_max_failures) {
		locked = now + cfg->mfa_lockout;
		next->failures = 0;
	}
	if (locked > next->locked_until)
		next->locked_until = locked;
	return locked > 0;
}

/*
 * The index in values of the one ("ID:hash") whose id is id and whose
 * hash verifies secret, or -1. Every value with the right id is verified,
 * so that two values under one id (a damaged or hostile list) cannot hide
 * the right one.
 */
static int
find_recovery(const char *const *values, size_t n, const char *id, const char *secret)
{
	int found = -1;

	for (size_t i = 0; i < n; i++) {
		const char *v = values[i];

		if (v == NULL || strncmp(v, id, 4) != 0 || v[4] != ':' ||
		    strnlen(v + 5, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
			continue;
		if (found < 0 && crypto_pwhash_str_verify(v + 5, secret, strlen(secret)) == 0)
			found = (int)i;
	}
	return found;
}

int
mfa_decide(const struct cfg *cfg, const unsigned char *secret, size_t secret_len,
	   const struct totp_params *p, const struct mfa_token_state *in,
	   const char *const *recovery, size_t n_recovery, const char *const *spent, size_t n_spent,
	   const char *code, int64_t now, struct mfa_decision *d, struct idg_err *err)
{
	char id[5], rsecret[9];
	enum totp_result r;
	int64_t step = 0;

	memset(d, 0, sizeof(*d));
	d->next = *in;
	d->recovery = -1;
	if (in->locked_until > now) {
		d->outcome = MFA_LOCKED;
		return 0;
	}
	if (mfa_recovery_split(code, id, rsecret) == 0) {
		int i = -1;

		/*
		 * Spent first: a copy of the values that is older than what the
		 * caller knows (the mirror, offline) still lists a code spent here.
		 */
		if (n_spent > 0 && find_recovery(spent, n_spent, id, rsecret) >= 0) {
			sodium_memzero(rsecret, sizeof(rsecret));
			d->outcome = MFA_RECOVERY_REUSED;
			return 0;
		}
		i = find_recovery(recovery, n_recovery, id, rsecret);
		sodium_memzero(rsecret, sizeof(rsecret));
		if (i >= 0) {
			d->outcome = MFA_OK_RECOVERY;
			d->recovery = i;
			d->next.failures = 0;
			d->write = in->failures != 0;
			return 0;
		}
		/* A recovery code's shape that matches nothing: a wrong code, counted below. */
		r = TOTP_MISMATCH;
	} else {
		r = totp_match(secret, secret_len, p, now, in->last_step, code, &step);
	}
	switch (r) {
	case TOTP_ERROR:
		return idg_seterr(err, "TOTP computation failed");
	case TOTP_OK:
		d->outcome = MFA_OK;
		d->step = step;
		d->next.last_step = step;
		d->next.failures = 0;
		d->write = 1;
		return 0;
	case TOTP_REPLAY:
		d->outcome = MFA_REPLAYED;
		return 0;
	default:
		d->outcome = MFA_BAD_CODE;
		d->locked_now = mfa_failure_next(cfg, in, now, &d->next);
		d->write = 1;
		return 0;
	}
}
