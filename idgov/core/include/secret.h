/*
 * Secrets at rest: XChaCha20-Poly1305 under the master key from
 * `idgov init`. The key lives in sodium_malloc() memory for as long as a
 * struct secret_key does, and is wiped when it is freed. The associated
 * data binds a ciphertext to its owner (a user's uuid and a purpose), so a
 * stored secret copied to another row does not decrypt.
 */
#ifndef IDGOV_SECRET_H
#define IDGOV_SECRET_H

#include "util.h"

#include <jansson.h>
#include <sodium.h>

#define SECRET_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SECRET_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

struct secret_key;

int secret_key_load(const char *path, struct secret_key **out, struct idg_err *err);
void secret_key_free(struct secret_key *k);

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
