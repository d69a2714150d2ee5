/*
 * bench helper: enrols many users in an idgov store at once, the way
 * `idgov mfa enroll` leaves them (secret encrypted under the master key,
 * confirmed), without the recovery codes, whose argon2id hashing would
 * make seeding hundreds of users take minutes. Prints "uid base32-secret"
 * per line for the other modules' files. Not installed; benchmarks only.
 *
 *   mfa_seed CONFIG UID...
 */
#include "config.h"
#include "mfa.h"
#include "secret.h"
#include "store.h"

#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>

static int
seed(struct store *st, const struct secret_key *key, const char *uid)
{
	unsigned char secret[MFA_SECRET_LEN], nonce[SECRET_NONCE_LEN];
	unsigned char ct[MFA_SECRET_LEN + SECRET_TAG_LEN];
	char ad[96], *b32 = NULL;
	size_t len;
	sqlite3_stmt *s;
	int rc;

	randombytes_buf(secret, sizeof(secret));
	if (sqlite3_prepare_v2(
		    st->db,
		    "INSERT OR REPLACE INTO mfa (user_uuid, secret_nonce, secret_ct, "
		    "confirmed, created_at) SELECT uuid, ?2, ?3, 1, 0 FROM users WHERE uid = ?1",
		    -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	/* The uuid is the associated data, as in mfa.c: seal after looking it up. */
	{
		sqlite3_stmt *u;

		if (sqlite3_prepare_v2(st->db, "SELECT uuid FROM users WHERE uid = ?1", -1, &u,
				       NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_text(u, 1, uid, -1, SQLITE_STATIC);
		if (sqlite3_step(u) != SQLITE_ROW) {
			sqlite3_finalize(u);
			sqlite3_finalize(s);
			fprintf(stderr, "no user %s\n", uid);
			return -1;
		}
		snprintf(ad, sizeof(ad), "idgov-mfa-v1:%s", sqlite3_column_text(u, 0));
		sqlite3_finalize(u);
	}
	secret_seal(key, secret, sizeof(secret), ad, nonce, ct);
	sqlite3_bind_blob(s, 2, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, ct, sizeof(ct), SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(s);
	if (rc == 0 &&
	    oath_base32_encode((const char *)secret, sizeof(secret), &b32, &len) == OATH_OK) {
		printf("%s %s\n", uid, b32);
		free(b32);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct cfg *cfg;
	struct store *st;
	struct secret_key *key;
	struct idg_err err;

	if (argc < 3) {
		fprintf(stderr, "usage: mfa_seed CONFIG UID...\n");
		return 2;
	}
	if (cfg_load(argv[1], &cfg, &err) != 0 ||
	    store_open(cfg->store_path, STORE_OPEN_EXISTING, &st, &err) != 0 ||
	    secret_key_load(cfg->master_key_file, &key, &err) != 0 || oath_init() != OATH_OK) {
		fprintf(stderr, "mfa_seed: %s\n", err.msg);
		return 1;
	}
	sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
	for (int i = 2; i < argc; i++)
		if (seed(st, key, argv[i]) != 0)
			return 1;
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	secret_key_free(key);
	store_close(st);
	cfg_free(cfg);
	return 0;
}
