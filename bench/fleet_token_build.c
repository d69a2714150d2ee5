/*
 * The token-building block of fleet_seed and fleet_token_put; see
 * fleet_token_build.h.
 */
#include "fleet_token_build.h"

#include <string.h>

int
fleet_build_user(struct store *st, const char *uid, char uuid[FLEET_BUILD_UUID_MAX],
		 char dn[FLEET_BUILD_DN_MAX], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT uuid, dn FROM users WHERE uid = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		idg_strlcpy(uuid, (const char *)sqlite3_column_text(s, 0), FLEET_BUILD_UUID_MAX);
		idg_strlcpy(dn, (const char *)sqlite3_column_text(s, 1), FLEET_BUILD_DN_MAX);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW;
}

int
fleet_build_token(struct token *t, const struct secret_key *key, const char *uuid,
		  const unsigned char *secret, size_t len, int digits, int period,
		  struct idg_err *err)
{
	memset(t, 0, sizeof(*t));
	t->enrolled = 1;
	if (fleet_seal(key, uuid, secret, len, t->sealed, &t->sealed_len, err) != 0)
		return -1;
	strcpy(t->algorithm, "sha1");
	t->digits = digits;
	t->period = period;
	return 0;
}
