/*
 * Web sessions and failed sign-in counts; see websession.h.
 *
 * Invariants: a row's token_hash is BLAKE2b-256 of a token that left this
 * module once and was never stored; a session is usable only through
 * websession_check(), whose one UPDATE ... RETURNING both decides and
 * records the use, so two requests cannot see different answers for one
 * moment; a session found idle or past its limit is ended there and
 * then, so it never comes back. Nothing here logs or audits: the control operations that call
 * it know who asked and from where, and record that.
 */
#include "websession.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_BYTES 32

static const char *const step_names[] = {"code", "enrol", "full"};

const char *
websession_step_name(enum websession_step step)
{
	return step_names[step];
}

static int
step_from_name(const char *name, enum websession_step *step)
{
	for (size_t i = 0; i < sizeof(step_names) / sizeof(step_names[0]); i++)
		if (strcmp(step_names[i], name) == 0) {
			*step = (enum websession_step)i;
			return 0;
		}
	return -1;
}

/* A token has exactly the shape websession_issue() gives it; anything else is no token. */
static int
token_well_formed(const char *token)
{
	size_t n = strnlen(token, WEBSESSION_TOKEN_LEN + 1);

	return n == WEBSESSION_TOKEN_LEN &&
	       strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		       n;
}

static void
token_hash(const char *token, unsigned char h[crypto_generichash_BYTES])
{
	crypto_generichash(h, crypto_generichash_BYTES, (const unsigned char *)token, strlen(token),
			   NULL, 0);
}

/* Inserts a new session; the caller holds the write transaction or accepts autocommit. */
static int
insert(struct store *st, const char *user, const char *addr, enum websession_step step, int64_t now,
       int64_t lifetime, char token[WEBSESSION_TOKEN_LEN + 1], struct idg_err *err)
{
	unsigned char raw[TOKEN_BYTES], h[crypto_generichash_BYTES];
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	token[0] = '\0';
	if (strlen(user) > WEBSESSION_MAX_USER || strlen(addr) > WEBSESSION_MAX_ADDR)
		return idg_seterr(err, "user name or address too long for a session");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(token, WEBSESSION_TOKEN_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	token_hash(token, h);
	if (store_exec_int64(st,
			     "DELETE FROM web_sessions WHERE expires <= ?1 OR (ended IS NOT NULL "
			     "AND ended <= ?1)",
			     now, 0, 0, err) != 0 ||
	    store_prepare(st,
			  "INSERT INTO web_sessions (token_hash, user, addr, step, created, "
			  "last_used, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
			  &stmt, err) != 0)
		goto out;
	sqlite3_bind_blob(stmt, 1, h, sizeof(h), SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 4, step_names[step], -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, now + lifetime);
	rc = store_step_done(st, stmt, err);
out:
	sqlite3_finalize(stmt);
	if (rc != 0)
		sodium_memzero(token, WEBSESSION_TOKEN_LEN + 1);
	return rc;
}

int
websession_issue(struct store *st, const char *user, const char *addr, enum websession_step step,
		 int64_t now, int64_t lifetime, char token[WEBSESSION_TOKEN_LEN + 1],
		 struct idg_err *err)
{
	return insert(st, user, addr, step, now, lifetime, token, err);
}

int
websession_check(struct store *st, const char *token, int64_t now, int64_t idle,
		 struct websession *s, struct idg_err *err)
{
	unsigned char h[crypto_generichash_BYTES];
	sqlite3_stmt *stmt = NULL;
	const char *user, *addr, *step;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!token_well_formed(token))
		return 0;
	token_hash(token, h);
	/* Kept compiled (store_prepare_cached()): idgovd checks a session on every web request. */
	if (store_prepare_cached(
		    st,
		    "UPDATE web_sessions SET last_used = ?2 WHERE token_hash = ?1 AND ended "
		    "IS NULL AND last_used + ?3 > ?2 AND expires > ?2 AND last_used <= ?2 "
		    "RETURNING user, addr, step, created, expires",
		    &stmt, err) != 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, h, sizeof(h), SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, now);
	sqlite3_bind_int64(stmt, 3, idle);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		/* Over (or unknown): ended for good, whatever the clock says later. */
		store_release(st, stmt);
		return websession_end(st, token, now, err) == 0 ? 0 : -1;
	}
	if (rc != SQLITE_ROW) {
		store_err(st, err, "checking a web session");
		store_release(st, stmt);
		return -1;
	}
	user = (const char *)sqlite3_column_text(stmt, 0);
	addr = (const char *)sqlite3_column_text(stmt, 1);
	step = (const char *)sqlite3_column_text(stmt, 2);
	rc = 1;
	if (user == NULL || addr == NULL || step == NULL || step_from_name(step, &s->step) != 0 ||
	    strlen(user) > WEBSESSION_MAX_USER || strlen(addr) > WEBSESSION_MAX_ADDR) {
		rc = idg_seterr(err, "a web session row is malformed");
	} else {
		idg_strlcpy(s->user, user, sizeof(s->user));
		idg_strlcpy(s->addr, addr, sizeof(s->addr));
		s->created = sqlite3_column_int64(stmt, 3);
		s->expires = sqlite3_column_int64(stmt, 4);
	}
	/* Step to the end, so the UPDATE is complete before the statement goes. */
	while (sqlite3_step(stmt) == SQLITE_ROW)
		;
	store_release(st, stmt);
	return rc;
}

