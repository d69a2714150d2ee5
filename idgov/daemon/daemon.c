/*
 * idgovd's event loop; see daemon.h.
 *
 * Descriptors polled: [0] signalfd (SIGHUP, SIGTERM, SIGINT), [1] the
 * listening control socket, [2] a timerfd for the directory link, [3] the
 * directory connection when a persistent sync runs, [4] the governance
 * timer, then the connected clients.
 *
 * Governance (grants.h, journal.h) runs on its own timer, set to the wall
 * clock time when something is next due: a grant's end, start or lapse,
 * or a deferred directory write. It is not a sweep: the timer fires at
 * the end time itself, and after any request that changed grants the
 * daemon runs it at once and sets the timer again. At start it runs
 * first, so whatever fell due while the daemon was down happens now.
 *
 * The directory link is a small state machine:
 *   disconnected --timer--> connect + refresh --ok--> persist | paged
 *   persist --error/EOF--> disconnected (timer armed with capped backoff)
 *   paged --timer (poll_interval)--> paged refresh
 * A refresh refused by the mass-departure guard is alerted and retried
 * at the longest backoff; it is never applied without `idgov sync --force`.
 *
 * Clients: one request per connection. A client has a few seconds to send
 * its line and must stay under [control] max_request bytes; anything else
 * gets an error reply, is audited, and is disconnected. The daemon never
 * trusts what a client says about itself: the uid comes from SO_PEERCRED.
 * The refusals of callers who are not admins are coalesced per uid and
 * minute in a table the daemon owns (control.h); the loop writes out the
 * counts of windows that are over, and teardown those still open.
 */
#define _GNU_SOURCE
#include "daemon.h"

#include "audit.h"
#include "config.h"
#include "control.h"
#include "grants.h"
#include "journal.h"
#include "log.h"
#include "reviews.h"
#include "scheduler.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define CLIENT_TIMEOUT 5 /* seconds to send a request */
#define FIXED_FDS 5

enum link_state { LINK_DISCONNECTED, LINK_PERSIST, LINK_PAGED };

struct client {
	int fd;
	uid_t uid;
	char *buf;
	size_t len;
	int64_t opened;
};

struct daemon {
	const struct daemon_opts *opts;
	struct cfg *cfg;
	struct logger log;
	struct store *st;
	struct audit *audit;
	struct secret_key *key;
	struct control_ctx ctl;
	struct control_refusals *refusals; /* coalesced refusals, by uid (control.h) */
	int sigfd, listenfd, timerfd, govfd;
	struct journal journal;
	int64_t gov_next;
	struct sync_session *sess;
	enum link_state link;
	int backoff;
	int64_t started, connected_since;
	char last_error[IDG_ERRLEN];
	struct client clients[MAX_CLIENTS];
	int stop;
};

static const char *const link_names[] = {"disconnected", "persist", "paged"};

static void
audit_event(struct daemon *d, const char *action, const char *subject, json_t *details)
{
	struct idg_err err;

	if (audit_record(d->audit, "idgovd", subject, action, details, &err) != 0)
		log_msg(&d->log, LOG_ERR, "cannot audit %s: %s", action, err.msg);
}

static void
arm_timer(struct daemon *d, int seconds)
{
	struct itimerspec its = {.it_value = {seconds > 0 ? seconds : 0, seconds > 0 ? 0 : 1}};

	timerfd_settime(d->timerfd, 0, &its, NULL);
}

/* ---- governance ---- */

