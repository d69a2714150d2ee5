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
 * A signature does not show what came after it: delete the records and
 * signatures after any signed head and the rest still verifies. So each
 * signed head also leaves the store once its transaction has committed
 * (store_set_after_commit): it is sent to syslog as "audit head seq=N
 * hash=HEX sig=HEX" (LOG_NOTICE), and the anchor file ([store]
 * audit_anchor, anchor.h) is raised to it. The anchor never goes back: a
 * store whose chain no longer holds the anchored head (cut, or restored
 * from a backup) leaves it alone and raises LOG_ALERT, and audit_verify()
 * names the missing records until an admin re-anchors knowingly
 * (audit_anchor_reset(), itself audited).
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

#include "anchor.h"
#include "audit_keys.h"
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
	char *secret_path; /* where it was read: KEY, KEY.new or KEY.old may hold the current one */
	char key_id[AUDIT_KEY_ID_LEN]; /* the loaded key's id */
	int key_checked; /* a never-rotated store: the key was checked against its newest head */
	sqlite3_stmt *key_id_stmt; /* the store's current audit key id (key_ids) */
	int sign_every;
	sqlite3_stmt *head_stmt;
	sqlite3_stmt *insert_stmt;
	sqlite3_stmt *sign_stmt;
	sqlite3_stmt *signed_stmt;
	int64_t appended;    /* records appended through this handle */
	char *anchor_path;   /* NULL: heads are not anchored through this handle */
	int64_t signed_from; /* lowest seq signed since the last commit; 0: none */
	/*
	 * Records appended through this handle and not yet sent to syslog:
	 * seqs log_from..log_to, the last one with hash log_hash. They are
	 * sent after the commit, so work that is rolled back is never logged
	 * and a logged seq is never reused for another record.
	 */
	int64_t log_from, log_to;
	unsigned char log_hash[AUDIT_HASH_LEN];
	int anchor_warned; /* the anchor was found missing (said once) */
	int anchor_held;   /* a reset is running: do not touch the anchor after commit */
	void (*on_head)(void *arg, const struct anchor_head *h); /* see audit_on_head() */
	void *on_head_arg;
	/* audit_hold(): audit_record()'s records kept here, oldest first, until written. */
	int hold;
	struct audit_held *held, **held_tail;
	size_t held_n;
	char *spool_dir; /* a spooling handle (audit_open_spool): no store, no key */
};

/* Records audit_record() keeps while held, at most; past this it writes (and may wait). */
#define AUDIT_HOLD_MAX 10000

/*
 * secret_key_path may be NULL for a read-only (verify/list) handle. A
 * handle signs with the key the store names as the current audit key
 * (key_ids, set by a rotation in the transaction of its record): before
 * each signature it checks, and if another process rotated the key
 * meanwhile it loads the current one from secret_key_path, or its .new or
 * .old sibling (audit_keys.h, rotate_audit.h), or refuses to sign.
 * anchor_path ([store] audit_anchor) may be NULL: the handle then anchors
 * nothing (tests, a second handle on a store). A handle that signs and
 * anchors takes the store's after-commit slot (store.h) until closed.
 */
int audit_open(struct store *st, const char *secret_key_path, const char *anchor_path,
	       int sign_every, struct logger *log, struct audit **out, struct idg_err *err);
void audit_close(struct audit *a);

/*
 * A handle for a process that must not sign (idgov-authd): it holds no
 * store and no key, and audit_append() and audit_record() hand each event
 * to idgovd through the spool directory spool_dir (spool.h) instead of the
 * chain; audit_sign_head() does nothing. An event is spooled when it is
 * made, so one made inside a transaction that is then rolled back is
 * still spooled.
 */
int audit_open_spool(const char *spool_dir, struct logger *log, struct audit **out,
		     struct idg_err *err);
/* 1 if a is a spooling handle: its events need no transaction on the store. */
int audit_spools(const struct audit *a);

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

/*
 * While on, audit_record() does not write: it keeps the record in memory
 * (up to AUDIT_HOLD_MAX) and returns 0, and audit_flush_held() writes what
 * was kept, in order, in one transaction, each stamped with the time it is
 * written. idgovd holds its handle while another connection (its refresh
 * worker) has the store's write lock, so that requests it answers
 * meanwhile are recorded without waiting for that lock. Records a
 * transaction appends with audit_append() are never held. audit_close()
 * drops what was not flushed: flush first.
 */
void audit_hold(struct audit *a, int on);
/* Returns 0, or -1 (err set) with everything still kept for the next try. */
int audit_flush_held(struct audit *a, struct idg_err *err);

