/*
 * idgovd's event loop; see daemon.h.
 *
 * Descriptors polled: [0] signalfd (SIGHUP, SIGTERM, SIGINT), [1] the
 * listening control socket, [2] a timerfd for the directory link, [3] the
 * directory connection when a persistent sync runs, [4] the governance
 * timer, [5] the refresh worker's eventfd while one runs, then the
 * connected clients.
 *
 * Full refreshes (`idgov sync` through the socket, and the scheduled
 * reconciliation) run in a worker thread (refresher.h) with its own store
 * connection and directory connection, one at a time. While it runs the
 * loop keeps answering requests from the last committed state (the store
 * is WAL: readers never wait for the writer), and queues whatever would
 * write beside the worker's transaction rather than make it wait on the
 * store's lock or fail: the persistent session's changes stay unread on
 * its connection, the governance timer, the link's timer and a SIGHUP
 * reload are left pending; all of them run once the worker is done. The
 * client that asked for the sync gets its reply then; a second `idgov
 * sync` meanwhile is refused at once ("a sync is already running").
 * SIGTERM tells the worker to stop at the next entry or page; it rolls
 * back, and the daemon exits once it has.
 *
 * Governance (grants.h, journal.h) runs on its own timer, set to the wall
 * clock time when something is next due: a grant's end, start or lapse,
 * or a deferred directory write. It is not a sweep: the timer fires at
 * the end time itself, and after any request that changed grants the
 * daemon runs it at once and sets the timer again. At start it runs
 * first, so whatever fell due while the daemon was down happens now.
 *
 * Scheduled backups ([backup] schedule and targets) are checked on each
 * turn of the loop (at least once a second) and run in a forked child
 * (backup_tick()), so that copying, encrypting and verifying a large
 * store never holds up logins' answers or the timers.
 *
 * The directory link is a small state machine:
 *   disconnected --timer--> connect + refresh --ok--> persist | paged
 *   persist --error/EOF--> disconnected (timer armed with capped backoff)
 *   paged --timer (poll_interval)--> paged refresh
 * A refresh refused by the mass-departure guard is alerted and retried
 * at the longest backoff; it is never applied without `idgov sync --force`.
 *
 * Clients: one request per connection, and nothing a client does may hold
 * up the loop: the timers above must fire on time whoever is connected. A
 * client has [control] client_timeout seconds to send its line and must
 * stay under max_request bytes; anything else gets an error reply and is
 * disconnected. Replies are never written blocking: each client's reply
 * is buffered, up to max_reply bytes (a larger one becomes an error
 * reply), and sent as its socket takes it. The client then has
 * client_timeout seconds to read all of it, a deadline that progress does
 * not move; a slower reader is dropped. The daemon never trusts what a
 * client says about itself: the uid comes from SO_PEERCRED.
 *
 * Admission (admission.h): one uid holds at most max_clients_per_uid of
 * the MAX_CLIENTS slots; root has no such limit, and the last slots are
 * kept for root alone, so root can always connect. Connections beyond
 * that are accepted only to be answered "unavailable" and closed.
 * Malformed and oversized requests are audited one by one (each costs the
 * client a real request); refused connections, requests not sent in time
 * and replies not read in time, which cost nothing to cause, are logged
 * and audited once per uid and burst, then as one summary with a count
 * every FLOOD_INTERVAL seconds while the burst lasts.
 *
 * Requests that reach the protocol and are refused (a user asking for what
 * they may not) are coalesced per uid and minute in a table the daemon
 * owns (control.h); the loop writes out the counts of windows that are
 * over, and teardown those still open.
 *
 * The audit spool ([store] audit_spool, spool.h), where idgov-authd and
 * pam_idgov.so leave the events they may not sign, is ingested at start,
 * at the end of any turn in which inotify [5] reported a file renamed into
 * it, and every SPOOL_INTERVAL seconds in case a notification was missed
 * (or inotify is not available): in name order, SPOOL_BATCH events per
 * transaction, each batch signed and committed before its files go.
 *
 * The fleet ([fleet], role.h): on a governor with a lease_dn the loop
 * claims the lease at start and renews it every third of lease_ttl
 * (fleet_tick()); on a host it reads it as often, to name the governor in
 * refusals and in status. Governance (the round, the journal's directory
 * writes, the audit head's copy in the directory) and every operation
 * flagged CONTROL_OP_GOVERN run only while this machine may govern; a
 * governor that loses the lease says so with LOG_ALERT and stops them at
 * once, and one that gains it (another's expired) runs a round at once.
 *
 * With [store] audit_anchor_dn, each audit head signed in a commit is also
 * published to the directory (anchor_dir.h) at the end of the loop's
 * turn, on the journal's connection: never from inside the commit, which
 * may be in the middle of a sync or a governance round.
 */
#define _GNU_SOURCE
#include "daemon.h"

#include "admission.h"
#include "anchor_dir.h"
#include "audit.h"
#include "backup.h"
#include "config.h"
#include "control.h"
#include "dir.h"
#include "grants.h"
#include "journal.h"
#include "log.h"
#include "notify.h"
#include "query.h"
#include "refresher.h"
#include "reviews.h"
#include "role.h"
#include "rotate.h"
#include "rotate_audit.h"
#include "rotate_backup.h"
#include "safepath.h"
#include "schedule.h"
#include "scheduler.h"
#include "spool.h"
#include "store.h"
#include "sync.h"
#include "timewin.h"

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
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define FIXED_FDS 7
/* Seconds between spool ingests when no notification came (a missed inotify event). */
#define SPOOL_INTERVAL 30
/* Events appended and signed per transaction when ingesting the spool. */
#define SPOOL_BATCH 500
#define ACCEPT_BURST 16    /* connections taken from the backlog per loop turn */
#define TURN_MORE_ROUNDS 4 /* looks for more requests before a turn's commit (turn_more()) */
#define FLOOD_INTERVAL 10  /* seconds a burst of refusals is summarised over */

enum link_state { LINK_DISCONNECTED, LINK_PERSIST, LINK_PAGED };

/*
 * A connected client: reading its request (out == NULL), then writing the
 * reply from out. The deadline is for the phase as a whole.
 */
struct client {
	int fd;
	uid_t uid;
	char *buf; /* the request so far */
	size_t len;
	char *out; /* the reply line, newline included */
	size_t out_len, out_sent;
	int64_t deadline; /* monotonic milliseconds */
	int waiting;      /* its sync runs in the worker: not polled, no deadline */
};

