/*
 * Backups of a host's governance state: one encrypted file holding an
 * online snapshot of the store, the configuration, the audit public key
 * and a manifest.
 *
 * Format (version 1):
 *
 *     "IDGOVBK1" | key id (16) | secretstream header (24) | parts
 *
 * where the key id is BLAKE2b-128 keyed by the backup key over a fixed
 * label (it says "another key" without saying anything about the key),
 * and each part is a 32-bit big-endian length and one
 * crypto_secretstream_xchacha20poly1305 message of at most 64 KiB of
 * plaintext, authenticated with the 48 bytes before it as associated data.
 * The last message carries TAG_FINAL and nothing may follow it, so a cut
 * file, a changed byte, a reordered part or another key are each refused.
 *
 * XChaCha20-Poly1305 rather than AES-256-GCM: libsodium offers AES-GCM
 * only on CPUs with AES-NI and for single messages of bounded size, with
 * a 96-bit random nonce; the secretstream construction has a 256-bit key,
 * 192-bit nonces, per-part authentication and end-of-stream detection,
 * and runs everywhere. Its strength is that of AES-256 (256-bit key,
 * 128-bit tag), which is what the policy's "AES-256" asks of data at rest.
 *
 * The plaintext is a sequence of entries (1-byte name length, name,
 * 64-bit big-endian length, bytes): "manifest.json", "idgov.conf",
 * "audit.pub", "store.db" and, from format 2 on, "authd.db" (the auth
 * service's MFA state file, mfastate.h: spent recovery codes and replay
 * watermarks; empty when the host has none), in that order. Format 1
 * files (no authd.db) are still read.
 *
 * The backup key ([store] backup_key) is separate from the master key:
 * the master key never leaves the host, the backup key must be kept
 * somewhere else too (a backup is useless without it).
 */
#ifndef IDGOV_BACKUP_H
#define IDGOV_BACKUP_H

#include "config.h"
#include "store.h"

#include <sodium.h>
#include <stdint.h>

#define BACKUP_KEY_LEN crypto_secretstream_xchacha20poly1305_KEYBYTES
#define BACKUP_FORMAT 2
#define BACKUP_SUFFIX ".backup"

struct backup_manifest {
	int format;
	char version[32];
	int schema;
	int64_t head_seq; /* 0: empty chain */
	unsigned char head_hash[32];
	int64_t time;
	char host[256];
	int64_t store_bytes;
	int64_t authd_bytes; /* format 2 */
};

struct backup_contents {
	struct backup_manifest m;
	unsigned char *db; /* the store's image (sqlite3_malloc) */
	size_t db_len;
	char *config; /* NUL-terminated */
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char *authd; /* the MFA state file's image (malloc), or NULL */
	size_t authd_len;
};

void backup_contents_free(struct backup_contents *c);

/* Creates the backup key file (0400); fails if it exists. */
int backup_key_create(const char *path, struct idg_err *err);
/* Reads it (trusted as a secret key, keys.h) into *key (sodium_malloc, BACKUP_KEY_LEN). */
int backup_key_load(const char *path, unsigned char **key, struct idg_err *err);

/*
 * A consistent snapshot of the open store (sqlite3_serialize(): every
 * page copied once, under one read transaction: logins and idgovd go on), with the
 * configuration file and the audit public key cfg names, and the manifest.
 */
int backup_snapshot(const struct cfg *cfg, struct store *st, struct backup_contents *c,
		    struct idg_err *err);

/* Encrypts c into *out (malloc, *len bytes). */
int backup_seal(const unsigned char *key, const struct backup_contents *c, unsigned char **out,
		size_t *len, struct idg_err *err);

/* Decrypts and parses a backup; any doubt is -1 with a sentence saying what is wrong. */
int backup_unseal(const unsigned char *key, const unsigned char *buf, size_t len,
		  struct backup_contents *c, struct idg_err *err);

struct backup_check {
	int64_t records, signatures;
	int pk_differs; /* the backup's audit key is not the host's */
	int old_key;    /* made with the previous backup key (KEY.old, after a rotation) */
};

/*
 * Checks decrypted contents: PRAGMA integrity_check on the image, the
 * audit chain verified with the backup's public key, and the manifest
 * against the image (schema version, head seq and hash, size). host_pk
 * (may be NULL) is only compared.
 */
int backup_check(const struct backup_contents *c, const unsigned char *host_pk,
		 struct backup_check *rep, struct idg_err *err);

