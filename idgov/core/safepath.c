/* Trusting files by owner and place; see safepath.h. */
#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Root, and the euid: a test run by a user trusts that user's own files. */
static int
trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static int
owner_err(struct idg_err *err, const char *path, const char *what, uid_t uid)
{
	if (geteuid() == 0)
		return idg_seterr(err, "%s: %sowned by uid %u, not root", path, what,
				  (unsigned)uid);
	return idg_seterr(err, "%s: %sowned by uid %u, not root or uid %u", path, what,
			  (unsigned)uid, (unsigned)geteuid());
}

static const char *
type_name(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symlink";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "a device";
}

/* The object itself: its type, owner and mode. */
static int
check_object(const char *path, const struct stat *sb, enum safepath_type type, unsigned flags,
	     struct idg_err *err)
{
	int want_dir = type == SAFEPATH_DIR;

	if (want_dir ? !S_ISDIR(sb->st_mode) : !S_ISREG(sb->st_mode))
		return idg_seterr(err, "%s: is %s, not %s", path, type_name(sb->st_mode),
				  want_dir ? "a directory" : "a regular file");
	if (!trusted_uid(sb->st_uid))
		return owner_err(err, path, "", sb->st_uid);
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return idg_seterr(err, "%s: writable by group or others (mode %04o)", path,
				  (unsigned)(sb->st_mode & 07777));
	if ((flags & SAFEPATH_SECRET) && (sb->st_mode & (S_IRGRP | S_IROTH)))
		return idg_seterr(err, "%s: readable by group or others (mode %04o)", path,
				  (unsigned)(sb->st_mode & 07777));
	return 0;
}

/*
 * One directory above the object. The one holding it (first) must not be
 * writable by anyone else at all; higher up, a sticky root-owned one
 * (/tmp) is accepted: there only root and an entry's owner may rename or
 * remove that entry.
 */
static int
check_dir(const char *path, const char *dir, int first, struct idg_err *err)
{
	struct stat sb;

	if (lstat(dir, &sb) != 0)
		return idg_seterr(err, "%s: cannot stat directory %s: %s", path, dir,
				  strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return idg_seterr(err, "%s: %s is not a directory", path, dir);
	if (!trusted_uid(sb.st_uid)) {
		char what[PATH_MAX + 16];

		snprintf(what, sizeof(what), "directory %s is ", dir);
		return owner_err(err, path, what, sb.st_uid);
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) &&
	    (first || !(sb.st_mode & S_ISVTX) || sb.st_uid != 0))
		return idg_seterr(err,
				  "%s: directory %s is writable by group or others (mode %04o)",
				  path, dir, (unsigned)(sb.st_mode & 07777));
	return 0;
}

/*
 * Walks from the directory holding path up to /. strict: that first
 * directory is held to the strict rule (path is a file in it); for a
 * directory checked as such, everything above it is "higher up".
 */
static int
check_parents(const char *path, int strict, struct idg_err *err)
{
	char *copy = strdup(path), *real = NULL, *slash;
	int first = strict, rc = -1;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	real = realpath(dirname(copy), NULL);
	if (real == NULL) {
		idg_seterr(err, "%s: cannot resolve its directory: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (check_dir(path, real, first, err) != 0)
			goto out;
		if (strcmp(real, "/") == 0)
			break;
		slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		first = 0;
	}
	rc = 0;
out:
	free(real);
	free(copy);
	return rc;
}

int
safepath_check(const char *path, enum safepath_type type, unsigned flags, struct idg_err *err)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return idg_seterr(err, "%s: %s", path, strerror(errno));
	if (check_object(path, &sb, type, flags, err) != 0)
		return -1;
	return check_parents(path, type == SAFEPATH_FILE, err);
}

int
safepath_check_fd(int fd, const char *path, enum safepath_type type, unsigned flags,
		  struct idg_err *err)
{
	struct stat sb;

	char *real;
	int rc;

	if (fstat(fd, &sb) != 0)
		return idg_seterr(err, "%s: %s", path, strerror(errno));
	if (check_object(path, &sb, type, flags, err) != 0)
		return -1;
	if (check_parents(path, type == SAFEPATH_FILE, err) != 0)
		return -1;
	/*
	 * The caller may have followed a symlink (the configuration): then the
	 * directories of the file it leads to count too, not only the link's.
	 */
	if ((real = realpath(path, NULL)) == NULL)
		return idg_seterr(err, "%s: cannot resolve: %s", path, strerror(errno));
	rc = strcmp(real, path) == 0 ? 0 : check_parents(real, type == SAFEPATH_FILE, err);
	free(real);
	return rc;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct bytes {
	const void *data;
	size_t len;
};

static int
fill_bytes(int fd, void *arg, struct idg_err *err)
{
	const struct bytes *b = arg;

	if (write_all(fd, b->data, b->len) != 0)
		return idg_seterr(err, "%s", strerror(errno));
	return 0;
}

int
safepath_write_file(const char *path, mode_t mode, const void *data, size_t len,
		    struct idg_err *err)
{
	struct bytes b = {data, len};

	return safepath_write_with(path, mode, fill_bytes, &b, err);
}

int
safepath_temp_create(const char *path, mode_t mode, char *tmp, size_t tmpsz, struct idg_err *err)
{
	struct stat sb;
	int fd = -1;

	/* A FIFO would hang us, a directory or device is not ours to replace. */
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return idg_seterr(err, "%s: is %s; refusing to replace it", path,
				  type_name(sb.st_mode));
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		uint32_t r;

		if (getentropy(&r, sizeof(r)) != 0)
			r = (uint32_t)getpid() ^ (uint32_t)tries;
		if ((size_t)snprintf(tmp, tmpsz, "%s.%08x.tmp", path, (unsigned)r) >= tmpsz)
			return idg_seterr(err, "%s: path too long", path);
		/* O_EXCL: a name someone else made (a symlink too) is never ours. */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST)
			return idg_seterr(err, "cannot create %s: %s", tmp, strerror(errno));
	}
	if (fd < 0)
		return idg_seterr(err, "cannot create a temporary file next to %s", path);
	/* The umask may have narrowed the mode; nothing may have widened it. */
	if (fchmod(fd, mode) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return idg_seterr(err, "cannot write %s: %s", path, strerror(e));
	}
	return fd;
}

int
safepath_temp_commit(int fd, const char *tmp, const char *path, struct idg_err *err)
{
	int e;

	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return idg_seterr(err, "cannot write %s: %s", path, strerror(e));
}

void
safepath_temp_discard(int fd, const char *tmp)
{
	if (fd >= 0)
		close(fd);
	unlink(tmp);
}

int
safepath_write_with(const char *path, mode_t mode, int (*fill)(int, void *, struct idg_err *),
		    void *arg, struct idg_err *err)
{
	struct idg_err why;
	char tmp[PATH_MAX];
	int fd = safepath_temp_create(path, mode, tmp, sizeof(tmp), err);

	if (fd < 0)
		return -1;
	if (fill(fd, arg, &why) != 0) {
		safepath_temp_discard(fd, tmp);
		return idg_seterr(err, "cannot write %s: %s", path, why.msg);
	}
	return safepath_temp_commit(fd, tmp, path, err);
}