struct daemon {
	const struct daemon_opts *opts;
	struct cfg *cfg;
	struct logger log;
	struct store *st;
	struct audit *audit;
	struct secret_key *key;
	struct control_ctx ctl;
	struct query_counts_cache counts_cache; /* status's, between requests */
	struct control_refusals *refusals;      /* coalesced refusals, by uid (control.h) */
	int sigfd, listenfd, timerfd, govfd;
	struct journal journal;
	int64_t gov_next;
	struct sync_session *sess;
	enum link_state link;
	int backoff;
	int64_t started, connected_since;
	char last_error[IDG_ERRLEN];
	struct client clients[MAX_CLIENTS];
	struct flood flood;          /* refusals and drops, counted per uid */
	struct anchor_head pub_head; /* the newest signed head, to publish to the directory */
	int pub_due;
	int stop;
	int pid_written;        /* teardown removes only a pid file this process wrote */
	int64_t backup_next;    /* wall clock time of the next scheduled backup; 0: none */
	pid_t backup_pid;       /* the child writing scheduled backups; 0: none */
	int64_t reconcile_next; /* wall clock time of the next reconciliation; 0: none */
	/* The full refresh running in a worker thread (refresher.h), or NULL. */
	struct refresher *refresh;
	int refresh_reconcile;     /* started by the reconciliation schedule */
	int refresh_client;        /* the client waiting for its reply, or -1 */
	struct caller refresh_who; /* who asked, to audit the request when it ends */
	int64_t refresh_started;   /* wall clock */
	int handling;              /* the client whose request is being handled, or -1 */
	int batching;              /* this turn's replies wait for its audit records (turn_end()) */
	int reload_due;            /* a SIGHUP arrived while the worker ran */
	int timer_missed;          /* the link timer fired while the worker ran */
	int spoolfd;               /* inotify on [store] audit_spool; -1: timer only */
	int64_t spool_next;        /* wall clock time of the next ingest without notification */
	int spool_due;             /* notified: ingest at the end of this turn */
	struct fleet_state fleet;  /* the lease as last claimed or read (role.h) */
	int64_t fleet_next;        /* wall clock time of the next claim or read */
	int governing;             /* may govern, as of the last fleet_tick() */
	int checked_once;          /* fleet_tick() has run */
};

static const char *const link_names[] = {"disconnected", "persist", "paged"};

static void
audit_event(struct daemon *d, const char *action, const char *subject, json_t *details)
{
	struct idg_err err;

	if (audit_record(d->audit, "idgovd", subject, action, details, &err) != 0)
		log_msg(&d->log, LOG_ERR, "cannot audit %s: %s", action, err.msg);
}

/*
 * Whether this machine may govern at this very moment (role.h): the lease
 * is judged against the clock now, not as of the last fleet_tick(), so a
 * lease that ran out between two ticks stops governance at its expiry.
 */
static int
governs_now(struct daemon *d)
{
	char why[IDG_ERRLEN + 128];

	return fleet_may_govern(d->cfg, &d->fleet, idg_now(), why, sizeof(why));
}

/* ---- the audit head in the directory ---- */

/* After a commit that signed (audit_on_head): remember the head, publish it soon. */
static void
on_signed_head(void *arg, const struct anchor_head *h)
{
	struct daemon *d = arg;

	d->pub_head = *h;
	d->pub_due = 1;
}

/*
 * Replaces the directory's copy of the head, best-effort: a failure is
 * logged and the next signing tries again. The copy is never lowered,
 * nor raised over a cut: if the store no longer holds the head the
 * directory has, that is alerted and the copy kept, like the anchor file.
 */
static void
publish_head(struct daemon *d)
{
	struct anchor_head cur;
	struct idg_err err;
	LDAP *ld;
	int found;

	if (dir_anchor_configured(d->cfg) && !governs_now(d))
		return; /* a directory write: kept due until this machine governs */
	d->pub_due = 0;
	if (!dir_anchor_configured(d->cfg))
		return;
	if (journal_connection(&d->journal, &ld, &err) != 0 ||
	    dir_anchor_fetch(d->cfg, ld, &cur, &found, &err) != 0)
		goto fail;
	if (found && audit_holds_head(d->st, &cur, &err) != 0) {
		log_msg(&d->log, LOG_ALERT, "audit head in %s: %s", d->cfg->audit_anchor_dn,
			err.msg);
		return;
	}
	if (found && cur.seq >= d->pub_head.seq)
		return;
	if (dir_anchor_publish(d->cfg, ld, &d->pub_head, &err) != 0)
		goto fail;
	return;
fail:
	log_msg(&d->log, LOG_WARNING,
		"audit head %lld not published to the directory: %s (tried again at the next "
		"signing)",
		(long long)d->pub_head.seq, err.msg);
	journal_close(&d->journal); /* reconnect next time */
}

static void
arm_timer(struct daemon *d, int seconds)
{
	struct itimerspec its = {.it_value = {seconds > 0 ? seconds : 0, seconds > 0 ? 0 : 1}};

	timerfd_settime(d->timerfd, 0, &its, NULL);
}

/* ---- governance ---- */

/* After a master key rotation: the keys loaded at start may not hold the new one. */
static int
reload_key(void *arg, struct idg_err *err)
{
	struct daemon *d = arg;
	struct secret_key *k;

	if (secret_key_load(d->cfg->master_key_file, &k, err) != 0)
		return -1;
	secret_key_free(d->key);
	d->key = k;
	d->ctl.key = k;
	return 0;
}

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

	if (d->refresh != NULL)
		return; /* it would wait on the worker's transaction; refresh_done() runs it */
	if (!governs_now(d)) {
		/* Not the governor (role.h): nothing runs; fleet_tick() calls again if it becomes
		 * one. */
		d->gov_next = 0;
		timerfd_settime(d->govfd, TFD_TIMER_ABSTIME, &its, NULL);
		return;
	}
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

/* ---- the fleet: the governor lease ---- */

static int
may_govern(void *arg, char *why, size_t size)
{
	struct daemon *d = arg;

	return fleet_may_govern(d->cfg, &d->fleet, idg_now(), why, size);
}

static json_t *
fleet_status(void *arg)
{
	struct daemon *d = arg;
	char held[IDG_ERRLEN + 64];

	fleet_describe(&d->fleet, held, sizeof(held));
	return json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:s?, s:I, s:s?}", "role",
			 d->cfg->fleet_role == CFG_ROLE_GOVERNOR ? "governor" : "host", "name",
			 d->cfg->fleet_name, "lease_dn", d->cfg->fleet_lease_dn, "lease_ttl",
			 (json_int_t)d->cfg->fleet_lease_ttl, "governing", governs_now(d), "lease",
			 fleet_has_lease(d->cfg) ? held : "none configured", "holder",
			 d->fleet.lease.found ? d->fleet.lease.holder : NULL, "expires",
			 (json_int_t)(d->fleet.lease.found ? d->fleet.lease.expires : 0), "error",
			 d->fleet.error[0] ? d->fleet.error : NULL);
}

/*
 * Claims or renews the lease (a governor) or reads it (a host), then acts
 * on a change: losing the right to govern is alerted and stops governance
 * at once; gaining it runs a round at once. A failure to reach the
 * directory does not end a lease already held: it lasts until its expiry,
 * and the next tick (within 5 s) tries again.
 */