int
websession_end(struct store *st, const char *token, int64_t now, struct idg_err *err)
{
	unsigned char h[crypto_generichash_BYTES];
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!token_well_formed(token))
		return 0;
	token_hash(token, h);
	if (store_prepare(st,
			  "UPDATE web_sessions SET ended = ?2 WHERE token_hash = ?1 AND ended IS "
			  "NULL",
			  &stmt, err) != 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, h, sizeof(h), SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, now);
	rc = store_step_done(st, stmt, err);
	sqlite3_finalize(stmt);
	return rc;
}

int
websession_end_user(struct store *st, const char *user, int64_t now, int *n, struct idg_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*n = 0;
	if (store_prepare(st,
			  "UPDATE web_sessions SET ended = ?2 WHERE user = ?1 AND ended IS NULL",
			  &stmt, err) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, now);
	rc = store_step_done(st, stmt, err);
	if (rc == 0)
		*n = sqlite3_changes(st->db);
	sqlite3_finalize(stmt);
	return rc;
}

int
websession_advance(struct store *st, const char *old_token, const struct websession *s,
		   enum websession_step step, int64_t now, int64_t lifetime,
		   char token[WEBSESSION_TOKEN_LEN + 1], struct idg_err *err)
{
	if (store_begin(st, err) != 0)
		return -1;
	if (websession_end(st, old_token, now, err) != 0 ||
	    insert(st, s->user, s->addr, step, now, lifetime, token, err) != 0 ||
	    store_commit(st, err) != 0) {
		store_rollback(st);
		sodium_memzero(token, WEBSESSION_TOKEN_LEN + 1);
		return -1;
	}
	return 0;
}

static int
count(struct store *st, const char *sql, const char *key, int64_t since, int64_t *out,
      struct idg_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (store_prepare(st, sql, &stmt, err) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, since);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else {
		store_err(st, err, "counting failed sign-ins");
	}
	sqlite3_finalize(stmt);
	return rc;
}

int
websession_failures(struct store *st, const char *user, const char *addr, int64_t since,
		    int64_t *by_user, int64_t *by_addr, struct idg_err *err)
{
	*by_user = *by_addr = 0;
	if (count(st, "SELECT count(*) FROM web_signin_failures WHERE user = ?1 AND at >= ?2", user,
		  since, by_user, err) != 0 ||
	    count(st, "SELECT count(*) FROM web_signin_failures WHERE addr = ?1 AND at >= ?2", addr,
		  since, by_addr, err) != 0)
		return -1;
	return 0;
}

int
websession_note_failure(struct store *st, const char *user, const char *addr, int64_t now,
			int64_t forget_before, struct idg_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (store_exec_int64(st, "DELETE FROM web_signin_failures WHERE at < ?1", forget_before, 0,
			     0, err) != 0 ||
	    store_prepare(st,
			  "INSERT INTO web_signin_failures (at, user, addr) VALUES (?1, ?2, ?3)",
			  &stmt, err) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	sqlite3_bind_text(stmt, 2, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, addr, -1, SQLITE_TRANSIENT);
	rc = store_step_done(st, stmt, err);
	sqlite3_finalize(stmt);
	return rc;
}

int
websession_clear_failures(struct store *st, const char *user, struct idg_err *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (store_prepare(st, "DELETE FROM web_signin_failures WHERE user = ?1", &stmt, err) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_TRANSIENT);
	rc = store_step_done(st, stmt, err);
	sqlite3_finalize(stmt);
	return rc;
}
