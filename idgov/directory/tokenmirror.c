/*
 * The mirror's token rows (fleet_tokens); see tokenmirror.h.
 *
 * The recovery values are kept one per line in one text column: a row is
 * read and written whole, never searched by code, and a spent code is a
 * directory change that rewrites the row anyway.
 */
#include "tokenmirror.h"

#include <stdlib.h>
#include <string.h>

int
tokenmirror_empty(const struct token *t)
{
	return !t->enrolled && t->algorithm[0] == '\0' && t->digits == 0 && t->period == 0 &&
	       t->last_step == 0 && t->failures == 0 && t->failure_start == 0 &&
	       t->locked_until == 0 && t->n_recovery == 0 && t->last_login == 0;
}

/* The recovery values as lines; malloc'd, "" for none. NULL when out of memory. */
static char *
join_recovery(const struct token *t)
{
	size_t n = 1;
	char *out, *p;

	for (size_t i = 0; i < t->n_recovery; i++)
		n += strlen(t->recovery[i]) + 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	p = out;
	for (size_t i = 0; i < t->n_recovery; i++) {
		size_t len = strlen(t->recovery[i]);

		if (i > 0)
			*p++ = '\n';
		memcpy(p, t->recovery[i], len);
		p += len;
	}
	*p = '\0';
	return out;
}

int
tokenmirror_put(struct store *st, const char *uuid, const struct token *t, struct idg_err *err)
{
	sqlite3_stmt *s;
	char *recovery;
	int rc;

	if (t->n_recovery > TOKEN_MAX_RECOVERY || (t->enrolled && t->sealed_len == 0) ||
	    t->sealed_len > FLEET_SEAL_MAX)
		return idg_seterr(err, "token of %s is not a whole token", uuid);
	if ((recovery = join_recovery(t)) == NULL)
		return idg_seterr(err, "out of memory");
	if (store_prepare_cached(
		    st,
		    "INSERT INTO fleet_tokens (user_uuid, sealed, algorithm, digits, period, "
		    "last_step, failures, failure_start, locked_until, recovery, last_login) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
		    "ON CONFLICT (user_uuid) DO UPDATE SET sealed = excluded.sealed, "
		    "algorithm = excluded.algorithm, digits = excluded.digits, "
		    "period = excluded.period, last_step = excluded.last_step, "
		    "failures = excluded.failures, failure_start = excluded.failure_start, "
		    "locked_until = excluded.locked_until, recovery = excluded.recovery, "
		    "last_login = excluded.last_login",
		    &s, err) != 0) {
		free(recovery);
		return -1;
	}
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	if (t->enrolled)
		sqlite3_bind_blob(s, 2, t->sealed, (int)t->sealed_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	if (t->algorithm[0] != '\0')
		sqlite3_bind_text(s, 3, t->algorithm, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	if (t->digits != 0)
		sqlite3_bind_int(s, 4, t->digits);
	else
		sqlite3_bind_null(s, 4);
	if (t->period != 0)
		sqlite3_bind_int(s, 5, t->period);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, t->last_step);
	sqlite3_bind_int64(s, 7, t->failures);
	sqlite3_bind_int64(s, 8, t->failure_start);
	sqlite3_bind_int64(s, 9, t->locked_until);
	sqlite3_bind_text(s, 10, recovery, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, t->last_login);
	rc = store_step_done(st, s, err);
	store_release(st, s);
	free(recovery);
	return rc;
}

int
tokenmirror_put_unusable(struct store *st, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st,
				 "INSERT INTO fleet_tokens (user_uuid, sealed, locked_until) "
				 "VALUES (?1, NULL, ?2) ON CONFLICT (user_uuid) DO UPDATE SET "
				 "sealed = NULL, locked_until = excluded.locked_until",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, TOKENMIRROR_UNUSABLE);
	rc = store_step_done(st, s, err);
	store_release(st, s);
	return rc;
}

int
tokenmirror_delete(struct store *st, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st, "DELETE FROM fleet_tokens WHERE user_uuid = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, err);
	store_release(st, s);
	return rc;
}