static void
fleet_tick(struct daemon *d)
{
	char why[IDG_ERRLEN + 128], held[IDG_ERRLEN + 64];
	int64_t now = idg_now();
	struct idg_err err;
	int was = d->governing, rc = 0;
	LDAP *ld;

	if (fleet_has_lease(d->cfg)) {
		int64_t every = d->cfg->fleet_lease_ttl / 3;

		d->fleet_next = now + (every > 0 ? every : 1);
		if (journal_connection(&d->journal, &ld, &err) != 0) {
			snprintf(d->fleet.error, sizeof(d->fleet.error), "%s", err.msg);
			rc = -1;
		} else if ((rc = fleet_refresh(d->cfg, ld, now, &d->fleet)) != 0) {
			journal_close(&d->journal); /* reconnect next time */
		}
		if (rc != 0) {
			/* Soon (the lease runs out), not each turn (a connect can take a while). */
			d->fleet_next = now + (every < 5 ? (every > 0 ? every : 1) : 5);
			log_msg(&d->log, LOG_WARNING, "fleet: the lease %s: %s",
				d->cfg->fleet_lease_dn, d->fleet.error);
		}
	} else {
		d->fleet_next = 0; /* a lone governor: nothing to renew */
	}
	d->governing = fleet_may_govern(d->cfg, &d->fleet, now, why, sizeof(why));
	/* Held: the tick after the expiry comes at the expiry at the latest, to say it ended. */
	if (d->governing && fleet_has_lease(d->cfg) && d->fleet.lease.expires < d->fleet_next)
		d->fleet_next = d->fleet.lease.expires;
	fleet_describe(&d->fleet, held, sizeof(held));
	if (was && !d->governing) {
		log_msg(&d->log, LOG_ALERT,
			"fleet: %s lost the governor lease (%s): campaigns, grants, temporary "
			"accounts and directory writes stopped",
			d->cfg->fleet_name, held);
		audit_event(d, "fleet.lease_lost", d->cfg->fleet_name,
			    json_pack("{s:s}", "lease", held));
		governance(d); /* disarms its timer */
	} else if (!was && d->governing) {
		if (fleet_has_lease(d->cfg)) {
			log_msg(&d->log, LOG_NOTICE,
				"fleet: %s holds the governor lease (%s): governing",
				d->cfg->fleet_name, held);
			audit_event(d, "fleet.lease_taken", d->cfg->fleet_name,
				    json_pack("{s:s}", "lease", held));
		}
		if (d->checked_once)
			governance(d);
	} else if (!d->governing && !d->checked_once) {
		log_msg(&d->log, d->cfg->fleet_role == CFG_ROLE_GOVERNOR ? LOG_WARNING : LOG_NOTICE,
			"fleet: %s is a %s and does not govern: %s", d->cfg->fleet_name,
			d->cfg->fleet_role == CFG_ROLE_GOVERNOR ? "governor without the lease"
								: "host",
			why);
	}
	d->checked_once = 1;
}

/* ---- scheduled backups ---- */

static void
backup_alert(const struct cfg *cfg, struct logger *log, const char *subject, const char *body)
{
	(void)notify_alert(cfg, log, "backup.failed", subject, body);
}

/*
 * The child's work: a backup into each target (each verified right after
 * it is written), pruning, and the max_age alarm. It has its own store and
 * audit connections: the parent's are not used across fork().
 */
static int
backup_child(const struct cfg *cfg, struct logger *log)
{
	const char *cur = cfg->backup_targets, *item;
	struct store *st = NULL;
	struct audit *a = NULL;
	struct idg_err err;
	size_t len;
	int failed = 0;

	if (store_open(cfg->store_path, STORE_OPEN_EXISTING, &st, &err) != 0 ||
	    audit_open(st, cfg->audit_key_file, cfg->audit_anchor_file, cfg->audit_sign_every, log,
		       &a, &err) != 0) {
		backup_alert(cfg, log, "idgov scheduled backup failed", err.msg);
		audit_close(a);
		store_close(st);
		return 1;
	}
	while (cur != NULL && idg_list_next(&cur, &item, &len)) {
		char dir[4096], path[4096], body[IDG_ERRLEN + 4200];
		struct backup_manifest m;
		int64_t newest = 0;
		int removed = 0;

		if (len == 0 || len >= sizeof(dir))
			continue;
		snprintf(dir, sizeof(dir), "%.*s", (int)len, item);
		if (backup_run(cfg, st, dir, path, sizeof(path), &m, &err) != 0) {
			snprintf(body, sizeof(body), "backup into %s failed: %s", dir, err.msg);
			backup_alert(cfg, log, "idgov scheduled backup failed", body);
			failed = 1;
		} else {
			log_msg(log, LOG_INFO, "backup written and verified: %s (audit head %lld)",
				path, (long long)m.head_seq);
			if (audit_record(a, "idgovd", path, "backup.create",
					 json_pack("{s:I, s:I, s:b}", "audit_head_seq",
						   (json_int_t)m.head_seq, "store_bytes",
						   (json_int_t)m.store_bytes, "scheduled", 1),
					 &err) != 0)
				log_msg(log, LOG_ERR, "backup: %s", err.msg);
		}
		if (backup_prune(dir, cfg->backup_keep, idg_now(), &removed, &newest, &err) != 0)
			log_msg(log, LOG_ERR, "backup: pruning %s: %s", dir, err.msg);
		else if (removed > 0)
			log_msg(log, LOG_INFO, "backup: removed %d old backups from %s", removed,
				dir);
		if (cfg->backup_max_age > 0 && idg_now() - newest > cfg->backup_max_age) {
			snprintf(body, sizeof(body),
				 "the newest backup in %s is older than [backup] max_age (%s)", dir,
				 newest ? "see its name" : "there is none");
			backup_alert(cfg, log, "idgov backups are too old", body);
		}
	}
	audit_close(a);
	store_close(st);
	return failed;
}

/*
 * Runs the scheduled backups in a child process, so the loop goes on
 * answering while a large store is copied, encrypted and verified. One at
 * a time: a backup still running when the next is due delays it.
 */
