/*
 * Secrets at rest: XChaCha20-Poly1305 under the master key from
 * `idgov init`. The key lives in sodium_malloc() memory for as long as a
 * struct secret_key does, and is wiped when it is freed. The associated
 * data binds a ciphertext to its owner (a user's uuid and a purpose), so a
 * stored secret copied to another row does not decrypt.
 */
#ifndef IDGOV_SECRET_H
#define IDGOV_SECRET_H

#include "store.h"
#include "util.h"

#include <jansson.h>
#include <sodium.h>

#define SECRET_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SECRET_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

#define SECRET_KEY_ID_LEN 33 /* 32 hex digits of a keyed-domain BLAKE2b of the key, and NUL */

struct secret_key;

/*
 * Loads the master key file path and, when they exist and are trusted,
 * path.new and path.old: the files a rotation (rotate.h) leaves while it
 * runs or after a crash. Which one the store's secrets are sealed under is
 * the store's to say: secret_key_for_store(), inside the transaction that
 * reads or writes a secret.
 */
int secret_key_load(const char *path, struct secret_key **out, struct idg_err *err);
/* Loads path alone. */
int secret_key_load_one(const char *path, struct secret_key **out, struct idg_err *err);
void secret_key_free(struct secret_key *k);

/* The key's id: a fingerprint, safe to print and audit. */
const char *secret_key_id(const struct secret_key *k);
void secret_key_id_of(const unsigned char *key, char id[SECRET_KEY_ID_LEN]);

/* The master key id the store names: 1 with id, 0 if none (never rotated), -1 (err). */
int secret_store_key_id(struct store *st, char id[SECRET_KEY_ID_LEN], struct idg_err *err);

/*
 * Of k's keys, the one the store's secrets are sealed under (the key file
 * itself when the store names none): 0 with *out, -1 (err) if no file
 * holds it. Call it in the transaction that opens or seals a secret, so
 * that a rotation committing meanwhile is seen whole or not at all.
 */
int secret_key_for_store(const struct secret_key *k, struct store *st,
			 const struct secret_key **out, struct idg_err *err);

/* ct must hold len + SECRET_TAG_LEN bytes; nonce is filled with random bytes. */
int secret_seal(const struct secret_key *k, const unsigned char *plain, size_t len, const char *ad,
		unsigned char nonce[SECRET_NONCE_LEN], unsigned char *ct);

/* plain must hold ct_len - SECRET_TAG_LEN bytes; -1 if forged, damaged or bound to other ad. */
int secret_open(const struct secret_key *k, const unsigned char *ct, size_t ct_len, const char *ad,
		const unsigned char nonce[SECRET_NONCE_LEN], unsigned char *plain);

/*
 * Overwrites every string value in v, recursively, so that a
 * reply or request that carried an otpauth URI, recovery codes or a code
 * leaves nothing behind when it is freed. v is unusable afterwards, but
 * must still be freed (json_decref) by its owner. NULL is allowed.
 */
void secret_wipe_json(json_t *v);

#endif
