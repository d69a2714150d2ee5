/* The audit chain: append, sign, verify. See audit.h for the construction. */
#include "audit.h"

#include "keys.h"

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

static void
hash_text(crypto_generichash_state *h, const char *s)
{
	unsigned char len[4];
	size_t n = strlen(s);

	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	crypto_generichash_update(h, len, sizeof(len));
	crypto_generichash_update(h, (const unsigned char *)s, n);
}

void
audit_record_hash(const unsigned char prev[AUDIT_HASH_LEN], int64_t seq, int64_t time,
		  const char *actor, const char *subject, const char *action, const char *details,
		  unsigned char out[AUDIT_HASH_LEN])
{
	crypto_generichash_state h;
	unsigned char num[8];

	crypto_generichash_init(&h, NULL, 0, AUDIT_HASH_LEN);
	crypto_generichash_update(&h, prev, AUDIT_HASH_LEN);
	put_be64(num, (uint64_t)seq);
	crypto_generichash_update(&h, num, sizeof(num));
	put_be64(num, (uint64_t)time);
	crypto_generichash_update(&h, num, sizeof(num));
	hash_text(&h, actor);
	hash_text(&h, subject);
	hash_text(&h, action);
	hash_text(&h, details);
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

int
audit_open(struct store *st, const char *secret_key_path, int sign_every, struct logger *log,
	   struct audit **out, struct idg_err *err)
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
	if (secret_key_path != NULL &&
	    keys_load_audit_secret(secret_key_path, &a->secret, err) != 0)
		goto fail;
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
			  err) != 0)
		goto fail;
	*out = a;
	return 0;
fail:
	audit_close(a);
	return -1;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	sqlite3_finalize(a->head_stmt);
	sqlite3_finalize(a->insert_stmt);
	sqlite3_finalize(a->sign_stmt);
	sqlite3_finalize(a->signed_stmt);
	keys_free_secret(a->secret);
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
sign(struct audit *a, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], struct idg_err *err)
{
	unsigned char msg[HEAD_MSG_LEN], sig[crypto_sign_BYTES];

	if (a->secret == NULL)
		return idg_seterr(err, "audit signing key not loaded");
	head_message(seq, hash, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), a->secret);
	sqlite3_bind_int64(a->sign_stmt, 1, seq);
	sqlite3_bind_blob(a->sign_stmt, 2, hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(a->sign_stmt, 3, sig, sizeof(sig), SQLITE_STATIC);
	sqlite3_bind_int64(a->sign_stmt, 4, idg_now());
	return store_step_done(a->st, a->sign_stmt, err);
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

int
audit_append(struct audit *a, const char *actor, const char *subject, const char *action,
	     const char *details, struct idg_err *err)
{
	unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char actor_buf[AUDIT_FIELD_MAX + 1], subject_buf[AUDIT_FIELD_MAX + 1];
	char action_buf[AUDIT_FIELD_MAX + 1];
	int64_t seq, now = idg_now();

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
	if (a->log != NULL)
		log_msg(a->log, LOG_NOTICE, "audit #%lld: %s by %s on %s %s", (long long)seq,
			action, actor, subject, details);
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

int
audit_record(struct audit *a, const char *actor, const char *subject, const char *action,
	     json_t *details, struct idg_err *err)
{
	char *text = details != NULL ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = -1;

	json_decref(details);
	if (details != NULL && text == NULL)
		return idg_seterr(err, "out of memory");
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

/* Compares the recomputed chain with the stored one; the first difference is the bad record. */
static int
verify_chain(struct store *st, struct audit_report *rep, struct idg_err *err)
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
 * Every signature must verify and must name a hash equal to the stored,
 * already chain-verified record at its seq; and the newest record must be
 * covered by one, or the tail could have been cut or rewritten.
 */
static int
verify_signatures(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		  struct audit_report *rep, struct idg_err *err)
{
	sqlite3_stmt *stmt;
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
		head_message(seq, h, msg);
		if (crypto_sign_verify_detached(sqlite3_column_blob(stmt, 2), msg, sizeof(msg),
						pk) != 0) {
			rep->first_bad_seq = seq;
			snprintf(rep->reason, sizeof(rep->reason),
				 "signature at record %lld does not verify", (long long)seq);
			break;
		}
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

int
audit_verify(struct store *st, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
	     struct audit_report *rep, struct idg_err *err)
{
	memset(rep, 0, sizeof(*rep));
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (store_exec(st, "BEGIN", err) != 0) /* one consistent snapshot */
		return -1;
	if (verify_chain(st, rep, err) != 0 ||
	    (rep->first_bad_seq == 0 && verify_signatures(st, pk, rep, err) != 0)) {
		store_rollback(st);
		return -1;
	}
	store_rollback(st);
	if (rep->first_bad_seq == 0 && rep->records > rep->last_signed_seq) {
		rep->first_bad_seq = rep->last_signed_seq + 1;
		snprintf(rep->reason, sizeof(rep->reason),
			 "records %lld to %lld are not covered by a signature (the chain was cut "
			 "or extended without the key)",
			 (long long)rep->last_signed_seq + 1, (long long)rep->records);
	}
	rep->ok = rep->first_bad_seq == 0;
	return 0;
}
