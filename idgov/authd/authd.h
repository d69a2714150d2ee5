/*
 * idgov-authd: the auth service. pam_idgov.so, inside sshd, sudo, su and
 * login, sends it one request per PAM call over a Unix socket that only
 * root (or the configured [authd] client_uid) may use; the service decides
 * with the policy layer and answers with prompts, messages and a result.
 * So the master key, the store and the policy libraries live in this one
 * small process, never in the PAM host processes.
 *
 *   listen.c  the socket: inherited from systemd (LISTEN_FDS) or made here;
 *             peer credentials
 *   serve.c   the supervisor: a small pool of pre-forked workers, kept
 *             topped up with spare ones and replaced when they die;
 *             signals, configuration reloads
 *   worker.c  one worker: accepts a connection, checks its peer, serves
 *             its one request, and waits for the next; a watchdog alarm
 *   files.c   what a worker keeps open between requests (store, MFA
 *             state, master key, audit spool), reopened when replaced
 *   conv.c    the conversation with the module inside one connection
 *   login.c   the requests: authenticate, account, session, password
 *   fleet.c   authenticate with [fleet] mfa = directory: the token in the
 *             directory, written with compare-and-swap; offline fallback
 */
#ifndef IDGOV_AUTHD_H
#define IDGOV_AUTHD_H

#include "audit.h"
#include "authproto.h"
#include "config.h"
#include "log.h"
#include "mfa.h"
#include "secret.h"
#include "store.h"
#include "token.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/*
 * The pool (serve.c, worker.c). Slot states live in memory shared with
 * the workers: a worker marks itself idle or busy, and wakes the
 * supervisor (one byte on a pipe) only when too few are left idle.
 */
#define AUTHD_SLOTS 1024 /* the largest [authd] max_children */
enum authd_slot_state {
	AUTHD_SLOT_FREE = 0,
	AUTHD_SLOT_STARTING, /* forked, opening its files: counted as idle */
	AUTHD_SLOT_IDLE,     /* waiting in accept() */
	AUTHD_SLOT_BUSY,     /* serving a connection */
};
struct authd_shared {
	_Atomic int high;               /* slots in use are below this */
	_Atomic int state[AUTHD_SLOTS]; /* enum authd_slot_state */
};
struct authd_pool {
	struct authd_shared *sh; /* MAP_SHARED, anonymous */
	pid_t pid[AUTHD_SLOTS];  /* the supervisor's record */
	int64_t started_ms[AUTHD_SLOTS];
	int wake_r, wake_w; /* workers write a byte to wake the supervisor */
	int sfd;            /* the supervisor's signalfd */
	sigset_t oldmask;
	int64_t next_spawn_ms; /* back-off after workers that die young */
	int64_t surplus_since; /* since when more than AUTHD_SPARE_MAX are idle; 0: not */
};
/* The shared slots are advisory counts: relaxed loads and stores are enough. */
static inline int
authd_slot_get(const struct authd_shared *sh, int i)
{
	return atomic_load_explicit(&sh->state[i], memory_order_relaxed);
}
static inline void
authd_slot_set(struct authd_shared *sh, int i, enum authd_slot_state st)
{
	atomic_store_explicit(&sh->state[i], (int)st, memory_order_relaxed);
}
/* Workers idle (or starting), counted from the shared slots. */
int authd_pool_idle(const struct authd_pool *p);

struct authd {
	const char *config_path;
	struct cfg *cfg;
	struct stat cfg_stat; /* of the file cfg was read from: reloaded when it changes */
	struct logger log;
	int listen_fd;
	char *own_socket; /* the path this process bound (removed at exit); NULL: inherited */
	int foreground;
	struct authd_pool *pool; /* serve.c */
};

/* serve.c: rereads the configuration if forced or if its file changed. 1 if reloaded. */
int authd_reload(struct authd *d, int force);

