/*
 * The file steps every key rotation shares (rotate.h, rotate_audit.h,
 * rotate_backup.h): sibling names (KEY.new, KEY.old), a rename or link
 * made durable by fsyncing the directory, the swap that makes the current
 * key KEY.old and KEY.new the current key, and the destruction of a key
 * file (overwritten with zeros, fsync'd, unlinked).
 *
 * A rotation keeps the old key under a second name (a hard link) before
 * the new one is renamed over KEY, so at every instant KEY names a
 * complete key and the old one is never lost before the new one is in
 * place: a crash between the link and the rename leaves KEY and KEY.old
 * as the same file and KEY.new beside them, which keyfile_swap() finishes
 * when run again.
 */
#ifndef IDGOV_KEYFILE_H
#define IDGOV_KEYFILE_H

#include "util.h"

struct audit;

#include <limits.h>

/* out = path + suffix; -1 if it does not fit in PATH_MAX. */
int keyfile_sibling(char out[PATH_MAX], const char *path, const char *suffix, struct idg_err *err);

/* 1 if path exists (as anything, even a dangling link), else 0. */
int keyfile_exists(const char *path);

/* 1 if p and q are the same file (same device and inode), else 0. */
int keyfile_same(const char *p, const char *q);

/* Makes a rename, link or unlink in path's directory durable. */
int keyfile_fsync_dir(const char *path, struct idg_err *err);

/*
 * path becomes also oldp (a hard link; refused if oldp exists and is
 * another file), then newp is renamed over path; each step fsync'd.
 * stop_after_link returns after the link, as a crash there would.
 */
int keyfile_swap(const char *path, const char *newp, const char *oldp, int stop_after_link,
		 struct idg_err *err);

/*
 * One key operation at a time per key directory. The steps above assume
 * no other process makes or removes KEY.new or KEY.old between them: a
 * second rotation's recovery would take the first one's KEY.new for a
 * crash's leftover and destroy it, leaving the store sealed under a key
 * no file holds. keyfile_lock() takes an exclusive flock on the directory
 * of path, never waiting: while another process holds it, it fails with a
 * clear message. *fd is -1 on failure; keyfile_unlock(-1) does nothing.
 */
int keyfile_lock(const char *path, int *fd, struct idg_err *err);
void keyfile_unlock(int fd);

/*
 * Records a key operation (action: "key rotate", "key rotate completed",
 * "key destroy-old") on key ("master", "audit", "backup") with the ids
 * involved (NULL: none) in the audit chain; nothing when audit is NULL.
 */
int keyfile_audit_event(struct audit *audit, const char *actor, const char *key, const char *action,
			const char *old_id, const char *new_id, struct idg_err *err);

/* Overwrites a key file with zeros, fsyncs it, unlinks it and fsyncs its directory. */
int keyfile_destroy(const char *path, struct idg_err *err);

/*
 * IDGOV_FAULT=name kills the process here with SIGKILL, as a power cut
 * would: for the integration tests of crash safety.
 */
void keyfile_fault_point(const char *name);

#endif
