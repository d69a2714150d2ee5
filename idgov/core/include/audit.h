/*
 * The tamper-evident audit chain.
 *
 * Each record is (seq, time, actor, subject, action, details) and carries
 *
 *     hash_i = BLAKE2b-256(hash_{i-1} || canonical(record_i)),  hash_0 = 32 zero bytes
 *
 * where canonical() is the big-endian seq and time followed by each text
 * field as a 32-bit big-endian length and its bytes. Because seq is inside
 * the hash, editing, deleting, inserting or reordering any record breaks
 * the chain from that point on. Because anyone with write access to the
 * store could recompute a whole chain, heads are also signed with Ed25519
 * (signature over "idgov-audit-head-v1" || seq || hash): every
 * `sign_every` records and at the end of every transaction that appended
 * (audit_sign_head). So the newest record is always covered by a
 * signature, and a rewritten or truncated chain no longer matches one.
 *
 * Appends happen inside the caller's transaction, so an event is in the
 * chain exactly when the change it describes is in the store.
 * Every append is also logged to syslog (LOG_AUTHPRIV) as one line.
 *
 * Actor, subject and action are stored as one line of at most
 * AUDIT_FIELD_MAX bytes whatever the caller passes: control characters are
 * made visible (idg_strvis(), "\x1b") and a longer value is cut, ending in
 * "...". Some of them come from people who are not trusted (a login name
 * typed at a PAM prompt, a directory value), and a record must neither
 * grow without bound nor forge lines or escape sequences when it is shown.
 */
#ifndef IDGOV_AUDIT_H
#define IDGOV_AUDIT_H

#include "log.h"
#include "store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>

#define AUDIT_HASH_LEN 32
/* Longest actor, subject or action kept in a record, in bytes. */
#define AUDIT_FIELD_MAX 512

struct audit {
	struct store *st;
	struct logger *log;    /* may be NULL */
	unsigned char *secret; /* Ed25519 secret key (sodium_malloc), or NULL: cannot sign */
	int sign_every;
	sqlite3_stmt *head_stmt;
	sqlite3_stmt *insert_stmt;
	sqlite3_stmt *sign_stmt;
	sqlite3_stmt *signed_stmt;
	int64_t appended; /* records appended through this handle */
};

/* secret_key_path may be NULL for a read-only (verify/list) handle. */
int audit_open(struct store *st, const char *secret_key_path, int sign_every, struct logger *log,
	       struct audit **out, struct idg_err *err);
void audit_close(struct audit *a);

/*
 * Appends one record; details must be a JSON object text (or NULL for {}).
 * Actor, subject and action are made visible and capped (see above).
 * Must be called inside a transaction (store_begin); the caller commits.
 */
int audit_append(struct audit *a, const char *actor, const char *subject, const char *action,
		 const char *details, struct idg_err *err);

/*
 * Appends one record in a short transaction of its own, signs the head and
 * commits: for events that are not part of a larger change. details is a
 * JSON object (stolen; NULL for {}). On failure nothing is written.
 */
int audit_record(struct audit *a, const char *actor, const char *subject, const char *action,
		 json_t *details, struct idg_err *err);

/* Signs the current head if it is not signed yet. Call before commit. */
int audit_sign_head(struct audit *a, struct idg_err *err);

struct audit_report {
	int ok;
	int64_t records;
	int64_t signatures;
	int64_t last_signed_seq;
	int64_t first_bad_seq; /* 0 when ok */
	char reason[256];
};

/* Verifies the whole chain and every signature against the public key. */
int audit_verify(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		 struct audit_report *rep, struct idg_err *err);

/* Exposed for tests: the canonical hash of one record after prev. */
void audit_record_hash(const unsigned char prev[AUDIT_HASH_LEN], int64_t seq, int64_t time,
		       const char *actor, const char *subject, const char *action,
		       const char *details, unsigned char out[AUDIT_HASH_LEN]);

#endif