static void
backup_tick(struct daemon *d)
{
	pid_t pid;

	if (d->backup_next == 0 || idg_now() < d->backup_next || d->backup_pid != 0)
		return;
	d->backup_next = idg_now() + d->cfg->backup_interval;
	pid = fork();
	if (pid < 0) {
		backup_alert(d->cfg, &d->log, "idgov scheduled backup failed", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct logger log;

		log_open(&log, d->cfg->log_ident, d->cfg->log_socket, 0);
		_exit(backup_child(d->cfg, &log));
	}
	d->backup_pid = pid;
}

/* At start and reload: the next backup is one interval after the newest in the first target. */
static void
backup_schedule(struct daemon *d)
{
	const char *cur = d->cfg->backup_targets, *item;
	char dir[4096];
	size_t len;
	int64_t newest = 0;

	d->backup_next = 0;
	if (d->cfg->backup_interval == 0 || d->cfg->backup_targets[0] == '\0')
		return;
	if (idg_list_next(&cur, &item, &len) && len > 0 && len < sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%.*s", (int)len, item);
		newest = backup_newest(dir, idg_now());
	}
	d->backup_next = newest > 0 ? newest + d->cfg->backup_interval : idg_now();
	if (d->backup_next < idg_now())
		d->backup_next = idg_now();
}

/* ---- reconciliation ---- */

/* At start and reload: [sync] timezone must be a zone ICU knows (config.c checks only its
 * spelling). */
static int
reconcile_config_check(const struct cfg *cfg, struct idg_err *err)
{
	if (!cfg->sync_reconcile_sched.none && timewin_zone_valid(cfg->sync_timezone) != 0)
		return idg_seterr(err, "[sync] timezone: '%s' is not a known IANA time zone",
				  cfg->sync_timezone);
	return 0;
}

/* At start and reload: the next occurrence of [sync] reconcile, or none. */
static void
reconcile_schedule(struct daemon *d)
{
	struct idg_err err;

	d->reconcile_next = 0;
	if (d->cfg->sync_reconcile_sched.none)
		return;
	if (schedule_next(&d->cfg->sync_reconcile_sched, d->cfg->sync_timezone, idg_now(),
			  &d->reconcile_next, &err) != 0) {
		log_msg(&d->log, LOG_WARNING, "reconciliation not scheduled: %s", err.msg);
		d->reconcile_next = 0;
	}
}

static int daemon_sync(void *arg, const struct sync_opts *opts, struct sync_result *res,
		       struct idg_err *err);

/*
 * Runs the scheduled reconciliation when it is due: a full refresh whose
 * corrections are audited as "sync.drift" (mirror.h). Incremental sync
 * cannot see what the directory changes without a new entryCSN (refint,
 * memberof), so this is what brings the mirror back to the directory's
 * exact state. A failure is logged and waits for the next occurrence.
 */
static void
reconcile_tick(struct daemon *d)
{
	struct sync_opts opts = {.reconcile = 1};
	struct sync_result res;
	struct idg_err err;

	/* Due while another refresh runs: it starts when that one is over. */
	if (d->reconcile_next == 0 || idg_now() < d->reconcile_next || d->refresh != NULL)
		return;
	memset(&res, 0, sizeof(res));
	if (daemon_sync(d, &opts, &res, &err) != CONTROL_SYNC_STARTED) {
		log_msg(&d->log, LOG_WARNING, "reconciliation failed: %s", err.msg);
		reconcile_schedule(d);
		return;
	}
	d->refresh_reconcile = 1;
}

/*
 * How long after an entry comes back the reconciliation waits. refint
 * rewrites the values that name a moved entry after slapd has answered
 * the move, in a task of its own, and sends nothing for it; a refresh
 * that read the groups first would keep the old values until the next
 * reconciliation (found on a loaded machine: the group read back before
 * refint had pointed its member at the entry's DN again).
 */
#define RETURN_SETTLE_S 10

/*
 * An entry back in scope under its own entryUUID (a user moved back under
 * user_base): the groups that name it were not sent (mirror.h, returned),
 * so the reconciliation runs soon instead of at its next occurrence. A
 * paged poll reads every group anyway.
 */
static void
reconcile_for_returns(struct daemon *d, const struct sync_result *res)
{
	int64_t due = idg_now() + RETURN_SETTLE_S;

	if (res->stats.returned == 0 || strcmp(res->mode, "paged") == 0)
		return;
	log_msg(&d->log, LOG_NOTICE,
		"sync: %lld entries are back in scope; reconciling in %d s for the groups that "
		"name them",
		(long long)res->stats.returned, RETURN_SETTLE_S);
	if (d->reconcile_next == 0 || d->reconcile_next > due)
		d->reconcile_next = due;
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

/* A hold that this batch started is alerted once; later departures join it quietly. */
static void
guard_alert(struct daemon *d, const struct sync_result *res)
{
	if (res->stats.hold_started)
		(void)notify_alert(d->cfg, &d->log, "sync.held", "idgov: directory departures held",
				   res->stats.hold_reason);
	else if (res->stats.held > 0)
		log_msg(&d->log, LOG_WARNING, "sync: %lld more departures held",
			(long long)res->stats.held);
}

static void
log_batch(struct daemon *d, const struct sync_result *res)
{
	const struct mirror_stats *s = &res->stats;

	guard_alert(d, res);
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
	if (rc != 0) {
		link_down(d, err.msg);
		return;
	}
	log_batch(d, &res);
	reconcile_for_returns(d, &res);
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
	if (d->refresh != NULL) {
		d->timer_missed = 1; /* it writes: refresh_done() fires it again */
		return;
	}
	if (d->link == LINK_DISCONNECTED) {
		link_up(d);
		return;
	}
	if (d->link != LINK_PAGED)
		return;
	memset(&res, 0, sizeof(res));
	if (sync_session_poll_paged(d->sess, &res, &err) != 0) {
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
	reconcile_for_returns(d, &res);
}

/* ---- control socket ---- */

/* Client deadlines follow the monotonic clock: setting the clock must not drop or keep clients. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->buf != NULL) /* a request may carry a password (web sign-in), a code or a token */
		sodium_memzero(c->buf, c->len);
	free(c->buf);
	if (c->out != NULL) /* a reply may carry a new MFA secret or recovery codes */
		sodium_memzero(c->out, c->out_len);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static const char *const flood_reasons[FLOOD_KINDS] = {
	[FLOOD_UID_FULL] = "too many connections from this uid ([control] max_clients_per_uid)",
	[FLOOD_TABLE_FULL] = "no free connection slot",
	[FLOOD_TIMEOUT] = "request not received in time",
	[FLOOD_SLOW] = "reply not read in time",
};

/*
 * Logs and audits one report of the flood table: the first refusal or
 * drop of a burst (count 1, seconds 0), or the summary of those counted
 * since. This runs once per uid, kind and interval, however many
 * connections a client makes: that is the point.
 */
static void
flood_report(struct daemon *d, const struct flood_report *r, const char *detail)
{
	int refused = r->kind == FLOOD_UID_FULL || r->kind == FLOOD_TABLE_FULL;
	const char *verb = refused ? "refused" : "dropped";
	struct caller who = {.uid = r->uid};
	struct idg_err err;
	/* control.busy: no slot for the connection; control.dropped: too slow. */
	const char *action = refused ? "control.busy" : "control.dropped";
	json_t *details;

	if (r->uid == FLOOD_ANY_UID)
		idg_strlcpy(who.name, "other uids", sizeof(who.name));
	else
		control_identify(&d->ctl, r->uid, &who);
	if (r->seconds == 0)
		log_msg(&d->log, LOG_WARNING,
			"control: %s a connection from %s (uid %u): %s%s; more are counted, "
			"not logged, for %d s",
			verb, who.name, (unsigned)r->uid, flood_reasons[r->kind],
			detail != NULL ? detail : "", FLOOD_INTERVAL);
	else
		log_msg(&d->log, LOG_WARNING,
			"control: %lu more connections from %s (uid %u) %s in the last %lld s: %s",
			r->count, who.name, (unsigned)r->uid, verb, (long long)r->seconds,
			flood_reasons[r->kind]);
	details = json_pack("{s:I, s:s, s:I, s:I}", "uid",
			    (json_int_t)(r->uid == FLOOD_ANY_UID ? -1 : (json_int_t)r->uid),
			    "reason", flood_reasons[r->kind], "count", (json_int_t)r->count,
			    "seconds", (json_int_t)r->seconds);
	if (details == NULL || audit_record(d->audit, who.name, "-", action, details, &err) != 0)
		log_msg(&d->log, LOG_ERR, "cannot audit %s: %s", action,
			details == NULL ? "out of memory" : err.msg);
}

/* Counts a refusal or drop, reporting it when it is the first of a burst. */
static void
flood_note_and_report(struct daemon *d, uid_t uid, enum flood_kind kind, const char *detail)
{
	struct flood_report r;

	if (flood_note(&d->flood, uid, kind, mono_ms() / 1000, &r))
		flood_report(d, &r, detail);
}

/* Reports the summaries that are due (all of them at exit). */
static void
flood_summaries(struct daemon *d, int all)
{
	struct flood_report r;

	while (flood_due(&d->flood, mono_ms() / 1000, all, &r))
		flood_report(d, &r, NULL);
}

/*
 * Writes what the socket takes of the reply, without blocking; closes the
 * connection once all is sent or the client is gone. What remains waits
 * for POLLOUT, so a client that reads slowly costs its slot and its
 * buffer, never the daemon's time.
 */
static void
client_write(struct client *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0)
			break; /* the client went away */
		c->out_sent += (size_t)w;
	}
	client_close(c);
}

/*
 * Queues reply (malloc'd, no newline; owned from here on) and starts
 * sending it. The client then has [control] client_timeout seconds to read
 * all of it: the deadline is not moved when some bytes go out, or a client
 * reading a byte at a time could keep its slot, and its buffer, for as
 * long as it liked. A reply over [control] max_reply is replaced by an
 * error saying so, so that the memory one client can make us hold is
 * bounded. A NULL reply (out of memory) just closes the connection.
 */
static void
client_reply(struct daemon *d, struct client *c, char *reply)
{
	size_t len = reply != NULL ? strlen(reply) : 0;

	if (reply != NULL && len + 1 > (size_t)d->cfg->max_reply) {
		char why[160];

		snprintf(why, sizeof(why),
			 "the reply (%zu bytes) is larger than [control] max_reply (%d bytes); "
			 "ask for less",
			 len + 1, d->cfg->max_reply);
		log_msg(&d->log, LOG_WARNING, "control: reply to uid %u not sent: %s",
			(unsigned)c->uid, why);
		sodium_memzero(reply, len);
		free(reply);
		reply = control_error_reply("failed", why);
		len = reply != NULL ? strlen(reply) : 0;
	}
	if (reply == NULL) {
		client_close(c);
		return;
	}
	if (c->buf != NULL)
		sodium_memzero(c->buf, c->len); /* as in client_close() */
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	reply[len] = '\n'; /* the terminating NUL becomes the end of the line */
	c->out = reply;
	c->out_len = len + 1;
	c->out_sent = 0;
	c->deadline = mono_ms() + (int64_t)d->cfg->client_timeout * 1000;
	if (!d->batching)
		client_write(c);
}

static void
client_handle(struct daemon *d, struct client *c, size_t len)
{
	struct caller who;
	struct refresher *before = d->refresh;
	char *reply;

	control_identify(&d->ctl, c->uid, &who);
	d->handling = (int)(c - d->clients);
	reply = control_handle(&d->ctl, &who, c->buf, len);
	d->handling = -1;
	if (reply == NULL && d->refresh != NULL && d->refresh != before) {
		/* Its sync runs in the worker; refresh_done() replies. */
		free(c->buf);
		c->buf = NULL;
		c->len = 0;
		c->waiting = 1;
		return;
	}
	client_reply(d, c, reply);
}

static void
client_reject(struct daemon *d, struct client *c, const char *why)
{
	struct caller who;

	control_identify(&d->ctl, c->uid, &who);
	client_reply(d, c, control_reject(&d->ctl, &who, "bad_request", why));
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

/*
 * Answers a connection we will not serve with a one-line error and closes
 * it. The line is short enough for any empty socket buffer, so the send
 * never blocks; if it fails, the client just sees the connection close.
 */
static void
client_refuse(struct daemon *d, int fd, uid_t uid, enum flood_kind kind, const char *why,
	      const char *detail)
{
	char *reply = control_error_reply("unavailable", why);

	if (reply != NULL) {
		size_t len = strlen(reply);

		reply[len] = '\n';
		(void)send(fd, reply, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(reply);
	}
	close(fd);
	flood_note_and_report(d, uid, kind, detail);
}

/* Takes one connection from the backlog; 0 when there was one, -1 when it is empty. */
static int
client_accept_one(struct daemon *d)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	size_t used = 0, uid_used = 0;
	int free_slot = -1;
	char why[128], detail[64];

	if (fd < 0)
		return errno == EINTR || errno == ECONNABORTED ? 0 : -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd);
		return 0;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (d->clients[i].fd < 0) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		used++;
		uid_used += d->clients[i].uid == cred.uid;
	}
	switch (admit_check(used, MAX_CLIENTS, uid_used, cred.uid, d->cfg->max_clients_per_uid)) {
	case ADMIT_OK:
		break;
	case ADMIT_UID_FULL:
		snprintf(why, sizeof(why),
			 "too many connections from uid %u (at most %d); try again later",
			 (unsigned)cred.uid, d->cfg->max_clients_per_uid);
		snprintf(detail, sizeof(detail), " (%zu open)", uid_used);
		client_refuse(d, fd, cred.uid, FLOOD_UID_FULL, why, detail);
		return 0;
	case ADMIT_TABLE_FULL:
		snprintf(detail, sizeof(detail), " (%zu of %d in use)", used, MAX_CLIENTS);
		client_refuse(d, fd, cred.uid, FLOOD_TABLE_FULL,
			      "no free connection slot; try again later", detail);
		return 0;
	}
	d->clients[free_slot].fd = fd;
	d->clients[free_slot].uid = cred.uid;
	d->clients[free_slot].deadline = mono_ms() + (int64_t)d->cfg->client_timeout * 1000;
	return 0;
}