/* Does what grants and the journal have due, then sleeps until the next time. */
static void
governance(void *arg)
{
	struct daemon *d = arg;
	struct grants_ctx g = {.cfg = d->cfg,
			       .st = d->st,
			       .audit = d->audit,
			       .log = &d->log,
			       .actor = "idgovd",
			       .admin = 1};
	struct review_ctx r = {.cfg = d->cfg,
			       .st = d->st,
			       .audit = d->audit,
			       .log = &d->log,
			       .journal = &d->journal,
			       .actor = "idgovd",
			       .admin = 1};
	struct itimerspec its = {{0, 0}, {0, 0}};
	struct idg_err err;
	int64_t next;

	d->journal.cfg = d->cfg;
	if (governance_round(&g, &r, idg_now(), &next, &err) != 0) {
		log_msg(&d->log, LOG_ERR, "governance: %s; retrying in 5 s", err.msg);
		next = idg_now() + 5;
	}
	d->gov_next = next;
	its.it_value.tv_sec = (time_t)(next > 0 ? next : 0);
	timerfd_settime(d->govfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void
on_governance_timer(struct daemon *d)
{
	uint64_t ticks;

	if (read(d->govfd, &ticks, sizeof(ticks)) < 0 && errno != ECANCELED)
		return;
	governance(d);
}

/* ---- directory link ---- */

static void
link_down(struct daemon *d, const char *why)
{
	sync_session_stop(d->sess);
	d->sess = NULL;
	d->link = LINK_DISCONNECTED;
	idg_strlcpy(d->last_error, why, sizeof(d->last_error));
	log_msg(&d->log, LOG_WARNING, "directory %s: %s; retrying in %d s", d->cfg->dir_uri, why,
		d->backoff);
	arm_timer(d, d->backoff);
	d->backoff = d->backoff * 2 > d->cfg->dir_reconnect_max ? d->cfg->dir_reconnect_max
								: d->backoff * 2;
}

static void
log_batch(struct daemon *d, const struct sync_result *res)
{
	const struct mirror_stats *s = &res->stats;

	if (s->joiners + s->movers + s->leavers + s->changed + s->groups_added + s->groups_changed +
		    s->groups_deleted + s->members_added + s->members_removed ==
	    0)
		return;
	log_msg(&d->log, LOG_INFO,
		"sync (%s): %lld joiners, %lld movers, %lld leavers, %lld changed, groups "
		"+%lld ~%lld -%lld, memberships +%lld -%lld",
		res->mode, (long long)s->joiners, (long long)s->movers, (long long)s->leavers,
		(long long)s->changed, (long long)s->groups_added, (long long)s->groups_changed,
		(long long)s->groups_deleted, (long long)s->members_added,
		(long long)s->members_removed);
}

static void
link_up(struct daemon *d)
{
	struct sync_result res;
	struct idg_err err;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = sync_session_start(d->cfg, d->st, d->audit, &d->log, 0, &d->sess, &res, &err);
	if (rc == SYNC_GUARD) {
		log_msg(&d->log, LOG_ALERT, "sync refused: %s", err.msg);
		audit_event(d, "sync.refused", d->cfg->dir_name,
			    json_pack("{s:s}", "reason", err.msg));
		d->backoff = d->cfg->dir_reconnect_max;
	}
	if (rc != 0) {
		link_down(d, err.msg);
		return;
	}
	log_batch(d, &res);
	d->backoff = 1;
	d->last_error[0] = '\0';
	d->connected_since = idg_now();
	d->link = sync_session_is_paged(d->sess) ? LINK_PAGED : LINK_PERSIST;
	log_msg(&d->log, LOG_INFO, "directory %s: connected, %s", d->cfg->dir_uri,
		d->link == LINK_PAGED ? "polling with paged searches (no RFC 4533 sync)"
				      : "persistent sync running");
	if (d->link == LINK_PAGED)
		arm_timer(d, d->cfg->dir_poll_interval);
}

static void
on_timer(struct daemon *d)
{
	uint64_t ticks;
	struct sync_result res;
	struct idg_err err;

	if (read(d->timerfd, &ticks, sizeof(ticks)) < 0)
		return;
	if (d->link == LINK_DISCONNECTED) {
		link_up(d);
		return;
	}
	if (d->link != LINK_PAGED)
		return;
	memset(&res, 0, sizeof(res));
	if (sync_session_poll_paged(d->sess, &res, &err) != 0) {
		if (strstr(err.msg, "refusing sync") != NULL)
			log_msg(&d->log, LOG_ALERT, "sync refused: %s", err.msg);
		link_down(d, err.msg);
		return;
	}
	log_batch(d, &res);
	arm_timer(d, d->cfg->dir_poll_interval);
}

static void
on_directory(struct daemon *d)
{
	struct sync_result res;
	struct idg_err err;

	memset(&res, 0, sizeof(res));
	if (sync_session_process(d->sess, &res, &err) != 0) {
		log_batch(d, &res);
		link_down(d, err.msg);
		return;
	}
	log_batch(d, &res);
}

/* ---- control socket ---- */

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/*
 * Sends reply (malloc'd, no newline; freed here) and a newline, then
 * closes. A NULL reply (out of memory) just closes the connection.
 */
static void
client_reply(struct client *c, char *reply)
{
	struct timeval tv = {CLIENT_TIMEOUT, 0};
	struct iovec iov[2] = {{reply, reply ? strlen(reply) : 0}, {(char *)"\n", 1}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = reply ? 2 : 0};
	int flags = fcntl(c->fd, F_GETFL);

	/* Blocking with a timeout: a client that does not read cannot stall us for long. */
	fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (msg.msg_iovlen > 0) {
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		while (msg.msg_iovlen > 0 && (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	if (reply != NULL) /* a reply may carry a new MFA secret or recovery codes */
		sodium_memzero(reply, strlen(reply));
	free(reply);
	client_close(c);
}

static void
client_handle(struct daemon *d, struct client *c, size_t len)
{
	struct caller who;

	control_identify(&d->ctl, c->uid, &who);
	client_reply(c, control_handle(&d->ctl, &who, c->buf, len));
}

static void
client_reject(struct daemon *d, struct client *c, const char *why)
{
	struct caller who;

	control_identify(&d->ctl, c->uid, &who);
	client_reply(c, control_reject(&d->ctl, &who, "bad_request", why));
}

static void
client_read(struct daemon *d, struct client *c)
{
	size_t max = (size_t)d->cfg->max_request;
	char *nl;
	ssize_t n;

	if (c->buf == NULL && (c->buf = malloc(max + 1)) == NULL) {
		client_close(c);
		return;
	}
	n = read(c->fd, c->buf + c->len, max + 1 - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	nl = memchr(c->buf, '\n', c->len);
	if (nl != NULL) {
		client_handle(d, c, (size_t)(nl - c->buf));
	} else if (c->len > max) {
		char why[96];

		snprintf(why, sizeof(why), "request larger than %zu bytes", max);
		client_reject(d, c, why);
	} else if (n <= 0) {
		if (c->len > 0)
			client_handle(d, c, c->len); /* a last line without newline */
		else
			client_close(c);
	}
}

static void
client_accept(struct daemon *d)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd);
		return;
	}
	for (i = 0; i < MAX_CLIENTS && d->clients[i].fd >= 0; i++)
		;
	if (i == MAX_CLIENTS) {
		log_msg(&d->log, LOG_WARNING, "control: too many clients; refusing uid %u",
			(unsigned)cred.uid);
		close(fd);
		return;
	}
	d->clients[i].fd = fd;
	d->clients[i].uid = cred.uid;
	d->clients[i].opened = idg_now();
}

static void
clients_expire(struct daemon *d)
{
	int64_t now = idg_now();

	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &d->clients[i];

		if (c->fd >= 0 && now - c->opened > CLIENT_TIMEOUT)
			client_reject(d, c, "request not received in time");
	}
}

static json_t *
daemon_status(void *arg)
{
	struct daemon *d = arg;

	return json_pack("{s:b, s:I, s:I, s:s, s:I, s:s?, s:I}", "running", 1, "pid",
			 (json_int_t)getpid(), "started", (json_int_t)d->started, "connection",
			 link_names[d->link], "connected_since", (json_int_t)d->connected_since,
			 "last_error", d->last_error[0] ? d->last_error : NULL, "governance_next",
			 (json_int_t)d->gov_next);
}

static int
daemon_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	struct daemon *d = arg;

	return sync_once(d->cfg, d->st, d->audit, &d->log, opts, res, err);
}

/* ---- setup ---- */

static int
open_listener(struct daemon *d, struct idg_err *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = d->cfg->socket_path;
	char *copy = strdup(path);
	struct stat sb;
	mode_t old;
	int fd, probe;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	if (mkdir(dirname(copy), 0755) != 0 && errno != EEXIST) {
		idg_seterr(err, "cannot create socket directory for %s: %s", path, strerror(errno));
		free(copy);
		return -1;
	}
	free(copy);
	if (idg_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return idg_seterr(err, "socket path %s is too long", path);
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return idg_seterr(err, "%s exists and is not a socket", path);
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			return idg_seterr(err, "another idgovd is listening on %s", path);
		}
		if (probe >= 0)
			close(probe);
		unlink(path); /* stale socket of a daemon that died */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return idg_seterr(err, "socket: %s", strerror(errno));
	/* Anyone may connect (mode 0666); the peer's uid decides what they may do. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 64) != 0) {
		umask(old);
		close(fd);
		return idg_seterr(err, "cannot listen on %s: %s", path, strerror(errno));
	}
	umask(old);
	d->listenfd = fd;
	return 0;
}

static int
open_signals(struct daemon *d, struct idg_err *err)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (d->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return idg_seterr(err, "signalfd: %s", strerror(errno));
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->timerfd < 0)
		return idg_seterr(err, "timerfd: %s", strerror(errno));
	/* Grants end at wall-clock times, so this timer follows the wall clock. */
	d->govfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->govfd < 0)
		return idg_seterr(err, "timerfd: %s", strerror(errno));
	return 0;
}

