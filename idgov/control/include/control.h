/*
 * The control protocol between the idgov CLI and idgovd.
 *
 * One request per connection: a JSON object on one line,
 *     {"v": 1, "op": "user.show", "args": {"name": "alice"}}
 * answered by one line,
 *     {"v": 1, "ok": true, "result": ...}
 *     {"v": 1, "ok": false, "error": {"code": "denied", "message": "..."}}
 * Error codes: bad_request, denied, not_found, failed, unavailable, and
 * signed_out (a web session that is unknown, ended or timed out).
 *
 * The web frontend ([web] user) acts on behalf of a signed-in person by
 * adding the session token idgovd issued and the client's address:
 *     {"v": 1, "op": "review.pending", "args": {}, "session": "...", "addr": "192.0.2.7"}
 * idgovd accepts "session" from that uid only; see control_web.c.
 *
 * control_handle() is the whole server side of a request: it parses and
 * validates, authorises by the caller's role, runs the operation, and
 * audits the request and its outcome. The daemon calls it for each
 * socket request; the CLI calls it in-process when root runs it with no
 * daemon, so both paths share one implementation.
 *
 * Anyone may connect, so what a request puts into the audit chain is
 * bounded: a record's subject comes from arguments only once they are
 * valid, and with a control_refusals table (the daemon's) the requests of
 * a caller who is not an admin that do not succeed are coalesced per uid
 * and minute: the first is recorded as it is, later ones only counted, and
 * the count written as one "control.refused" record when the minute is
 * over (control_refusals_flush()) or at the caller's next such request.
 */
#ifndef IDGOV_CONTROL_H
#define IDGOV_CONTROL_H

#include "audit.h"
#include "config.h"
#include "secret.h"
#include "store.h"

#include <jansson.h>
#include <sys/types.h>

#define CONTROL_VERSION 1

struct control_op;
/* Declared by the directory layer (sync.h); the protocol only passes them through. */
struct query_counts_cache;
struct sync_opts;
struct sync_result;

struct caller {
	uid_t uid;
	char name[64]; /* user name, or "uid=N" when the uid has none */
	int admin;
	/*
	 * Set while admin is not yet decided: the admin group is looked up
	 * (NSS, then the directory's mirror) only for a request whose
	 * operation reads the caller's role (control_handle()), once per
	 * request and never kept past it. gid is the primary group for the
	 * NSS check, (gid_t)-1 for the directory's word alone.
	 */
	int admin_unknown;
	gid_t gid;
	/*
	 * Set when the web frontend acts on behalf of this person with a
	 * session idgovd issued (see control_web.c); name, uid and admin are
	 * then the person's. session is the request's token (NULL: the caller
	 * is who SO_PEERCRED says), step its enum websession_step.
	 */
	const char *session;
	int session_step;
	int64_t session_created;
	char addr[64]; /* the client's address as the frontend saw it */
};

/* Refusals coalesced per uid and window; see control_refusals_note() in control.c. */
#define CONTROL_REFUSAL_WINDOW 60 /* seconds */
#define CONTROL_REFUSAL_UIDS 64   /* callers tracked at once; the oldest is written out first */
#define CONTROL_REFUSAL_KINDS 8   /* actions counted by name; more go under "other" */

struct control_refusal_kind {
	char name[64];
	int64_t n;
};

struct control_refusal {
	int used;
	int64_t start; /* when the window's first refusal (the one recorded) came */
	int64_t last;  /* the newest refusal counted */
	int64_t count; /* refusals after the first, not recorded one by one */
	uid_t uid;
	char actor[64];
	struct control_refusal_kind actions[CONTROL_REFUSAL_KINDS + 1]; /* last: "other" */
	struct control_refusal_kind outcomes[CONTROL_REFUSAL_KINDS + 1];
};

