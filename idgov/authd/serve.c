/*
 * The supervisor: a small pool of pre-forked workers (worker.c) that
 * accept connections on the listening socket themselves. A worker opens
 * the store, the MFA state file, the master key and the audit spool once
 * and keeps them for the requests it serves, so a login no longer pays
 * for a fork and for opening all of them (files.c says how a replaced
 * store or a rotated key is noticed).
 *
 * What the fork per connection gave is kept:
 *   - a crash or a hang costs one request: a worker serves one connection
 *     at a time, its watchdog alarm kills it when a request's own work
 *     runs past AUTHD_WORK_TIMEOUT_S, and the supervisor replaces any
 *     worker that dies; the client sees its connection close and fails
 *     closed;
 *   - a slow client (a person at a prompt, or a connection that sends
 *     nothing for AUTHD_REQUEST_TIMEOUT_MS) holds one worker only: when a
 *     worker takes a connection and fewer than AUTHD_SPARE_MIN are left
 *     idle, it wakes the supervisor, which forks another, up to
 *     [authd] max_children workers in all; past that, connections wait
 *     in the listen queue, as they did for a child before. Idle workers
 *     beyond AUTHD_SPARE_MAX are retired, one every AUTHD_RETIRE_MS;
 *   - peer credentials are checked on every connection, by the worker
 *     that accepted it, before anything is read;
 *   - the supervisor itself opens no store and no key: only workers hold
 *     the master key, in sodium_malloc() memory wiped when they stop.
 *
 * The configuration is read again when its file has changed (each worker
 * checks before each connection it serves; the supervisor before it
 * forks a worker) or on SIGHUP (the supervisor rereads it and passes the
 * signal on). A file that no longer parses is logged with its file:line
 * reason and the last good configuration stays in force; at start a
 * broken file is fatal, so systemd and the admin see the reason.
 */
#define _GNU_SOURCE /* signalfd, pipe2 */
#include "authd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long stopping waits for busy workers before it kills them. */
#define AUTHD_STOP_GRACE_MS 2000
/* A worker that dies within this of its start delays the next fork by as much. */
#define AUTHD_RESPAWN_BACKOFF_MS 1000

static int
stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Rereads the configuration if forced or if its file changed; keeps the old one on error. */
int
authd_reload(struct authd *d, int force)
{
	struct stat sb;
	struct cfg *next = NULL;
	struct idg_err err;

	if (stat(d->config_path, &sb) != 0) {
		if (force)
			log_msg(&d->log, LOG_ERR, "cannot reread %s: %s; keeping the configuration",
				d->config_path, strerror(errno));
		return 0;
	}
	if (!force && !stat_changed(&sb, &d->cfg_stat))
		return 0;
	d->cfg_stat = sb; /* a broken file is reported once per change, not per login */
	if (cfg_load(d->config_path, &next, &err) != 0) {
		log_msg(&d->log, LOG_ERR, "configuration not reloaded, the last good one stays: %s",
			err.msg);
		return 0;
	}
	if (strcmp(next->log_socket, d->cfg->log_socket) != 0) {
		log_close(&d->log);
		log_open(&d->log, "idgov-authd", next->log_socket, d->foreground);
	}
	cfg_free(d->cfg);
	d->cfg = next;
	log_msg(&d->log, LOG_INFO, "configuration reloaded from %s", d->config_path);
	return 1;
}

int
authd_pool_idle(const struct authd_pool *p)
{
	int high = atomic_load_explicit(&p->sh->high, memory_order_relaxed), n = 0;

	for (int i = 0; i < high; i++) {
		int st = authd_slot_get(p->sh, i);

		n += st == AUTHD_SLOT_IDLE || st == AUTHD_SLOT_STARTING;
	}
	return n;
}

static int
pool_size(const struct authd_pool *p)
{
	int n = 0;

	for (int i = 0; i < AUTHD_SLOTS; i++)
		n += p->pid[i] > 0;
	return n;
}