/* The parts of the configuration that an open store and socket depend on. */
static int
needs_restart(const struct cfg *a, const struct cfg *b)
{
	return strcmp(a->store_path, b->store_path) || strcmp(a->socket_path, b->socket_path) ||
	       strcmp(a->audit_key_file, b->audit_key_file) ||
	       strcmp(a->log_socket, b->log_socket) || strcmp(a->log_ident, b->log_ident);
}

static void
reload(struct daemon *d)
{
	struct cfg *fresh;
	struct idg_err err;

	if (cfg_load(d->opts->config_path, &fresh, &err) != 0) {
		log_msg(&d->log, LOG_ERR, "reload refused, keeping the running configuration: %s",
			err.msg);
		audit_event(d, "config.reload", d->opts->config_path,
			    json_pack("{s:s, s:s}", "outcome", "refused", "reason", err.msg));
		return;
	}
	if (needs_restart(d->cfg, fresh)) {
		cfg_free(fresh);
		log_msg(&d->log, LOG_ERR,
			"reload refused: [store], [control] and [log] changes need "
			"a restart; keeping the running configuration");
		audit_event(d, "config.reload", d->opts->config_path,
			    json_pack("{s:s, s:s}", "outcome", "refused", "reason",
				      "store, control or log settings changed"));
		return;
	}
	/* The sync session and control context point into the old configuration. */
	sync_session_stop(d->sess);
	d->sess = NULL;
	d->link = LINK_DISCONNECTED;
	cfg_free(d->cfg);
	d->cfg = fresh;
	d->ctl.cfg = fresh;
	d->journal.cfg = fresh;
	log_msg(&d->log, LOG_NOTICE, "configuration reloaded from %s", d->opts->config_path);
	audit_event(d, "config.reload", d->opts->config_path, json_pack("{s:s}", "outcome", "ok"));
	d->backoff = 1;
	arm_timer(d, 0);
}

