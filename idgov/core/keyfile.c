/* File steps shared by the key rotations; see keyfile.h. */
#include "keyfile.h"

#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void
keyfile_fault_point(const char *name)
{
	const char *f = getenv("IDGOV_FAULT");

	if (f != NULL && strcmp(f, name) == 0)
		raise(SIGKILL);
}

int
keyfile_sibling(char out[PATH_MAX], const char *path, const char *suffix, struct idg_err *err)
{
	if (snprintf(out, PATH_MAX, "%s%s", path, suffix) >= PATH_MAX)
		return idg_seterr(err, "%s: path too long", path);
	return 0;
}

int
keyfile_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

int
keyfile_same(const char *p, const char *q)
{
	struct stat a, b;

	return lstat(p, &a) == 0 && lstat(q, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int
keyfile_fsync_dir(const char *path, struct idg_err *err)
{
	char copy[PATH_MAX];
	int fd, rc;

	idg_strlcpy(copy, path, sizeof(copy));
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return idg_seterr(err, "cannot open the directory of %s: %s", path,
				  strerror(errno));
	rc = fsync(fd);
	close(fd);
	if (rc != 0)
		return idg_seterr(err, "cannot fsync the directory of %s: %s", path,
				  strerror(errno));
	return 0;
}

int
keyfile_lock(const char *path, int *fd, struct idg_err *err)
{
	char copy[PATH_MAX];
	const char *dir;
	int e;

	idg_strlcpy(copy, path, sizeof(copy));
	dir = dirname(copy);
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return idg_seterr(err, "cannot open %s: %s", dir, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	e = errno;
	close(*fd);
	*fd = -1;
	if (e == EWOULDBLOCK)
		return idg_seterr(err,
				  "another key operation is running on the keys in %s: "
				  "try again when it has ended",
				  dir);
	return idg_seterr(err, "cannot lock %s: %s", dir, strerror(e));
}

void
keyfile_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int
keyfile_destroy(const char *path, struct idg_err *err)
{
	static const unsigned char zeros[256];
	struct stat a, b;
	int fd, wfd = -1, rc = -1;
	off_t left;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return idg_seterr(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) {
		idg_seterr(err, "%s is not a regular file", path);
		goto out;
	}
	/* The key is 0400: make it writable by its owner only, long enough to overwrite it. */
	if (fchmod(fd, 0600) != 0) {
		idg_seterr(err, "cannot change the mode of %s: %s", path, strerror(errno));
		goto out;
	}
	wfd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd < 0 || fstat(wfd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		idg_seterr(err, "cannot open %s to overwrite it", path);
		goto out;
	}
	for (left = a.st_size; left > 0;) {
		size_t n = left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
		ssize_t w = write(wfd, zeros, n);

		if (w <= 0) {
			idg_seterr(err, "cannot overwrite %s: %s", path, strerror(errno));
			goto out;
		}
		left -= w;
	}
	if (fsync(wfd) != 0 || unlink(path) != 0) {
		idg_seterr(err, "cannot overwrite and remove %s: %s", path, strerror(errno));
		goto out;
	}
	rc = keyfile_fsync_dir(path, err);
out:
	if (wfd >= 0)
		close(wfd);
	close(fd);
	return rc;
}

int
keyfile_swap(const char *path, const char *newp, const char *oldp, int stop_after_link,
	     struct idg_err *err)
{
	if (keyfile_exists(oldp)) {
		if (!keyfile_same(path, oldp))
			return idg_seterr(err, "%s exists and is not %s: refusing to replace it",
					  oldp, path);
	} else if (link(path, oldp) != 0) {
		return idg_seterr(err, "cannot link %s to %s: %s", path, oldp, strerror(errno));
	}
	if (keyfile_fsync_dir(path, err) != 0)
		return -1;
	keyfile_fault_point("key-rotate-after-link");
	if (stop_after_link)
		return 0;
	if (rename(newp, path) != 0)
		return idg_seterr(err, "cannot rename %s to %s: %s", newp, path, strerror(errno));
	return keyfile_fsync_dir(path, err);
}

int
keyfile_audit_event(struct audit *audit, const char *actor, const char *key, const char *action,
		    const char *old_id, const char *new_id, struct idg_err *err)
{
	json_t *d;

	if (audit == NULL)
		return 0;
	if ((d = json_pack("{s:s}", "key", key)) == NULL)
		return idg_seterr(err, "out of memory");
	if (old_id != NULL)
		json_object_set_new(d, "old_id", json_string(old_id));
	if (new_id != NULL)
		json_object_set_new(d, "new_id", json_string(new_id));
	return audit_record(audit, actor, key, action, d, err);
}