/* Forks a worker into a free slot. 0, or -1 when there is none or fork fails. */
static int
spawn(struct authd *d)
{
	struct authd_pool *p = d->pool;
	pid_t pid;
	int slot;

	for (slot = 0; slot < AUTHD_SLOTS && p->pid[slot] > 0; slot++)
		;
	if (slot == AUTHD_SLOTS)
		return -1;
	authd_slot_set(p->sh, slot, AUTHD_SLOT_STARTING);
	if (slot >= atomic_load_explicit(&p->sh->high, memory_order_relaxed))
		atomic_store_explicit(&p->sh->high, slot + 1, memory_order_relaxed);
	pid = fork();
	if (pid < 0) {
		log_msg(&d->log, LOG_ERR, "cannot start a worker: fork: %s", strerror(errno));
		authd_slot_set(p->sh, slot, AUTHD_SLOT_FREE);
		return -1;
	}
	if (pid == 0) {
		close(p->sfd);
		close(p->wake_r);
		sigprocmask(SIG_SETMASK, &p->oldmask, NULL);
		authd_worker_run(d, slot);
	}
	p->pid[slot] = pid;
	p->started_ms[slot] = authproto_now_ms();
	return 0;
}

/* Keeps AUTHD_SPARE_MIN workers idle, within [authd] max_children in all. */
static void
top_up(struct authd *d)
{
	struct authd_pool *p = d->pool;
	int max =
		d->cfg->authd_max_children < AUTHD_SLOTS ? d->cfg->authd_max_children : AUTHD_SLOTS;
	int spare = max < AUTHD_SPARE_MIN ? max : AUTHD_SPARE_MIN;

	if (authproto_now_ms() < p->next_spawn_ms)
		return;
	(void)authd_reload(d, 0); /* a new worker starts with the file as it is now */
	while (authd_pool_idle(p) < spare && pool_size(p) < max)
		if (spawn(d) != 0)
			break;
}

/* While more than AUTHD_SPARE_MAX are idle, retires the newest idle one every AUTHD_RETIRE_MS. */
static void
retire_surplus(struct authd *d)
{
	struct authd_pool *p = d->pool;
	int64_t now = authproto_now_ms();
	int newest = -1;

	if (authd_pool_idle(p) <= AUTHD_SPARE_MAX) {
		p->surplus_since = 0;
		return;
	}
	if (p->surplus_since == 0) {
		p->surplus_since = now;
		return;
	}
	if (now - p->surplus_since < AUTHD_RETIRE_MS)
		return;
	for (int i = 0; i < AUTHD_SLOTS; i++)
		if (p->pid[i] > 0 && authd_slot_get(p->sh, i) == AUTHD_SLOT_IDLE &&
		    (newest < 0 || p->started_ms[i] > p->started_ms[newest]))
			newest = i;
	if (newest >= 0)
		(void)kill(p->pid[newest], SIGTERM); /* a request it took meanwhile is finished */
	p->surplus_since = now;
}

static void
reap(struct authd *d)
{
	struct authd_pool *p = d->pool;
	int status, slot;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (slot = 0; slot < AUTHD_SLOTS && p->pid[slot] != pid; slot++)
			;
		if (slot == AUTHD_SLOTS)
			continue;
		if (WIFSIGNALED(status)) {
			log_msg(&d->log, LOG_ERR,
				"worker %ld died of signal %d%s; its request, if any, failed "
				"closed",
				(long)pid, WTERMSIG(status),
				WTERMSIG(status) == SIGALRM
					? " (watchdog: the request ran too long)"
					: "");
		} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			log_msg(&d->log, LOG_ERR, "worker %ld exited with status %d", (long)pid,
				WEXITSTATUS(status));
		}
		if ((WIFSIGNALED(status) || WEXITSTATUS(status) != 0) &&
		    authproto_now_ms() - p->started_ms[slot] < AUTHD_RESPAWN_BACKOFF_MS)
			p->next_spawn_ms = authproto_now_ms() + AUTHD_RESPAWN_BACKOFF_MS;
		p->pid[slot] = 0;
		authd_slot_set(p->sh, slot, AUTHD_SLOT_FREE);
	}
}

static void
signal_workers(struct authd_pool *p, int sig)
{
	for (int i = 0; i < AUTHD_SLOTS; i++)
		if (p->pid[i] > 0)
			(void)kill(p->pid[i], sig);
}

