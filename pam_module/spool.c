/*
 * A break-glass use, spooled for idgovd (spool.h). The module links no
 * JSON library: the record is small and fixed, written here with every
 * text escaped, and parsed strictly by idgovd like any other spool file.
 */
#define _GNU_SOURCE
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX 255
#define RECORD_MAX 4096

/* Appends s as a JSON string: printable ASCII kept, '"' and '\\' escaped, the rest '?'. */
static int
put_text(char *buf, size_t size, size_t *off, const char *s)
{
	size_t n = 0;

	if (*off + 1 >= size)
		return -1;
	buf[(*off)++] = '"';
	for (; s != NULL && *s != '\0' && n < TEXT_MAX; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (*off + 3 >= size)
			return -1;
		if (c == '"' || c == '\\') {
			buf[(*off)++] = '\\';
			buf[(*off)++] = (char)c;
		} else {
			buf[(*off)++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	if (*off + 1 >= size)
		return -1;
	buf[(*off)++] = '"';
	return 0;
}

static int
put_raw(char *buf, size_t size, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + n >= size)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	return 0;
}

static int
render(char *buf, size_t size, const char *user, const char *service, const char *rhost, int left)
{
	char host[TEXT_MAX + 1] = "", num[64];
	size_t off = 0;

	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	snprintf(num, sizeof(num), "{\"v\":1,\"time\":%" PRId64 ",\"host\":", (int64_t)time(NULL));
	if (put_raw(buf, size, &off, num) != 0 || put_text(buf, size, &off, host) != 0 ||
	    put_raw(buf, size, &off, ",\"actor\":\"pam_idgov\",\"subject\":") != 0 ||
	    put_text(buf, size, &off, user) != 0 ||
	    put_raw(buf, size, &off,
		    ",\"action\":\"login.breakglass\",\"details\":{\"service\":") != 0 ||
	    put_text(buf, size, &off, service) != 0 ||
	    put_raw(buf, size, &off, ",\"rhost\":") != 0 || put_text(buf, size, &off, rhost) != 0)
		return -1;
	snprintf(num, sizeof(num), ",\"codes_left\":%d}}", left);
	if (put_raw(buf, size, &off, num) != 0)
		return -1;
	buf[off] = '\0';
	return (int)off;
}

int
pam_spool_breakglass(const char *dir, const char *user, const char *service, const char *rhost,
		     int left, char *why, size_t whylen)
{
	static unsigned counter; /* names only; the pid and the clock make them unique */
	char rec[RECORD_MAX], tmp[4096], final[4096];
	struct timespec ts;
	ssize_t done = 0;
	int len, fd, dfd;

	if ((len = render(rec, sizeof(rec), user, service, rhost, left)) < 0) {
		snprintf(why, whylen, "record too long");
		return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (snprintf(final, sizeof(final), "%s/%016" PRIx64 "-%08x-%08x.ev", dir, ns,
		     (unsigned)getpid(), n) >= (int)sizeof(final) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%016" PRIx64 "-%08x-%08x.ev.tmp", dir, ns,
		     (unsigned)getpid(), n) >= (int)sizeof(tmp)) {
		snprintf(why, whylen, "%s: path too long", dir);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (done < len) {
		ssize_t w = write(fd, rec + done, (size_t)(len - done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += w;
	}
	if (done != len || fsync(fd) != 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, final) != 0) {
		snprintf(why, whylen, "%s: %s", final, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
