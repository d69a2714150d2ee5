/*
 * Directory sync drivers over libldap's RFC 4533 client (ldap_sync_*):
 *
 * - sync_once(): one refresh. refreshOnly from the stored cookie (or a
 *   full reload with --full or when the server answers
 *   e-syncRefreshRequired); where the server has no syncprov, a full
 *   Simple Paged Results search with mark-and-sweep. Used by `idgov sync`.
 * - struct sync_session: refreshAndPersist for idgovd. After the refresh
 *   stage, the daemon polls the session's descriptor and calls
 *   sync_session_process() when it is readable; each batch of changes is
 *   committed with the cookie that covers it.
 *
 * Both feed the mirror (mirror.h) and never leave a transaction open.
 */
#ifndef IDGOV_SYNC_H
#define IDGOV_SYNC_H

#include "audit.h"
#include "config.h"
#include "log.h"
#include "mirror.h"
#include "store.h"

#include <stdatomic.h>

struct sync_opts {
	int full;  /* ignore the stored cookie: reload everything, sweep what is gone */
	int force; /* override the mass-departure guard */
	/*
	 * The mode to record in sync_state instead of this sync's own, NULL:
	 * its own. idgovd passes its session's ("persist", "paged"), so a
	 * one-off `idgov sync` it runs does not make status lie about it.
	 */
	const char *state_mode;
	/*
	 * reconcile: a full reload whose changes are drift, audited as
	 * "sync.drift" (mirror.h). verify: the same comparison, nothing
	 * written; the differences come back in sync_result.drift.
	 */
	int reconcile;
	int verify;
	/*
	 * NULL, or a flag another thread sets to stop this sync (sync_once()
	 * only). It is read between entries and pages; once set, the
	 * connection is shut down, the transaction rolled back and sync_once()
	 * fails with "sync stopped": nothing is written, nothing audited.
	 */
	const atomic_int *stop;
};

struct sync_result {
	char mode[16]; /* "refreshOnly", "persist" or "paged" */
	struct mirror_stats stats;
	json_t *drift; /* reconcile/verify: mirror_drift_report(); the caller decrefs; else NULL */
};

/* Returns 0 or -1 (err set). Departures the guard holds are in res->stats.held. */
int sync_once(const struct cfg *cfg, struct store *st, struct audit *audit, struct logger *log,
	      const struct sync_opts *opts, struct sync_result *res, struct idg_err *err);

struct sync_session;

/*
 * Connects and runs the refresh stage. On success the session is either
 * persisting (sync_session_fd() >= 0) or, without syncprov, in paged
 * polling mode (fd -1; call sync_session_poll_paged() on a timer).
 */
int sync_session_start(const struct cfg *cfg, struct store *st, struct audit *audit,
		       struct logger *log, int force, struct sync_session **out,
		       struct sync_result *res, struct idg_err *err);
int sync_session_fd(const struct sync_session *s);
int sync_session_is_paged(const struct sync_session *s);
/*
 * Drains what the server sent and commits it. Returns 0, or -1 when the
 * session is over (connection lost, server ended it): the caller stops
 * it and reconnects.
 */
int sync_session_process(struct sync_session *s, struct sync_result *res, struct idg_err *err);
/* Paged mode: one full paged refresh. */
int sync_session_poll_paged(struct sync_session *s, struct sync_result *res, struct idg_err *err);
void sync_session_stop(struct sync_session *s);

#endif
