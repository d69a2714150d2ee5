/* The audit anchor file; see anchor.h. */
#define _GNU_SOURCE /* asprintf, mkostemp */
#include "anchor.h"

#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char anchor_magic[] = "idgov-audit-anchor-v1";

/* Longer than any valid file, so that trailing junk is seen and refused. */
#define ANCHOR_FILE_MAX 512

void
anchor_head_line(const struct anchor_head *h, char line[ANCHOR_HEAD_LINE_MAX])
{
	char hash[ANCHOR_HASH_LEN * 2 + 1], sig[crypto_sign_BYTES * 2 + 1];

	sodium_bin2hex(hash, sizeof(hash), h->hash, sizeof(h->hash));
	sodium_bin2hex(sig, sizeof(sig), h->sig, sizeof(h->sig));
	snprintf(line, ANCHOR_HEAD_LINE_MAX, "seq=%lld hash=%s sig=%s", (long long)h->seq, hash,
		 sig);
}

/* Parses exactly 2 * len hex digits at p into out; returns the end, or NULL. */
static const char *
parse_hex(const char *p, unsigned char *out, size_t len)
{
	const char *end;
	size_t got;

	if (sodium_hex2bin(out, len, p, len * 2, NULL, &got, &end) != 0 || got != len)
		return NULL;
	return end;
}

/* Parses "seq=N hash=HEX sig=HEX" at p; returns where it ends, or NULL. */
static const char *
parse_head(const char *p, struct anchor_head *h)
{
	char *end;
	long long seq;

	if (strncmp(p, "seq=", 4) != 0 || p[4] < '0' || p[4] > '9')
		return NULL;
	errno = 0;
	seq = strtoll(p + 4, &end, 10);
	if (errno != 0 || seq < 0 || strncmp(end, " hash=", 6) != 0)
		return NULL;
	h->seq = seq;
	if ((p = parse_hex(end + 6, h->hash, sizeof(h->hash))) == NULL ||
	    strncmp(p, " sig=", 5) != 0)
		return NULL;
	return parse_hex(p + 5, h->sig, sizeof(h->sig));
}

int
anchor_parse_head_line(const char *line, struct anchor_head *h)
{
	const char *end = parse_head(line, h);

	return end != NULL && *end == '\0' ? 0 : -1;
}

static int
parse_line(const char *text, const char *path, struct anchor_head *h, struct idg_err *err)
{
	size_t n = strlen(anchor_magic);
	const char *end;

	if (strncmp(text, anchor_magic, n) != 0 || text[n] != ' ' ||
	    (end = parse_head(text + n + 1, h)) == NULL || strcmp(end, "\n") != 0)
		return idg_seterr(err, "audit anchor %s is malformed", path);
	return 0;
}

/*
 * The anchor is only as good as its protection: someone who could rewrite
 * it, or the directory it is in, could cut the chain again. So it is
 * trusted as keys are (safepath.h): a regular file, root's or ours, that
 * nobody else may write, in directories nobody else may change.
 */
static int
check_file(int fd, const char *path, struct idg_err *err)
{
	return safepath_check_fd(fd, path, SAFEPATH_FILE, 0, err);
}

/*
 * Opens the current anchor and flock()s it with op. The file is replaced
 * by rename(), so a lock may be granted on a file that is no longer the
 * anchor: then we open the new one and lock again.
 */
