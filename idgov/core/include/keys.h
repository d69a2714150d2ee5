/*
 * Key files: the master key (32 random bytes, for encrypting secrets at
 * rest) and the Ed25519 key pair that signs audit chain heads.
 *
 * Key files are created with their final mode in the open() call (0400
 * for secrets, 0444 for the public key) and never overwritten: replacing
 * the master key would make every encrypted secret unreadable. Secret
 * keys are read into sodium_malloc() memory and must be released with
 * keys_free_secret(), which wipes them.
 */
#ifndef IDGOV_KEYS_H
#define IDGOV_KEYS_H

#include "util.h"

#include <sodium.h>

#define KEYS_MASTER_LEN 32
/* The backup key ([store] backup_key): separate from the master key, see backup.h. */
#define KEYS_BACKUP_LEN 32

/* Creates the master key file. Fails if it exists. */
int keys_create_master(const char *path, struct idg_err *err);

/* Creates the audit signing key (secret, 0400) and its public key (0444). Fails if either exists.
 */
int keys_create_audit(const char *secret_path, const char *public_path, struct idg_err *err);

/*
 * Creates an audit signing key alone (secret, 0400; fails if it exists):
 * a rotation's new key, whose public half goes into the chain
 * (audit_keys.h), not into a file.
 */
int keys_create_audit_secret(const char *secret_path, struct idg_err *err);

/* Reads the audit secret key into *sk (sodium_malloc, crypto_sign_SECRETKEYBYTES). */
int keys_load_audit_secret(const char *path, unsigned char **sk, struct idg_err *err);

int keys_load_audit_public(const char *path, unsigned char pk[crypto_sign_PUBLICKEYBYTES],
			   struct idg_err *err);

/* Reads the master key into *key (sodium_malloc, KEYS_MASTER_LEN bytes). */
int keys_load_master(const char *path, unsigned char **key, struct idg_err *err);

/* Creates the backup key file (0400, 32 random bytes). Fails if it exists. */
int keys_create_backup(const char *path, struct idg_err *err);
/* Reads the backup key into *key (sodium_malloc, KEYS_BACKUP_LEN bytes). */
int keys_load_backup(const char *path, unsigned char **key, struct idg_err *err);

void keys_free_secret(unsigned char *key);

#endif
