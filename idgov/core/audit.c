/* The audit chain: append, sign, verify. See audit.h for the construction. */
#include "audit.h"

#include "audit_keys.h"
#include "keys.h"
#include "spool.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sign_domain[] = "idgov-audit-head-v1";

static void
put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static unsigned char *
put_text(unsigned char *p, const char *s, size_t n)
{
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return p + 4 + n;
}

static void
hash_text(crypto_generichash_state *h, const char *s, size_t n)
{
	unsigned char len[4];

	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	crypto_generichash_update(h, len, sizeof(len));
	crypto_generichash_update(h, (const unsigned char *)s, n);
}

/*
 * BLAKE2b-256 of prev | seq | time | (32-bit length | text) for actor,
 * subject, action and details. A record of up to 4 KiB (nearly all: the
 * first three fields are at most AUDIT_FIELD_MAX bytes) is laid out in one
 * stack buffer and hashed in one call, since a verification hashes a
 * million of them and ten small updates each cost more than the hashing;
 * a longer one is hashed piece by piece, with the same result.
 */
void
audit_record_hash(const unsigned char prev[AUDIT_HASH_LEN], int64_t seq, int64_t time,
		  const char *actor, const char *subject, const char *action, const char *details,
		  unsigned char out[AUDIT_HASH_LEN])
{
	const char *f[4] = {actor, subject, action, details};
	size_t n[4], total = AUDIT_HASH_LEN + 8 + 8;
	unsigned char buf[4096], *p = buf;
	crypto_generichash_state h;
	unsigned char num[8];

	for (int i = 0; i < 4; i++) {
		n[i] = strlen(f[i]);
		total += 4 + n[i];
	}
	if (total <= sizeof(buf)) {
		memcpy(p, prev, AUDIT_HASH_LEN);
		put_be64(p + AUDIT_HASH_LEN, (uint64_t)seq);
		put_be64(p + AUDIT_HASH_LEN + 8, (uint64_t)time);
		p += AUDIT_HASH_LEN + 16;
		for (int i = 0; i < 4; i++)
			p = put_text(p, f[i], n[i]);
		crypto_generichash(out, AUDIT_HASH_LEN, buf, total, NULL, 0);
		return;
	}
	crypto_generichash_init(&h, NULL, 0, AUDIT_HASH_LEN);
	crypto_generichash_update(&h, prev, AUDIT_HASH_LEN);
	put_be64(num, (uint64_t)seq);
	crypto_generichash_update(&h, num, sizeof(num));
	put_be64(num, (uint64_t)time);
	crypto_generichash_update(&h, num, sizeof(num));
	for (int i = 0; i < 4; i++)
		hash_text(&h, f[i], n[i]);
	crypto_generichash_final(&h, out, AUDIT_HASH_LEN);
}

static void
head_message(int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
	     unsigned char msg[sizeof(sign_domain) - 1 + 8 + AUDIT_HASH_LEN])
{
	memcpy(msg, sign_domain, sizeof(sign_domain) - 1);
	put_be64(msg + sizeof(sign_domain) - 1, (uint64_t)seq);
	memcpy(msg + sizeof(sign_domain) - 1 + 8, hash, AUDIT_HASH_LEN);
}
#define HEAD_MSG_LEN (sizeof(sign_domain) - 1 + 8 + AUDIT_HASH_LEN)

/* A record audit_record() keeps while the handle is held (audit_hold()). */
struct audit_held {
	struct audit_held *next;
	char *actor, *subject, *action, *details;
};

static void
held_free(struct audit_held *h)
{
	free(h->actor);
	free(h->subject);
	free(h->action);
	free(h->details);
	free(h);
}

static void after_commit(void *arg);
static void log_committed(struct audit *a);

int
audit_open(struct store *st, const char *secret_key_path, const char *anchor_path, int sign_every,
	   struct logger *log, struct audit **out, struct idg_err *err)
{
	struct audit *a;

	*out = NULL;
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return idg_seterr(err, "out of memory");
	a->st = st;
	a->log = log;
	a->sign_every = sign_every > 0 ? sign_every : 1000;
	if (secret_key_path != NULL) {
		unsigned char pk[crypto_sign_PUBLICKEYBYTES];

		if (keys_load_audit_secret(secret_key_path, &a->secret, err) != 0)
			goto fail;
		if ((a->secret_path = strdup(secret_key_path)) == NULL) {
			idg_seterr(err, "out of memory");
			goto fail;
		}
		crypto_sign_ed25519_sk_to_pk(pk, a->secret);
		audit_key_id(pk, a->key_id);
	}
	if (store_prepare(st, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
			  &a->head_stmt, err) != 0 ||
	    store_prepare(st,
			  "INSERT INTO audit (seq, time, actor, subject, action, details, hash) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?)",
			  &a->insert_stmt, err) != 0 ||
	    store_prepare(st,
			  "INSERT OR IGNORE INTO audit_signatures (seq, hash, signature, time) "
			  "VALUES (?, ?, ?, ?)",
			  &a->sign_stmt, err) != 0 ||
	    store_prepare(st, "SELECT 1 FROM audit_signatures WHERE seq = ?", &a->signed_stmt,
			  err) != 0 ||
	    store_prepare(st, "SELECT key_id FROM key_ids WHERE name = 'audit'", &a->key_id_stmt,
			  err) != 0)
		goto fail;
	if (anchor_path != NULL && (a->anchor_path = strdup(anchor_path)) == NULL) {
		idg_seterr(err, "out of memory");
		goto fail;
	}
	if (a->secret != NULL || log != NULL)
		store_set_after_commit(st, after_commit, a);
	*out = a;
	return 0;
fail:
	audit_close(a);
	return -1;
}

