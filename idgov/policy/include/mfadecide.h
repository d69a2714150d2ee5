/*
 * One MFA attempt decided on a token's state given as values: no store,
 * no directory, no clock of its own. The fleet-wide login path
 * ([fleet] mfa = directory) reads a token from a provider (or, offline,
 * from the mirror), asks this what the attempt means and what state to
 * write, and then writes it with a compare-and-swap; mfa.c's local path
 * counts failures with the same mfa_failure_next().
 *
 * The rules are mfa.c's, in its order:
 *
 *   1. A lock in force refuses without looking at the code and without
 *      extending the lock (MFA_LOCKED, nothing to write).
 *   2. A recovery code ("ABCD-EFGH-JKLM") that matches a value the
 *      caller knows was spent is MFA_RECOVERY_REUSED, not counted, even
 *      if the unspent values still list it (an older copy of them); one
 *      that matches an unspent value ("ABCD:" and its crypto_pwhash
 *      string) is accepted and named, so the caller can spend exactly
 *      that value.
 *   3. A TOTP code for a step above the watermark is accepted (the step
 *      is returned: the caller consumes it); a right code at or below the
 *      watermark is MFA_REPLAYED and not counted, so nobody who sees one
 *      code can lock its owner out.
 *   4. Anything else is a failure: counted in a window that starts at the
 *      first failure; reaching [mfa] max_failures within failure_interval
 *      locks for lockout seconds and starts the count again.
 */
#ifndef IDGOV_MFADECIDE_H
#define IDGOV_MFADECIDE_H

#include "config.h"
#include "mfa.h"
#include "totp.h"

#include <stddef.h>
#include <stdint.h>

/* The part of a token a login reads and writes. */
struct mfa_token_state {
	int64_t last_step;     /* the replay watermark: the last accepted step */
	int64_t failures;      /* wrong codes since failure_start */
	int64_t failure_start; /* UTC seconds */
	int64_t locked_until;  /* UTC seconds; 0: not locked */
};

struct mfa_decision {
	enum mfa_outcome outcome;
	struct mfa_token_state next; /* the state to write; equal to the input when write is 0 */
	int write;                   /* 1 when next differs from the state given */
	int64_t step;                /* MFA_OK: the step to consume */
	int recovery;                /* MFA_OK_RECOVERY: index of the value to spend; else -1 */
	int locked_now;              /* MFA_BAD_CODE: this failure set the lock */
};

/*
 * TOTP parameters of a token: its own algorithm ("sha1", "sha256",
 * "sha512"), digits (6..8) and period (1..300 s), each falling back to
 * [mfa]'s when absent ("" or 0); the window is always [mfa] window. 0, or
 * -1 when a value is present but not one of those (err names it).
 */
int mfa_token_params(const struct cfg *cfg, const char *algorithm, int digits, int period,
		     struct totp_params *p, struct idg_err *err);

/*
 * "ABCD-EFGH-JKLM" in any case: fills id (the 4 characters of the first
 * group, upper case) and secret (the other 8); 0 if well formed, else -1.
 */
int mfa_recovery_split(const char *code, char id[5], char secret[9]);

/*
 * The state after one more failure at now (rule 4). Returns 1 when that
 * failure locks (next->locked_until is then now + lockout, or the later
 * lock already there), 0 when it only counts.
 */
int mfa_failure_next(const struct cfg *cfg, const struct mfa_token_state *in, int64_t now,
		     struct mfa_token_state *next);

/*
 * Decides code at now for an enrolled token: secret (secret_len bytes,
 * opened by the caller, who wipes it), its TOTP parameters, its state,
 * its unspent recovery values ("ID:hash", n_recovery of them; malformed
 * ones are never matched) and the values the caller knows were spent
 * (same form; may be NULL when n_spent is 0). 0 with *d filled, or -1 when
 * the TOTP computation failed (err).
 */
int mfa_decide(const struct cfg *cfg, const unsigned char *secret, size_t secret_len,
	       const struct totp_params *p, const struct mfa_token_state *in,
	       const char *const *recovery, size_t n_recovery, const char *const *spent,
	       size_t n_spent, const char *code, int64_t now, struct mfa_decision *d,
	       struct idg_err *err);

#endif
