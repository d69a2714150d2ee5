/*
 * Break-glass codes (bgcodes.h): the file's grammar, its trust check, and
 * the two changes made to it, both under flock and by atomic rewrite.
 * libc and crypt(3) only (bgcrypt.h): this file is linked into pam_idgov.so,
 * which loads libcrypt only while it checks a code.
 *
 * Locking a file that is replaced by rename() needs care: a process may
 * lock the old inode after another has renamed a new one into place. So
 * after taking the lock we check that the path still names the inode we
 * hold, and start again if not (as pam_faillock's tally files would, were
 * they replaced).
 */
#define _GNU_SOURCE /* mkostemp */
#include "bgcodes.h"
#include "bgcrypt.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* 32 symbols, none that reads as another (no I, O, 0, 1): 5 bits a character, 60 a code. */
static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

static int seterr(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
seterr(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -1;
}

static int
name_valid(const char *s, size_t n)
{
	if (n == 0 || n > BGCODES_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == ':' || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
hash_valid(const char *s, size_t n)
{
	if (n < 2 || s[0] != '$')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == ':' || c >= 0x7f)
			return 0;
	}
	return 1;
}

int
bgcodes_parse(const char *text, size_t len,
	      int (*fn)(void *arg, const char *user, const char *hash, size_t line_start,
			size_t line_end),
	      void *arg, char *why, size_t why_size)
{
	char user[BGCODES_NAME_MAX + 1], hash[BGCODES_LINE_MAX + 1];
	size_t pos = 0, lineno = 0;
	int count = 0, rc = -1;

	if (len > BGCODES_FILE_MAX)
		return seterr(why, why_size, "larger than %d bytes", BGCODES_FILE_MAX);
	if (len > 0 && memchr(text, '\0', len) != NULL)
		return seterr(why, why_size, "holds a NUL byte");
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *colon;
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t end = pos + n + (nl != NULL ? 1 : 0);

		lineno++;
		if (n == 0) {
			pos = end;
			continue;
		}
		if (n > BGCODES_LINE_MAX) {
			seterr(why, why_size, "line %zu: longer than %d bytes", lineno,
			       BGCODES_LINE_MAX);
			goto out;
		}
		colon = memchr(line, ':', n);
		if (colon == NULL || !name_valid(line, (size_t)(colon - line)) ||
		    !hash_valid(colon + 1, n - (size_t)(colon - line) - 1)) {
			seterr(why, why_size, "line %zu: not USER:HASH", lineno);
			goto out;
		}
		memcpy(user, line, (size_t)(colon - line));
		user[colon - line] = '\0';
		memcpy(hash, colon + 1, n - (size_t)(colon - line) - 1);
		hash[n - (size_t)(colon - line) - 1] = '\0';
		count++;
		if (fn != NULL && fn(arg, user, hash, pos, end) != 0) {
			seterr(why, why_size, "line %zu: cannot be used", lineno);
			goto out;
		}
		pos = end;
	}
	rc = count;
out:
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/*
 * Opens path (creating it 0600 when create), trusted and exclusively
 * locked, and reads it into *text (malloc'd, *len bytes). fd, or -1.
 */
static int
open_locked(const char *path, int create, char **text, size_t *len, char *why, size_t why_size)
{
	struct stat st, again;
	ssize_t n;
	int fd = -1;

	*text = NULL;
	*len = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
		if (fd < 0)
			return seterr(why, why_size, "%s: %s", path, strerror(errno));
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return seterr(why, why_size, "%s: not a regular file", path);
		}
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			close(fd);
			return seterr(why, why_size, "%s: owned by uid %ld, not root", path,
				      (long)st.st_uid);
		}
		if (st.st_mode & 077) {
			close(fd);
			return seterr(why, why_size, "%s: mode %04o, group or others may use it",
				      path, (unsigned)(st.st_mode & 07777));
		}
		if (flock(fd, LOCK_EX) != 0) {
			close(fd);
			return seterr(why, why_size, "%s: cannot lock: %s", path, strerror(errno));
		}
		/* Still the file at path, not one a concurrent rewrite has replaced? */
		if (stat(path, &again) == 0 && again.st_dev == st.st_dev &&
		    again.st_ino == st.st_ino)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return seterr(why, why_size, "%s: keeps being replaced", path);
	if ((*text = malloc(BGCODES_FILE_MAX + 1)) == NULL) {
		close(fd);
		return seterr(why, why_size, "out of memory");
	}
	while (*len <= BGCODES_FILE_MAX &&
	       (n = read(fd, *text + *len, BGCODES_FILE_MAX + 1 - *len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(why, why_size, "%s: %s", path, strerror(errno));
			goto fail;
		}
		*len += (size_t)n;
	}
	if (*len > BGCODES_FILE_MAX) {
		seterr(why, why_size, "%s: larger than %d bytes", path, BGCODES_FILE_MAX);
		goto fail;
	}
	return fd;
fail:
	explicit_bzero(*text, BGCODES_FILE_MAX + 1);
	free(*text);
	*text = NULL;
	close(fd);
	return -1;
}