int
audit_spools(const struct audit *a)
{
	return a != NULL && a->spool_dir != NULL;
}

int
audit_open_spool(const char *spool_dir, struct logger *log, struct audit **out, struct idg_err *err)
{
	struct audit *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->spool_dir = strdup(spool_dir)) == NULL) {
		free(a);
		return idg_seterr(err, "out of memory");
	}
	a->log = log;
	*out = a;
	return 0;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	free(a->spool_dir);
	if (a->st != NULL && a->st->after_commit_arg == a)
		store_set_after_commit(a->st, NULL, NULL);
	free(a->anchor_path);
	free(a->secret_path);
	sqlite3_finalize(a->key_id_stmt);
	sqlite3_finalize(a->head_stmt);
	sqlite3_finalize(a->insert_stmt);
	sqlite3_finalize(a->sign_stmt);
	sqlite3_finalize(a->signed_stmt);
	keys_free_secret(a->secret);
	for (struct audit_held *h = a->held, *next; h != NULL; h = next) {
		next = h->next;
		held_free(h);
	}
	free(a);
}

/* Reads the newest record. seq 0 and a zero hash stand for the empty chain. */
static int
read_head(struct audit *a, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], struct idg_err *err)
{
	int rc = sqlite3_step(a->head_stmt);

	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(a->head_stmt, 0);
		if (sqlite3_column_bytes(a->head_stmt, 1) != AUDIT_HASH_LEN) {
			sqlite3_reset(a->head_stmt);
			return idg_seterr(err, "audit record %lld has a malformed hash",
					  (long long)*seq);
		}
		memcpy(hash, sqlite3_column_blob(a->head_stmt, 1), AUDIT_HASH_LEN);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(a->head_stmt);
	return rc == SQLITE_DONE ? 0 : store_err(a->st, err, "reading audit head");
}

static int
read_store_key_id(struct store *st, sqlite3_stmt *s, char id[AUDIT_KEY_ID_LEN], struct idg_err *err)
{
	int rc = sqlite3_step(s), named = 0;

	id[0] = '\0';
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);

		idg_strlcpy(id, v != NULL ? v : "", AUDIT_KEY_ID_LEN);
		named = 1;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? named : store_err(st, err, "reading the audit key id");
}

int
audit_store_key_id(struct store *st, char id[AUDIT_KEY_ID_LEN], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT key_id FROM key_ids WHERE name = 'audit'", &s, err) != 0)
		return -1;
	rc = read_store_key_id(st, s, id, err);
	sqlite3_finalize(s);
	return rc;
}

static int read_signed_head(struct store *st, struct anchor_head *h, struct idg_err *err);

/* 1 if pk verifies the store's newest signed head (or nothing is signed), 0 if not, -1 (err). */
static int
signs_newest_head(struct audit *a, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		  struct idg_err *err)
{
	unsigned char msg[HEAD_MSG_LEN];
	struct anchor_head h;

	if (read_signed_head(a->st, &h, err) != 0)
		return -1;
	if (h.seq == 0)
		return 1;
	head_message(h.seq, h.hash, msg);
	return crypto_sign_verify_detached(h.sig, msg, sizeof(msg), pk) == 0;
}

/*
 * Makes a->secret the key the store names, inside the transaction that
 * signs: a rotation by another process commits its record and the new
 * id together, so a handle opened before it loads the new key here
 * (KEY, or KEY.new until the files are swapped) instead of signing a
 * head after the rotation with the key it replaced. A store that names
 * no key was never rotated: its key is the one that signed its newest
 * head, which after a rotation on this host (a store restored from a
 * backup made before it) is KEY.old, not KEY.
 */
static int
use_current_key(struct audit *a, struct idg_err *err)
{
	static const char *const suffixes[] = {"", ".new", ".old"};
	char id[AUDIT_KEY_ID_LEN], path[PATH_MAX];
	int named = read_store_key_id(a->st, a->key_id_stmt, id, err), v;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];

	if (named < 0)
		return -1;
	if (named == 1 && strcmp(id, a->key_id) == 0)
		return 0;
	if (named == 0) {
		if (a->key_checked)
			return 0;
		crypto_sign_ed25519_sk_to_pk(pk, a->secret);
		if ((v = signs_newest_head(a, pk, err)) < 0)
			return -1;
		if (v == 1) {
			a->key_checked = 1;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char found[AUDIT_KEY_ID_LEN];
		struct idg_err ignored;
		unsigned char *sk;
		int match;

		if ((size_t)snprintf(path, sizeof(path), "%s%s", a->secret_path, suffixes[i]) >=
			    sizeof(path) ||
		    keys_load_audit_secret(path, &sk, &ignored) != 0)
			continue;
		crypto_sign_ed25519_sk_to_pk(pk, sk);
		audit_key_id(pk, found);
		match = named == 1 ? strcmp(found, id) == 0
				   : signs_newest_head(a, pk, &ignored) == 1;
		if (match) {
			a->key_checked = named == 0;
			idg_strlcpy(id, found, sizeof(id));
			keys_free_secret(a->secret);
			a->secret = sk;
			idg_strlcpy(a->key_id, id, sizeof(a->key_id));
			return 0;
		}
		keys_free_secret(sk);
	}
	if (named == 0)
		return idg_seterr(
			err,
			"the store's newest audit head is signed by a key none of %s, %s.new, "
			"%s.old holds (a store restored from before an audit key rotation "
			"whose old key was destroyed?): refusing to sign with key %s",
			a->secret_path, a->secret_path, a->secret_path, a->key_id);
	return idg_seterr(err,
			  "the store's audit chain is signed by key %s now, which none of %s, "
			  "%s.new, %s.old holds: refusing to sign with key %s",
			  id, a->secret_path, a->secret_path, a->secret_path, a->key_id);
}