static void
on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(d);
		else
			d->stop = 1;
	}
}

/* Tells systemd (Type=notify) that we are ready, when it asked. */
static void
notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}

static int
write_pid_file(const char *path, struct idg_err *err)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		if (fd >= 0)
			close(fd);
		return idg_seterr(err, "cannot write pid file %s: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

/*
 * Without -f: fork, and let the parent wait on a pipe until the child is
 * set up, so that `idgovd` exits non-zero with the reason when start-up
 * fails, and zero only once the socket is listening.
 */
static int
daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char msg[IDG_ERRLEN + 1];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], msg, sizeof(msg) - 1);
		if (n <= 0)
			return fprintf(stderr, "idgovd: failed to start (see the system log)\n"), 1;
		msg[n] = '\0';
		if (strcmp(msg, "ok") != 0)
			return fprintf(stderr, "idgovd: %s\n", msg), 1;
		_exit(0);
	}
	close(p[0]);
	setsid();
	if (fork() > 0)
		_exit(0);
	if (chdir("/") != 0)
		return -1;
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	*ready_fd = p[1];
	return 0;
}

static void
report_start(int ready_fd, const char *msg)
{
	if (ready_fd >= 0) {
		if (write(ready_fd, msg, strlen(msg)) < 0) {
			/* The parent then sees end-of-file and reports a failed start. */
		}
		close(ready_fd);
	}
}

static int
setup(struct daemon *d, struct idg_err *err)
{
	if (open_signals(d, err) != 0 || open_listener(d, err) != 0)
		return -1;
	if (store_open(d->cfg->store_path, STORE_OPEN_EXISTING, &d->st, err) != 0 ||
	    audit_open(d->st, d->cfg->audit_key_file, d->cfg->audit_sign_every, &d->log, &d->audit,
		       err) != 0)
		return -1;
	if (secret_key_load(d->cfg->master_key_file, &d->key, err) != 0)
		return -1;
	if (d->opts->pid_file != NULL && write_pid_file(d->opts->pid_file, err) != 0)
		return -1;
	if ((d->refusals = calloc(1, sizeof(*d->refusals))) == NULL)
		return idg_seterr(err, "out of memory");
	d->ctl.refusals = d->refusals;
	d->ctl.key = d->key;
	d->ctl.cfg = d->cfg;
	d->ctl.st = d->st;
	d->ctl.audit = d->audit;
	d->ctl.log = &d->log;
	d->ctl.daemon_status = daemon_status;
	d->ctl.run_sync = daemon_sync;
	d->ctl.governance = governance;
	d->ctl.extra_ops = review_control_ops(&d->ctl.n_extra_ops);
	d->ctl.arg = d;
	d->journal = (struct journal){
		.cfg = d->cfg, .st = d->st, .audit = d->audit, .log = &d->log, .actor = "idgovd"};
	return 0;
}

