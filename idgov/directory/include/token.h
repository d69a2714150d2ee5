/*
 * A person's MFA token in the directory: the auxiliary object class
 * idgovToken (schema/ldap/idgov.schema) on the person's own entry, with the
 * fleet-wide state every host reads and writes, and the last-login stamp
 * (idgovLoginRecord).
 *
 * Every write of shared state is a compare-and-swap: a modify carrying an
 * RFC 4528 assertion control whose filter is what the writer read (or, for
 * the step, "below the step being consumed"). If another host wrote in
 * between, the directory refuses the whole modify (assertionFailed) and
 * nothing changes: TOKEN_CHANGED, read again and decide again. A recovery
 * code is spent by deleting its value, which the directory refuses when
 * the value is already gone. So a code (or a recovery code) is accepted
 * once on the provider all hosts write to (provider.h), however many hosts
 * try it at the same time.
 *
 * Every value read is untrusted input: numbers are parsed strictly, times
 * are GeneralizedTime, a value out of range or malformed makes the whole
 * token unreadable (-1), never "absent" (which would unlock a lock or
 * reopen a spent step).
 */
#ifndef IDGOV_TOKEN_H
#define IDGOV_TOKEN_H

#include "config.h"
#include "fleetseal.h"
#include "lease.h"

#include <ldap.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_MAX_RECOVERY 16
/* "ABCD:" and a crypto_pwhash string (crypto_pwhash_STRBYTES, 128, with its NUL). */
#define TOKEN_RECOVERY_MAX 136
#define TOKEN_NUM_MAX 24

/* Answers besides 0 (done) and -1 (error, err set). */
#define TOKEN_DOWN 1    /* the provider did not answer: providers_drop(), try the next */
#define TOKEN_CHANGED 2 /* the assertion failed: another writer came first; read again */

struct token {
	int enrolled; /* idgovTokenSecret is present */
	unsigned char sealed[FLEET_SEAL_MAX];
	size_t sealed_len;
	char algorithm[8];     /* "sha1", "sha256" or "sha512"; "" when absent */
	int digits;            /* 0 when absent */
	int period;            /* seconds; 0 when absent */
	int64_t last_step;     /* the last accepted TOTP step; 0 when absent */
	int64_t failures;      /* wrong codes in the current window; 0 when absent */
	int64_t failure_start; /* UTC seconds; 0 when absent */
	int64_t locked_until;  /* UTC seconds; 0 when absent */
	char recovery[TOKEN_MAX_RECOVERY][TOKEN_RECOVERY_MAX]; /* unspent codes: "ID:hash" */
	size_t n_recovery;
	int64_t last_login;                   /* idgovLastLogin, UTC seconds; 0 when absent */
	int has_token_class, has_login_class; /* the objectClass values are there */
	/* As the directory holds them, for the assertions of a later write; "" when absent. */
	char failures_raw[TOKEN_NUM_MAX];
	char failure_start_raw[LEASE_TIME_MAX];
	char locked_until_raw[LEASE_TIME_MAX];
};

/* The attributes a token is read from (NULL-terminated, static): for searches and sync. */
const char *const *token_attrs(void);

/*
 * Fills t from an entry that was searched with token_attrs() among its
 * attributes (the sync's entries, token_read()'s). 0, or -1 when a value
 * is malformed (err names the attribute).
 */
int token_from_entry(LDAP *ld, LDAPMessage *entry, struct token *t, struct idg_err *err);

/*
 * The value parsers token_from_entry() uses, for tests and for the
 * mirror's own checks: each -1 on anything but the exact form.
 *
 * token_parse_number: a decimal from 0 to max as LDAP INTEGER writes it
 * (digits only, no sign, no leading zero). token_parse_time: a
 * GeneralizedTime in UTC, copied into raw (size bytes) as read.
 * token_parse_recovery: "ID:HASH", ID four upper-case letters or digits,
 * HASH printable ASCII without spaces, shorter than TOKEN_RECOVERY_MAX.
 */
int token_parse_number(const char *s, size_t len, int64_t max, int64_t *out);
int token_parse_time(const char *s, size_t len, char *raw, size_t size, int64_t *out);
int token_parse_recovery(const char *s, size_t len);

/* Reads the token of dn (base search, [fleet] timeout_ms): 0, TOKEN_DOWN or -1. */
int token_read(const struct cfg *cfg, LDAP *ld, const char *dn, struct token *t,
	       struct idg_err *err);

/*
 * Consumes step: sets idgovLastStep to step and clears the failure count,
 * with the assertion (!(idgovLastStep>=step)) and the token present. 0,
 * TOKEN_CHANGED (the step or a later one was used first: a replay; or
 * the token was cleared meanwhile: read again), TOKEN_DOWN or -1.
 */
int token_consume_step(const struct cfg *cfg, LDAP *ld, const char *dn, int64_t step,
		       struct idg_err *err);

/*
 * Writes a wrong code's outcome (failures, failure_start, locked_until;
 * 0 removes the value) with the assertion that the failure count, window
 * and lock are still what seen holds. 0, TOKEN_CHANGED, TOKEN_DOWN or -1.
 */
int token_record_failure(const struct cfg *cfg, LDAP *ld, const char *dn, const struct token *seen,
			 int64_t failures, int64_t failure_start, int64_t locked_until,
			 struct idg_err *err);

/*
 * Spends a recovery code by deleting its value (as read: "ID:hash") and
 * clearing the failure count. 0, TOKEN_CHANGED (already spent elsewhere),
 * TOKEN_DOWN or -1.
 */
int token_spend_recovery(const struct cfg *cfg, LDAP *ld, const char *dn, const char *value,
			 struct idg_err *err);

/*
 * Writes a whole enrolment: t's sealed secret, algorithm, digits, period,
 * last step and recovery values, adding the idgovToken object class when
 * the entry lacks it. With replace 0 the assertion is that the entry has
 * no idgovTokenSecret (enrolment, migration: TOKEN_CHANGED when someone
 * enrolled first); with replace 1 that its idgovTokenSecret is still
 * t->sealed as read (new recovery codes). 0, TOKEN_CHANGED, TOKEN_DOWN, -1.
 */
int token_write(const struct cfg *cfg, LDAP *ld, const char *dn, const struct token *t, int replace,
		struct idg_err *err);

/* Removes every idgovToken attribute and the object class value (mfa reset). 0, TOKEN_DOWN, -1. */
int token_clear(const struct cfg *cfg, LDAP *ld, const char *dn, struct idg_err *err);

/* Removes the lock and the failure count (mfa unlock). 0, TOKEN_DOWN or -1. */
int token_unlock(const struct cfg *cfg, LDAP *ld, const char *dn, struct idg_err *err);

/*
 * Stamps idgovLastLogin = now, adding idgovLoginRecord when missing, with
 * the assertion that no stamp is newer than now - 86400: at most one write
 * per user per day fleet-wide. 0, TOKEN_CHANGED (a recent stamp is there:
 * nothing to do), TOKEN_DOWN or -1.
 */
int token_touch_login(const struct cfg *cfg, LDAP *ld, const char *dn, int64_t now,
		      struct idg_err *err);

#endif