static int
sign(struct audit *a, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], struct idg_err *err)
{
	unsigned char msg[HEAD_MSG_LEN], sig[crypto_sign_BYTES];

	if (a->secret == NULL)
		return idg_seterr(err, "audit signing key not loaded");
	if (use_current_key(a, err) != 0)
		return -1;
	head_message(seq, hash, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), a->secret);
	sqlite3_bind_int64(a->sign_stmt, 1, seq);
	sqlite3_bind_blob(a->sign_stmt, 2, hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(a->sign_stmt, 3, sig, sizeof(sig), SQLITE_STATIC);
	sqlite3_bind_int64(a->sign_stmt, 4, idg_now());
	if (store_step_done(a->st, a->sign_stmt, err) != 0)
		return -1;
	/* Sent out after the commit, when the head is in the store for good. */
	if (a->signed_from == 0 || seq < a->signed_from)
		a->signed_from = seq;
	return 0;
}

/* Reads the newest signed head; seq 0 (zero hash and signature) when nothing is signed. */
static int
read_signed_head(struct store *st, struct anchor_head *h, struct idg_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(h, 0, sizeof(*h));
	if (store_prepare(st,
			  "SELECT seq, hash, signature FROM audit_signatures "
			  "ORDER BY seq DESC LIMIT 1",
			  &stmt, err) != 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(stmt, 1) == AUDIT_HASH_LEN &&
	    sqlite3_column_bytes(stmt, 2) == crypto_sign_BYTES) {
		h->seq = sqlite3_column_int64(stmt, 0);
		memcpy(h->hash, sqlite3_column_blob(stmt, 1), AUDIT_HASH_LEN);
		memcpy(h->sig, sqlite3_column_blob(stmt, 2), crypto_sign_BYTES);
	} else if (rc == SQLITE_ROW) {
		long long bad = sqlite3_column_int64(stmt, 0);

		sqlite3_finalize(stmt);
		return idg_seterr(err, "audit signature %lld is malformed", bad);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading audit signatures");
	return 0;
}

/* The newest seq in the store and the hash at seq (*found: 0 if there is no record seq). */
static int
store_hash_at(struct store *st, int64_t seq, unsigned char hash[AUDIT_HASH_LEN], int *found,
	      int64_t *newest, struct idg_err *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*found = 0;
	if (store_prepare(st,
			  "SELECT (SELECT coalesce(max(seq), 0) FROM audit), "
			  "(SELECT hash FROM audit WHERE seq = ?)",
			  &stmt, err) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, seq);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*newest = sqlite3_column_int64(stmt, 0);
		if (sqlite3_column_bytes(stmt, 1) == AUDIT_HASH_LEN) {
			memcpy(hash, sqlite3_column_blob(stmt, 1), AUDIT_HASH_LEN);
			*found = 1;
		}
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading the audit chain");
}

/*
 * Run under the anchor's lock before it is raised: the store must still
 * hold the anchored head, or the chain was cut (or restored from a backup)
 * and raising the anchor over the gap would hide it.
 */
int
audit_holds_head(struct store *st, const struct anchor_head *h, struct idg_err *err)
{
	unsigned char hash[AUDIT_HASH_LEN];
	int64_t newest = 0;
	int found;

	if (h->seq == 0)
		return 0;
	if (store_hash_at(st, h->seq, hash, &found, &newest, err) != 0)
		return -1;
	if (!found)
		return idg_seterr(err,
				  "the store's head %lld is below the anchor's %lld: records "
				  "%lld..%lld are missing; the anchor is kept",
				  (long long)newest, (long long)h->seq, (long long)newest + 1,
				  (long long)h->seq);
	if (sodium_memcmp(hash, h->hash, AUDIT_HASH_LEN) != 0)
		return idg_seterr(err,
				  "the store's record %lld is not the anchored head (the chain was "
				  "cut and rewritten); the anchor is kept",
				  (long long)h->seq);
	return 0;
}

static int
anchor_still_held(void *arg, const struct anchor_head *cur, struct idg_err *err)
{
	struct audit *a = arg;

	return audit_holds_head(a->st, cur, err);
}

/* Raises the anchor to h; a failure is logged, never fatal: the commit has happened. */
static void
raise_anchor(struct audit *a, const struct anchor_head *h)
{
	enum anchor_status status;
	struct idg_err err;
	int moved;

	if (anchor_advance(a->anchor_path, h, anchor_still_held, a, &status, &moved, &err) != 0) {
		log_msg(a->log, LOG_ALERT, "audit anchor %s: %s", a->anchor_path, err.msg);
		return;
	}
	if (status == ANCHOR_MISSING && !a->anchor_warned) {
		a->anchor_warned = 1;
		log_msg(a->log, LOG_WARNING,
			"audit anchor %s is missing: the chain's head is not anchored (run 'idgov "
			"init', or 'idgov audit anchor --reset' after a restore)",
			a->anchor_path);
	}
}

/*
 * After a commit: every head signed in it goes to syslog, and the newest
 * raises the anchor. Heads are read back from the store, so a head signed
 * in a transaction that was rolled back is never sent.
 */
static void
after_commit(void *arg)
{
	struct audit *a = arg;
	struct anchor_head h, newest = {0};
	char line[ANCHOR_HEAD_LINE_MAX];
	struct idg_err err;
	sqlite3_stmt *stmt;
	int rc;

	log_committed(a);
	if (a->signed_from == 0)
		return;
	if (store_prepare_cached(a->st,
				 "SELECT seq, hash, signature FROM audit_signatures WHERE seq >= ? "
				 "ORDER BY seq",
				 &stmt, &err) != 0) {
		log_msg(a->log, LOG_ERR, "audit head: %s", err.msg);
		return;
	}
	sqlite3_bind_int64(stmt, 1, a->signed_from);
	a->signed_from = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(stmt, 1) != AUDIT_HASH_LEN ||
		    sqlite3_column_bytes(stmt, 2) != crypto_sign_BYTES)
			continue;
		h.seq = sqlite3_column_int64(stmt, 0);
		memcpy(h.hash, sqlite3_column_blob(stmt, 1), AUDIT_HASH_LEN);
		memcpy(h.sig, sqlite3_column_blob(stmt, 2), crypto_sign_BYTES);
		anchor_head_line(&h, line);
		log_msg(a->log, LOG_NOTICE, "audit head %s", line);
		newest = h;
	}
	if (rc != SQLITE_DONE)
		log_msg(a->log, LOG_ERR, "audit head: reading signatures: %s",
			sqlite3_errmsg(a->st->db));
	store_release(a->st, stmt);
	if (newest.seq > 0 && a->anchor_path != NULL && !a->anchor_held)
		raise_anchor(a, &newest);
	if (newest.seq > 0 && a->on_head != NULL)
		a->on_head(a->on_head_arg, &newest);
}