/* Replaces path with text: a 0600 temporary file beside it, fsync, rename, fsync of the folder. */
static int
rewrite(const char *path, const char *text, size_t len, char *why, size_t why_size)
{
	char tmp[4096], dir[4096];
	size_t off = 0;
	char *slash;
	int fd, dfd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return seterr(why, why_size, "%s: path too long", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return seterr(why, why_size, "%s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	seterr(why, why_size, "cannot rewrite %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* Constant time in the length of a: no early exit on the first differing byte. */
static int
equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	volatile unsigned char d = 0;

	if (strlen(b) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

struct use {
	const char *user, *code;
	struct bgcrypt crypt;
	struct crypt_data *cd;
	int count;
	int matched;
	size_t start, end;
};

static int
use_line(void *arg, const char *user, const char *hash, size_t start, size_t end)
{
	struct use *u = arg;
	const char *out;

	if (strcmp(user, u->user) != 0)
		return 0;
	u->count++;
	if (u->matched)
		return 0;
	memset(u->cd, 0, sizeof(*u->cd));
	out = u->crypt.crypt_rn(u->code, hash, u->cd, sizeof(*u->cd));
	if (out != NULL && out[0] != '*' && equal(out, hash)) {
		u->matched = 1;
		u->start = start;
		u->end = end;
	}
	return 0;
}

int
bgcodes_use(const char *path, const char *user, const char *code, int *left, char *why,
	    size_t why_size)
{
	struct use u = {.user = user, .code = code};
	char *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	*left = 0;
	if ((u.cd = calloc(1, sizeof(*u.cd))) == NULL)
		return seterr(why, why_size, "out of memory");
	if ((fd = open_locked(path, 0, &text, &len, why, why_size)) < 0 ||
	    bgcrypt_open(&u.crypt, why, why_size) != 0)
		goto out;
	if (bgcodes_parse(text, len, use_line, &u, why, why_size) < 0)
		goto out;
	if (!u.matched) {
		rc = 0;
		goto out;
	}
	/* The file without the line of the code just used. */
	memmove(text + u.start, text + u.end, len - u.end);
	if (rewrite(path, text, len - (u.end - u.start), why, why_size) != 0)
		goto out;
	*left = u.count - 1;
	rc = 1;
out:
	if (fd >= 0)
		close(fd); /* releases the lock, after the rename */
	if (text != NULL) {
		explicit_bzero(text, BGCODES_FILE_MAX + 1);
		free(text);
	}
	explicit_bzero(u.cd, sizeof(*u.cd));
	free(u.cd);
	bgcrypt_close(&u.crypt);
	return rc;
}

struct keep {
	const char *user;
	const char *text;
	char *out;
	size_t len;
};

/* Copies every line but user's. */
static int
keep_line(void *arg, const char *user, const char *hash, size_t start, size_t end)
{
	struct keep *k = arg;

	(void)hash;
	if (strcmp(user, k->user) == 0)
		return 0;
	memcpy(k->out + k->len, k->text + start, end - start);
	k->len += end - start;
	if (k->text[end - 1] != '\n')
		k->out[k->len++] = '\n';
	return 0;
}

static int
new_code(char code[BGCODES_CODE_LEN])
{
	unsigned char r[12];
	int j = 0;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (int i = 0; i < 12; i++) {
		if (i > 0 && i % 4 == 0)
			code[j++] = '-';
		code[j++] = alphabet[r[i] & 31];
	}
	code[j] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

int
bgcodes_replace(const char *path, const char *user, char codes[BGCODES_PER_USER][BGCODES_CODE_LEN],
		char *why, size_t why_size)
{
	struct keep k = {.user = user};
	struct bgcrypt crypt = {0};
	struct crypt_data *cd = NULL;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	char *text = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;

	if (!name_valid(user, strlen(user)))
		return seterr(why, why_size, "'%s' cannot be a user name here", user);
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return seterr(why, why_size, "out of memory");
	if ((fd = open_locked(path, 1, &text, &len, why, why_size)) < 0 ||
	    bgcrypt_open(&crypt, why, why_size) != 0)
		goto out;
	/* Room for what is kept (a newline may be added to the last line) and the new lines. */
	if ((k.out = malloc(len + 1 + BGCODES_PER_USER * (BGCODES_LINE_MAX + 2))) == NULL) {
		seterr(why, why_size, "out of memory");
		goto out;
	}
	k.text = text;
	if (bgcodes_parse(text, len, keep_line, &k, why, why_size) < 0)
		goto out;
	for (int i = 0; i < BGCODES_PER_USER; i++) {
		const char *hash;

		if (new_code(codes[i]) != 0 ||
		    crypt.gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
			seterr(why, why_size, "cannot make a code: %s", strerror(errno));
			goto out;
		}
		memset(cd, 0, sizeof(*cd));
		hash = crypt.crypt_rn(codes[i], salt, cd, sizeof(*cd));
		if (hash == NULL || hash[0] == '*') {
			seterr(why, why_size, "crypt: yescrypt is not available");
			goto out;
		}
		k.len += (size_t)sprintf(k.out + k.len, "%s:%s\n", user, hash);
	}
	if (k.len > BGCODES_FILE_MAX) {
		seterr(why, why_size, "%s would grow past %d bytes", path, BGCODES_FILE_MAX);
		goto out;
	}
	rc = rewrite(path, k.out, k.len, why, why_size);
out:
	if (rc != 0)
		explicit_bzero(codes, sizeof(char[BGCODES_PER_USER][BGCODES_CODE_LEN]));
	if (fd >= 0)
		close(fd);
	free(text);
	free(k.out);
	if (cd != NULL)
		explicit_bzero(cd, sizeof(*cd));
	free(cd);
	bgcrypt_close(&crypt);
	return rc;
}
