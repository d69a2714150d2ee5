/*
 * The mirror: applies what the directory says to the store's users,
 * groups and memberships, records joiners, movers, leavers and membership
 * changes as events and audit records, and keeps the sync cookie.
 *
 * A mirror works inside one store transaction (mirror_begin ...
 * mirror_commit), so the changes and the cookie that covers them are
 * stored together or not at all. It knows nothing of LDAP messages; the
 * sync drivers (sync.c) feed it parsed entries.
 *
 * Deletions and mark-and-sweep: every entry seen in a refresh is stamped
 * with the refresh's generation; mirror_sweep() treats what was not
 * stamped as gone. Users are never deleted, only marked departed.
 *
 * The departure guard (guard.h): the departures of a transaction are
 * judged together before it commits (by mirror_check_guard(), or by
 * mirror_commit() for what is left), in every mode. Too many within the
 * window are held, not applied, while every other change of the
 * transaction commits; an empty or truncated search result can never wipe
 * the store, and never stops the sync either. mirror_release() applies
 * the held departures when an admin confirms their number.
 */
#ifndef IDGOV_MIRROR_H
#define IDGOV_MIRROR_H

#include "audit.h"
#include "config.h"
#include "dir.h"
#include "store.h"

#include <jansson.h>
#include <lber.h>

/*
 * What a batch's changes mean. NONE: ordinary sync. REPORT: a
 * reconciliation (a full refresh run to catch what incremental sync
 * missed): every change is drift, and the commit adds one "sync.drift"
 * audit record with the counts and the first MIRROR_DRIFT_EXAMPLES
 * changes. VERIFY: the same comparison, but nothing is recorded and
 * mirror_commit() rolls back; the guard never refuses.
 */
enum mirror_drift { MIRROR_DRIFT_NONE, MIRROR_DRIFT_REPORT, MIRROR_DRIFT_VERIFY };
#define MIRROR_DRIFT_EXAMPLES 5

struct mirror_stats {
	int64_t joiners, movers, leavers, changed;
	int64_t groups_added, groups_changed, groups_deleted;
	int64_t members_added, members_removed;
	int64_t skipped;
	/*
	 * Departed users and deleted groups back in scope under their own
	 * entryUUID (moved back under user_base, say). The groups that name
	 * them changed in the directory without being sent again (they kept
	 * naming the entry, or refint rewrote the value back), so only a
	 * full refresh finds those memberships.
	 */
	int64_t returned;
	int64_t held;     /* departures held by the guard */
	int64_t forced;   /* departures applied over the guard (--force) */
	int hold_started; /* this batch started a hold: alert once */
	char hold_reason[IDG_ERRLEN];
};

struct mirror;

int mirror_open(struct store *st, struct audit *audit, const struct cfg *cfg, struct logger *log,
		struct mirror **out, struct idg_err *err);
void mirror_close(struct mirror *m);

/*
 * Starts a transaction. refresh: this batch is a refresh (counts
 * departures for the guard and stamps a new generation).
 */
int mirror_begin(struct mirror *m, int refresh, struct idg_err *err);
/* Adds or updates an entry (kind DIR_OTHER means: no longer in scope). */
int mirror_apply(struct mirror *m, const struct dir_entry *e, struct idg_err *err);
/* The entry with this uuid is unchanged and still present. */
int mirror_present(struct mirror *m, const char *uuid, struct idg_err *err);
/* The entry with this uuid was deleted (or left the sync scope). */
int mirror_delete(struct mirror *m, const char *uuid, struct idg_err *err);
/* Marks everything not stamped during this refresh as gone. */
int mirror_sweep(struct mirror *m, struct idg_err *err);
/*
 * Lets the guard decide the departures reported so far: applied, or held
 * (stats.held, stats.hold_started). force applies them anyway and records
 * what was forced. 0, or -1 with err on a store error.
 */
int mirror_check_guard(struct mirror *m, int force, struct idg_err *err);
/*
 * Applies every held departure, in its own transaction, if confirm equals
 * their number; audited with admin and confirm. *released: how many.
 */
int mirror_release(struct mirror *m, int64_t confirm, const char *admin, int64_t *released,
		   struct idg_err *err);
/* Stores the cookie (NULL to clear) and the mode of the sync that produced it. */
int mirror_save_state(struct mirror *m, const struct berval *cookie, const char *mode,
		      const char *result, struct idg_err *err);
/* Signs the audit head and commits; or rolls back. */
int mirror_commit(struct mirror *m, struct idg_err *err);
void mirror_rollback(struct mirror *m);

/* Sets the drift mode for the following batches (MIRROR_DRIFT_NONE by default). */
void mirror_set_drift(struct mirror *m, enum mirror_drift drift);
/*
 * The differences found since the last mirror_begin, as a new JSON object:
 * "total", counts by kind, and "examples" (kind, name, details). Valid
 * until the next mirror_begin.
 */
json_t *mirror_drift_report(const struct mirror *m);

/* Statistics since the last mirror_begin. */
const struct mirror_stats *mirror_stats(const struct mirror *m);
int mirror_in_transaction(const struct mirror *m);

/* Reads the stored cookie; *cookie is malloc'd (or NULL when none). */
int mirror_load_cookie(struct store *st, const char *directory, struct berval *cookie,
		       struct idg_err *err);

#endif
