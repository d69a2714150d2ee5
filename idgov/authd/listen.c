/*
 * The auth socket. Under systemd, idgov-authd.socket owns it (root, mode
 * 0600) and starts the service on the first connection, passing it as
 * fd 3 (sd_listen_fds(3) protocol: LISTEN_PID is our pid, LISTEN_FDS is
 * 1); a crashed service is started again by the next login. Started by
 * hand or by a test, the service binds the socket itself, mode 0600.
 *
 * The mode is one guard; the other is the peer's credentials, read from
 * the kernel (SO_PEERCRED) on every connection: only root, or the one uid
 * the configuration names for tests, is served.
 */
#define _GNU_SOURCE /* struct ucred, accept4 */
#include "authd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

/* The socket systemd passed, or -1 when there is none; -2 when the one passed is unusable. */
static int
inherited_socket(struct idg_err *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	int type = 0;
	socklen_t tlen = sizeof(type);
	char *end;
	long v;

	if (pid == NULL || fds == NULL)
		return -1;
	errno = 0;
	v = strtol(pid, &end, 10);
	if (errno != 0 || *end != '\0' || v != (long)getpid())
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strcmp(fds, "1") != 0) {
		idg_seterr(err,
			   "systemd passed LISTEN_FDS=%s sockets; the auth socket unit has one",
			   fds);
		return -2;
	}
	memset(&sun, 0, sizeof(sun));
	if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
	    type != SOCK_STREAM ||
	    getsockname(SD_LISTEN_FDS_START, (struct sockaddr *)&sun, &len) != 0 ||
	    sun.sun_family != AF_UNIX) {
		idg_seterr(err, "the socket systemd passed is not a Unix stream socket");
		return -2;
	}
	(void)fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
	return SD_LISTEN_FDS_START;
}

int
authd_listen(struct authd *d, const char *path, struct idg_err *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat sb;
	mode_t old;
	int fd;

	d->own_socket = NULL;
	fd = inherited_socket(err);
	if (fd == -2)
		return -1;
	if (fd >= 0) {
		d->listen_fd = fd;
		return 0;
	}
	if (strlen(path) >= sizeof(sun.sun_path))
		return idg_seterr(err, "socket path %s is too long", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return idg_seterr(err, "%s exists and is not a socket", path);
		if (unlink(path) != 0)
			return idg_seterr(err, "cannot remove the old socket %s: %s", path,
					  strerror(errno));
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return idg_seterr(err, "socket: %s", strerror(errno));
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		close(fd);
		return idg_seterr(err, "cannot bind %s: %s", path, strerror(errno));
	}
	umask(old);
	if (listen(fd, 64) != 0) {
		close(fd);
		unlink(path);
		return idg_seterr(err, "cannot listen on %s: %s", path, strerror(errno));
	}
	if ((d->own_socket = strdup(path)) == NULL) {
		close(fd);
		unlink(path);
		return idg_seterr(err, "out of memory");
	}
	d->listen_fd = fd;
	return 0;
}

int
authd_peer_allowed(int fd, uid_t client_uid, uid_t *uid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr))
		return -1;
	*uid = cr.uid;
	*pid = cr.pid;
	return cr.uid == 0 || (client_uid != 0 && cr.uid == client_uid);
}