/*
 * Takes several connections per turn of the loop, so that a flood of
 * connections to be refused does not leave root's waiting in the backlog
 * for long.
 */
static void
client_accept(struct daemon *d)
{
	for (int i = 0; i < ACCEPT_BURST; i++)
		if (client_accept_one(d) != 0)
			return;
}

/* Drops the clients past their deadline: the request not sent, or the reply not read, in time. */
static void
clients_expire(struct daemon *d)
{
	int64_t now = mono_ms();

	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &d->clients[i];
		char detail[96];

		if (c->fd < 0 || c->waiting || now < c->deadline)
			continue;
		if (c->out != NULL) {
			snprintf(detail, sizeof(detail), " (%zu of %zu bytes in %d s)", c->out_sent,
				 c->out_len, d->cfg->client_timeout);
			flood_note_and_report(d, c->uid, FLOOD_SLOW, detail);
			client_close(c);
			continue;
		}
		snprintf(detail, sizeof(detail), " (%d s)", d->cfg->client_timeout);
		flood_note_and_report(d, c->uid, FLOOD_TIMEOUT, detail);
		client_reply(d, c,
			     control_error_reply("bad_request", "request not received in time"));
	}
	flood_summaries(d, 0);
}

static json_t *
daemon_status(void *arg)
{
	struct daemon *d = arg;

	return json_pack("{s:b, s:I, s:I, s:s, s:I, s:s?, s:I, s:o}", "running", 1, "pid",
			 (json_int_t)getpid(), "started", (json_int_t)d->started, "connection",
			 link_names[d->link], "connected_since", (json_int_t)d->connected_since,
			 "last_error", d->last_error[0] ? d->last_error : NULL, "governance_next",
			 (json_int_t)d->gov_next, "refresh",
			 d->refresh != NULL ? json_pack("{s:b, s:I, s:b}", "running", 1, "started",
							(json_int_t)d->refresh_started, "reconcile",
							d->refresh_reconcile)
					    : json_pack("{s:b}", "running", 0));
}