void
audit_on_head(struct audit *a, void (*fn)(void *arg, const struct anchor_head *h), void *arg)
{
	a->on_head = fn;
	a->on_head_arg = arg;
}

int
audit_anchor_create(struct audit *a, struct idg_err *err)
{
	struct anchor_head h;

	if (a->anchor_path == NULL)
		return idg_seterr(err, "no audit anchor configured");
	if (read_signed_head(a->st, &h, err) != 0)
		return -1;
	return anchor_create(a->anchor_path, &h, err);
}

/*
 * A record's text field as it is stored: one line, control characters made
 * visible, at most AUDIT_FIELD_MAX bytes with "..." where it was cut.
 */
static const char *
record_field(const char *in, char out[AUDIT_FIELD_MAX + 1])
{
	if (idg_strvis(out, AUDIT_FIELD_MAX + 1 - 3, in) != 0)
		memcpy(out + strlen(out), "...", 4);
	return out;
}

/*
 * Remembers that seq (chained on prev, hashed hash) waits for syslog. A
 * record that does not follow the last one waiting (another transaction
 * was rolled back, or another process appended in between) starts the
 * list again: what was rolled back never reaches the log.
 */
static void
note_for_log(struct audit *a, int64_t seq, const unsigned char prev[AUDIT_HASH_LEN],
	     const unsigned char hash[AUDIT_HASH_LEN])
{
	if (a->log == NULL)
		return;
	if (a->log_from == 0 || seq != a->log_to + 1 ||
	    sodium_memcmp(prev, a->log_hash, AUDIT_HASH_LEN) != 0)
		a->log_from = seq;
	a->log_to = seq;
	memcpy(a->log_hash, hash, AUDIT_HASH_LEN);
}

/* After a commit: the records this handle appended in it, read back, to syslog. */
static void
log_committed(struct audit *a)
{
	sqlite3_stmt *stmt;
	struct idg_err err;
	int rc;

	if (a->log == NULL || a->log_from == 0)
		return;
	if (store_prepare_cached(
		    a->st,
		    "SELECT seq, action, actor, subject, details FROM audit WHERE seq BETWEEN "
		    "?1 AND ?2 ORDER BY seq",
		    &stmt, &err) != 0) {
		log_msg(a->log, LOG_ERR, "audit: cannot read records for the log: %s", err.msg);
		return;
	}
	sqlite3_bind_int64(stmt, 1, a->log_from);
	sqlite3_bind_int64(stmt, 2, a->log_to);
	a->log_from = a->log_to = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		log_msg(a->log, LOG_NOTICE, "audit #%lld: %s by %s on %s %s",
			(long long)sqlite3_column_int64(stmt, 0),
			(const char *)sqlite3_column_text(stmt, 1),
			(const char *)sqlite3_column_text(stmt, 2),
			(const char *)sqlite3_column_text(stmt, 3),
			(const char *)sqlite3_column_text(stmt, 4));
	if (rc != SQLITE_DONE)
		log_msg(a->log, LOG_ERR, "audit: reading records for the log: %s",
			sqlite3_errmsg(a->st->db));
	store_release(a->st, stmt);
}

