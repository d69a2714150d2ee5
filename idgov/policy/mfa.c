/*
 * MFA state; see mfa.h.
 *
 * Lockout: failures are counted in a window that starts at the first
 * failure; reaching max_failures within failure_interval locks MFA for
 * `lockout` seconds. A locked attempt is refused without looking at the
 * code and without extending the lock. A success resets the count.
 *
 * Recovery codes look like "ABCD-EFGH-JKLM": the first group names the
 * code (stored in clear, to find its row), the other eight characters are
 * the secret (40 bits, stored only as an argon2id crypto_pwhash string).
 */
#include "mfa.h"

#include "mfadecide.h"
#include "secmem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UUID_BUF 64

static const char recovery_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

struct mfa_row {
	int found;
	int confirmed;
	unsigned char nonce[SECRET_NONCE_LEN];
	unsigned char ct[MFA_SECRET_LEN + SECRET_TAG_LEN];
	int64_t last_step, failures, failure_start, locked_until;
};

void
mfa_params(const struct cfg *cfg, struct totp_params *p)
{
	p->digits = (unsigned)cfg->mfa_digits;
	p->period = (unsigned)cfg->mfa_period;
	p->window = (unsigned)cfg->mfa_window;
	p->algorithm = (enum totp_algorithm)cfg->mfa_algorithm;
}

void
mfa_binding(const char *uuid, char ad[MFA_BINDING_LEN])
{
	snprintf(ad, MFA_BINDING_LEN, "idgov-mfa-v1:%s", uuid);
}

static int
audit_event(struct mfa_ctx *c, const char *uid, const char *action, const char *details,
	    struct idg_err *err)
{
	if (c->log != NULL)
		log_msg(c->log, LOG_NOTICE, "mfa: %s for %s by %s", action, uid, c->actor);
	if (c->in_state_txn) {
		/*
		 * Held until the state file has committed: that commit is then
		 * synced, and the record written to the chain if there is one
		 * (verify_with_state).
		 */
		idg_strlcpy(c->pending_action, action, sizeof(c->pending_action));
		idg_strlcpy(c->pending_details, details ? details : "", sizeof(c->pending_details));
		return 0;
	}
	if (c->audit == NULL)
		return 0;
	return audit_append(c->audit, c->actor, uid, action, details, err);
}