static int
open_locked(const char *path, int op, int *fdp, enum anchor_status *status, struct idg_err *err)
{
	struct stat sb, now;

	*fdp = -1;
	*status = ANCHOR_OK;
	for (int tries = 0; tries < 1000; tries++) {
		/* O_NONBLOCK: a FIFO put in its place must not hang a login. */
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		if (fd < 0 && errno == ENOENT) {
			*status = ANCHOR_MISSING;
			return 0;
		}
		if (fd < 0 && errno == ELOOP)
			return idg_seterr(err, "audit anchor %s is a symbolic link; refusing it",
					  path);
		if (fd < 0)
			return idg_seterr(err, "cannot open audit anchor %s: %s", path,
					  strerror(errno));
		if (check_file(fd, path, err) != 0) {
			close(fd);
			return -1;
		}
		if (flock(fd, op) != 0) {
			idg_seterr(err, "cannot lock audit anchor %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (fstat(fd, &sb) == 0 && lstat(path, &now) == 0 && sb.st_dev == now.st_dev &&
		    sb.st_ino == now.st_ino) {
			*fdp = fd;
			return 0;
		}
		close(fd); /* replaced while we waited */
	}
	return idg_seterr(err, "audit anchor %s keeps changing; giving up", path);
}

static int
read_fd(int fd, const char *path, struct anchor_head *h, struct idg_err *err)
{
	char buf[ANCHOR_FILE_MAX + 1];
	size_t got = 0;
	ssize_t n = 0;

	while (got < ANCHOR_FILE_MAX && (n = read(fd, buf + got, ANCHOR_FILE_MAX - got)) > 0)
		got += (size_t)n;
	if (got == 0 && n < 0)
		return idg_seterr(err, "cannot read audit anchor %s: %s", path, strerror(errno));
	buf[got] = '\0';
	if (memchr(buf, '\0', got) != NULL)
		return idg_seterr(err, "audit anchor %s is malformed", path);
	return parse_line(buf, path, h, err);
}

/* rename() and link() are durable once the directory is. */
static int
fsync_parent(const char *path, struct idg_err *err)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fsync(fd) == 0)
		rc = 0;
	else
		idg_seterr(err, "cannot sync the directory of %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/*
 * Writes h to a new file beside path (mkstemp: O_EXCL, mode 0600 from the
 * start) and syncs it; *tmp is its name, for the caller to rename or link.
 */
static int
write_temp(const char *path, const struct anchor_head *h, char **tmp, struct idg_err *err)
{
	char line[ANCHOR_HEAD_LINE_MAX], text[ANCHOR_FILE_MAX];
	int fd, n;
	ssize_t w;

	if (asprintf(tmp, "%s.XXXXXX", path) < 0) {
		*tmp = NULL;
		return idg_seterr(err, "out of memory");
	}
	anchor_head_line(h, line);
	n = snprintf(text, sizeof(text), "%s %s\n", anchor_magic, line);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		idg_seterr(err, "cannot create %s: %s", *tmp, strerror(errno));
		goto fail;
	}
	w = write(fd, text, (size_t)n);
	if (w != n || fsync(fd) != 0) {
		idg_seterr(err, "cannot write %s: %s", *tmp,
			   w < 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(*tmp);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	free(*tmp);
	*tmp = NULL;
	return -1;
}

/* Replaces path by h: a new file renamed over it, so readers see the old or the new. */
static int
replace(const char *path, const struct anchor_head *h, struct idg_err *err)
{
	char *tmp;

	if (write_temp(path, h, &tmp, err) != 0)
		return -1;
	if (rename(tmp, path) != 0) {
		idg_seterr(err, "cannot replace audit anchor %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return fsync_parent(path, err);
}

int
anchor_read(const char *path, struct anchor_head *h, enum anchor_status *status,
	    struct idg_err *err)
{
	int fd, rc;

	memset(h, 0, sizeof(*h));
	if (open_locked(path, LOCK_SH, &fd, status, err) != 0)
		return -1;
	if (*status == ANCHOR_MISSING)
		return 0;
	rc = read_fd(fd, path, h, err);
	close(fd);
	return rc;
}

int
anchor_create(const char *path, const struct anchor_head *h, struct idg_err *err)
{
	char *tmp;
	int rc = -1;

	if (write_temp(path, h, &tmp, err) != 0)
		return -1;
	/* link() fails if the anchor exists: creation never replaces one. */
	if (link(tmp, path) != 0)
		idg_seterr(err, "cannot create audit anchor %s: %s", path, strerror(errno));
	else
		rc = fsync_parent(path, err);
	unlink(tmp);
	free(tmp);
	return rc;
}

int
anchor_advance(const char *path, const struct anchor_head *h,
	       int (*check)(void *arg, const struct anchor_head *current, struct idg_err *err),
	       void *arg, enum anchor_status *status, int *moved, struct idg_err *err)
{
	struct anchor_head cur;
	int fd, rc = -1;

	*moved = 0;
	if (open_locked(path, LOCK_EX, &fd, status, err) != 0)
		return -1;
	if (*status == ANCHOR_MISSING)
		return 0;
	if (read_fd(fd, path, &cur, err) != 0 || (check != NULL && check(arg, &cur, err) != 0))
		goto out;
	if (h->seq > cur.seq) {
		if (replace(path, h, err) != 0)
			goto out;
		*moved = 1;
	}
	rc = 0;
out:
	close(fd); /* releases the lock, after the rename */
	return rc;
}

int
anchor_reset(const char *path, const struct anchor_head *h, struct idg_err *err)
{
	enum anchor_status status;
	int fd, rc;

	/*
	 * A loose or foreign file is refused here too: the admin removes it
	 * first, knowingly. Holding the lock keeps signers from racing us.
	 */
	if (open_locked(path, LOCK_EX, &fd, &status, err) != 0)
		return -1;
	rc = replace(path, h, err);
	if (fd >= 0)
		close(fd);
	return rc;
}