/* Owned by the daemon, zeroed before use; the control library keeps no state of its own. */
struct control_refusals {
	struct control_refusal slot[CONTROL_REFUSAL_UIDS];
};

struct control_ctx {
	const struct cfg *cfg;
	struct store *st;
	struct audit *audit;
	struct logger *log;
	const struct secret_key *key; /* master key, for MFA secrets; NULL: MFA ops fail */
	/*
	 * The auth service's MFA state file (mfastate.h), opened by the first
	 * MFA operation that needs it; whoever owns the ctx closes it.
	 */
	struct store *mfa_state;
	/* status's counts kept between requests (query.h); NULL: counted each time. */
	struct query_counts_cache *counts_cache;
	/* Daemon state for "status"; NULL when the CLI runs without a daemon. */
	json_t *(*daemon_status)(void *arg);
	/*
	 * Runs a sync; the daemon and the CLI do this differently. Returns 0,
	 * -1 (err set), or CONTROL_SYNC_STARTED: the daemon took the request
	 * and runs it in the background; control_handle() then returns NULL
	 * and the daemon answers later with control_sync_reply().
	 */
	int (*run_sync)(void *arg, const struct sync_opts *opts, struct sync_result *res,
			struct idg_err *err);
	/* More operations (the access reviews'), after the built-in ones. */
	const struct control_op *extra_ops;
	size_t n_extra_ops;
	/* Called after a request changed grants: do what is now due (NULL: nothing). */
	void (*governance)(void *arg);
	/* Called after the master key was rotated: load it again (NULL: nothing loaded to drop). */
	int (*reload_key)(void *arg, struct idg_err *err);
	/*
	 * Whether this machine may govern now (role.h): 1, or 0 with the
	 * refusal in why. Asked before every CONTROL_OP_GOVERN operation;
	 * NULL: it may (a lone governor).
	 */
	int (*may_govern)(void *arg, char *why, size_t size);
	/* What this process knows of the fleet and its lease, for "status"; NULL: nothing. */
	json_t *(*fleet_status)(void *arg);
	/* Where refusals are coalesced; NULL (the CLI in-process): each is recorded. */
	struct control_refusals *refusals;
	void *arg;
};

/*
 * Works out who the caller is; whether they are an admin (root, or the
 * admin group) is decided by control_handle() when the request needs it.
 */
void control_identify(const struct control_ctx *ctx, uid_t uid, struct caller *who);

/* run_sync's answer when the daemon runs the sync in the background. */
#define CONTROL_SYNC_STARTED 1

/* Handles one request line; returns the reply line (malloc'd, no newline), NULL only when out of
 * memory or when run_sync returned CONTROL_SYNC_STARTED. */
char *control_handle(struct control_ctx *ctx, const struct caller *who, const char *line,
		     size_t len);

/*
 * The reply to a "sync" request whose run_sync returned
 * CONTROL_SYNC_STARTED, once the sync is over: rc, res and err as a
 * synchronous run_sync would have filled them. Audits "control.sync" for
 * who, as control_handle() does for every other request, and takes res's
 * drift reference. NULL when out of memory.
 */
char *control_sync_reply(struct control_ctx *ctx, const struct caller *who, int rc,
			 struct sync_result *res, const struct idg_err *err);

/*
 * Writes the count of every coalescing window that is over at now (all of
 * them, when all is set: at shutdown) as one record each. The daemon calls
 * it about once a second.
 */
void control_refusals_flush(struct control_ctx *ctx, int64_t now, int all);

/* The reply for a request that could not even be read (too large, bad bytes); audited. NULL when
 * out of memory. */
char *control_reject(struct control_ctx *ctx, const struct caller *who, const char *code,
		     const char *why);

/* An error reply and nothing else: not logged, not audited. For the daemon's own refusals (a full
 * client table, a timeout), which it logs and audits at a pace a flood cannot set. NULL when out of
 * memory. */
char *control_error_reply(const char *code, const char *why);

#endif
