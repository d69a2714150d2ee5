/*
 * Backup key rotation. Nothing in the store is sealed under the backup
 * key, so the rotation is the file steps alone, in an order a kill at
 * any point leaves usable:
 *
 *   1. write backup.key.new (0400, O_EXCL, fsync, directory fsync);
 *   2. link backup.key to backup.key.old;
 *   3. the audit record (old and new key ids): from here the rotation
 *      is decided;
 *   4. rename backup.key.new over backup.key, directory fsync.
 *
 * rotate_backup_recover() (run first by each rotation and by idgovd at
 * start) finishes a rotation cut after step 2 (recording it if step 3
 * had not happened) and removes a backup.key.new that was never linked.
 *
 * Backups already written keep their key: `backup verify` and `restore`
 * read a file made with the previous key with backup.key.old (the file
 * header names its key by id, backup.h), which therefore stays until
 * `idgov key destroy-old backup` overwrites and removes it; from then on
 * the backups made before the rotation can no longer be read, and
 * destroy-old says how many of them are still in [backup] targets. Copy
 * the new key off the host, as the first one.
 */
#ifndef IDGOV_ROTATE_BACKUP_H
#define IDGOV_ROTATE_BACKUP_H

#include "audit.h"
#include "backup.h"
#include "config.h"
#include "rotate.h"

struct rotate_backup_result {
	char old_id[BACKUP_KEY_ID_HEX], new_id[BACKUP_KEY_ID_HEX];
	int old_backups; /* destroy-old: backups in [backup] targets made with the destroyed key */
};

/* Rotates the backup key at cfg's [store] backup_key. audit may be NULL. */
int rotate_backup(const struct cfg *cfg, struct audit *audit, const char *actor,
		  enum rotate_stop stop, struct rotate_backup_result *res, struct idg_err *err);

/* Completes or undoes a rotation a crash interrupted; *what as in rotate_master_recover(). */
int rotate_backup_recover(const struct cfg *cfg, struct audit *audit, const char *actor,
			  const char **what, struct idg_err *err);

/* Overwrites, fsyncs and unlinks backup.key.old; res->old_backups counts what it orphans. */
int rotate_backup_destroy_old(const struct cfg *cfg, struct audit *audit, const char *actor,
			      struct rotate_backup_result *res, struct idg_err *err);

#endif
