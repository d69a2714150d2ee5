/*
 * The module's side of the auth socket. Before anything is sent, the
 * kernel's record of the peer (SO_PEERCRED) must name server_uid (root
 * unless an admin's pam.d line says otherwise): a socket left by someone
 * else at that path learns nothing, not even the user name.
 *
 * Every wait for the service is bounded by the timeout, counted afresh for
 * each reply; a person's time at a prompt is the application's business
 * (sshd's LoginGraceTime), never counted against the service.
 */
#define _GNU_SOURCE /* struct ucred */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/* Connects within the deadline; the socket stays non-blocking. */
static int
connect_service(const struct client_opts *o, int64_t deadline, char *why, size_t size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	if (strlen(o->socket) >= sizeof(sun.sun_path))
		return seterr(why, size, "socket path %s is too long", o->socket);
	memcpy(sun.sun_path, o->socket, strlen(o->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return seterr(why, size, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			seterr(why, size, "cannot connect: %s", strerror(errno));
			goto fail;
		}
		/* A full listen queue: wait for room until the deadline. */
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		for (;;) {
			int64_t left = deadline - authproto_now_ms();
			int rc;

			if (left <= 0) {
				seterr(why, size, "%s", "connection timed out");
				goto fail;
			}
			rc = poll(&pfd, 1, (int)left);
			if (rc > 0)
				break;
			if (rc < 0 && errno != EINTR) {
				seterr(why, size, "poll: %s", strerror(errno));
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
			seterr(why, size, "cannot connect: %s", strerror(err ? err : errno));
			goto fail;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr)) {
		seterr(why, size, "no peer credentials: %s", strerror(errno));
		goto fail;
	}
	if (cr.uid != o->server_uid) {
		seterr(why, size, "the socket is served by uid %ld, not %ld (server_uid)",
		       (long)cr.uid, (long)o->server_uid);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * The request and the conversation on fd, up to the RESULT. 0 with *result,
 * -1 with why; *replied says whether anything came back before a failure.
 */
static int
exchange(const struct client_opts *o, int fd, const struct authproto_msg *req,
	 const struct client_conv *conv, enum authproto_result *result, uint32_t *delay_ms,
	 int *replied, char *why, size_t why_size)
{
	struct authproto_msg m;
	const char *reason = NULL;
	char *answer = NULL;
	int messages = 0, rc = -1;

	*replied = 0;
	if (authproto_send(fd, req, authproto_now_ms() + o->timeout_ms, &reason) != 0) {
		seterr(why, why_size, "cannot send the request: %s", reason);
		goto out;
	}
	for (;;) {
		if (authproto_recv(fd, &m, authproto_now_ms() + o->timeout_ms, &reason) != 0) {
			seterr(why, why_size, "no answer: %s", reason);
			goto out;
		}
		*replied = 1;
		if (m.type == AUTHPROTO_RESULT) {
			*result = m.result;
			*delay_ms = m.delay_ms;
			rc = 0;
			goto out;
		}
		if (++messages > AUTHPROTO_MAX_MESSAGES) {
			seterr(why, why_size, "%s", "too many messages from the service");
			goto out;
		}
		switch (m.type) {
		case AUTHPROTO_INFO:
			conv->info(conv->arg, m.text);
			break;
		case AUTHPROTO_ERROR:
			conv->error(conv->arg, m.text);
			break;
		case AUTHPROTO_PROMPT:
			if (conv->prompt(conv->arg, m.text, &answer) != 0 ||
			    strlen(answer) > AUTHPROTO_TEXT_MAX) {
				/* The user is gone or typed too much: the service hears nothing
				 * more. */
				*result = AUTHPROTO_R_CONV_ERR;
				rc = 1;
				goto out;
			}
			authproto_init(&m, AUTHPROTO_ANSWER);
			(void)authproto_set(&m, AUTHPROTO_HAVE_TEXT, answer);
			explicit_bzero(answer, strlen(answer));
			free(answer);
			answer = NULL;
			if (authproto_send(fd, &m, authproto_now_ms() + o->timeout_ms, &reason) !=
			    0) {
				seterr(why, why_size, "cannot send the answer: %s", reason);
				goto out;
			}
			break;
		default:
			seterr(why, why_size, "%s", "the service sent a client's message");
			goto out;
		}
	}
out:
	if (answer != NULL) {
		explicit_bzero(answer, strlen(answer));
		free(answer);
	}
	authproto_wipe(&m);
	return rc;
}

/*
 * Whether a connection kept from the handle's previous call can carry
 * this one: nothing may be waiting on it, since the service sends nothing
 * between calls; a close (or anything else) there ends it.
 */
static int
still_open(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 0;
}

int
client_call(const struct client_opts *o, const struct authproto_msg *req,
	    const struct client_conv *conv, int *kept, enum authproto_result *result,
	    uint32_t *delay_ms, char *why, size_t why_size)
{
	int fd = *kept, reused = fd >= 0, replied = 0, rc;

	*kept = -1;
	*result = AUTHPROTO_R_AUTHINFO_UNAVAIL;
	*delay_ms = 0;
	why[0] = '\0';
	if (reused && !still_open(fd)) {
		close(fd);
		fd = -1;
		reused = 0;
	}
	if (fd < 0 &&
	    (fd = connect_service(o, authproto_now_ms() + o->timeout_ms, why, why_size)) < 0)
		return -1;
	rc = exchange(o, fd, req, conv, result, delay_ms, &replied, why, why_size);
	if (rc < 0 && reused && !replied) {
		/*
		 * The service closed the kept connection as idle while the request
		 * was on its way: it reads nothing it then drops, so the request
		 * goes again, once, on a connection of its own.
		 */
		close(fd);
		fd = connect_service(o, authproto_now_ms() + o->timeout_ms, why, why_size);
		if (fd < 0)
			return -1;
		rc = exchange(o, fd, req, conv, result, delay_ms, &replied, why, why_size);
	}
	if (rc == 0 && (req->flags & AUTHPROTO_F_KEEP)) {
		*kept = fd;
		return 0;
	}
	close(fd);
	return rc < 0 ? -1 : 0;
}