/* The uuid of a user that is not departed. 1 found, 0 not, -1 error. */
static int
find_user(struct mfa_ctx *c, const char *uid, char uuid[UUID_BUF], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    c->st, "SELECT uuid FROM users WHERE uid = ?1 AND status <> 'departed' LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		idg_strlcpy(uuid, (const char *)sqlite3_column_text(s, 0), UUID_BUF);
	store_release(c->st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(c->st, err, "reading user");
	return rc == SQLITE_ROW;
}

/*
 * Starts the write transaction of a change to uid's enrolment and finds
 * the user: 0 with uuid, or -1 (err set; the transaction is still open,
 * finish() ends it).
 */
static int
begin_for_user(struct mfa_ctx *c, const char *uid, char uuid[UUID_BUF], struct idg_err *err)
{
	int rc;

	if (store_begin(c->st, err) != 0)
		return -2; /* no transaction to finish */
	rc = find_user(c, uid, uuid, err);
	if (rc == 0)
		idg_seterr(err, "no user named '%s' in the directory", uid);
	return rc == 1 ? 0 : -1;
}

/*
 * With a state file, what logins wrote comes from it. The watermark is the
 * higher of the two: confirming an enrolment (idgovd, in the main store)
 * sets it to the confirming code's step, and steps only grow.
 */
static int
load_state(struct mfa_ctx *c, const char *uuid, struct mfa_row *row, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	row->failures = row->failure_start = row->locked_until = 0;
	if (store_prepare_cached(
		    c->state,
		    "SELECT last_step, failures, failure_start, locked_until FROM mfa_state "
		    "WHERE user_uuid = ?1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int64(s, 0) > row->last_step)
			row->last_step = sqlite3_column_int64(s, 0);
		row->failures = sqlite3_column_int64(s, 1);
		row->failure_start = sqlite3_column_int64(s, 2);
		row->locked_until = sqlite3_column_int64(s, 3);
	}
	store_release(c->state, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(c->state, err, "reading MFA state");
	return 0;
}

/* The enrolment as the main store has it: the secret, confirmed, the state idgovd wrote. */
static int
load_enrolment(struct mfa_ctx *c, const char *uuid, struct mfa_row *row, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	memset(row, 0, sizeof(*row));
	if (store_prepare_cached(c->st,
				 "SELECT confirmed, secret_nonce, secret_ct, last_step, failures, "
				 "failure_start, locked_until FROM mfa WHERE user_uuid = ?1",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == SECRET_NONCE_LEN &&
	    sqlite3_column_bytes(s, 2) == (int)sizeof(row->ct)) {
		row->found = 1;
		row->confirmed = sqlite3_column_int(s, 0);
		memcpy(row->nonce, sqlite3_column_blob(s, 1), SECRET_NONCE_LEN);
		memcpy(row->ct, sqlite3_column_blob(s, 2), sizeof(row->ct));
		row->last_step = sqlite3_column_int64(s, 3);
		row->failures = sqlite3_column_int64(s, 4);
		row->failure_start = sqlite3_column_int64(s, 5);
		row->locked_until = sqlite3_column_int64(s, 6);
	} else if (rc == SQLITE_ROW) {
		rc = SQLITE_CORRUPT;
	}
	store_release(c->st, s);
	if (rc == SQLITE_CORRUPT)
		return idg_seterr(err, "MFA enrolment of %s is malformed", uuid);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(c->st, err, "reading MFA state");
	return 0;
}

/* The enrolment and, with a state file, what logins wrote there since. */
static int
load_row(struct mfa_ctx *c, const char *uuid, struct mfa_row *row, struct idg_err *err)
{
	if (load_enrolment(c, uuid, row, err) != 0)
		return -1;
	return row->found && c->state != NULL ? load_state(c, uuid, row, err) : 0;
}

/* Runs a fixed statement with (uuid, a, b, c) bound as ?1..?4. */
static int
update(struct mfa_ctx *c, const char *sql, const char *uuid, int64_t a, int64_t b, int64_t d,
       struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(c->st, sql, &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, a);
	sqlite3_bind_int64(s, 3, b);
	sqlite3_bind_int64(s, 4, d);
	if (store_step_done(c->st, s, err) != 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* Writes what a login decided: into the state file, or the main store without one. */
static int
save_state(struct mfa_ctx *c, const char *uuid, int64_t last_step, int64_t failures,
	   int64_t failure_start, int64_t locked_until, struct idg_err *err)
{
	sqlite3_stmt *s;
	struct store *to = c->state != NULL ? c->state : c->st;
	int rc;

	if (store_prepare_cached(
		    to,
		    c->state != NULL
			    ? "INSERT INTO mfa_state (user_uuid, last_step, failures, "
			      "failure_start, locked_until) VALUES (?1, ?2, ?3, ?4, ?5) "
			      "ON CONFLICT (user_uuid) DO UPDATE SET last_step = ?2, "
			      "failures = ?3, failure_start = ?4, locked_until = ?5"
			    : "UPDATE mfa SET last_step = ?2, failures = ?3, failure_start = ?4, "
			      "locked_until = ?5 WHERE user_uuid = ?1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, last_step);
	sqlite3_bind_int64(s, 3, failures);
	sqlite3_bind_int64(s, 4, failure_start);
	sqlite3_bind_int64(s, 5, locked_until);
	rc = store_step_done(to, s, err);
	store_release(to, s);
	return rc;
}

static int
record_failure(struct mfa_ctx *c, const char *uid, const char *uuid, struct mfa_row *row,
	       int64_t now, struct idg_err *err)
{
	struct mfa_token_state in = {row->last_step, row->failures, row->failure_start,
				     row->locked_until},
			       next;
	int64_t locked = mfa_failure_next(c->cfg, &in, now, &next) ? now + c->cfg->mfa_lockout : 0;

	if (save_state(c, uuid, next.last_step, next.failures, next.failure_start,
		       next.locked_until, err) != 0)
		return -1;
	if (locked > 0) {
		char details[96];

		snprintf(details, sizeof(details), "{\"locked_until\":%lld,\"failures\":%d}",
			 (long long)locked, c->cfg->mfa_max_failures);
		if (c->log != NULL)
			log_msg(c->log, LOG_WARNING, "mfa: %s locked after %d failures", uid,
				c->cfg->mfa_max_failures);
		return audit_event(c, uid, "mfa.locked", details, err);
	}
	return 0;
}

int
mfa_secret_open(const struct secret_key *key, struct store *st, const char *uuid,
		const unsigned char nonce[SECRET_NONCE_LEN],
		const unsigned char ct[MFA_SECRET_LEN + SECRET_TAG_LEN], unsigned char *out,
		struct idg_err *err)
{
	const struct secret_key *k;
	char ad[MFA_BINDING_LEN];

	if (key == NULL)
		return idg_seterr(err, "the master key is not loaded; run idgov init");
	if (secret_key_for_store(key, st, &k, err) != 0)
		return -1;
	mfa_binding(uuid, ad);
	if (secret_open(k, ct, MFA_SECRET_LEN + SECRET_TAG_LEN, ad, nonce, out) != 0)
		return idg_seterr(err,
				  "the MFA secret of %s does not decrypt (wrong master key or "
				  "tampered store)",
				  uuid);
	return 0;
}

static int
decrypt_secret(struct mfa_ctx *c, const char *uuid, const struct mfa_row *row,
	       unsigned char **secret, struct idg_err *err)
{
	*secret = secmem_alloc(MFA_SECRET_LEN);
	if (*secret == NULL)
		return idg_seterr(err, "out of memory");
	if (mfa_secret_open(c->key, c->st, uuid, row->nonce, row->ct, *secret, err) != 0) {
		secmem_free(*secret);
		*secret = NULL;
		return -1;
	}
	return 0;
}

int
mfa_recovery_spent(struct store *state, const char *uuid, const char *id, const char *hash,
		   struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    state,
		    "SELECT 1 FROM mfa_recovery_used WHERE user_uuid = ?1 AND code_id = ?2 "
		    "AND hash = ?3",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	store_release(state, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state, err, "reading spent recovery codes");
	return rc == SQLITE_ROW;
}

/*
 * 1 if code is an unused recovery code of uuid (and marks it used), 2 if it
 * is one already spent, 0 if neither, -1 error.
 */
static int
use_recovery_code(struct mfa_ctx *c, const char *uuid, const char *code, int64_t now,
		  struct idg_err *err)
{
	char id[5], secret[9], hash[crypto_pwhash_STRBYTES];
	sqlite3_stmt *s;
	int rc, ok = 0, spent = 0;

	if (mfa_recovery_split(code, id, secret) != 0)
		return 0;
	if (store_prepare(c->st,
			  "SELECT hash, used_at IS NOT NULL FROM mfa_recovery WHERE user_uuid = ?1 "
			  "AND code_id = ?2",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		idg_strlcpy(hash, (const char *)sqlite3_column_text(s, 0), sizeof(hash));
		ok = crypto_pwhash_str_verify(hash, secret, strlen(secret)) == 0;
		spent = sqlite3_column_int(s, 1);
	}
	sqlite3_finalize(s);
	sodium_memzero(secret, sizeof(secret));
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(c->st, err, "reading recovery codes");
	if (!ok)
		return 0;
	if (!spent && c->state != NULL) {
		if ((spent = mfa_recovery_spent(c->state, uuid, id, hash, err)) < 0)
			return -1;
	}
	if (spent)
		return 2;
	if (c->state != NULL) {
		sqlite3_stmt *u;

		if (store_prepare(
			    c->state,
			    "INSERT INTO mfa_recovery_used (user_uuid, code_id, hash, used_at) "
			    "VALUES (?1, ?2, ?3, ?4)",
			    &u, err) != 0)
			return -1;
		sqlite3_bind_text(u, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(u, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(u, 3, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(u, 4, now);
		rc = store_step_done(c->state, u, err);
		sqlite3_finalize(u);
		return rc == 0 ? 1 : -1;
	}
	{
		sqlite3_stmt *u;

		if (store_prepare(c->st,
				  "UPDATE mfa_recovery SET used_at = ?3 WHERE user_uuid = ?1 AND "
				  "code_id = ?2",
				  &u, err) != 0)
			return -1;
		sqlite3_bind_text(u, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(u, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(u, 3, now);
		rc = store_step_done(c->st, u, err);
		sqlite3_finalize(u);
		return rc == 0 ? 1 : -1;
	}
}

/* Decides one attempt inside the transaction. */
static int
verify_locked_in(struct mfa_ctx *c, const char *uid, const char *uuid, const char *code,
		 int64_t now, enum mfa_outcome *out, struct idg_err *err)
{
	struct totp_params p;
	struct mfa_row row;
	unsigned char *secret = NULL;
	enum totp_result r;
	int64_t step = 0;
	int rc;

	if (load_row(c, uuid, &row, err) != 0)
		return -1;
	if (!row.found || !row.confirmed) {
		*out = MFA_NOT_ENROLLED;
		return 0;
	}
	if (row.locked_until > now) {
		*out = MFA_LOCKED;
		return 0;
	}
	rc = use_recovery_code(c, uuid, code, now, err);
	if (rc < 0)
		return -1;
	if (rc == 2) {
		/* The user's own mistake, or an old code found: said, logged, never counted. */
		*out = MFA_RECOVERY_REUSED;
		log_msg(c->log, LOG_WARNING, "mfa: a spent recovery code for %s", uid);
		return 0;
	}
	if (rc == 1) {
		*out = MFA_OK_RECOVERY;
		if (save_state(c, uuid, row.last_step, 0, row.failure_start, row.locked_until,
			       err) != 0)
			return -1;
		return audit_event(c, uid, "mfa.recovery_code_used", NULL, err);
	}
	if (decrypt_secret(c, uuid, &row, &secret, err) != 0)
		return -1;
	mfa_params(c->cfg, &p);
	r = totp_match(secret, MFA_SECRET_LEN, &p, now, row.last_step, code, &step);
	secmem_free(secret);
	if (r == TOTP_ERROR)
		return idg_seterr(err, "TOTP computation failed");
	if (r == TOTP_OK) {
		*out = MFA_OK;
		return save_state(c, uuid, step, 0, row.failure_start, row.locked_until, err);
	}
	if (r == TOTP_REPLAY) {
		/*
		 * A right code whose step is already used: the user typed it
		 * twice, or logged in twice within one step, or just enrolled
		 * with it. Counting it would let anyone who sees one code lock
		 * its owner out, so it is refused and said, not counted.
		 */
		*out = MFA_REPLAYED;
		log_msg(c->log, LOG_WARNING, "mfa: replayed code for %s (not counted)", uid);
		return 0;
	}
	*out = MFA_BAD_CODE;
	log_msg(c->log, LOG_WARNING, "mfa: %s code for %s",
		r == TOTP_MALFORMED ? "malformed" : "wrong", uid);
	return record_failure(c, uid, uuid, &row, now, err);
}

/* Commits (signing the audit head) or rolls back. */
static int
finish(struct mfa_ctx *c, int rc, struct idg_err *err)
{
	if (rc == 0 && c->audit != NULL)
		rc = audit_sign_head(c->audit, err);
	if (rc == 0)
		rc = store_commit(c->st, err);
	if (rc != 0)
		store_rollback(c->st);
	return rc;
}

/*
 * mfa_verify with a state file: the decision is one transaction on the
 * state file, which serialises parallel logins of a user; the main store
 * is only read. A record for the audit chain (a lock, a recovery code
 * used) is written after that commit: to the spool when the handle
 * spools (the auth service, whose store is read-only and whose logins
 * must never wait for a refresh's write lock), else in its own
 * transaction on the main store.
 */
static int
verify_with_state(struct mfa_ctx *c, const char *uid, const char *code, int64_t now,
		  enum mfa_outcome *out, struct idg_err *err)
{
	char uuid[UUID_BUF];
	int rc;

	if (store_begin(c->state, err) != 0)
		return -1;
	c->in_state_txn = 1;
	c->pending_action[0] = '\0';
	rc = find_user(c, uid, uuid, err);
	if (rc == 0)
		*out = MFA_UNKNOWN_USER;
	else if (rc == 1)
		rc = verify_locked_in(c, uid, uuid, code, now, out, err);
	c->in_state_txn = 0;
	if (rc < 0) {
		store_rollback(c->state);
		return -1;
	}
	if (store_commit(c->state, err) != 0) {
		store_rollback(c->state);
		return -1;
	}
	/*
	 * The state file commits without waiting for the disk (synchronous =
	 * NORMAL): a power cut may lose the last logins' watermarks, which
	 * only lets a code of those last seconds be taken again within its
	 * window. A spent recovery code or a lock must not come back, so
	 * that commit is synced before the login is told.
	 */
	if (c->pending_action[0] != '\0' && store_sync_wal(c->state, err) != 0)
		return -1;
	if (c->pending_action[0] == '\0' || c->audit == NULL)
		return 0;
	if (audit_spools(c->audit))
		return audit_append(c->audit, c->actor, uid, c->pending_action,
				    c->pending_details[0] != '\0' ? c->pending_details : NULL, err);
	if (store_begin(c->st, err) != 0)
		return -1;
	rc = audit_append(c->audit, c->actor, uid, c->pending_action,
			  c->pending_details[0] != '\0' ? c->pending_details : NULL, err);
	return finish(c, rc, err);
}

int
mfa_verify(struct mfa_ctx *c, const char *uid, const char *code, int64_t now, enum mfa_outcome *out,
	   struct idg_err *err)
{
	char uuid[UUID_BUF];
	int rc;

	if (c->state != NULL)
		return verify_with_state(c, uid, code, now, out, err);
	if (store_begin(c->st, err) != 0)
		return -1;
	rc = find_user(c, uid, uuid, err);
	if (rc == 0)
		*out = MFA_UNKNOWN_USER;
	else if (rc == 1)
		rc = verify_locked_in(c, uid, uuid, code, now, out, err);
	return finish(c, rc < 0 ? -1 : 0, err);
}

int
mfa_is_enrolled(struct mfa_ctx *c, const char *uid, struct idg_err *err)
{
	char uuid[UUID_BUF];
	struct mfa_row row;
	int rc = find_user(c, uid, uuid, err);

	if (rc <= 0)
		return rc;
	/* Enrolled or not is the main store's alone: the state file is not read for it. */
	if (load_enrolment(c, uuid, &row, err) != 0)
		return -1;
	return row.found && row.confirmed;
}

int
mfa_enroll_begin(struct mfa_ctx *c, const char *uid, char **uri, struct idg_err *err)
{
	unsigned char *secret = NULL;
	unsigned char nonce[SECRET_NONCE_LEN], ct[MFA_SECRET_LEN + SECRET_TAG_LEN];
	char uuid[UUID_BUF], ad[96];
	const struct secret_key *k;
	struct totp_params p;
	struct mfa_row row;
	sqlite3_stmt *s = NULL;
	int rc = -1;

	*uri = NULL;
	rc = begin_for_user(c, uid, uuid, err);
	if (rc == -2)
		return -1;
	if (rc != 0 || load_row(c, uuid, &row, err) != 0) {
		rc = -1;
		goto out;
	}
	rc = -1;
	if (row.found && row.confirmed) {
		idg_seterr(err, "%s is already enrolled; an admin must reset it first", uid);
		goto out;
	}
	/* Sealed under the key the store names, read in this transaction (rotate.h). */
	if (secret_key_for_store(c->key, c->st, &k, err) != 0)
		goto out;
	secret = secmem_alloc(MFA_SECRET_LEN);
	if (secret == NULL)
		goto out;
	randombytes_buf(secret, MFA_SECRET_LEN);
	mfa_binding(uuid, ad);
	secret_seal(k, secret, MFA_SECRET_LEN, ad, nonce, ct);
	if (store_prepare(
		    c->st,
		    "INSERT OR REPLACE INTO mfa (user_uuid, secret_nonce, secret_ct, confirmed, "
		    "created_at) VALUES (?1, ?2, ?3, 0, ?4)",
		    &s, err) != 0)
		goto out;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, ct, sizeof(ct), SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, idg_now());
	if (store_step_done(c->st, s, err) != 0)
		goto out;
	mfa_params(c->cfg, &p);
	*uri = totp_uri(secret, MFA_SECRET_LEN, &p, c->cfg->mfa_issuer, uid);
	if (*uri == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	rc = audit_event(c, uid, "mfa.enroll_started", NULL, err);
out:
	sqlite3_finalize(s);
	if (secret != NULL)
		secmem_free(secret);
	rc = finish(c, rc, err);
	if (rc != 0 && *uri != NULL) {
		sodium_memzero(*uri, strlen(*uri));
		free(*uri);
		*uri = NULL;
	}
	return rc;
}

int
mfa_recovery_make(char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN],
		  char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN], struct idg_err *err)
{
	char hash[crypto_pwhash_STRBYTES], id[5], secret[9];
	int rc = 0;

	for (int i = 0; i < MFA_RECOVERY_CODES; i++) {
		int again;

		/* Ids are unique within a set: a code is found by its id. */
		do {
			for (int j = 0; j < MFA_RECOVERY_LEN - 1; j++)
				codes[i][j] = (j == 4 || j == 9)
						      ? '-'
						      : recovery_alphabet[randombytes_uniform(32)];
			codes[i][MFA_RECOVERY_LEN - 1] = '\0';
			again = 0;
			for (int k = 0; k < i; k++)
				again |= memcmp(codes[i], codes[k], 4) == 0;
		} while (again);
		mfa_recovery_split(codes[i], id, secret);
		if (crypto_pwhash_str(hash, secret, strlen(secret),
				      crypto_pwhash_OPSLIMIT_INTERACTIVE,
				      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
			rc = idg_seterr(err, "out of memory hashing recovery codes");
			break;
		}
		snprintf(values[i], MFA_RECOVERY_VALUE_LEN, "%s:%s", id, hash);
	}
	sodium_memzero(secret, sizeof(secret));
	if (rc != 0)
		sodium_memzero(codes, (size_t)MFA_RECOVERY_CODES * MFA_RECOVERY_LEN);
	return rc;
}

/* Inside a transaction: replaces the recovery codes of uuid. */
static int
store_recovery_codes(struct mfa_ctx *c, const char *uuid,
		     char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], struct idg_err *err)
{
	char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN];
	sqlite3_stmt *s = NULL;
	int rc = 0;

	if (update(c, "DELETE FROM mfa_recovery WHERE user_uuid = ?1", uuid, 0, 0, 0, err) != 0 ||
	    mfa_recovery_make(codes, values, err) != 0)
		return -1;
	if (store_prepare(c->st,
			  "INSERT INTO mfa_recovery (user_uuid, code_id, hash) VALUES (?1, ?2, ?3)",
			  &s, err) != 0)
		rc = -1;
	for (int i = 0; rc == 0 && i < MFA_RECOVERY_CODES; i++) {
		sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, values[i], 4, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, values[i] + 5, -1, SQLITE_STATIC);
		rc = store_step_done(c->st, s, err);
	}
	sqlite3_finalize(s);
	if (rc != 0)
		sodium_memzero(codes, (size_t)MFA_RECOVERY_CODES * MFA_RECOVERY_LEN);
	return rc;
}

int
mfa_enroll_confirm(struct mfa_ctx *c, const char *uid, const char *code, int64_t now,
		   char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], struct idg_err *err)
{
	char uuid[UUID_BUF];
	unsigned char *secret = NULL;
	struct totp_params p;
	struct mfa_row row;
	enum totp_result r;
	int64_t step = 0;
	int rc;

	rc = begin_for_user(c, uid, uuid, err);
	if (rc == -2)
		return -1;
	if (rc != 0 || load_row(c, uuid, &row, err) != 0)
		return finish(c, -1, err);
	if (!row.found || row.confirmed)
		return finish(c,
			      idg_seterr(err, "%s has no enrolment waiting for confirmation", uid),
			      err);
	if (decrypt_secret(c, uuid, &row, &secret, err) != 0)
		return finish(c, -1, err);
	mfa_params(c->cfg, &p);
	r = totp_match(secret, MFA_SECRET_LEN, &p, now, 0, code, &step);
	secmem_free(secret);
	if (r != TOTP_OK)
		return finish(c,
			      idg_seterr(err, "the code does not match; check the app's clock "
					      "and try the next code"),
			      err);
	rc = update(c,
		    "UPDATE mfa SET confirmed = 1, confirmed_at = ?2, last_step = ?3 "
		    "WHERE user_uuid = ?1",
		    uuid, now, step, 0, err);
	if (rc == 0)
		rc = store_recovery_codes(c, uuid, codes, err);
	if (rc == 0)
		rc = audit_event(c, uid, "mfa.enrolled", NULL, err);
	return finish(c, rc, err);
}

int
mfa_new_recovery_codes(struct mfa_ctx *c, const char *uid,
		       char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], struct idg_err *err)
{
	char uuid[UUID_BUF];
	int rc;

	if (store_begin(c->st, err) != 0)
		return -1;
	rc = mfa_is_enrolled(c, uid, err);
	if (rc == 0)
		rc = idg_seterr(err, "%s is not enrolled", uid);
	else if (rc == 1 && find_user(c, uid, uuid, err) == 1)
		rc = store_recovery_codes(c, uuid, codes, err);
	if (rc == 0)
		rc = audit_event(c, uid, "mfa.recovery_codes_replaced", NULL, err);
	return finish(c, rc, err);
}

/* Runs sql on uid's enrolment, audited as action; fails if there is none. */
static int
change_enrolment(struct mfa_ctx *c, const char *uid, const char *sql, const char *action,
		 struct idg_err *err)
{
	char uuid[UUID_BUF];
	int rc;

	rc = begin_for_user(c, uid, uuid, err);
	if (rc == -2)
		return -1;
	if (rc == 0 && (rc = update(c, sql, uuid, 0, 0, 0, err)) == 0 &&
	    sqlite3_changes(c->st->db) == 0)
		rc = idg_seterr(err, "%s has no MFA enrolment", uid);
	if (rc == 0)
		rc = audit_event(c, uid, action, NULL, err);
	return finish(c, rc, err);
}

/*
 * Runs sql on uid's row of the state file, when there is one. Done
 * first: a failure here changes nothing in the main store, and a
 * cleared lock or count with the main store's change then failing is
 * what the admin asked for anyway.
 */
static int
change_state(struct mfa_ctx *c, const char *uid, const char *sql, struct idg_err *err)
{
	char uuid[UUID_BUF];
	sqlite3_stmt *s;
	int rc;

	if (c->state == NULL)
		return 0;
	rc = find_user(c, uid, uuid, err);
	if (rc <= 0)
		return rc == 0 ? idg_seterr(err, "no user named '%s' in the directory", uid) : -1;
	if (store_prepare(c->state, sql, &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = store_step_done(c->state, s, err);
	sqlite3_finalize(s);
	return rc;
}

int
mfa_reset(struct mfa_ctx *c, const char *uid, struct idg_err *err)
{
	if (change_state(c, uid, "DELETE FROM mfa_state WHERE user_uuid = ?1", err) != 0)
		return -1;
	return change_enrolment(c, uid, "DELETE FROM mfa WHERE user_uuid = ?1", "mfa.reset", err);
}

int
mfa_unlock(struct mfa_ctx *c, const char *uid, struct idg_err *err)
{
	if (change_state(c, uid,
			 "UPDATE mfa_state SET locked_until = 0, failures = 0 WHERE user_uuid = ?1",
			 err) != 0)
		return -1;
	return change_enrolment(
		c, uid, "UPDATE mfa SET locked_until = 0, failures = 0 WHERE user_uuid = ?1",
		"mfa.unlocked", err);
}

json_t *
mfa_status(struct mfa_ctx *c, const char *uid, int64_t now, struct idg_err *err)
{
	char uuid[UUID_BUF];
	struct mfa_row row;
	sqlite3_stmt *s;
	int64_t left = 0;
	int rc = find_user(c, uid, uuid, err);

	if (rc == 0)
		idg_seterr(err, "no user named '%s'", uid);
	if (rc != 1 || load_row(c, uuid, &row, err) != 0)
		return NULL;
	/* Unused in the store, and (with a state file) not spent there either. */
	if (store_prepare(c->st,
			  "SELECT code_id, hash FROM mfa_recovery WHERE user_uuid = ?1 AND "
			  "used_at IS NULL",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int spent =
			c->state == NULL
				? 0
				: mfa_recovery_spent(c->state, uuid,
						     (const char *)sqlite3_column_text(s, 0),
						     (const char *)sqlite3_column_text(s, 1), err);

		if (spent < 0)
			break;
		left += spent == 0;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_ROW)
			store_err(c->st, err, "reading recovery codes");
		return NULL;
	}
	return json_pack("{s:s, s:b, s:b, s:b, s:I, s:I, s:I}", "user", uid, "enrolled",
			 row.found && row.confirmed, "pending", row.found && !row.confirmed,
			 "locked", row.locked_until > now, "locked_until",
			 (json_int_t)row.locked_until, "recent_failures", (json_int_t)row.failures,
			 "recovery_codes_left", (json_int_t)left);
}

/* One enrolment read before it is re-sealed. */
struct sealed {
	char uuid[UUID_BUF];
	unsigned char nonce[SECRET_NONCE_LEN];
	unsigned char ct[MFA_SECRET_LEN + SECRET_TAG_LEN];
};

static int
reseal_one(struct store *st, const struct sealed *r, const struct secret_key *from,
	   const struct secret_key *to, unsigned char *plain, struct idg_err *err)
{
	unsigned char nonce[SECRET_NONCE_LEN], ct[MFA_SECRET_LEN + SECRET_TAG_LEN];
	sqlite3_stmt *s;
	char ad[MFA_BINDING_LEN];
	int rc;

	mfa_binding(r->uuid, ad);
	if (secret_open(from, r->ct, sizeof(r->ct), ad, r->nonce, plain) != 0)
		return idg_seterr(err,
				  "MFA secret of %s does not decrypt under master key %s: "
				  "nothing was rotated",
				  r->uuid, secret_key_id(from));
	secret_seal(to, plain, MFA_SECRET_LEN, ad, nonce, ct);
	sodium_memzero(plain, MFA_SECRET_LEN);
	if (store_prepare(st,
			  "UPDATE mfa SET secret_nonce = ?2, secret_ct = ?3 WHERE user_uuid = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, r->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, ct, sizeof(ct), SQLITE_STATIC);
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

int
mfa_reseal(void *arg, struct store *st, const struct secret_key *from, const struct secret_key *to,
	   size_t *count, struct idg_err *err)
{
	struct sealed *rows = NULL, *grown;
	size_t n = 0, cap = 0;
	unsigned char *plain = NULL;
	sqlite3_stmt *s;
	int rc = -1, step;

	(void)arg;
	*count = 0;
	/* Read first, then write: no cursor stays open on the table being updated. */
	if (store_prepare(st, "SELECT user_uuid, secret_nonce, secret_ct FROM mfa", &s, err) != 0)
		return -1;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 1) != SECRET_NONCE_LEN ||
		    sqlite3_column_bytes(s, 2) != (int)sizeof(rows->ct)) {
			idg_seterr(err, "MFA secret of %s is damaged: nothing was rotated",
				   (const char *)sqlite3_column_text(s, 0));
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(rows, cap * sizeof(*rows));
			if (grown == NULL) {
				idg_seterr(err, "out of memory");
				goto out;
			}
			rows = grown;
		}
		idg_strlcpy(rows[n].uuid, (const char *)sqlite3_column_text(s, 0), UUID_BUF);
		memcpy(rows[n].nonce, sqlite3_column_blob(s, 1), SECRET_NONCE_LEN);
		memcpy(rows[n].ct, sqlite3_column_blob(s, 2), sizeof(rows->ct));
		n++;
	}
	if (step != SQLITE_DONE) {
		store_err(st, err, "reading MFA secrets");
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	if ((plain = secmem_alloc(MFA_SECRET_LEN)) == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (reseal_one(st, &rows[i], from, to, plain, err) != 0)
			goto out;
	*count = n;
	rc = 0;
out:
	if (s != NULL)
		sqlite3_finalize(s);
	if (plain != NULL)
		secmem_free(plain);
	free(rows);
	return rc;
}
