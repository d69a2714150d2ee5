/*
 * Trusting a file by its owner and its place, not by its mode alone (in
 * the style of OpenSSH's safe_path() in misc.c).
 *
 * idgovd, root's idgov and pam_idgov.so act on what the store, the keys
 * and the configuration say; whoever can write one of them, or replace it
 * by renaming in a directory above it, decides logins. So a file is
 * trusted only when:
 *
 * - it is what was asked for (a regular file or a directory; a symlink as
 *   the last component is refused, never followed);
 * - it is owned by root or by the effective uid of this process (idgovd
 *   and the PAM module in sshd, sudo or su: root; a test run by a user:
 *   that user);
 * - it is not writable by group or others, and a secret (a key) is not
 *   readable by them either;
 * - the directory holding a file is owned by root or the euid and not
 *   writable by group or others, sticky or not: a file straight in /tmp is
 *   refused (a directory checked as such is held to this rule itself);
 * - every directory above that, up to /, is owned by root or the euid and
 *   not writable by group or others, with one exception: a world- or
 *   group-writable directory that is sticky AND owned by root (/tmp,
 *   /var/tmp). There nobody but root and an entry's owner can rename or
 *   remove the entry, so a root-owned 0700 directory made by mktemp -d in
 *   /tmp stays where it is.
 *
 * Symlinks in the directories above are resolved first (realpath) and the
 * resolved directories are the ones checked, as OpenSSH does.
 *
 * Errors name the path and the reason: "/etc/idgov/master.key: owned by
 * uid 65534, not root".
 */
#ifndef IDGOV_SAFEPATH_H
#define IDGOV_SAFEPATH_H

#include "util.h"

#include <sys/stat.h>
#include <sys/types.h>

enum safepath_type {
	SAFEPATH_FILE, /* a regular file */
	SAFEPATH_DIR,  /* a directory */
};

/* Also refuse a file that group or others may read (keys). */
#define SAFEPATH_SECRET 0x1

/*
 * Checks path (lstat: a symlink is refused) and every directory above it.
 * 0, or -1 with "PATH: reason" in err.
 */
int safepath_check(const char *path, enum safepath_type type, unsigned flags, struct idg_err *err);

/*
 * Same, for a file the caller has already opened as fd from path: the
 * object checked is the one fstat(fd) sees, so it cannot be swapped
 * between the check and the use. If the caller followed a symlink at
 * path, the directories above the link and above the file it leads to
 * are both checked.
 */
int safepath_check_fd(int fd, const char *path, enum safepath_type type, unsigned flags,
		      struct idg_err *err);

/*
 * Replaces path by a new regular file holding data, created with mode:
 * written to a temporary name in the same directory (O_CREAT | O_EXCL |
 * O_NOFOLLOW), fsync'd, then renamed over path. A file someone else
 * created at path beforehand (in a shared directory) is replaced, never
 * written into, and the result is ours with our mode. A path that exists
 * and is not a regular file (a FIFO, a device, a directory, a symlink) is
 * refused. 0, or -1 with err.
 */
int safepath_write_file(const char *path, mode_t mode, const void *data, size_t len,
			struct idg_err *err);

/*
 * safepath_write_file() for a file written in pieces: fill(fd, arg, err)
 * writes the contents to the temporary file (0, or -1 with err); on its
 * failure the temporary file is removed and path is left as it was.
 */
int safepath_write_with(const char *path, mode_t mode,
			int (*fill)(int fd, void *arg, struct idg_err *err), void *arg,
			struct idg_err *err);

/*
 * safepath_write_with() in three steps, for a caller that writes the
 * temporary file while it decides whether the file should be kept:
 * safepath_temp_create() makes the temporary file next to path (its name in
 * tmp, tmpsz bytes) and returns its descriptor (O_WRONLY), or -1 with err;
 * safepath_temp_commit() fsyncs, closes and renames it over path (removed
 * on failure: -1 with err); safepath_temp_discard() closes and removes it.
 */
int safepath_temp_create(const char *path, mode_t mode, char *tmp, size_t tmpsz,
			 struct idg_err *err);
int safepath_temp_commit(int fd, const char *tmp, const char *path, struct idg_err *err);
void safepath_temp_discard(int fd, const char *tmp);

#endif
