/*
 * MFA state: TOTP enrolment, verification with replay protection and
 * lockout, and single-use recovery codes. Shared by the PAM module (which
 * verifies) and idgovd (which enrols, resets and unlocks for the CLI).
 *
 * Every state change is one short BEGIN IMMEDIATE transaction, so
 * parallel logins of one user serialise on the store and never lose a
 * watermark or a failure count. Secrets are decrypted into sodium_malloc()
 * memory and wiped as soon as they have been used.
 */
#ifndef IDGOV_MFA_H
#define IDGOV_MFA_H

#include "audit.h"
#include "config.h"
#include "secret.h"
#include "store.h"
#include "totp.h"

#include <jansson.h>
#include <sodium.h>

#define MFA_SECRET_LEN 20
#define MFA_RECOVERY_CODES 10
#define MFA_RECOVERY_LEN 15 /* "XXXX-XXXX-XXXX" + NUL */
#define MFA_BINDING_LEN 96  /* "idgov-mfa-v1:" + a uuid + NUL, with room */
/* A recovery code's stored value "ID:HASH": the id, ':', a crypto_pwhash string. */
#define MFA_RECOVERY_VALUE_LEN (4 + 1 + crypto_pwhash_STRBYTES)

struct mfa_ctx {
	struct store *st;
	const struct cfg *cfg;
	const struct secret_key *key;
	struct audit *audit; /* may be NULL: nothing is audited */
	struct logger *log;  /* may be NULL */
	const char *actor;   /* who acts, for the audit chain ("pam:sshd", an admin's name) */
	/*
	 * The auth service's state file (mfastate.h), or NULL: the state a
	 * login writes (watermark, failures, lock, spent recovery codes) is
	 * then kept in st, as before the file existed. With it, a login
	 * only reads st, and takes no lock on it unless it has something
	 * to audit.
	 */
	struct store *state;
	/*
	 * Internal: an event (a recovery code spent, a lock) held while the
	 * state file's transaction is open, for the sync and the audit record
	 * that follow its commit.
	 */
	int in_state_txn;
	char pending_action[40];
	char pending_details[96];
};

enum mfa_outcome {
	MFA_OK,
	MFA_OK_RECOVERY,     /* a recovery code was used (and is now spent) */
	MFA_BAD_CODE,        /* wrong or malformed code; counted as a failure */
	MFA_REPLAYED,        /* a right code for a step already used (or older); not counted */
	MFA_RECOVERY_REUSED, /* a recovery code already spent; not counted */
	MFA_LOCKED,          /* too many failures; not counted */
	MFA_NOT_ENROLLED,    /* no confirmed enrolment */
	MFA_UNKNOWN_USER,    /* not in the store */
};

/* Checks a code (TOTP or recovery) for uid at now. Returns 0 with *out, or -1 (err). */
int mfa_verify(struct mfa_ctx *c, const char *uid, const char *code, int64_t now,
	       enum mfa_outcome *out, struct idg_err *err);

/* 1 if uid has a confirmed enrolment, 0 if not, -1 on error (unknown user: 0). */
int mfa_is_enrolled(struct mfa_ctx *c, const char *uid, struct idg_err *err);

/*
 * Starts an enrolment: a new secret, stored encrypted and unconfirmed
 * (replacing an unconfirmed one). Refused if a confirmed one exists.
 * *uri (malloc'd, holds the secret: wipe and free it) is for the app.
 */
int mfa_enroll_begin(struct mfa_ctx *c, const char *uid, char **uri, struct idg_err *err);

/* Confirms with a first code; on success fills codes with new recovery codes. */
int mfa_enroll_confirm(struct mfa_ctx *c, const char *uid, const char *code, int64_t now,
		       char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], struct idg_err *err);

/* Replaces uid's recovery codes with a new set. */
int mfa_new_recovery_codes(struct mfa_ctx *c, const char *uid,
			   char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], struct idg_err *err);

int mfa_reset(struct mfa_ctx *c, const char *uid, struct idg_err *err);
int mfa_unlock(struct mfa_ctx *c, const char *uid, struct idg_err *err);

/* Enrolment state as JSON (never the secret). */
json_t *mfa_status(struct mfa_ctx *c, const char *uid, int64_t now, struct idg_err *err);

void mfa_params(const struct cfg *cfg, struct totp_params *p);

/*
 * The associated data a local enrolment's secret is sealed with under
 * the master key: "idgov-mfa-v1:UUID".
 */
void mfa_binding(const char *uuid, char ad[MFA_BINDING_LEN]);

/*
 * Opens uuid's TOTP secret as the mfa table seals it (nonce, ciphertext
 * and tag) into out (MFA_SECRET_LEN bytes), with the key the store names
 * (secret_key_for_store): call it in the transaction that read the row.
 * 0, or -1 (err) when it does not open: a wrong master key or a tampered
 * store.
 */
int mfa_secret_open(const struct secret_key *key, struct store *st, const char *uuid,
		    const unsigned char nonce[SECRET_NONCE_LEN],
		    const unsigned char ct[MFA_SECRET_LEN + SECRET_TAG_LEN], unsigned char *out,
		    struct idg_err *err);

/*
 * 1 if the auth service's state file (mfastate.h) says the recovery code
 * id of uuid, stored as hash, was spent; 0 if not; -1 on error (err).
 */
int mfa_recovery_spent(struct store *state, const char *uuid, const char *id, const char *hash,
		       struct idg_err *err);

/*
 * A new set of recovery codes ("ABCD-EFGH-JKLM", ids unique within the
 * set) in codes, and in values what is stored of each: "ABCD:" and the
 * crypto_pwhash string of the other eight characters. 0, or -1 (err) with
 * codes wiped.
 */
int mfa_recovery_make(char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN],
		      char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN], struct idg_err *err);

/*
 * A master key rotation's resealer (rotate.h): opens every enrolment's
 * secret with from and seals it with to, in the caller's transaction.
 * Fails, changing nothing the caller commits, if one does not open.
 */
int mfa_reseal(void *arg, struct store *st, const struct secret_key *from,
	       const struct secret_key *to, size_t *count, struct idg_err *err);

#endif
