/* Syslog lines over a datagram socket; see log.h. */
#include "log.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void
log_open(struct logger *lg, const char *ident, const char *socket_path, int to_stderr)
{
	memset(lg, 0, sizeof(*lg));
	lg->fd = -1;
	lg->to_stderr = to_stderr;
	lg->min_stderr_level = LOG_DEBUG;
	idg_strlcpy(lg->ident, ident != NULL ? ident : "idgov", sizeof(lg->ident));
	if (socket_path == NULL ||
	    idg_strlcpy(lg->path, socket_path, sizeof(lg->path)) >= sizeof(lg->path))
		lg->path[0] = '\0';
	if (lg->path[0] != '\0')
		lg->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

void
log_close(struct logger *lg)
{
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
}

static void
send_line(struct logger *lg, const char *line, size_t len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (lg->fd < 0)
		return;
	idg_strlcpy(sun.sun_path, lg->path, sizeof(sun.sun_path));
	/* Unconnected sendto() so that a restarted syslog daemon is found again. */
	(void)sendto(lg->fd, line, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, sizeof(sun));
}

void
log_msg(struct logger *lg, int priority, const char *fmt, ...)
{
	char msg[1024], line[1200], stamp[32];
	va_list ap;
	time_t now = time(NULL);
	struct tm tm;
	int n;
	int saved = errno;

	if (lg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Control characters from directory data must not forge log lines. */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "<%d>%s %s[%ld]: %s", LOG_AUTHPRIV | (priority & 7), stamp,
		     lg->ident, (long)getpid(), msg);
	if (n > 0)
		send_line(lg, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	if (lg->to_stderr && (priority & 7) <= lg->min_stderr_level)
		fprintf(stderr, "%s: %s\n", lg->ident, msg);
	errno = saved;
}