int
audit_append(struct audit *a, const char *actor, const char *subject, const char *action,
	     const char *details, struct idg_err *err)
{
	unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char actor_buf[AUDIT_FIELD_MAX + 1], subject_buf[AUDIT_FIELD_MAX + 1];
	char action_buf[AUDIT_FIELD_MAX + 1];
	int64_t seq, now = idg_now();

	if (a->spool_dir != NULL)
		return spool_write(a->spool_dir, actor, subject, action, details, err);
	if (details == NULL)
		details = "{}";
	actor = record_field(actor, actor_buf);
	subject = record_field(subject, subject_buf);
	action = record_field(action, action_buf);
	if (read_head(a, &seq, prev, err) != 0)
		return -1;
	seq++;
	audit_record_hash(prev, seq, now, actor, subject, action, details, hash);
	sqlite3_bind_int64(a->insert_stmt, 1, seq);
	sqlite3_bind_int64(a->insert_stmt, 2, now);
	sqlite3_bind_text(a->insert_stmt, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->insert_stmt, 4, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->insert_stmt, 5, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->insert_stmt, 6, details, -1, SQLITE_STATIC);
	sqlite3_bind_blob(a->insert_stmt, 7, hash, sizeof(hash), SQLITE_STATIC);
	if (store_step_done(a->st, a->insert_stmt, err) != 0)
		return -1;
	a->appended++;
	note_for_log(a, seq, prev, hash);
	if (seq % a->sign_every == 0 && a->secret != NULL)
		return sign(a, seq, hash, err);
	return 0;
}

int
audit_sign_head(struct audit *a, struct idg_err *err)
{
	unsigned char hash[AUDIT_HASH_LEN];
	int64_t seq;

	int rc;

	if (a->spool_dir != NULL)
		return 0; /* idgovd signs what it ingests */
	if (read_head(a, &seq, hash, err) != 0)
		return -1;
	if (seq == 0)
		return 0;
	sqlite3_bind_int64(a->signed_stmt, 1, seq);
	rc = sqlite3_step(a->signed_stmt);
	sqlite3_reset(a->signed_stmt);
	if (rc == SQLITE_ROW)
		return 0; /* already signed */
	if (rc != SQLITE_DONE)
		return store_err(a->st, err, "reading audit signatures");
	return sign(a, seq, hash, err);
}

/* Keeps the record; 0, or -1 when out of memory (the caller then writes it). */
static int
hold_record(struct audit *a, const char *actor, const char *subject, const char *action,
	    const char *details)
{
	struct audit_held *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	h->actor = strdup(actor != NULL ? actor : "");
	h->subject = strdup(subject != NULL ? subject : "");
	h->action = strdup(action != NULL ? action : "");
	h->details = details != NULL ? strdup(details) : NULL;
	if (h->actor == NULL || h->subject == NULL || h->action == NULL ||
	    (details != NULL && h->details == NULL)) {
		held_free(h);
		return -1;
	}
	if (a->held_tail == NULL)
		a->held_tail = &a->held;
	*a->held_tail = h;
	a->held_tail = &h->next;
	a->held_n++;
	return 0;
}

void
audit_hold(struct audit *a, int on)
{
	a->hold = on;
}

int
audit_flush_held(struct audit *a, struct idg_err *err)
{
	struct audit_held *h, *next;

	if (a->held == NULL)
		return 0;
	if (store_begin(a->st, err) != 0)
		return -1;
	for (h = a->held; h != NULL; h = h->next)
		if (audit_append(a, h->actor, h->subject, h->action, h->details, err) != 0)
			goto fail;
	if (audit_sign_head(a, err) != 0 || store_commit(a->st, err) != 0)
		goto fail;
	for (h = a->held; h != NULL; h = next) {
		next = h->next;
		held_free(h);
	}
	a->held = NULL;
	a->held_tail = &a->held;
	a->held_n = 0;
	return 0;
fail:
	store_rollback(a->st);
	return -1;
}