/*
 * Starts a full refresh in the worker (refresher.h) and returns
 * CONTROL_SYNC_STARTED; the reply goes to the client being handled, if
 * any, when it ends (refresh_done()). Only one runs at a time: a second
 * request is refused at once rather than queued, so that a script that
 * loops on `idgov sync` cannot pile refreshes up behind a slow directory.
 */
static int
daemon_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	struct daemon *d = arg;
	struct sync_opts mine = *opts;

	(void)res;
	if (d->refresh != NULL)
		return idg_seterr(err,
				  "a sync is already running (started %lld s ago); try again "
				  "when it is over",
				  (long long)(idg_now() - d->refresh_started));
	/* A one-off refresh beside the session: sync_state keeps saying what the session is. */
	if (d->link != LINK_DISCONNECTED)
		mine.state_mode = link_names[d->link];
	if (refresher_start(d->cfg, &d->log, &mine, &d->refresh, err) != 0)
		return -1;
	/* Requests answered meanwhile are audited after the worker's commit, not blocked by it. */
	audit_hold(d->audit, 1);
	d->refresh_reconcile = 0;
	d->refresh_started = idg_now();
	d->refresh_client = d->handling;
	if (d->handling >= 0)
		control_identify(&d->ctl, d->clients[d->handling].uid, &d->refresh_who);
	log_msg(&d->log, LOG_INFO, "sync: %s refresh started in the background%s%s",
		opts->verify ? "verifying" : "full", d->handling >= 0 ? " for " : "",
		d->handling >= 0 ? d->refresh_who.name : "");
	return CONTROL_SYNC_STARTED;
}

static void reload(struct daemon *d);
static void client_reply(struct daemon *d, struct client *c, char *reply);

/* The worker has let go of the store: write the records held meanwhile. */
static void
release_audit(struct daemon *d)
{
	struct idg_err err;

	audit_hold(d->audit, 0);
	if (audit_flush_held(d->audit, &err) != 0)
		log_msg(&d->log, LOG_ERR, "cannot write the audit records held during the sync: %s",
			err.msg);
}

/* The worker is done: take its result and do in the loop what follows a refresh. */
static void
refresh_done(struct daemon *d)
{
	struct sync_result res;
	struct idg_err err;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = refresher_finish(d->refresh, &res, &err);
	d->refresh = NULL;
	release_audit(d);
	if (rc == 0)
		guard_alert(d, &res);
	if (d->refresh_reconcile) {
		if (rc != 0)
			log_msg(&d->log, LOG_WARNING, "reconciliation failed: %s", err.msg);
		else
			log_msg(&d->log, LOG_INFO, "reconciliation: %lld differences corrected",
				(long long)json_integer_value(json_object_get(res.drift, "total")));
		reconcile_schedule(d);
	} else {
		log_msg(&d->log, LOG_INFO, "sync: background refresh %s%s%s",
			rc == 0 ? "done" : "failed", rc == 0 ? "" : ": ", rc == 0 ? "" : err.msg);
	}
	if (d->refresh_client >= 0 && d->clients[d->refresh_client].waiting) {
		struct client *c = &d->clients[d->refresh_client];

		c->waiting = 0;
		client_reply(d, c, control_sync_reply(&d->ctl, &d->refresh_who, rc, &res, &err));
	} else {
		json_decref(res.drift);
	}
	d->refresh_client = -1;
	d->refresh_reconcile = 0;
	if (d->stop)
		return; /* teardown: nothing more is started */
	/* What waited for the worker's transaction to end. */
	governance(d);
	if (d->reload_due) {
		d->reload_due = 0;
		reload(d);
	}
	if (d->timer_missed) { /* the link (paged poll, reconnect) catches up */
		d->timer_missed = 0;
		arm_timer(d, 0);
	}
}

/* ---- setup ---- */

