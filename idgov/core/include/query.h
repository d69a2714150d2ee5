/*
 * Read-only questions about the mirror, answered as JSON (jansson) for the
 * control protocol: counts, users, groups with effective (nested)
 * membership, and the audit log. All SQL uses bound parameters.
 */
#ifndef IDGOV_QUERY_H
#define IDGOV_QUERY_H

#include "store.h"

#include <jansson.h>

/*
 * Runs s (prepared and bound by the caller) and returns its rows as an
 * array of objects keyed by column name (flag columns such as privileged
 * as booleans); finalizes s. NULL with err on failure.
 */
json_t *query_rows(struct store *st, sqlite3_stmt *s, struct idg_err *err);
/*
 * The same with NULL columns left out of each object (a reader's
 * json_object_get() sees NULL either way): for long lists whose rows are
 * mostly empty, such as a review page, where the reply's size is most of
 * its cost.
 */
json_t *query_rows_sparse(struct store *st, sqlite3_stmt *s, struct idg_err *err);

/*
 * The rows of s as a table, {"columns": [names], "rows": [[values]]}:
 * each value typed as query_rows() types it, a NULL column as null;
 * finalizes s. For a reply of many rows (a review page): no column name
 * repeated per row and no object per row to build, write and parse,
 * which made idgov-web read a page of 100 items in about a third of the
 * time. NULL with err on failure.
 */
#define QUERY_TABLE_MAX_COLUMNS 64
json_t *query_table(struct store *st, sqlite3_stmt *s, struct idg_err *err);

/* The first row of s as an object; NULL with err set to missing when there is none. */
json_t *query_row(struct store *st, sqlite3_stmt *s, const char *missing, struct idg_err *err);

/*
 * The account state a login decides from (policy/account.c), as status,
 * user list and user show print it: the stored status (active, disabled
 * with its reason, departed), and "expired" for an active account from the
 * day its shadowExpire names on (shadow(5)), which depends on the clock and
 * so is never stored. Columns of users; :day is today (UTC days since the
 * epoch). SQLite numbers a named parameter when it first appears, so a
 * statement that uses these names its other parameters too.
 */
#define QUERY_STATE_SQL                                                                            \
	"(CASE WHEN status <> 'active' THEN status WHEN shadow_expire >= 0 AND "                   \
	":day >= shadow_expire THEN 'expired' ELSE 'active' END)"
#define QUERY_REASON_SQL                                                                           \
	"(CASE WHEN status = 'disabled' THEN coalesce(disabled_reason, 'disabled in the "          \
	"directory') WHEN status = 'departed' THEN 'removed from the directory' WHEN "             \
	"shadow_expire >= 0 AND :day >= shadow_expire THEN 'shadowExpire ' || "                    \
	"date(shadow_expire * 86400, 'unixepoch') || ' has passed' END)"
/* Binds :day in s to the day of now, if s has it. */
void query_bind_day(sqlite3_stmt *s, int64_t now);

json_t *query_counts(struct store *st, struct idg_err *err);

/*
 * query_counts() kept between requests by a long-lived connection (the
 * daemon's): counted again only when the store changed (a commit by
 * another connection: PRAGMA data_version; by this one: its total
 * changes) or the day did (expiry is by day); audit_records, which every
 * request changes, is read each time. Zeroed by its owner before first
 * use, emptied with query_counts_cache_clear().
 */
struct query_counts_cache {
	const struct store *st;
	int64_t data_version, changes, day;
	json_t *counts;
};

/* The counts (a copy of c's while still true), or NULL with err. */
json_t *query_counts_cached(struct store *st, struct query_counts_cache *c, struct idg_err *err);
void query_counts_cache_clear(struct query_counts_cache *c);
/*
 * This connection's changes from total changes `from` to `to` were audit
 * records only (a request that changed nothing else was recorded): counts
 * that were true at `from` stay true.
 */
void query_counts_cache_audited(struct query_counts_cache *c, int64_t from, int64_t to);
json_t *query_sync_state(struct store *st, const char *directory, struct idg_err *err);
/* state: NULL for all, or active/disabled/expired/departed (QUERY_STATE_SQL). */
json_t *query_user_list(struct store *st, const char *status, struct idg_err *err);
/* NULL with err "no user ..." when unknown. depth: nested group resolution limit. */
json_t *query_user_show(struct store *st, const char *uid, int depth, struct idg_err *err);
/* query_user_show()'s "groups" alone (what a login's rules need), the same errors. */
json_t *query_user_groups(struct store *st, const char *uid, int depth, struct idg_err *err);
json_t *query_group_list(struct store *st, struct idg_err *err);
json_t *query_group_show(struct store *st, const char *cn, int depth, struct idg_err *err);
/* Records with time >= since (0 for all), newest last, at most limit (0: no limit). */
json_t *query_audit_list(struct store *st, int64_t since, int64_t limit, struct idg_err *err);
/* 1 if the active user uid is an effective member of group cn, 0 if not, -1 on error. */
int query_is_member(struct store *st, const char *uid, const char *cn, int depth,
		    struct idg_err *err);

/* How a group is privileged in effect (query_group_privilege). */
struct query_privilege {
	char group[256]; /* the privileged group: cn itself, or one it is nested in */
	char via[512];   /* the groups in between, nearest to cn first, ", "-separated */
	int depth;       /* 0: cn itself is privileged; 1: a direct member of group; ... */
};

/*
 * 1 if the active group cn is privileged in effect, with p saying how: cn
 * itself is privileged, or it is nested (through `member` DNs) in a group
 * that is, the nearest one; 0 if not (or no such group); -1 on error.
 * Nesting is followed at any depth, not only [directory] nested_depth.
 */
int query_group_privilege(struct store *st, const char *cn, struct query_privilege *p,
			  struct idg_err *err);

#define QUERY_NOT_FOUND_PREFIX "no "

#endif
