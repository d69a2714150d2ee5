/*
 * One worker of the pool (serve.c). It opens its files once (files.c),
 * then loops: accept a connection on the shared listening socket, check
 * the peer's credentials, read one request within AUTHD_REQUEST_TIMEOUT_MS,
 * answer it (login.c), close the connection, and wait for the next. A
 * request that asks to keep the connection (the module's authenticate,
 * then its account call) is followed by a wait of AUTHD_KEEP_MS for the
 * next request on it, and the peer is not asked again.
 *
 * Its state is visible to the supervisor in the shared slots, and to an
 * admin in ps(1): "authd-worker" waiting, "authd-request" serving.
 *
 * The watchdog is the kernel's: alarm() is armed for each stretch of a
 * request's own work (AUTHD_WORK_TIMEOUT_S, the wait for the request
 * and for a person's answer added where they apply, conv.c) and SIGALRM
 * keeps its default action, so a worker stuck in a loop or a lock dies
 * whatever it is doing; the supervisor logs it and forks another.
 *
 * SIGTERM (the supervisor stopping, or retiring a surplus worker) and SIGHUP (reread the
 * configuration) are noted by handlers and acted on between requests; a
 * request under way is finished first. If the supervisor dies, the kernel
 * sends SIGTERM (PR_SET_PDEATHSIG). On the way out the files are closed
 * and the key is wiped.
 */
#define _GNU_SOURCE /* accept4 */
#include "authd.h"

#include "provider.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define AUTHD_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AUTHD_LSAN 1
#endif
#endif
#ifdef AUTHD_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static volatile sig_atomic_t stop_asked, reload_asked;

static void
on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_asked = 1;
}

/*
 * A worker allocates about the same memory for every request and frees it
 * at the end. glibc's defaults would hand the heap's top back to the
 * kernel after each request and serve the larger blocks from fresh
 * mappings: brk and munmap calls, each followed by a TLB flush on every
 * CPU the process ran on, request after request (a third of a worker's
 * CPU time in bench/pam). Keeping the peak is a few MiB per worker.
 * Fixed values also stop glibc from moving the mmap threshold itself.
 */
static void
keep_heap(void)
{
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	(void)mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
}

static void
set_state(struct authd *d, int slot, enum authd_slot_state st)
{
	authd_slot_set(d->pool->sh, slot, st);
}

/*
 * One request read from fd within wait_ms, served. 1 when the client
 * asked to keep the connection (AUTHPROTO_F_KEEP) and it still works, else 0.
 * first: the connection's first request, whose absence is worth a log line;
 * a kept connection closed or left silent by the module is its normal end.
 */
static int
serve_request(struct authd *d, struct authd_files *f, int fd, int first, int64_t wait_ms)
{
	struct conv c = {.fd = fd, .log = &d->log};
	struct authproto_msg req;
	const char *why = NULL;
	int keep;

	if (authproto_recv(fd, &req, authproto_now_ms() + wait_ms, &why) != 0 ||
	    req.type != AUTHPROTO_REQUEST) {
		if (first)
			log_msg(&d->log, LOG_WARNING, "refused a request: %s",
				why != NULL ? why : "not a request");
		authproto_wipe(&req);
		return 0;
	}
	if (authd_reload(d, reload_asked))
		authd_files_close(f); /* the paths may have changed */
	reload_asked = 0;
	authd_files_refresh(f, d->cfg);
	alarm(AUTHD_WORK_TIMEOUT_S);
	authd_handle(d->cfg, f, &c, &req);
	keep = (req.flags & AUTHPROTO_F_KEEP) && !c.failed && !stop_asked;
	authproto_wipe(&req);
	return keep;
}

/*
 * One connection: the peer, then its requests: one, or up to
 * AUTHD_KEEP_MAX when the module keeps the connection for its next call.
 */
static void
serve_connection(struct authd *d, struct authd_files *f, int fd)
{
	uid_t uid;
	pid_t peer;
	int ok, n = 0;

	ok = authd_peer_allowed(fd, (uid_t)d->cfg->authd_client_uid, &uid, &peer);
	if (ok != 1) {
		log_msg(&d->log, LOG_WARNING, "refused a connection from uid %ld (pid %ld)%s",
			ok < 0 ? -1L : (long)uid, ok < 0 ? -1L : (long)peer,
			ok < 0 ? ": no peer credentials" : ": only root may ask");
		return;
	}
	if (!serve_request(d, f, fd, 1, AUTHD_REQUEST_TIMEOUT_MS))
		return;
	while (++n < AUTHD_KEEP_MAX) {
		alarm(AUTHD_WORK_TIMEOUT_S + 1);
		if (!serve_request(d, f, fd, 0, AUTHD_KEEP_MS))
			return;
	}
}

/* Opens what requests need before the first one comes; a failure is retried by that request. */
static void
prepare(struct authd *d, struct authd_files *f)
{
	struct store *st;
	struct secret_key *key;
	struct audit *a;
	struct idg_err err;

	if (authd_files_store(f, d->cfg, &st, &err) != 0 ||
	    authd_files_state(f, d->cfg, &st, &err) != 0 ||
	    authd_files_key(f, d->cfg, &key, &err) != 0 ||
	    authd_files_audit(f, d->cfg, &a, &err) != 0)
		log_msg(&d->log, LOG_ERR, "worker: %s (the next request tries again)", err.msg);
	if (d->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY) {
		struct providers *p;
		LDAP *ld;
		size_t i;

		/* The fleet key and a bound connection, so the first login pays for neither. */
		if (authd_files_fleet(f, d->cfg, &key, &p, &err) != 0 ||
		    providers_get(p, idg_now(), &ld, &i, &err) < 0)
			log_msg(&d->log, LOG_ERR, "worker: %s (the next request tries again)",
				err.msg);
	}
}

void
authd_worker_run(struct authd *d, int slot)
{
	struct authd_files f = {.log = &d->log};
	struct sigaction sa;
	pid_t parent = getppid();
	int fd;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		stop_asked = 1;
	(void)prctl(PR_SET_NAME, "authd-worker");
	keep_heap();
	prepare(d, &f);
	set_state(d, slot, AUTHD_SLOT_IDLE);
	while (!stop_asked) {
		fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_msg(&d->log, LOG_ERR, "accept: %s", strerror(errno));
				(void)poll(NULL, 0, 100); /* let descriptors or memory come back */
			} else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
				log_msg(&d->log, LOG_ERR, "accept: %s", strerror(errno));
			}
			continue;
		}
		set_state(d, slot, AUTHD_SLOT_BUSY);
		if (authd_pool_idle(d->pool) < AUTHD_SPARE_MIN &&
		    write(d->pool->wake_w, "w", 1) < 0) {
			/* a full pipe: the supervisor has wake-ups to read already */
		}
		(void)prctl(PR_SET_NAME, "authd-request");
		alarm(AUTHD_WORK_TIMEOUT_S + AUTHD_REQUEST_TIMEOUT_MS / 1000);
		serve_connection(d, &f, fd);
		authd_files_end(&f);
		alarm(0);
		close(fd);
		(void)prctl(PR_SET_NAME, "authd-worker");
		set_state(d, slot, AUTHD_SLOT_IDLE);
	}
	authd_files_close(&f);
	log_close(&d->log);
#ifdef AUTHD_LSAN
	/* _exit() skips LeakSanitizer; a worker serves thousands of requests, so check it here. */
	__lsan_do_leak_check();
#endif
	_exit(0);
}