/* Signs the current head if it is not signed yet. Call before commit. */
int audit_sign_head(struct audit *a, struct idg_err *err);

/*
 * Calls fn with the newest head signed in each commit, after the anchor
 * file and syslog have it: idgovd publishes it to the directory. fn must
 * not write to the store.
 */
void audit_on_head(struct audit *a, void (*fn)(void *arg, const struct anchor_head *h), void *arg);

/*
 * Whether the store's chain holds head h (seq 0: always): -1 with a reason
 * naming what is missing or rewritten if not. Before raising a copy of the
 * head kept elsewhere, so that no copy is raised over a cut.
 */
int audit_holds_head(struct store *st, const struct anchor_head *h, struct idg_err *err);

/*
 * Creates the anchor at the newest signed head in the store (seq 0 for an
 * empty chain); fails if it exists. For `idgov init`.
 */
int audit_anchor_create(struct audit *a, struct idg_err *err);

/*
 * Re-anchors at the store's head, on purpose: after a restore from backup
 * or a truncation that has been looked into. The chain must verify apart
 * from the anchor, and confirm_seq must be the newest signed seq in the
 * store (what the admin saw); then an "audit.anchor_reset" record by actor
 * is appended, signed, and the anchor replaced by the new head (*anchored).
 */
int audit_anchor_reset(struct audit *a, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		       const char *actor, int64_t confirm_seq, int64_t *anchored,
		       struct idg_err *err);

struct audit_report;
/*
 * audit_anchor_reset() for a store whose chain the caller has just
 * verified (checked: audit_verify()'s report on these very bytes, such as
 * a restore's check of the image it then wrote as the store): the chain is
 * not walked a second time. Refused unless checked->ok.
 */
int audit_anchor_reset_checked(struct audit *a, const struct audit_report *checked,
			       const char *actor, int64_t confirm_seq, int64_t *anchored,
			       struct idg_err *err);

struct audit_report {
	int ok;
	int64_t records;
	int64_t signatures;
	int64_t key_rotations;         /* audit key rotations followed */
	char key_id[AUDIT_KEY_ID_LEN]; /* the key in force at the end of the chain */
	int64_t last_signed_seq;
	int64_t first_bad_seq; /* 0 when ok */
	int64_t anchor_seq;    /* the anchored head; -1 when not checked */
	char reason[512];
};

/*
 * Verifies the whole chain and every signature, starting with the pinned
 * public key pk ([store] audit_public_key) and following each audit key
 * rotation record to the next key (audit_keys.h),
 * then the store against the anchor file (anchor_path; NULL: not checked):
 * the anchor must be there, well protected and signed, and the store must
 * hold its head. Problems with the anchor are reported like problems with
 * the chain (rep->ok false, rep->reason); -1 only when the store cannot be
 * read.
 */
int audit_verify(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		 const char *anchor_path, struct audit_report *rep, struct idg_err *err);

/*
 * Checks a head kept elsewhere (source: "directory entry")
 * against the store, as audit_verify() does the anchor file's: on a
 * mismatch rep->ok is cleared and rep->reason says why. Read h before
 * calling, so that the store is at least as new as it.
 */
int audit_check_head(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		     const struct anchor_head *h, const char *source, struct audit_report *rep,
		     struct idg_err *err);

/*
 * The audit key id the store names (key_ids): 1 with id, 0 if none (never
 * rotated: the key `idgov init` made), -1 (err).
 */
int audit_store_key_id(struct store *st, char id[AUDIT_KEY_ID_LEN], struct idg_err *err);

/*
 * Inside the caller's transaction: appends the rotation record from the
 * current key to new_sk's (audit_keys.h), signs the head at it with the
 * current key, and names the new key as the store's (key_ids), so that
 * every head after this commit is signed with new_sk, by any process.
 * old_id and new_id get the two ids, *seq the record's.
 */
int audit_append_key_rotation(struct audit *a, const char *actor, const unsigned char *new_sk,
			      char old_id[AUDIT_KEY_ID_LEN], char new_id[AUDIT_KEY_ID_LEN],
			      int64_t *seq, struct idg_err *err);

/* Exposed for tests: the canonical hash of one record after prev. */
void audit_record_hash(const unsigned char prev[AUDIT_HASH_LEN], int64_t seq, int64_t time,
		       const char *actor, const char *subject, const char *action,
		       const char *details, unsigned char out[AUDIT_HASH_LEN]);

#endif
