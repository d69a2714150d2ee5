/* Control socket client; see client.h. */
#define _GNU_SOURCE /* struct ucred */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REPLY (512u << 20)

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The server must be root or daemon_user. Anyone who could bind the
 * socket path (a stale path in a directory they may write, a wrong
 * configuration) could otherwise read our requests, such as an MFA code,
 * and answer with what they like. The kernel records who called listen()
 * on the socket, and we ask it, not the server.
 */
static int
check_server(int fd, const char *socket_path, const char *daemon_user, struct idg_err *err)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd *pw;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return idg_seterr(err, "cannot read the credentials of the server on %s: %s",
				  socket_path, strerror(errno));
	if (cred.uid == 0)
		return 0;
	pw = daemon_user != NULL ? getpwnam(daemon_user) : NULL;
	if (pw != NULL && pw->pw_uid == cred.uid)
		return 0;
	return idg_seterr(err,
			  "refusing to talk to %s: it is served by uid %u, not by root or "
			  "[control] daemon_user (%s); it is not idgovd",
			  socket_path, (unsigned)cred.uid, daemon_user ? daemon_user : "root");
}

/* Bounds each blocking call on fd (connect, send, read) to timeout_ms. */
static int
set_timeouts(int fd, int timeout_ms, struct idg_err *err)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return idg_seterr(err, "cannot set the socket's timeouts: %s", strerror(errno));
	return 0;
}

/* What a failed call on the control socket says: a timeout, or errno's text. */
static const char *
why(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS ? "idgovd did not answer in time"
								   : strerror(e);
}

int
client_call(const char *socket_path, const char *daemon_user, const char *request, char **reply,
	    int *unavailable, struct idg_err *err)
{
	return client_call_within(socket_path, daemon_user, request, 0, reply, unavailable, err);
}

int
client_call_within(const char *socket_path, const char *daemon_user, const char *request,
		   int timeout_ms, char **reply, int *unavailable, struct idg_err *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 65536;
	char *buf = NULL;
	int fd, send_errno = 0, timed_out = 0;

	*reply = NULL;
	*unavailable = 0;
	if (idg_strlcpy(sun.sun_path, socket_path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return idg_seterr(err, "socket path %s is too long", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return idg_seterr(err, "socket: %s", strerror(errno));
	if (timeout_ms > 0 && set_timeouts(fd, timeout_ms, err) != 0) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		close(fd);
		*unavailable = e == ENOENT || e == ECONNREFUSED;
		if (!*unavailable)
			return idg_seterr(err, "cannot connect to idgovd on %s: %s", socket_path,
					  why(e));
		return idg_seterr(err, "idgovd is not running (cannot connect to %s: %s)",
				  socket_path, strerror(e));
	}
	if (check_server(fd, socket_path, daemon_user, err) != 0) {
		close(fd);
		return -1;
	}
	if (write_all(fd, request, strlen(request)) != 0 || write_all(fd, "\n", 1) != 0) {
		send_errno = errno;
		/* idgovd refuses a connection (too many from this uid, no free slot) with an
		 * error reply before reading the request: read that reply, it says why. */
		if (send_errno != EPIPE && send_errno != ECONNRESET) {
			close(fd);
			return idg_seterr(err, "sending request to idgovd: %s", why(send_errno));
		}
	}
	shutdown(fd, SHUT_WR);
	buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return idg_seterr(err, "out of memory");
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *bigger = cap < MAX_REPLY ? realloc(buf, cap * 2) : NULL;

			if (bigger == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			timed_out = 1;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return idg_seterr(err, "reply from idgovd is too large");
	if (timed_out) {
		free(buf);
		return idg_seterr(err, "idgovd did not answer within %d ms", timeout_ms);
	}
	buf[len] = '\0';
	if (len == 0 && send_errno != 0) {
		free(buf);
		return idg_seterr(err, "sending request to idgovd: %s", strerror(send_errno));
	}
	if (len == 0) {
		free(buf);
		*unavailable = 1;
		return idg_seterr(err, "idgovd closed the connection without replying");
	}
	*reply = buf;
	return 0;
}
