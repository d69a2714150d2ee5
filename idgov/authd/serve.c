/*
 * The service's loop: one listening socket and a signalfd. Each accepted
 * connection whose peer may ask is served by a forked child, which reads
 * one request, answers it and exits; so one slow login (a person reading
 * a prompt) never holds up another, and a crash while serving one request
 * costs that request only. At most [authd] max_children are served at
 * once; further connections wait in the listen queue.
 *
 * The configuration is read again when its file has changed (checked
 * before each connection is served) or on SIGHUP. A file that no longer
 * parses is logged with its file:line reason and the last good
 * configuration stays in force; at start a broken file is fatal, so
 * systemd and the admin see the reason.
 */
#define _GNU_SOURCE /* struct ucred, accept4 */
#include "authd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int
stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Rereads the configuration if forced or if its file changed; keeps the old one on error. */
static void
maybe_reload(struct authd *d, int force)
{
	struct stat sb;
	struct cfg *next = NULL;
	struct idg_err err;

	if (stat(d->config_path, &sb) != 0) {
		if (force)
			log_msg(&d->log, LOG_ERR, "cannot reread %s: %s; keeping the configuration",
				d->config_path, strerror(errno));
		return;
	}
	if (!force && !stat_changed(&sb, &d->cfg_stat))
		return;
	d->cfg_stat = sb; /* a broken file is reported once per change, not per login */
	if (cfg_load(d->config_path, &next, &err) != 0) {
		log_msg(&d->log, LOG_ERR, "configuration not reloaded, the last good one stays: %s",
			err.msg);
		return;
	}
	if (strcmp(next->log_socket, d->cfg->log_socket) != 0) {
		log_close(&d->log);
		log_open(&d->log, "idgov-authd", next->log_socket, d->foreground);
	}
	cfg_free(d->cfg);
	d->cfg = next;
	log_msg(&d->log, LOG_INFO, "configuration reloaded from %s", d->config_path);
}

/* In the child: one request, one conversation, then exit. */
static void
serve_one(struct authd *d, int fd)
{
	struct conv c = {.fd = fd, .log = &d->log};
	struct authproto_msg req;
	const char *why = NULL;

	if (authproto_recv(fd, &req, authproto_now_ms() + AUTHD_REQUEST_TIMEOUT_MS, &why) != 0 ||
	    req.type != AUTHPROTO_REQUEST) {
		log_msg(&d->log, LOG_WARNING, "refused a request: %s",
			why != NULL ? why : "not a request");
		authproto_wipe(&req);
		return;
	}
	authd_handle(d->cfg, &c, &req);
	authproto_wipe(&req);
}

static void
reap(struct authd *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		d->children--;
		if (WIFSIGNALED(status))
			log_msg(&d->log, LOG_ERR, "a request's process %ld died of signal %d",
				(long)pid, WTERMSIG(status));
	}
}

static void
accept_one(struct authd *d, const sigset_t *oldmask)
{
	uid_t uid;
	pid_t peer, pid;
	int fd, ok;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_msg(&d->log, LOG_ERR, "accept: %s", strerror(errno));
		return;
	}
	ok = authd_peer_allowed(fd, (uid_t)d->cfg->authd_client_uid, &uid, &peer);
	if (ok != 1) {
		log_msg(&d->log, LOG_WARNING, "refused a connection from uid %ld (pid %ld)%s",
			ok < 0 ? -1L : (long)uid, ok < 0 ? -1L : (long)peer,
			ok < 0 ? ": no peer credentials" : ": only root may ask");
		close(fd);
		return;
	}
	maybe_reload(d, 0);
	pid = fork();
	if (pid < 0) {
		log_msg(&d->log, LOG_ERR, "fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		close(d->listen_fd);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		signal(SIGPIPE, SIG_IGN);
		serve_one(d, fd);
		close(fd);
		log_close(&d->log);
		_exit(0);
	}
	d->children++;
	close(fd);
}

int
authd_serve(struct authd *d)
{
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	sigset_t mask, oldmask;
	int sfd, stop = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg(&d->log, LOG_ERR, "signalfd: %s", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (stat(d->config_path, &d->cfg_stat) != 0)
		memset(&d->cfg_stat, 0, sizeof(d->cfg_stat));
	while (!stop) {
		int nfds = 1;

		pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
		if (d->children < d->cfg->authd_max_children)
			pfd[nfds++] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(&d->log, LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(d);
				else if (si.ssi_signo == SIGHUP)
					maybe_reload(d, 1);
				else
					stop = 1;
			}
		}
		if (!stop && nfds == 2 && (pfd[1].revents & POLLIN))
			accept_one(d, &oldmask);
	}
	close(sfd);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	log_msg(&d->log, LOG_INFO, "stopping");
	return 0;
}