static int
open_listener(struct daemon *d, struct idg_err *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = d->cfg->socket_path;
	char *copy = strdup(path);
	struct idg_err why;
	struct stat sb;
	mode_t old;
	int fd, probe;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	/*
	 * Clients find idgovd by this path: whoever could write the directory
	 * could put their own socket there. Ours is root's and 0755; one made
	 * by someone else, or writable by others, is refused.
	 */
	if (mkdir(dirname(copy), 0755) != 0 && errno != EEXIST) {
		idg_seterr(err, "cannot create socket directory for %s: %s", path, strerror(errno));
		free(copy);
		return -1;
	}
	if (safepath_check(copy, SAFEPATH_DIR, 0, &why) != 0) {
		free(copy);
		return idg_seterr(err, "refusing socket directory %s", why.msg);
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
	       strcmp(a->audit_anchor_file, b->audit_anchor_file) ||
	       strcmp(a->log_socket, b->log_socket) || strcmp(a->log_ident, b->log_ident);
}

/* Says loudly, at every start and reload, that the bind password crosses the network in clear. */
static void
warn_plain_bind(struct daemon *d)
{
	char why[1024];

	if (cfg_plain_bind_warning(d->cfg, why, sizeof(why)))
		log_msg(&d->log, LOG_WARNING, "%s", why);
}

static void
reload(struct daemon *d)
{
	struct cfg *fresh;
	struct idg_err err;

	if (cfg_load_with(d->opts->config_path, review_config_extensions, &fresh, &err) != 0) {
		fresh = NULL;
	} else if (reconcile_config_check(fresh, &err) != 0) {
		cfg_free(fresh);
		fresh = NULL;
	}
	if (fresh == NULL) {
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
	backup_schedule(d);
	reconcile_schedule(d);
	fleet_tick(d); /* the role or the lease may have changed */
	log_msg(&d->log, LOG_NOTICE, "configuration reloaded from %s", d->opts->config_path);
	warn_plain_bind(d);
	audit_event(d, "config.reload", d->opts->config_path, json_pack("{s:s}", "outcome", "ok"));
	d->backoff = 1;
	arm_timer(d, 0);
}

static void
on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP && d->refresh != NULL) {
			/* The worker reads the configuration: replace it once the worker is done.
			 */
			log_msg(&d->log, LOG_NOTICE, "reload: waiting for the running sync to end");
			d->reload_due = 1;
		} else if (si.ssi_signo == SIGHUP) {
			reload(d);
		} else {
			d->stop = 1;
		}
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

/*
 * Replaced, never written into: a file someone else made at that name in
 * a shared directory stays theirs if opened with O_TRUNC, and a FIFO
 * would hang the start (safepath_write_file()).
 */
static int
write_pid_file(const char *path, struct idg_err *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	struct idg_err why;

	if (safepath_write_file(path, 0644, buf, (size_t)n, &why) != 0)
		return idg_seterr(err, "pid file: %s", why.msg);
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

/* ---- the audit spool ---- */

static void
spool_tick(struct daemon *d)
{
	struct spool_result res;
	struct idg_err err;

	d->spool_due = 0;
	d->spool_next = idg_now() + SPOOL_INTERVAL;
	do {
		if (spool_ingest(d->audit, d->cfg->audit_spool_dir, SPOOL_BATCH, &d->log, &res,
				 &err) != 0) {
			log_msg(&d->log, LOG_ERR, "audit spool: %s (kept for the next ingest)",
				err.msg);
			return;
		}
		if (res.ingested > 0 || res.duplicates > 0)
			log_msg(&d->log, LOG_INFO,
				"audit spool: %d event(s) signed into the chain, %d already there",
				res.ingested, res.duplicates);
	} while (res.more);
}

static void
spool_notified(struct daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(d->spoolfd, buf, sizeof(buf)) > 0)
		;
	d->spool_due = 1;
}

/* The spool directory exists (root, 0700) and is watched; without inotify the timer does. */
static int
spool_setup(struct daemon *d, struct idg_err *err)
{
	const char *dir = d->cfg->audit_spool_dir;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return idg_seterr(err, "%s: cannot create the audit spool: %s", dir,
				  strerror(errno));
	d->spoolfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->spoolfd >= 0 &&
	    inotify_add_watch(d->spoolfd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		log_msg(&d->log, LOG_WARNING, "audit spool: %s: inotify: %s; ingesting every %d s",
			dir, strerror(errno), SPOOL_INTERVAL);
		close(d->spoolfd);
		d->spoolfd = -1;
	}
	spool_tick(d); /* what was spooled while idgovd was down, in order */
	return 0;
}

static int
setup(struct daemon *d, struct idg_err *err)
{
	const char *recovered;

	if (open_signals(d, err) != 0 || open_listener(d, err) != 0)
		return -1;
	if (store_open(d->cfg->store_path, STORE_OPEN_EXISTING, &d->st, err) != 0 ||
	    audit_open(d->st, d->cfg->audit_key_file, d->cfg->audit_anchor_file,
		       d->cfg->audit_sign_every, &d->log, &d->audit, err) != 0)
		return -1;
	/* A master key rotation a crash interrupted is completed or undone first (rotate.h). */
	if (rotate_master_recover(d->cfg->master_key_file, d->st, d->audit, "idgovd", &recovered,
				  err) != 0)
		return -1;
	if (strcmp(recovered, "nothing to do") != 0)
		log_msg(&d->log, LOG_NOTICE, "master key: %s", recovered);
	/* The same for the audit key (rotate_audit.h). */
	if (rotate_audit_recover(d->cfg->audit_key_file, d->audit, "idgovd", &recovered, err) != 0)
		return -1;
	if (strcmp(recovered, "nothing to do") != 0)
		log_msg(&d->log, LOG_NOTICE, "audit key: %s", recovered);
	if (rotate_backup_recover(d->cfg, d->audit, "idgovd", &recovered, err) != 0)
		return -1;
	if (strcmp(recovered, "nothing to do") != 0)
		log_msg(&d->log, LOG_NOTICE, "backup key: %s", recovered);
	if (secret_key_load(d->cfg->master_key_file, &d->key, err) != 0)
		return -1;
	if (spool_setup(d, err) != 0)
		return -1;
	/*
	 * A directory that refuses our credentials fails the start (a unit
	 * restarting on failure would only hammer it); one that cannot be
	 * reached does not: logins go on from the store and the link retries.
	 */
	if (dir_check(d->cfg, err) < 0)
		return -1;
	if (d->opts->pid_file != NULL) {
		if (write_pid_file(d->opts->pid_file, err) != 0)
			return -1;
		d->pid_written = 1;
	}
	if ((d->refusals = calloc(1, sizeof(*d->refusals))) == NULL)
		return idg_seterr(err, "out of memory");
	d->ctl.refusals = d->refusals;
	d->ctl.key = d->key;
	d->ctl.cfg = d->cfg;
	d->ctl.st = d->st;
	d->ctl.audit = d->audit;
	d->ctl.log = &d->log;
	d->ctl.daemon_status = daemon_status;
	d->ctl.counts_cache = &d->counts_cache;
	d->ctl.run_sync = daemon_sync;
	d->ctl.governance = governance;
	d->ctl.may_govern = may_govern;
	d->ctl.fleet_status = fleet_status;
	d->ctl.reload_key = reload_key;
	d->ctl.extra_ops = review_control_ops(&d->ctl.n_extra_ops);
	d->ctl.arg = d;
	d->journal = (struct journal){
		.cfg = d->cfg, .st = d->st, .audit = d->audit, .log = &d->log, .actor = "idgovd"};
	audit_on_head(d->audit, on_signed_head, d);
	backup_schedule(d);
	reconcile_schedule(d);
	return 0;
}

/*
 * Group commit of the requests' audit records. Every request is audited
 * (control.c), and a record in a transaction of its own costs a signature
 * of the head and the anchor file's two fsyncs: with many clients asking
 * at once (managers on the web page), those serialised writes were most
 * of the wait. So the records of the requests answered in one turn of the
 * loop are held (audit_hold()) and written together at its end, in one
 * transaction with one signature, and only then do this turn's replies go
 * out: no client hears an answer whose record is not yet in the chain.
 * A request's own changes (a decision, a grant) commit with their records
 * as before; only the request's "who asked what" record waits for the
 * turn. While a refresh runs, the handle is already held until the
 * worker's commit (release_audit()) and replies are not delayed.
 */
static void
turn_begin(struct daemon *d)
{
	if (d->refresh != NULL)
		return;
	audit_hold(d->audit, 1);
	d->batching = 1;
}

/* Replies this turn has queued and not yet sent: they wait for its commit. */
static int
turn_replies(const struct daemon *d)
{
	int n = 0;

	for (int i = 0; i < MAX_CLIENTS; i++)
		n += d->clients[i].fd >= 0 && d->clients[i].out != NULL &&
		     d->clients[i].out_sent == 0;
	return n;
}

/*
 * Before a turn's commit, the requests that came while its first ones
 * were answered are answered too, without waiting for any (poll with no
 * timeout): idgov-web's pool threads ask one after another while idgovd
 * answers, and each of those requests would otherwise pay for a turn of
 * its own (a transaction, a signature, the anchor's temporary file and
 * two fsyncs). They join this turn's records and its one commit; their
 * replies, like the others', wait for it. At most TURN_MORE_ROUNDS looks,
 * so that a steady stream of requests cannot hold the answers already
 * made; none while a refresh runs (its commit releases the records).
 */
static void
turn_more(struct daemon *d)
{
	for (int round = 0; round < TURN_MORE_ROUNDS && d->batching && d->refresh == NULL;
	     round++) {
		struct pollfd pfd[MAX_CLIENTS];
		int map[MAX_CLIENTS], n = 0, before = turn_replies(d);

		client_accept(d);
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &d->clients[i];

			if (c->fd < 0 || c->waiting || c->out != NULL)
				continue;
			map[n] = i;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
		}
		if (n == 0 || poll(pfd, (nfds_t)n, 0) <= 0)
			return;
		for (int k = 0; k < n; k++) {
			struct client *c = &d->clients[map[k]];

			if (pfd[k].revents && c->fd == pfd[k].fd && c->out == NULL)
				client_read(d, c);
		}
		if (turn_replies(d) == before)
			return;
	}
}