/* Asks every worker to stop after its request; kills those still busy after the grace. */
static void
stop_workers(struct authd *d)
{
	struct authd_pool *p = d->pool;
	int64_t end = authproto_now_ms() + AUTHD_STOP_GRACE_MS;
	struct signalfd_siginfo si;
	struct pollfd pfd = {.fd = p->sfd, .events = POLLIN};

	signal_workers(p, SIGTERM);
	while (pool_size(p) > 0) {
		int64_t left = end - authproto_now_ms();

		if (left <= 0) {
			log_msg(&d->log, LOG_WARNING, "stopping: killing %d busy worker(s)",
				pool_size(p));
			signal_workers(p, SIGKILL);
			end = INT64_MAX;
			left = 1000;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) > 0)
			while (read(p->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		reap(d);
	}
}

static int
pool_init(struct authd *d, struct authd_pool *p, const sigset_t *mask)
{
	int fds[2], fl;

	memset(p, 0, sizeof(*p));
	p->wake_r = p->wake_w = p->sfd = -1;
	p->sh = mmap(NULL, sizeof(*p->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (p->sh == MAP_FAILED) {
		p->sh = NULL;
		log_msg(&d->log, LOG_ERR, "mmap: %s", strerror(errno));
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_msg(&d->log, LOG_ERR, "pipe: %s", strerror(errno));
		return -1;
	}
	p->wake_r = fds[0];
	p->wake_w = fds[1];
	if (sigprocmask(SIG_BLOCK, mask, &p->oldmask) != 0 ||
	    (p->sfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg(&d->log, LOG_ERR, "signalfd: %s", strerror(errno));
		return -1;
	}
	/* Workers block in accept(): one is woken per connection, none spins. */
	if ((fl = fcntl(d->listen_fd, F_GETFL)) >= 0 && (fl & O_NONBLOCK))
		(void)fcntl(d->listen_fd, F_SETFL, fl & ~O_NONBLOCK);
	d->pool = p;
	return 0;
}

static void
pool_free(struct authd *d, struct authd_pool *p)
{
	if (p->sfd >= 0) {
		close(p->sfd);
		sigprocmask(SIG_SETMASK, &p->oldmask, NULL);
	}
	if (p->wake_r >= 0)
		close(p->wake_r);
	if (p->wake_w >= 0)
		close(p->wake_w);
	if (p->sh != NULL)
		munmap(p->sh, sizeof(*p->sh));
	d->pool = NULL;
}

int
authd_serve(struct authd *d)
{
	static struct authd_pool pool; /* one per process; too big for the stack */
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	sigset_t mask;
	char buf[64];
	int stop = 0, rc = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (pool_init(d, &pool, &mask) != 0) {
		pool_free(d, &pool);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (stat(d->config_path, &d->cfg_stat) != 0)
		memset(&d->cfg_stat, 0, sizeof(d->cfg_stat));
	top_up(d);
	while (!stop) {
		int64_t now = authproto_now_ms(), wait = -1;

		/* Wakes to retry a fork that failed or was held back, or to retire; else on events.
		 */
		if (pool.next_spawn_ms > now)
			wait = pool.next_spawn_ms - now;
		else if (pool_size(&pool) == 0)
			wait = 1000;
		if (pool.surplus_since > 0 && (wait < 0 || wait > AUTHD_RETIRE_MS))
			wait = pool.surplus_since + AUTHD_RETIRE_MS - now;
		if (wait < -1)
			wait = 0;
		pfd[0] = (struct pollfd){.fd = pool.sfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = pool.wake_r, .events = POLLIN};
		if (poll(pfd, 2, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(&d->log, LOG_ERR, "poll: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			while (read(pool.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					reap(d);
				} else if (si.ssi_signo == SIGHUP) {
					(void)authd_reload(d, 1);
					signal_workers(&pool, SIGHUP);
				} else {
					stop = 1;
				}
			}
		}
		if (pfd[1].revents & POLLIN)
			while (read(pool.wake_r, buf, sizeof(buf)) > 0)
				;
		if (!stop) {
			top_up(d);
			retire_surplus(d);
		}
	}
	stop_workers(d);
	pool_free(d, &pool);
	log_msg(&d->log, LOG_INFO, "stopping");
	return rc;
}