int
audit_record(struct audit *a, const char *actor, const char *subject, const char *action,
	     json_t *details, struct idg_err *err)
{
	char *text = details != NULL ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = -1;

	json_decref(details);
	if (details != NULL && text == NULL)
		return idg_seterr(err, "out of memory");
	if (a->spool_dir != NULL) {
		rc = spool_write(a->spool_dir, actor, subject, action, text, err);
		goto out;
	}
	if (a->hold && a->held_n < AUDIT_HOLD_MAX &&
	    hold_record(a, actor, subject, action, text) == 0) {
		free(text);
		return 0;
	}
	if (store_begin(a->st, err) != 0)
		goto out;
	if (audit_append(a, actor, subject, action, text, err) != 0 ||
	    audit_sign_head(a, err) != 0 || store_commit(a->st, err) != 0) {
		store_rollback(a->st);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

int
audit_append_key_rotation(struct audit *a, const char *actor, const unsigned char *new_sk,
			  char old_id[AUDIT_KEY_ID_LEN], char new_id[AUDIT_KEY_ID_LEN],
			  int64_t *seq_out, struct idg_err *err)
{
	unsigned char prev[AUDIT_HASH_LEN], old_pk[crypto_sign_PUBLICKEYBYTES];
	sqlite3_stmt *s = NULL;
	char *details = NULL;
	int64_t seq;
	int rc = -1;

	if (a->secret == NULL)
		return idg_seterr(err, "audit signing key not loaded");
	if (use_current_key(a, err) != 0 || read_head(a, &seq, prev, err) != 0)
		return -1;
	crypto_sign_ed25519_sk_to_pk(old_pk, a->secret);
	idg_strlcpy(old_id, a->key_id, AUDIT_KEY_ID_LEN);
	/* The record will be seq + 1 in this transaction: the new key signs that place. */
	if (audit_key_rotation_details(seq + 1, prev, old_pk, new_sk, &details, new_id, err) != 0)
		return -1;
	*seq_out = seq + 1;
	/* Its head signed with the old key: the second signature. */
	if (audit_append(a, actor, "audit", AUDIT_KEY_ROTATE_ACTION, details, err) != 0 ||
	    audit_sign_head(a, err) != 0)
		goto out;
	if (store_prepare(a->st,
			  "INSERT INTO key_ids (name, key_id, created_at) VALUES ('audit', ?1, ?2) "
			  "ON CONFLICT (name) DO UPDATE SET key_id = ?1, created_at = ?2",
			  &s, err) != 0)
		goto out;
	sqlite3_bind_text(s, 1, new_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, idg_now());
	rc = store_step_done(a->st, s, err);
out:
	sqlite3_finalize(s);
	free(details);
	return rc;
}

/*
 * Compares the recomputed chain with the stored one; the first difference
 * is the bad record. Each intact audit key rotation adds its key to kc.
 */
static int
verify_chain(struct store *st, struct audit_keychain *kc, struct audit_report *rep,
	     struct idg_err *err)
{
	unsigned char prev[AUDIT_HASH_LEN] = {0}, hash[AUDIT_HASH_LEN];
	sqlite3_stmt *stmt;
	int64_t expect = 1;
	int rc;

	if (store_prepare(st,
			  "SELECT seq, time, actor, subject, action, details, hash FROM audit "
			  "ORDER BY seq",
			  &stmt, err) != 0)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		const char *f[4];

		for (int i = 0; i < 4; i++) {
			f[i] = (const char *)sqlite3_column_text(stmt, 2 + i);
			if (f[i] == NULL)
				f[i] = "";
		}
		audit_record_hash(prev, seq, sqlite3_column_int64(stmt, 1), f[0], f[1], f[2], f[3],
				  hash);
		if (seq != expect) {
			rep->first_bad_seq = expect;
			snprintf(rep->reason, sizeof(rep->reason),
				 "record %lld is missing (next record is %lld)", (long long)expect,
				 (long long)seq);
			break;
		}
		if (sqlite3_column_bytes(stmt, 6) != AUDIT_HASH_LEN ||
		    sodium_memcmp(hash, sqlite3_column_blob(stmt, 6), AUDIT_HASH_LEN) != 0) {
			rep->first_bad_seq = seq;
			snprintf(rep->reason, sizeof(rep->reason),
				 "record %lld does not match the chain (altered, inserted or "
				 "reordered)",
				 (long long)seq);
			break;
		}
		if (strcmp(f[2], AUDIT_KEY_ROTATE_ACTION) == 0) {
			char why[256];

			if (audit_keychain_add(kc, seq, prev, f[3], why, sizeof(why)) != 0) {
				rep->first_bad_seq = seq;
				snprintf(rep->reason, sizeof(rep->reason),
					 "record %lld is an audit key rotation that does not hold: "
					 "%s",
					 (long long)seq, why);
				break;
			}
			rep->key_rotations++;
		}
		memcpy(prev, hash, sizeof(prev));
		rep->records = seq;
		expect++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading audit chain");
	return 0;
}

/*
 * Every signature must verify, with the key in force at its seq (kc),
 * and must name a hash equal to the stored, already chain-verified record
 * at its seq; every key rotation must be signed at its own seq by the key
 * it replaces; and the newest record must be covered by a signature, or
 * the tail could have been cut or rewritten.
 */
static int
verify_signatures(struct store *st, const struct audit_keychain *kc, struct audit_report *rep,
		  struct idg_err *err)
{
	sqlite3_stmt *stmt;
	size_t next = 1; /* the next rotation whose own signature is still to be seen */
	int rc;

	if (store_prepare(st,
			  "SELECT s.seq, s.hash, s.signature, a.hash FROM audit_signatures s "
			  "LEFT JOIN audit a ON a.seq = s.seq ORDER BY s.seq",
			  &stmt, err) != 0)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		unsigned char msg[HEAD_MSG_LEN];
		int64_t seq = sqlite3_column_int64(stmt, 0);
		const void *h = sqlite3_column_blob(stmt, 1), *rec = sqlite3_column_blob(stmt, 3);

		if (sqlite3_column_bytes(stmt, 1) != AUDIT_HASH_LEN ||
		    sqlite3_column_bytes(stmt, 2) != crypto_sign_BYTES) {
			rep->first_bad_seq = seq;
			snprintf(rep->reason, sizeof(rep->reason),
				 "signature at record %lld is malformed", (long long)seq);
			break;
		}
		if (next < kc->n && kc->keys[next].since < seq) {
			rep->first_bad_seq = kc->keys[next].since;
			snprintf(
				rep->reason, sizeof(rep->reason),
				"the audit key rotation at record %lld is not signed by the key it "
				"replaces (%s)",
				(long long)kc->keys[next].since, kc->keys[next - 1].id);
			break;
		}
		head_message(seq, h, msg);
		if (crypto_sign_verify_detached(sqlite3_column_blob(stmt, 2), msg, sizeof(msg),
						audit_keychain_key_for(kc, seq)->pk) != 0) {
			rep->first_bad_seq = seq;
			snprintf(rep->reason, sizeof(rep->reason),
				 "signature at record %lld does not verify with audit key %s",
				 (long long)seq, audit_keychain_key_for(kc, seq)->id);
			break;
		}
		if (next < kc->n && kc->keys[next].since == seq)
			next++;
		if (rec == NULL || seq > rep->records ||
		    sqlite3_column_bytes(stmt, 3) != AUDIT_HASH_LEN ||
		    sodium_memcmp(rec, h, AUDIT_HASH_LEN) != 0) {
			rep->first_bad_seq = seq;
			snprintf(rep->reason, sizeof(rep->reason),
				 "record %lld differs from the signed head (removed or rewritten)",
				 (long long)seq);
			break;
		}
		rep->signatures++;
		rep->last_signed_seq = seq;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading audit signatures");
	return 0;
}

/* Whether h is signed by the key in force at its seq (the newest key beyond the chain's end). */
static int
anchor_signed(const struct audit_keychain *kc, const struct anchor_head *h)
{
	unsigned char msg[HEAD_MSG_LEN];

	if (h->seq == 0)
		return 1;
	head_message(h->seq, h->hash, msg);
	return crypto_sign_verify_detached(h->sig, msg, sizeof(msg),
					   audit_keychain_key_for(kc, h->seq)->pk) == 0;
}

/*
 * Whether the store holds the head the anchor (read before the snapshot,
 * signed) names; sets rep's reason if not. The store ending below it is
 * the cut this is for, and is said with the range that is gone.
 */
static int
verify_anchor(struct store *st, const struct anchor_head *h, const char *source,
	      struct audit_report *rep, struct idg_err *err)
{
	unsigned char hash[AUDIT_HASH_LEN];
	int64_t newest = 0;
	int found;

	if (store_hash_at(st, h->seq, hash, &found, &newest, err) != 0)
		return -1;
	if (h->seq > newest) {
		rep->first_bad_seq = newest + 1;
		snprintf(rep->reason, sizeof(rep->reason),
			 "audit chain truncated: records %lld..%lld are missing (%s says head "
			 "%lld, the store ends at %lld)",
			 (long long)newest + 1, (long long)h->seq, source, (long long)h->seq,
			 (long long)newest);
		return 0;
	}
	if (h->seq == 0)
		return 1;
	if (!found || sodium_memcmp(hash, h->hash, AUDIT_HASH_LEN) != 0) {
		rep->first_bad_seq = h->seq;
		snprintf(rep->reason, sizeof(rep->reason),
			 "record %lld is not the head the %s names (the chain was cut and "
			 "rewritten)",
			 (long long)h->seq, source);
		return 0;
	}
	return 1;
}

int
audit_check_head(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		 const struct anchor_head *h, const char *source, struct audit_report *rep,
		 struct idg_err *err)
{
	struct audit_keychain kc;
	int64_t bad_seq;
	char why[256];
	int rc;

	if (store_exec(st, "BEGIN", err) != 0)
		return -1;
	rc = audit_keychain_load(st, pk, &kc, &bad_seq, why, sizeof(why), err);
	if (rc == 0 && bad_seq != 0) {
		snprintf(rep->reason, sizeof(rep->reason),
			 "record %lld is an audit key rotation that does not hold: %s",
			 (long long)bad_seq, why);
		rc = 0;
	} else if (rc == 0 && !anchor_signed(&kc, h)) {
		snprintf(rep->reason, sizeof(rep->reason), "the %s is not signed by the audit key",
			 source);
		rc = 0;
	} else if (rc == 0) {
		rc = verify_anchor(st, h, source, rep, err);
	}
	store_rollback(st);
	audit_keychain_free(&kc);
	if (rc < 0)
		return -1;
	if (rc == 0)
		rep->ok = 0;
	return 0;
}

int
audit_verify(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
	     const char *anchor_path, struct audit_report *rep, struct idg_err *err)
{
	enum anchor_status status = ANCHOR_OK;
	struct anchor_head h;
	struct idg_err aerr = {{0}};
	struct audit_keychain kc;
	int anchored = 1, anchor_rc = 0, forged = 0;

	memset(rep, 0, sizeof(*rep));
	rep->anchor_seq = -1;
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (audit_keychain_init(&kc, pk) != 0)
		return idg_seterr(err, "out of memory");
	/*
	 * The anchor first: it is raised only after a commit, so a snapshot
	 * taken after reading it holds at least the head it names.
	 */
	if (anchor_path != NULL)
		anchor_rc = anchor_read(anchor_path, &h, &status, &aerr);
	if (store_exec(st, "BEGIN", err) != 0) { /* one consistent snapshot */
		audit_keychain_free(&kc);
		return -1;
	}
	if (verify_chain(st, &kc, rep, err) != 0)
		goto fail;
	/* A broken link is the first fault; the anchor is checked against an intact chain. */
	if (rep->first_bad_seq == 0 && anchor_path != NULL) {
		if (anchor_rc != 0) {
			snprintf(rep->reason, sizeof(rep->reason), "%s", aerr.msg);
			anchored = 0;
		} else if (status == ANCHOR_MISSING) {
			snprintf(rep->reason, sizeof(rep->reason),
				 "the audit anchor %s is missing (a new host: run 'idgov init'; "
				 "after a restore: 'idgov audit anchor --reset')",
				 anchor_path);
			anchored = 0;
		} else if (!anchor_signed(&kc, &h)) {
			/* Said after the signatures: with the wrong key, they fail first. */
			forged = 1;
		} else {
			rep->anchor_seq = h.seq;
			if ((anchored = verify_anchor(st, &h, "anchor file", rep, err)) < 0)
				goto fail;
		}
	}
	if (rep->first_bad_seq == 0 && anchored && verify_signatures(st, &kc, rep, err) != 0)
		goto fail;
	store_rollback(st);
	idg_strlcpy(rep->key_id, kc.keys[kc.n - 1].id, sizeof(rep->key_id));
	audit_keychain_free(&kc);
	if (rep->first_bad_seq == 0 && anchored && forged) {
		snprintf(rep->reason, sizeof(rep->reason),
			 "the audit anchor %s is not signed by the audit key", anchor_path);
		anchored = 0;
	}
	if (rep->first_bad_seq == 0 && anchored && rep->records > rep->last_signed_seq) {
		rep->first_bad_seq = rep->last_signed_seq + 1;
		snprintf(rep->reason, sizeof(rep->reason),
			 "records %lld to %lld are not covered by a signature (the chain was cut "
			 "or extended without the key)",
			 (long long)rep->last_signed_seq + 1, (long long)rep->records);
	}
	rep->ok = rep->first_bad_seq == 0 && anchored;
	return 0;
fail:
	store_rollback(st);
	audit_keychain_free(&kc);
	return -1;
}

int
audit_anchor_reset(struct audit *a, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		   const char *actor, int64_t confirm_seq, int64_t *anchored, struct idg_err *err)
{
	struct audit_report rep;

	if (a->anchor_path == NULL || a->secret == NULL)
		return idg_seterr(err, "no audit anchor or signing key to reset it with");
	if (audit_verify(a->st, pk, NULL, &rep, err) != 0)
		return -1;
	return audit_anchor_reset_checked(a, &rep, actor, confirm_seq, anchored, err);
}

int
audit_anchor_reset_checked(struct audit *a, const struct audit_report *checked, const char *actor,
			   int64_t confirm_seq, int64_t *anchored, struct idg_err *err)
{
	enum anchor_status status;
	struct anchor_head h, old;
	json_t *d;
	int rc;

	if (a->anchor_path == NULL || a->secret == NULL)
		return idg_seterr(err, "no audit anchor or signing key to reset it with");
	if (!checked->ok)
		return idg_seterr(err, "the chain itself does not verify (%s): not re-anchoring it",
				  checked->reason);
	if (read_signed_head(a->st, &h, err) != 0)
		return -1;
	if (h.seq != confirm_seq)
		return idg_seterr(err,
				  "the store's head is %lld, not %lld: confirm the head you mean "
				  "to anchor",
				  (long long)h.seq, (long long)confirm_seq);
	/* A loose or foreign anchor file is refused here too: remove it knowingly. */
	if (anchor_read(a->anchor_path, &old, &status, err) != 0)
		return -1;
	d = json_pack("{s:o, s:I}", "anchor_was",
		      status == ANCHOR_MISSING ? json_null() : json_integer(old.seq), "store_head",
		      (json_int_t)h.seq);
	if (d == NULL)
		return idg_seterr(err, "out of memory");
	/* The reset's own record is the head anchored, not raised over the old anchor. */
	a->anchor_held = 1;
	rc = audit_record(a, actor, a->anchor_path, "audit.anchor_reset", d, err);
	a->anchor_held = 0;
	if (rc != 0 || read_signed_head(a->st, &h, err) != 0 ||
	    anchor_reset(a->anchor_path, &h, err) != 0)
		return -1;
	*anchored = h.seq;
	log_msg(a->log, LOG_WARNING, "audit anchor %s reset by %s from %s%lld to %lld",
		a->anchor_path, actor, status == ANCHOR_MISSING ? "(missing) " : "",
		(long long)(status == ANCHOR_MISSING ? 0 : old.seq), (long long)h.seq);
	return 0;
}