/* A column that must be a non-negative integer (NULL allowed when absent_ok: 0). */
static int
int_column(sqlite3_stmt *s, int i, int absent_ok, int64_t max, int64_t *out)
{
	int type = sqlite3_column_type(s, i);

	*out = 0;
	if (type == SQLITE_NULL)
		return absent_ok ? 0 : -1;
	if (type != SQLITE_INTEGER)
		return -1;
	*out = sqlite3_column_int64(s, i);
	return *out >= 0 && *out <= max ? 0 : -1;
}

static int
split_recovery(const char *text, size_t len, struct token *t)
{
	size_t start = 0;

	if (len == 0)
		return 0;
	while (start <= len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;

		/* The directory's rule (token.h): a row holds only what a token may. */
		if (t->n_recovery == TOKEN_MAX_RECOVERY ||
		    token_parse_recovery(text + start, end - start) != 0)
			return -1;
		memcpy(t->recovery[t->n_recovery], text + start, end - start);
		t->recovery[t->n_recovery][end - start] = '\0';
		t->n_recovery++;
		start = end + 1;
	}
	return 0;
}

static int
algorithm_ok(const char *a)
{
	return strcmp(a, "sha1") == 0 || strcmp(a, "sha256") == 0 || strcmp(a, "sha512") == 0;
}

/* Fills t from the row s is on; -1 with err naming the first bad column. */
static int
read_row(sqlite3_stmt *s, const char *uuid, struct token *t, int *unusable, struct idg_err *err)
{
	int64_t n;
	const char *col = NULL;

	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		size_t len = (size_t)sqlite3_column_bytes(s, 0);

		if (sqlite3_column_type(s, 0) != SQLITE_BLOB || len <= FLEET_SEAL_OVERHEAD ||
		    len > FLEET_SEAL_MAX) {
			col = "sealed";
			goto bad;
		}
		memcpy(t->sealed, sqlite3_column_blob(s, 0), len);
		t->sealed_len = len;
		t->enrolled = 1;
	}
	if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
		const char *a = (const char *)sqlite3_column_text(s, 1);

		if (sqlite3_column_type(s, 1) != SQLITE_TEXT || a == NULL ||
		    strlen(a) >= sizeof(t->algorithm) || !algorithm_ok(a)) {
			col = "algorithm";
			goto bad;
		}
		idg_strlcpy(t->algorithm, a, sizeof(t->algorithm));
	}
	if (int_column(s, 2, 1, 8, &n) != 0 || (n != 0 && n < 6)) {
		col = "digits";
		goto bad;
	}
	t->digits = (int)n;
	if (int_column(s, 3, 1, 86400, &n) != 0) { /* token.c's bound */
		col = "period";
		goto bad;
	}
	t->period = (int)n;
	if (int_column(s, 4, 0, INT64_MAX, &t->last_step) != 0) {
		col = "last_step";
		goto bad;
	}
	if (int_column(s, 5, 0, INT64_MAX, &t->failures) != 0) {
		col = "failures";
		goto bad;
	}
	if (int_column(s, 6, 0, INT64_MAX, &t->failure_start) != 0) {
		col = "failure_start";
		goto bad;
	}
	if (int_column(s, 7, 0, INT64_MAX, &t->locked_until) != 0) {
		col = "locked_until";
		goto bad;
	}
	if (sqlite3_column_type(s, 8) != SQLITE_TEXT ||
	    split_recovery((const char *)sqlite3_column_text(s, 8),
			   (size_t)sqlite3_column_bytes(s, 8), t) != 0) {
		col = "recovery";
		goto bad;
	}
	if (int_column(s, 9, 0, INT64_MAX, &t->last_login) != 0) {
		col = "last_login";
		goto bad;
	}
	*unusable = !t->enrolled && t->locked_until == TOKENMIRROR_UNUSABLE;
	return 0;
bad:
	memset(t, 0, sizeof(*t));
	return idg_seterr(err, "the mirror's token of %s is malformed (%s)", uuid, col);
}

int
tokenmirror_get(struct store *st, const char *uuid, struct token *t, int *unusable,
		struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	memset(t, 0, sizeof(*t));
	*unusable = 0;
	if (store_prepare_cached(st,
				 "SELECT sealed, algorithm, digits, period, last_step, failures, "
				 "failure_start, locked_until, recovery, last_login "
				 "FROM fleet_tokens WHERE user_uuid = ?1",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = read_row(s, uuid, t, unusable, err) == 0 ? 1 : -1;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_err(st, err, "reading the mirror's token");
	store_release(st, s);
	return rc;
}