/* files.c: what a worker keeps open between requests, and how it knows it is current. */
struct authd_file_id {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct authd_files {
	struct logger *log;
	/*
	 * The main store, read-only: the service never takes the write lock a
	 * directory refresh holds; what it writes goes to the state file and
	 * the spool. NULL until a request needs it; st_id: what the path named
	 * when it was opened.
	 */
	struct store *st;
	struct authd_file_id st_id;
	struct store *state; /* the MFA state file (mfastate.h) */
	char state_path[4096];
	struct authd_file_id state_id;
	struct secret_key *key; /* the master key, with .new and .old when present */
	struct authd_file_id key_id[3];
	struct audit *audit; /* a spooling handle: events go to idgovd */
	/* [fleet] mfa = directory: the fleet key and the providers' connection, kept. */
	struct secret_key *fleet_key;
	struct authd_file_id fleet_key_id;
	struct providers *providers;
	/* AUTHD_CHECK_*: kept files not yet compared with their paths in this request. */
	unsigned unchecked;
	/* A last-login stamp to write once the answer has gone (authd_fleet_after). */
	int touch_pending;
	int64_t touch_now;
	char touch_uuid[64], touch_dn[2048];
};

/*
 * Before a request: closes the store if it was replaced on disk since it
 * was opened; the state file and the keys are compared with their paths
 * when the request first takes them (authd_files_state, _key, _fleet).
 */
void authd_files_refresh(struct authd_files *f, const struct cfg *cfg);
/* Each opens on first use and keeps it: 0 with *out, or -1 (err). */
int authd_files_store(struct authd_files *f, const struct cfg *cfg, struct store **out,
		      struct idg_err *err);
int authd_files_state(struct authd_files *f, const struct cfg *cfg, struct store **out,
		      struct idg_err *err);
int authd_files_key(struct authd_files *f, const struct cfg *cfg, struct secret_key **out,
		    struct idg_err *err);
int authd_files_audit(struct authd_files *f, const struct cfg *cfg, struct audit **out,
		      struct idg_err *err);
/* The fleet key (sodium_malloc'd, wiped when closed) and the providers ([fleet] mfa = directory).
 */
int authd_files_fleet(struct authd_files *f, const struct cfg *cfg, struct secret_key **key,
		      struct providers **p, struct idg_err *err);
/* After a request: rolls back a transaction it left open. */
void authd_files_end(struct authd_files *f);
/* Closes everything; the key is wiped. */
void authd_files_close(struct authd_files *f);

/* listen.c */
/*
 * The listening socket: the one systemd passes (LISTEN_PID is ours and
 * LISTEN_FDS is 1: fd 3, which must be a Unix stream socket), else a new
 * one bound at path with mode 0600 (a stale socket there is replaced; any
 * other file is refused). Fills d->listen_fd and d->own_socket.
 */
int authd_listen(struct authd *d, const char *path, struct idg_err *err);
/* 1 if the peer of fd may ask (root or client_uid), 0 if not (*uid says who), -1 on error. */
int authd_peer_allowed(int fd, uid_t client_uid, uid_t *uid, pid_t *pid);

/* serve.c */
int authd_serve(struct authd *d);

/* worker.c: runs one worker in a child forked by serve.c; never returns. */
void authd_worker_run(struct authd *d, int slot) __attribute__((noreturn));

/* conv.c: the conversation with the module, inside one connection. */
struct conv {
	int fd;
	int messages;       /* sent before the result, bounded by AUTHPROTO_MAX_MESSAGES */
	int failed;         /* the module is gone: nothing more is sent */
	struct logger *log; /* may be NULL */
};
/* Asks text (echo off). *answer is in guarded memory (secmem.h: secmem_free it). 0, or -1. */
int conv_prompt(struct conv *c, const char *text, char **answer);
void conv_info(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conv_error(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conv_result(struct conv *c, enum authproto_result r, uint32_t delay_ms);

/* login.c: answers one request; the conversation ends with its result. */
void authd_handle(const struct cfg *cfg, struct authd_files *f, struct conv *c,
		  const struct authproto_msg *req);

/* fleet.c: MFA with [fleet] mfa = directory (see fleet.c for the whole path). */
struct authd_fleet {
	const struct cfg *cfg;
	struct authd_files *files;    /* the worker's: where a stamp to write afterwards is noted */
	struct store *st;             /* the mirror, read only: users, fleet_tokens */
	struct store *state;          /* the state file: watermark, offline queue */
	const struct secret_key *key; /* the fleet key */
	struct providers *prov;
	struct audit *audit; /* may be NULL */
	struct logger *log;
	const char *actor;
	int wrote_back;       /* the offline queue was written back in this request */
	struct token scratch; /* a token being read */
};
struct authd_fleet_attempt {
	char uuid[64];
	char dn[2048];
	int found;  /* the user is in the mirror */
	int online; /* tok was read from a provider in this attempt */
	int usable; /* tok can be decided on (an unusable mirror row decides as locked) */
	struct token tok;
};
enum {
	AUTHD_FLEET_NOT_ENROLLED = 0, /* or not in the mirror */
	AUTHD_FLEET_ENROLLED = 1,
	AUTHD_FLEET_OFFLINE_DENIED = 2, /* no provider answers and [fleet] offline = deny */
};
/* Finds user and reads the token (a provider's, else the mirror's): an AUTHD_FLEET_*, or -1. */
int authd_fleet_begin(struct authd_fleet *x, const char *user, int64_t now,
		      struct authd_fleet_attempt *a, struct idg_err *err);
/* Decides code and writes the outcome: 0 with *out, AUTHD_FLEET_OFFLINE_DENIED, or -1. */
int authd_fleet_verify(struct authd_fleet *x, const char *user, struct authd_fleet_attempt *a,
		       const char *code, int64_t now, enum mfa_outcome *out, struct idg_err *err);

/* After the answer: writes the last-login stamp a login left due, if any. */
void authd_fleet_after(const struct cfg *cfg, struct authd_files *f);

/* How long the service waits for a module's request, and for a person to answer a prompt. */
#define AUTHD_REQUEST_TIMEOUT_MS 5000
#define AUTHD_ANSWER_TIMEOUT_MS (300 * 1000)
/* How long a message to the module may take to leave. */
#define AUTHD_SEND_TIMEOUT_MS 5000
/*
 * A request with AUTHPROTO_F_KEEP: how long the worker waits for the
 * next one on the same connection (the module's account call follows its
 * authenticate call at once), and how many requests one connection may
 * carry. Past either, the connection is closed unread.
 */
#define AUTHD_KEEP_MS 250
#define AUTHD_KEEP_MAX 4
/*
 * The watchdog: a worker that spends longer than this on a request's own
 * work (between the request and the result, the person's time at a
 * prompt not counted) is killed by its alarm and replaced; its client
 * sees the connection close and fails closed. Generous: SQLite waits up
 * to 5 s for a lock, and a recovery code costs a password hash.
 */
#define AUTHD_WORK_TIMEOUT_S 30
/*
 * Idle workers kept ready: at least MIN (a worker taking a connection
 * wakes the supervisor to fork another when fewer are left), and beyond
 * MAX one is retired (the newest) every AUTHD_RETIRE_MS while the surplus
 * lasts, so a burst does not leave a big pool and a busy spell does not
 * fork and retire workers in turn.
 */
#define AUTHD_SPARE_MIN 2
#define AUTHD_SPARE_MAX 4
#define AUTHD_RETIRE_MS 10000

#endif