static void
loop(struct daemon *d)
{
	struct pollfd pfd[FIXED_FDS + MAX_CLIENTS];
	int map[MAX_CLIENTS];

	while (!d->stop) {
		int n = FIXED_FDS, dirfd = d->link == LINK_PERSIST ? sync_session_fd(d->sess) : -1;

		pfd[0] = (struct pollfd){.fd = d->sigfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = d->listenfd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = d->timerfd, .events = POLLIN};
		pfd[3] = (struct pollfd){.fd = dirfd, .events = POLLIN};
		pfd[4] = (struct pollfd){.fd = d->govfd, .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (d->clients[i].fd < 0)
				continue;
			map[n - FIXED_FDS] = i;
			pfd[n++] = (struct pollfd){.fd = d->clients[i].fd, .events = POLLIN};
		}
		int ready = poll(pfd, (nfds_t)n, 1000);

		if (ready < 0) {
			if (errno != EINTR)
				log_msg(&d->log, LOG_ERR, "poll: %s", strerror(errno));
			continue;
		}
		/* Idle second: let libldap hand out a message it may already hold. */
		if (ready == 0 && d->link == LINK_PERSIST)
			on_directory(d);
		if (pfd[0].revents)
			on_signal(d);
		if (pfd[3].revents && d->link == LINK_PERSIST)
			on_directory(d);
		if (pfd[2].revents)
			on_timer(d);
		if (pfd[4].revents)
			on_governance_timer(d);
		for (int k = FIXED_FDS; k < n; k++)
			if (pfd[k].revents && d->clients[map[k - FIXED_FDS]].fd == pfd[k].fd)
				client_read(d, &d->clients[map[k - FIXED_FDS]]);
		if (pfd[1].revents)
			client_accept(d);
		clients_expire(d);
		/* Refusal counts whose minute is over go into the chain now. */
		control_refusals_flush(&d->ctl, idg_now(), 0);
		while (waitpid(-1, NULL, WNOHANG) > 0) /* notification commands */
			;
	}
}

static void
teardown(struct daemon *d)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_close(&d->clients[i]);
	sync_session_stop(d->sess);
	journal_close(&d->journal);
	if (d->audit != NULL)
		control_refusals_flush(&d->ctl, idg_now(), 1); /* counts still open */
	free(d->refusals);
	if (d->audit != NULL)
		audit_event(d, "daemon.stop", "idgovd",
			    json_pack("{s:I}", "pid", (json_int_t)getpid()));
	audit_close(d->audit);
	secret_key_free(d->key);
	store_close(d->st);
	if (d->listenfd >= 0) {
		close(d->listenfd);
		unlink(d->cfg->socket_path);
	}
	if (d->opts->pid_file != NULL)
		unlink(d->opts->pid_file);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
	if (d->govfd >= 0)
		close(d->govfd);
	log_msg(&d->log, LOG_NOTICE, "stopped");
	log_close(&d->log);
	cfg_free(d->cfg);
}

int
daemon_run(const struct daemon_opts *opts)
{
	struct daemon d = {.opts = opts,
			   .sigfd = -1,
			   .listenfd = -1,
			   .timerfd = -1,
			   .govfd = -1,
			   .backoff = 1};
	struct idg_err err;
	int ready_fd = -1, rc;

	for (int i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	if (cfg_load(opts->config_path, &d.cfg, &err) != 0) {
		fprintf(stderr, "idgovd: %s\n", err.msg);
		return 1;
	}
	if (!opts->foreground && (rc = daemonize(&ready_fd)) != 0) {
		cfg_free(d.cfg);
		return rc > 0 ? rc : 1;
	}
	log_open(&d.log, "idgovd", d.cfg->log_socket, opts->foreground);
	d.started = idg_now();
	if (setup(&d, &err) != 0) {
		log_msg(&d.log, LOG_ERR, "cannot start: %s", err.msg);
		report_start(ready_fd, err.msg);
		teardown(&d);
		return 1;
	}
	audit_event(&d, "daemon.start", "idgovd", json_pack("{s:I}", "pid", (json_int_t)getpid()));
	log_msg(&d.log, LOG_NOTICE, "started; control socket %s", d.cfg->socket_path);
	report_start(ready_fd, "ok");
	notify_ready();
	governance(&d); /* what fell due while the daemon was down happens first */
	link_up(&d);
	loop(&d);
	teardown(&d);
	return 0;
}