static void
turn_end(struct daemon *d)
{
	struct idg_err err;

	if (!d->batching)
		return;
	d->batching = 0;
	/* A request of this turn may have started a refresh: its commit releases the records. */
	if (d->refresh == NULL) {
		int64_t from = sqlite3_total_changes64(d->st->db);

		audit_hold(d->audit, 0);
		if (audit_flush_held(d->audit, &err) != 0)
			log_msg(&d->log, LOG_ERR, "cannot write the requests' audit records: %s",
				err.msg);
		/* Records alone leave status's counts true (the chain's length is read live). */
		query_counts_cache_audited(&d->counts_cache, from,
					   sqlite3_total_changes64(d->st->db));
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &d->clients[i];

		if (c->fd >= 0 && c->out != NULL && c->out_sent == 0)
			client_write(c);
	}
}

static void
loop(struct daemon *d)
{
	struct pollfd pfd[FIXED_FDS + MAX_CLIENTS];
	int map[MAX_CLIENTS];

	while (!d->stop) {
		/* While the worker writes, the session's changes and governance wait (see top). */
		int busy = d->refresh != NULL;
		int n = FIXED_FDS,
		    dirfd = d->link == LINK_PERSIST && !busy ? sync_session_fd(d->sess) : -1;

		pfd[0] = (struct pollfd){.fd = d->sigfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = d->listenfd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = d->timerfd, .events = POLLIN};
		pfd[3] = (struct pollfd){.fd = dirfd, .events = POLLIN};
		pfd[4] = (struct pollfd){.fd = busy ? -1 : d->govfd, .events = POLLIN};
		pfd[5] = (struct pollfd){.fd = busy ? refresher_fd(d->refresh) : -1,
					 .events = POLLIN};
		pfd[6] = (struct pollfd){.fd = d->spoolfd, .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (d->clients[i].fd < 0 || d->clients[i].waiting)
				continue;
			map[n - FIXED_FDS] = i;
			pfd[n++] = (struct pollfd){.fd = d->clients[i].fd,
						   .events = d->clients[i].out != NULL ? POLLOUT
										       : POLLIN};
		}
		int ready = poll(pfd, (nfds_t)n, 1000);

		if (ready < 0) {
			if (errno != EINTR)
				log_msg(&d->log, LOG_ERR, "poll: %s", strerror(errno));
			continue;
		}
		/* Idle second: let libldap hand out a message it may already hold. */
		if (ready == 0 && d->link == LINK_PERSIST && !busy)
			on_directory(d);
		if (pfd[0].revents)
			on_signal(d);
		if (pfd[3].revents && d->link == LINK_PERSIST && d->refresh == NULL)
			on_directory(d);
		if (pfd[2].revents)
			on_timer(d);
		if (pfd[4].revents && d->refresh == NULL)
			on_governance_timer(d);
		if (pfd[5].revents && d->refresh != NULL)
			refresh_done(d);
		if (pfd[6].revents)
			spool_notified(d);
		turn_begin(d);
		for (int k = FIXED_FDS; k < n; k++) {
			struct client *c = &d->clients[map[k - FIXED_FDS]];

			if (!pfd[k].revents || c->fd != pfd[k].fd)
				continue;
			if (c->out != NULL)
				client_write(c);
			else
				client_read(d, c);
		}
		if (turn_replies(d) > 0)
			turn_more(d);
		turn_end(d);
		if (pfd[1].revents)
			client_accept(d);
		clients_expire(d);
		/* Refusal counts whose minute is over go into the chain now. */
		control_refusals_flush(&d->ctl, idg_now(), 0);
		if (d->pub_due)
			publish_head(d);
		if (d->fleet_next != 0 && idg_now() >= d->fleet_next)
			fleet_tick(d);
		backup_tick(d);
		reconcile_tick(d);
		/* Ingesting writes the store: not while the worker holds its write lock. */
		if (d->refresh == NULL && (d->spool_due || idg_now() >= d->spool_next))
			spool_tick(d);
		for (;;) { /* notification commands, the backup child */
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);

			if (pid <= 0)
				break;
			if (pid == d->backup_pid)
				d->backup_pid = 0;
		}
	}
}

static void
teardown(struct daemon *d)
{
	if (d->refresh != NULL) {
		/*
		 * Stopped at the next entry or page, its transaction rolled back;
		 * the client that asked is told so before it is disconnected.
		 */
		log_msg(&d->log, LOG_NOTICE, "stopping the running sync");
		refresher_stop(d->refresh);
		refresh_done(d);
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_close(&d->clients[i]);
	if (d->audit != NULL)
		flood_summaries(d, 1); /* what was counted is reported, not lost */
	sync_session_stop(d->sess);
	journal_close(&d->journal);
	if (d->audit != NULL)
		control_refusals_flush(&d->ctl, idg_now(), 1); /* counts still open */
	free(d->refusals);
	if (d->audit != NULL && d->spool_next != 0)
		spool_tick(d); /* what came in during the last turn */
	if (d->audit != NULL)
		audit_event(d, "daemon.stop", "idgovd",
			    json_pack("{s:I}", "pid", (json_int_t)getpid()));
	if (d->pub_due) { /* the last head, daemon.stop's */
		publish_head(d);
		journal_close(&d->journal);
	}
	audit_close(d->audit);
	secret_key_free(d->key);
	store_close(d->ctl.mfa_state);
	query_counts_cache_clear(&d->counts_cache);
	store_close(d->st);
	if (d->listenfd >= 0) {
		close(d->listenfd);
		unlink(d->cfg->socket_path);
	}
	if (d->pid_written)
		unlink(d->opts->pid_file);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
	if (d->govfd >= 0)
		close(d->govfd);
	if (d->spoolfd >= 0)
		close(d->spoolfd);
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
			   .backoff = 1,
			   .spoolfd = -1,
			   .refresh_client = -1,
			   .handling = -1};
	struct idg_err err;
	int ready_fd = -1, rc;

	for (int i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	flood_init(&d.flood, FLOOD_INTERVAL);
	if (cfg_load_with(opts->config_path, review_config_extensions, &d.cfg, &err) != 0) {
		fprintf(stderr, "idgovd: %s\n", err.msg);
		return 1;
	}
	if (reconcile_config_check(d.cfg, &err) != 0) {
		fprintf(stderr, "idgovd: %s: %s\n", opts->config_path, err.msg);
		cfg_free(d.cfg);
		return 1;
	}
	if (!opts->foreground && (rc = daemonize(&ready_fd)) != 0) {
		cfg_free(d.cfg);
		return rc > 0 ? rc : 1;
	}
	log_open(&d.log, "idgovd", d.cfg->log_socket, opts->foreground);
	warn_plain_bind(&d);
	d.started = idg_now();
	if (setup(&d, &err) != 0) {
		log_msg(&d.log, LOG_ERR, "cannot start: %s", err.msg);
		/*
		 * Torn down (the control socket closed, keys wiped) before the
		 * parent hears of the failure and exits: whoever started us may
		 * start another at once and must not find this one listening.
		 */
		teardown(&d);
		report_start(ready_fd, err.msg);
		return 1;
	}
	audit_event(&d, "daemon.start", "idgovd", json_pack("{s:I}", "pid", (json_int_t)getpid()));
	log_msg(&d.log, LOG_NOTICE, "started; control socket %s", d.cfg->socket_path);
	report_start(ready_fd, "ok");
	notify_ready();
	fleet_tick(&d); /* whether this machine governs, before anything governs */
	governance(&d); /* what fell due while the daemon was down happens first */
	link_up(&d);
	loop(&d);
	teardown(&d);
	return 0;
}
