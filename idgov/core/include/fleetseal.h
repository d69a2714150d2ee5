/*
 * TOTP secrets sealed under the fleet key, for the directory
 * (idgovTokenSecret in schema/ldap/idgov.schema).
 *
 * The fleet key is 32 random bytes in a root-only file ([fleet] key), made
 * by `idgov init` on the governor and copied by the admin to every host
 * (`idgov fleet join`); it never enters the directory. Whoever reads the
 * directory's tokens (a host's service DN, a replica, a backup of the
 * directory) learns nothing of the secrets without it.
 *
 * A sealed value is, byte by byte:
 *
 *     version (1: FLEET_SEAL_VERSION)
 *     key id (FLEET_KEY_ID_LEN bytes: the start of the key's fingerprint)
 *     nonce (SECRET_NONCE_LEN, random)
 *     ciphertext and tag (XChaCha20-Poly1305, plain length + SECRET_TAG_LEN)
 *
 * with the user's entryUUID (lower-case text) and the version and key id
 * bytes as associated data: a value copied to another person's entry, or
 * relabelled with another key id, does not open. The key id says which key
 * a value is sealed under, so a host with the wrong key (or a rotation
 * half done) is told so instead of "tampered".
 */
#ifndef IDGOV_FLEETSEAL_H
#define IDGOV_FLEETSEAL_H

#include "config.h"
#include "secret.h"
#include "util.h"

#include <stddef.h>

#define FLEET_SEAL_VERSION 1
#define FLEET_KEY_ID_LEN 8
#define FLEET_SEAL_OVERHEAD (1 + FLEET_KEY_ID_LEN + SECRET_NONCE_LEN + SECRET_TAG_LEN)
/* The longest secret sealed: TOTP secrets are 20 bytes (RFC 4226's recommendation). */
#define FLEET_SEAL_MAX_PLAIN 64
#define FLEET_SEAL_MAX (FLEET_SEAL_OVERHEAD + FLEET_SEAL_MAX_PLAIN)

/*
 * Loads the fleet key ([fleet] key) with the trust checks of every key
 * file (root-owned, not group- or world-readable). A missing file says how
 * to get one: "copy it from the governor (idgov fleet join)".
 */
int fleet_key_load(const struct cfg *cfg, struct secret_key **out, struct idg_err *err);

/* Seals len (at most FLEET_SEAL_MAX_PLAIN) bytes for the user uuid into blob; *blob_len is set. */
int fleet_seal(const struct secret_key *k, const char *uuid, const unsigned char *plain, size_t len,
	       unsigned char blob[FLEET_SEAL_MAX], size_t *blob_len, struct idg_err *err);

/*
 * Opens blob into plain (plain_size bytes of room; sodium_malloc'd by the
 * caller, wiped by it). -1 with err saying which: malformed, sealed under
 * another fleet key (both ids named), or forged / damaged / another user's.
 */
int fleet_open(const struct secret_key *k, const char *uuid, const unsigned char *blob,
	       size_t blob_len, unsigned char *plain, size_t plain_size, size_t *plain_len,
	       struct idg_err *err);

/* 1 if blob is well formed and sealed under k, 0 under another key, -1 malformed. */
int fleet_sealed_by(const struct secret_key *k, const unsigned char *blob, size_t blob_len);

/* The key id of k as hex (2 * FLEET_KEY_ID_LEN digits and NUL): what `idgov fleet join` prints. */
void fleet_key_id_hex(const struct secret_key *k, char out[2 * FLEET_KEY_ID_LEN + 1]);

#endif
