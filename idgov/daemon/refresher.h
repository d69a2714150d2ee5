/*
 * A full refresh in a worker thread, so that idgovd's event loop keeps
 * answering the control socket and firing its timers while a large
 * directory is read (a reconciliation of 100,000 users takes seconds).
 *
 * The worker has everything of its own: a store connection (SQLite
 * connections are never shared between threads; the store is in WAL mode,
 * so the loop's readers go on reading the last committed state while the
 * worker's write transaction is open), an audit handle over it, a
 * directory connection and a logger. It shares only the configuration,
 * which the loop does not replace while a worker runs (a SIGHUP reload
 * waits for it).
 *
 * The loop polls refresher_fd(); when it is readable the worker is done,
 * and refresher_finish() joins it and hands over the result (stats, drift,
 * error), which the loop then applies: alerts, log lines, the reply to the
 * client that asked. Audit records and their log lines come from the
 * worker's own commit, after it, as everywhere else.
 *
 * refresher_stop() asks the worker to stop: it is told between entries and
 * pages (sync_opts.stop), rolls its transaction back, writes nothing and
 * audits nothing.
 */
#ifndef IDGOV_REFRESHER_H
#define IDGOV_REFRESHER_H

#include "config.h"
#include "log.h"
#include "sync.h"

struct refresher;

/*
 * Starts a worker running sync_once(cfg, ..., opts) against the store at
 * cfg->store_path. log is copied (ident, destination, stderr echo); the
 * worker opens its own. cfg must outlive the worker. Returns 0 or -1.
 */
int refresher_start(const struct cfg *cfg, const struct logger *log, const struct sync_opts *opts,
		    struct refresher **out, struct idg_err *err);

/* Becomes readable when the worker is done. */
int refresher_fd(const struct refresher *r);

/* Asks the worker to stop at the next entry or page; returns at once. */
void refresher_stop(struct refresher *r);

/*
 * Waits for the worker, frees it, and returns what sync_once() returned,
 * with res and err as it filled them (res->drift is the caller's).
 */
int refresher_finish(struct refresher *r, struct sync_result *res, struct idg_err *err);

#endif
