/*
 * The auth service's own store file ([authd] state, authd.db): the MFA
 * state a login writes (replay watermark, failures, failure window, lock
 * end, spent recovery codes), the login sessions and the password
 * history. A directory refresh holds the main store's write lock for
 * seconds; no login or password change waits on it for these writes.
 *
 * The file is created 0600 on first open and, in the same transaction,
 * filled from the main store's mfa and mfa_recovery tables: once,
 * atomically, and only by the opener that finds it empty under the write
 * lock (schema version 0), so two first openers cannot both copy.
 */
#ifndef IDGOV_MFASTATE_H
#define IDGOV_MFASTATE_H

#include "config.h"
#include "store.h"

/* The state file's path: [authd] state, or authd.db beside the store at store_path. */
int mfastate_path(const struct cfg *cfg, const char *store_path, char *buf, size_t len,
		  struct idg_err *err);

/*
 * Opens (creating 0600 if needed) the state file at path, migrating from
 * main (read only here) when the file is new. 0 with *out, or -1 (err).
 */
int mfastate_open(const char *path, struct store *main, struct store **out, struct idg_err *err);

/*
 * Backups (backup.h) carry an image of this file: a consistent copy
 * (sqlite3_serialize) of the file at path, or *img NULL and *len 0 when
 * there is none. *img is malloc'd.
 */
int mfastate_image(const char *path, unsigned char **img, size_t *len, struct idg_err *err);

/* An image is usable: integrity_check passes, and its version is one this idgov knows. */
int mfastate_image_check(const unsigned char *img, size_t len, struct idg_err *err);

/*
 * A restore merges the backup's image into the host's open state file
 * instead of replacing it, taking the more restrictive of the two: the
 * higher replay watermark and lock end, and every recovery code spent in
 * either. So neither a restore onto a new host (no file) nor one onto the
 * same host (a newer file) makes a spent code or a seen step usable again.
 * Login sessions the file lacks are added, so the "last login" reviews
 * show survives a move to a new host, and so are the remembered passwords
 * it lacks, so a restore does not let an old password be reused.
 * Offline logins waiting to be written back to the directory are not
 * merged: the directory decides those. Counts of users and spent codes
 * the image changed go to *users and *spent.
 */
int mfastate_merge_image(struct store *state, const unsigned char *img, size_t len, int64_t *users,
			 int64_t *spent, struct idg_err *err);

#endif