/* "DIR/idgov-HOST-YYYYMMDDTHHMMSSZ.backup" */
int backup_file_name(const char *dir, const char *host, int64_t t, char *out, size_t size);

/*
 * Snapshot, seal and write into dir (trusted as a directory, safepath.h):
 * written 0600 to a temporary name, fsync'd and renamed, so the final
 * name never holds a partial file. The snapshot is checked in place
 * (backup_check()) while a second thread seals it part by part straight
 * into the temporary file and reads the file back part by part: every
 * part must authenticate and the parts' tags hash to what was sealed
 * (so the file decrypts to the bytes checked). The file is renamed only
 * when both succeeded. The path written is put in path (PATH_MAX).
 */
int backup_run(const struct cfg *cfg, struct store *st, const char *dir, char *path, size_t size,
	       struct backup_manifest *m, struct idg_err *err);

/*
 * The backup key's id as printed and audited: hex of the keyed BLAKE2b
 * that the file header holds (BACKUP_KEY_ID_HEX bytes with the NUL).
 */
#define BACKUP_KEY_ID_HEX 33
void backup_key_id_hex(const unsigned char *key, char id[BACKUP_KEY_ID_HEX]);

/* 1 if the backup file at path names key in its header, 0 if not (or unreadable). */
int backup_file_uses_key(const char *path, const unsigned char *key);

/*
 * Reads, decrypts and checks a backup file with the key at key_path or,
 * when the file names another key and key_path.old is that key (a
 * backup made before `idgov key rotate backup`), with the old one
 * (rep->old_key).
 */
int backup_verify_file(const char *path, const char *key_path, const unsigned char *host_pk,
		       struct backup_contents *c, struct backup_check *rep, struct idg_err *err);

/*
 * Removes idgov's own backups (idgov-*.backup, and temporaries of them
 * older than a day) in dir made more than keep seconds before now, but
 * never the newest one. *removed counts them. *newest is the newest
 * backup's time not after now (0: none). Refused (-1, nothing removed)
 * in a directory others could change (safepath.h), as backup_run() is.
 */
int backup_prune(const char *dir, int64_t keep, int64_t now, int *removed, int64_t *newest,
		 struct idg_err *err);

/*
 * The time in the name of the newest idgov backup in dir, not after now
 * (a name from a clock that was ahead never counts); 0: none (or dir
 * unreadable).
 */
int64_t backup_newest(const char *dir, int64_t now);

struct backup_restore_report {
	char aside[4096];      /* where the previous store went */
	int64_t restored_head; /* head seq of the backup */
	int64_t previous_head; /* head seq of the store set aside; -1: unreadable */
	int64_t anchored;      /* the anchor's new head */
	int unchanged;         /* on failure: 1 when nothing was replaced */
	/* The backup's MFA state merged into the host's (mfastate_merge_image). */
	int64_t authd_users, authd_spent;
};

/*
 * Restores a verified backup: the current store (and its -wal, -shm) is
 * renamed to STORE.before-restore-STAMP (-2, -3, ... within one second),
 * the backup's image written in
 * its place, migrated if older, the anchor explicitly reset to the
 * restored head (an audit.anchor_reset record) and a backup.restore
 * record appended naming the file, the restored head and the head set
 * aside. The backup's MFA state image, if any, is merged into the host's
 * state file (mfastate_merge_image: never replaced, so the auth service
 * may run). The caller makes sure idgovd does not run. On failure before
 * the new store is written, the old one is put back.
 */
int backup_restore(const struct cfg *cfg, const char *file, const struct backup_contents *c,
		   const char *actor, struct backup_restore_report *rep, struct idg_err *err);

/*
 * `idgov restore FILE`: reads and decrypts file (with [store] backup_key,
 * or its .old as backup_verify_file() does), then writes the store image
 * to a temporary file beside the store while backup_check() checks the
 * image in memory (a second thread); only when the file authenticated,
 * the check passed, the image is on disk and the backup's audit key is
 * the host's does backup_restore()'s replacement happen, re-anchoring
 * with the chain just verified (it is not walked twice). The manifest is
 * left in c (free it with backup_contents_free()), the check's figures in
 * chk. On failure rep->unchanged says whether nothing was replaced.
 */
int backup_restore_file(const struct cfg *cfg, const char *file, const char *actor,
			struct backup_contents *c, struct backup_check *chk,
			struct backup_restore_report *rep, struct idg_err *err);

#endif
