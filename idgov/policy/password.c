/* Password rules; see password.h. */
#define _GNU_SOURCE /* strcasestr */
#include "password.h"

#include <crack.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/*
 * Counts UTF-8 characters and the classes present: ASCII lower, ASCII
 * upper, ASCII digit, and everything else (punctuation, spaces and
 * non-ASCII letters). Returns -1 for invalid UTF-8 (overlong forms,
 * surrogates and stray continuation bytes included).
 */
static int
count_utf8(const char *s, int *chars, int *classes)
{
	const unsigned char *p = (const unsigned char *)s;
	int seen[4] = {0, 0, 0, 0};

	*chars = 0;
	while (*p != '\0') {
		unsigned c = *p, need, cp, min;

		if (c < 0x80) {
			seen[c >= 'a' && c <= 'z'   ? 0
			     : c >= 'A' && c <= 'Z' ? 1
			     : c >= '0' && c <= '9' ? 2
						    : 3] = 1;
			p++;
			(*chars)++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07, min = 0x10000;
		else
			return -1;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		seen[3] = 1;
		p += need + 1;
		(*chars)++;
	}
	*classes = seen[0] + seen[1] + seen[2] + seen[3];
	return 0;
}

/* Case-insensitive; names under three characters are not checked (they would rule out too much). */
static int
contains_user(const char *pw, const char *user)
{
	char rev[256];
	size_t n = strlen(user);

	if (n < 3)
		return 0;
	if (strcasestr(pw, user) != NULL)
		return 1;
	if (n >= sizeof(rev))
		return 0;
	for (size_t i = 0; i < n; i++)
		rev[i] = user[n - 1 - i];
	rev[n] = '\0';
	return strcasestr(pw, rev) != NULL;
}

static enum pw_verdict
dictionary(const struct cfg *cfg, const char *user, const char *pw, char *why, size_t why_len)
{
	char file[4096];
	const char *msg;

	if (cfg->pw_dictionary[0] == '\0')
		return PW_OK;
	snprintf(file, sizeof(file), "%s.pwd", cfg->pw_dictionary);
	if (access(file, R_OK) != 0) {
		snprintf(why, why_len,
			 "The password dictionary %s is missing, so passwords cannot be changed "
			 "now; ask an administrator.",
			 cfg->pw_dictionary);
		return PW_DICTIONARY_MISSING;
	}
	msg = FascistCheckUser(pw, cfg->pw_dictionary, user, NULL);
	if (msg == NULL)
		return PW_OK;
	snprintf(why, why_len, "The password is too easy to guess: %s.", msg);
	return PW_DICTIONARY;
}

enum pw_verdict
password_check(const struct cfg *cfg, const char *user, const char *pw, char *why, size_t why_len)
{
	int chars = 0, classes = 0;

	if (count_utf8(pw, &chars, &classes) != 0) {
		snprintf(why, why_len, "The password is not valid UTF-8 text.");
		return PW_NOT_UTF8;
	}
	if (chars < cfg->pw_min_length) {
		snprintf(why, why_len,
			 "The password must be at least %d characters long (it has %d).",
			 cfg->pw_min_length, chars);
		return PW_TOO_SHORT;
	}
	if (classes < cfg->pw_min_classes) {
		snprintf(why, why_len,
			 "The password must mix at least %d of: lower-case letters, upper-case "
			 "letters, digits, other characters (it has %d).",
			 cfg->pw_min_classes, classes);
		return PW_TOO_FEW_CLASSES;
	}
	if (contains_user(pw, user)) {
		snprintf(why, why_len,
			 "The password must not contain the user name, forwards or "
			 "backwards.");
		return PW_CONTAINS_USER;
	}
	return dictionary(cfg, user, pw, why, why_len);
}

int
password_check_history(struct store *state, const struct cfg *cfg, const char *user, const char *pw,
		       int64_t now, int admin, enum pw_verdict *v, char *why, size_t why_len,
		       struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc, first = 1;

	*v = PW_OK;
	if (store_prepare(state,
			  "SELECT hash, changed_at FROM password_history WHERE uid = ?1 "
			  "ORDER BY changed_at DESC, id DESC LIMIT ?2",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, cfg->pw_history > 0 ? cfg->pw_history : 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(s, 0);

		if (first && !admin &&
		    now - sqlite3_column_int64(s, 1) < (int64_t)cfg->pw_min_age_days * 86400) {
			snprintf(why, why_len, "The password was changed less than %d day%s ago.",
				 cfg->pw_min_age_days, cfg->pw_min_age_days == 1 ? "" : "s");
			*v = PW_TOO_SOON;
			break;
		}
		first = 0;
		if (cfg->pw_history > 0 && crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0) {
			snprintf(why, why_len,
				 "The password was used recently; choose one not among "
				 "the last %d.",
				 cfg->pw_history);
			*v = PW_REUSED;
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state, err, "reading password history");
	return 0;
}

int
password_record(struct store *state, const struct cfg *cfg, const char *user, const char *pw,
		int64_t now, struct idg_err *err)
{
	char hash[crypto_pwhash_STRBYTES];
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return idg_seterr(err, "out of memory hashing the password");
	if (store_begin(state, err) != 0)
		return -1;
	if (store_prepare(
		    state,
		    "INSERT INTO password_history (uid, hash, changed_at) VALUES (?1, ?2, ?3)", &s,
		    err) != 0)
		goto out;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(state, s, err) != 0)
		goto out;
	sqlite3_finalize(s);
	/* Keep the newest max(history, 1): the newest also dates the last change. */
	if (store_prepare(state,
			  "DELETE FROM password_history WHERE uid = ?1 AND id NOT IN (SELECT id "
			  "FROM password_history WHERE uid = ?1 ORDER BY changed_at DESC, id DESC "
			  "LIMIT ?2)",
			  &s, err) != 0)
		goto out;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, cfg->pw_history > 0 ? cfg->pw_history : 1);
	if (store_step_done(state, s, err) != 0)
		goto out;
	rc = store_commit(state, err);
out:
	sqlite3_finalize(s);
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0)
		store_rollback(state);
	return rc;
}
