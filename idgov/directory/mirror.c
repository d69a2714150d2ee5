/*
 * Applying directory entries to the store; see mirror.h for the model.
 *
 * Membership changes are found by a sorted merge: the entry's values are
 * sorted by dir.c, the stored ones come back ORDER BY value (SQLite's
 * BINARY collation is memcmp order, the same as strcmp), so one pass finds
 * what was added and what was removed, even for a group of 50,000 members
 * in which one member changed.
 *
 * The first sync into an empty store is a baseline: it records one
 * "sync.baseline" audit record with the counts instead of one record per
 * user and membership, which would only restate the directory.
 */
#include "mirror.h"

#include "guard.h"
#include "packed.h"
#include "strmap.h"
#include "token.h"
#include "tokenmirror.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

enum {
	S_USER_GET,
	S_USER_INS,
	S_USER_UPD,
	S_USER_MARK,
	S_USER_DEPART,
	S_GROUP_GET,
	S_GROUP_INS,
	S_GROUP_UPD,
	S_GROUP_MARK,
	S_GROUP_DELETE,
	S_MEMBERS,
	S_REF_GET,
	S_REF_INS,
	S_RESOLVE,
	S_REF_OF_TARGET,
	S_REF_SET,
	S_REF_GROUPS,
	S_REF_DEL,
	S_REF_BY_VALUE,
	S_EVENT,
	S_STATE,
	S_WARN_DEL,
	S_WARN_INS,
	S_HELD_GET,
	S_HELD_INS,
	S_HELD_DEL,
	S_HELD_NAMESAKE,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
	[S_USER_GET] =
		"SELECT dn, uid, display_name, mail, uid_number, manager_dn, status, "
		"locked_time, shadow_expire, disabled_reason, dn_norm FROM users WHERE uuid = ?1",
	[S_USER_INS] =
		"INSERT INTO users (uuid, dn, dn_norm, uid, display_name, mail, uid_number, "
		"manager_dn, status, locked_time, shadow_expire, last_changed, seen_gen, "
		"shadow_last_change, pwd_changed_at, disabled_reason, first_seen, title, "
		"department) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
		"?14, ?15, ?16, ?12, ?17, ?18)",
	[S_USER_UPD] =
		"UPDATE users SET dn = ?2, dn_norm = ?3, uid = ?4, display_name = ?5, "
		"mail = ?6, uid_number = ?7, manager_dn = ?8, status = ?9, locked_time = ?10, "
		"shadow_expire = ?11, last_changed = ?12, seen_gen = ?13, departed_at = NULL, "
		"shadow_last_change = ?14, pwd_changed_at = ?15, disabled_reason = ?16, title = "
		"?17, "
		"department = ?18 WHERE uuid = ?1",
	[S_USER_MARK] = "UPDATE users SET seen_gen = ?2 WHERE uuid = ?1",
	[S_USER_DEPART] = "UPDATE users SET status = 'departed', departed_at = ?2, "
			  "last_changed = ?2 WHERE uuid = ?1",
	[S_GROUP_GET] =
		"SELECT dn, cn, gid_number, status, id, dn_norm FROM groups WHERE uuid = ?1",
	[S_GROUP_INS] = "INSERT INTO groups (uuid, dn, dn_norm, cn, gid_number, privileged, "
			"last_changed, seen_gen, first_seen, description) VALUES (?1, ?2, ?3, ?4, "
			"?5, ?6, ?7, ?8, ?7, ?9)",
	[S_GROUP_UPD] = "UPDATE groups SET dn = ?2, dn_norm = ?3, cn = ?4, gid_number = ?5, "
			"privileged = ?6, last_changed = ?7, seen_gen = ?8, status = 'active', "
			"deleted_at = NULL, description = ?9 WHERE uuid = ?1",
	[S_GROUP_MARK] = "UPDATE groups SET seen_gen = ?2 WHERE uuid = ?1",
	[S_GROUP_DELETE] = "UPDATE groups SET status = 'deleted', deleted_at = ?2, "
			   "last_changed = ?2 WHERE uuid = ?1",
	/* CROSS JOIN fixes the join order: the planner would otherwise walk every
	 * member_refs row in value order to avoid a sort. */
	[S_MEMBERS] = "SELECT r.value, r.id FROM memberships m CROSS JOIN member_refs r "
		      "ON r.id = m.ref_id WHERE m.group_id = ?1 AND r.kind = ?2 ORDER BY r.value",
	[S_REF_GET] = "SELECT id FROM member_refs WHERE kind = ?1 AND value = ?2",
	[S_REF_INS] =
		"INSERT INTO member_refs (kind, value, target, problem) VALUES (?1, ?2, ?3, ?4)",
	/* The entry a normalised member DN names: a present user, else an active group. */
	[S_RESOLVE] =
		"SELECT uuid FROM (SELECT uuid, last_changed FROM users WHERE dn_norm = ?1 "
		"AND status <> 'departed' UNION ALL SELECT uuid, last_changed FROM groups "
		"WHERE dn_norm = ?1 AND status = 'active') ORDER BY last_changed DESC LIMIT 1",
	[S_REF_OF_TARGET] = "SELECT id, value FROM member_refs WHERE target = ?1",
	[S_REF_SET] = "UPDATE member_refs SET value = ?2, target = ?3, problem = ?4 WHERE id = ?1",
	[S_REF_GROUPS] =
		"SELECT g.id, g.uuid, g.cn FROM ref_groups p CROSS JOIN json_each(p.groups) "
		"j CROSS JOIN groups g ON g.id = j.value WHERE p.ref_id = ?1 ORDER BY g.id",
	[S_REF_DEL] = "DELETE FROM member_refs WHERE id = ?1",
	[S_REF_BY_VALUE] = "SELECT id, target FROM member_refs WHERE kind = 0 AND value = ?1",
	[S_EVENT] = "INSERT INTO events (time, kind, subject, details) VALUES (?1, ?2, ?3, ?4)",
	[S_STATE] = "INSERT INTO sync_state (directory, cookie, mode, last_sync, last_result) "
		    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (directory) DO UPDATE SET "
		    "cookie = excluded.cookie, mode = excluded.mode, "
		    "last_sync = excluded.last_sync, last_result = excluded.last_result",
	[S_WARN_DEL] = "DELETE FROM entry_warnings WHERE uuid = ?1",
	[S_WARN_INS] = "INSERT OR REPLACE INTO entry_warnings (uuid, attribute, problem, seen_at) "
		       "VALUES (?1, ?2, ?3, ?4)",
	[S_HELD_GET] = "SELECT 1 FROM held_departures WHERE uuid = ?1",
	[S_HELD_INS] = "INSERT OR IGNORE INTO held_departures (uuid, held_at) VALUES (?1, ?2)",
	[S_HELD_DEL] = "DELETE FROM held_departures WHERE uuid = ?1",
	[S_HELD_NAMESAKE] = "SELECT h.uuid FROM held_departures h JOIN users u ON u.uuid = h.uuid "
			    "WHERE h.uuid <> ?2 AND u.uid = ?1 COLLATE NOCASE LIMIT 1",
};

struct mirror {
	struct store *st;
	struct audit *audit;
	const struct cfg *cfg;
	struct logger *log;
	sqlite3_stmt *s[S_COUNT];
	struct packed *packed;  /* the membership lists' writer */
	struct strmap *refs[2]; /* per kind: value -> member_refs.id, valid while committed */
	/*
	 * refs holds every member_refs row, and no row has been re-pointed
	 * (set_ref) in this transaction: a baseline into an empty store, until
	 * anything clears the cache. A value missing from refs is then known to
	 * be new without asking the store, and no identity has a row yet.
	 */
	int refs_complete;
	/*
	 * While refs_complete: the normalised DN of each user and group this
	 * transaction created -> its index in fresh_uuids, so that a member value
	 * finds the entry it names without a query (a baseline resolves a few
	 * hundred thousand). Emptied with refs, and when an entry's DN changes.
	 */
	struct strmap *fresh;
	char (*fresh_uuids)[DIR_UUID_LEN + 1];
	size_t n_fresh, cap_fresh;
	int holds_none;    /* held_departures is empty (a baseline), until a hold is added */
	int warnings_none; /* entry_warnings is empty (a baseline), until a warning is added */
	int tokens_none;   /* fleet_tokens is empty (a baseline), until a row is added */
	int target_index_deferred; /* member_refs_target dropped (defer_target_index) */
	int in_tx;
	int refresh;
	int baseline;
	int64_t gen;
	int64_t now;
	/* Departures reported in this transaction, judged by the guard before commit. */
	char **pending;
	size_t n_pending, cap_pending;
	struct strmap *pending_set;
	/*
	 * In a refresh: the ids (as text) of the groups whose member values
	 * this transaction wrote, i.e. what the directory says they hold now
	 * (take_current_members).
	 */
	struct strmap *written_groups;
	/* Warning lines for the log, written once the transaction commits. */
	char **logs;
	size_t n_logs, cap_logs;
	int64_t logs_dropped;
	struct mirror_stats stats;
	enum mirror_drift drift; /* what this batch's changes mean (mirror_set_drift) */
	json_t *examples; /* the first MIRROR_DRIFT_EXAMPLES changes, when drift is reported */
};

int
mirror_open(struct store *st, struct audit *audit, const struct cfg *cfg, struct logger *log,
	    struct mirror **out, struct idg_err *err)
{
	struct mirror *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return idg_seterr(err, "out of memory");
	m->st = st;
	m->audit = audit;
	m->cfg = cfg;
	m->log = log;
	m->refs[0] = strmap_new();
	m->refs[1] = strmap_new();
	m->fresh = strmap_new();
	m->pending_set = strmap_new();
	m->written_groups = strmap_new();
	if (m->refs[0] == NULL || m->refs[1] == NULL || m->fresh == NULL ||
	    m->pending_set == NULL || m->written_groups == NULL) {
		strmap_free(m->refs[0]);
		strmap_free(m->refs[1]);
		strmap_free(m->fresh);
		strmap_free(m->pending_set);
		strmap_free(m->written_groups);
		free(m);
		return idg_seterr(err, "out of memory");
	}
	for (int i = 0; i < S_COUNT; i++) {
		if (store_prepare(st, sql[i], &m->s[i], err) != 0) {
			mirror_close(m);
			return -1;
		}
	}
	if (packed_open(st, &m->packed, err) != 0) {
		mirror_close(m);
		return -1;
	}
	*out = m;
	return 0;
}

static void clear_pending(struct mirror *m);
static void flush_logs(struct mirror *m, int emit);

void
mirror_close(struct mirror *m)
{
	if (m == NULL)
		return;
	if (m->in_tx)
		mirror_rollback(m);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(m->s[i]);
	packed_close(m->packed);
	clear_pending(m);
	strmap_free(m->refs[0]);
	strmap_free(m->refs[1]);
	strmap_free(m->fresh);
	free(m->fresh_uuids);
	strmap_free(m->pending_set);
	strmap_free(m->written_groups);
	free(m->pending);
	flush_logs(m, 0);
	free(m->logs);
	json_decref(m->examples);
	free(m);
}

static void
clear_pending(struct mirror *m)
{
	for (size_t i = 0; i < m->n_pending; i++)
		free(m->pending[i]);
	m->n_pending = 0;
	strmap_clear(m->pending_set);
}

const struct mirror_stats *
mirror_stats(const struct mirror *m)
{
	return &m->stats;
}

int
mirror_in_transaction(const struct mirror *m)
{
	return m->in_tx;
}

static int64_t
query_int(struct mirror *m, const char *q)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	if (sqlite3_prepare_v2(m->st->db, q, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static int reclassify_groups(struct mirror *m, struct idg_err *err);

/* The ref cache no longer mirrors the table (a row moved, or a rollback). */
static void
forget_refs(struct mirror *m)
{
	strmap_clear(m->refs[0]);
	strmap_clear(m->refs[1]);
	strmap_clear(m->fresh);
	m->n_fresh = 0;
	m->refs_complete = 0;
}

/* Notes an entry this transaction created, for resolve_dn(). */
static int
note_fresh(struct mirror *m, const char *uuid, const char *dn_norm)
{
	size_t len = strlen(dn_norm);

	if (m->n_fresh == m->cap_fresh) {
		size_t cap = m->cap_fresh ? 2 * m->cap_fresh : 1024;
		char(*bigger)[DIR_UUID_LEN + 1] = realloc(m->fresh_uuids, cap * sizeof(*bigger));

		if (bigger == NULL)
			return -1;
		m->fresh_uuids = bigger;
		m->cap_fresh = cap;
	}
	/* A user and a group cannot share a DN; were they to, the first one seen is kept. */
	if (strmap_get(m->fresh, dn_norm, len, &(int64_t){0}))
		return 0;
	idg_strlcpy(m->fresh_uuids[m->n_fresh], uuid, DIR_UUID_LEN + 1);
	if (strmap_put(m->fresh, dn_norm, len, (int64_t)m->n_fresh) != 0)
		return -1;
	m->n_fresh++;
	return 0;
}

/*
 * A baseline inserts every member_refs row, a few hundred thousand, in the
 * order groups name them: into the index by target that is a random
 * insert per row, on the applier thread that is the refresh's bottleneck
 * while the groups arrive. While the ref cache is complete nothing reads
 * by target, so the index is dropped, and built again, sorted, once
 * something is about to (ref_of_target, through which every read by
 * target goes) or at commit. A rollback restores it with the rest of the
 * transaction.
 */
static int
defer_target_index(struct mirror *m, struct idg_err *err)
{
	if (store_exec(m->st, "DROP INDEX IF EXISTS member_refs_target", err) != 0)
		return -1;
	m->target_index_deferred = 1;
	return 0;
}

static int
restore_target_index(struct mirror *m, struct idg_err *err)
{
	if (!m->target_index_deferred)
		return 0;
	if (store_exec(m->st,
		       "CREATE INDEX IF NOT EXISTS member_refs_target ON member_refs (target)",
		       err) != 0)
		return -1;
	m->target_index_deferred = 0;
	return 0;
}

int
mirror_begin(struct mirror *m, int refresh, struct idg_err *err)
{
	if (store_begin(m->st, err) != 0)
		return -1;
	m->in_tx = 1;
	m->refresh = refresh;
	m->now = idg_now();
	clear_pending(m);
	strmap_clear(m->written_groups);
	memset(&m->stats, 0, sizeof(m->stats));
	json_decref(m->examples);
	m->examples = m->drift != MIRROR_DRIFT_NONE ? json_array() : NULL;
	if (m->drift != MIRROR_DRIFT_NONE && m->examples == NULL) {
		store_rollback(m->st);
		m->in_tx = 0;
		return idg_seterr(err, "out of memory");
	}
	m->baseline = query_int(m, "SELECT NOT (EXISTS (SELECT 1 FROM users) OR "
				   "EXISTS (SELECT 1 FROM groups))") == 1;
	if (packed_begin(m->packed, err) != 0) {
		mirror_rollback(m);
		return -1;
	}
	/* An empty store has no member_refs rows left over (unresolved values of groups that
	 * are gone), so the cache, emptied here, is complete until something clears it. */
	m->refs_complete = 0;
	m->holds_none =
		m->baseline && query_int(m, "SELECT EXISTS (SELECT 1 FROM held_departures)") == 0;
	m->warnings_none =
		m->baseline && query_int(m, "SELECT EXISTS (SELECT 1 FROM entry_warnings)") == 0;
	m->tokens_none =
		m->baseline && query_int(m, "SELECT EXISTS (SELECT 1 FROM fleet_tokens)") == 0;
	if (m->baseline && query_int(m, "SELECT EXISTS (SELECT 1 FROM member_refs)") == 0) {
		forget_refs(m); /* the fresh map of an earlier transaction too */
		m->refs_complete = 1;
	}
	/* Only a refresh needs a new generation (it scans users). */
	if (refresh) {
		m->gen = query_int(m, "SELECT max((SELECT coalesce(max(seen_gen), 0) FROM users), "
				      "(SELECT coalesce(max(seen_gen), 0) FROM groups)) + 1");
		if (m->gen < 0) {
			mirror_rollback(m);
			return store_err(m->st, err, "starting sync transaction");
		}
		if (reclassify_groups(m, err) != 0) {
			mirror_rollback(m);
			return -1;
		}
	}
	if (m->refs_complete && defer_target_index(m, err) != 0) {
		mirror_rollback(m);
		return -1;
	}
	return 0;
}

/*
 * Records an event row and an audit record. Steals details. During a
 * baseline nothing is recorded; callers use RECORD() so that the details
 * are not even built then (the first sync of 100,000 users would spend a
 * tenth of its time making JSON nobody reads).
 */
static int
record(struct mirror *m, const char *kind, const char *subject_uuid, const char *name,
       json_t *details, struct idg_err *err)
{
	char *text;
	sqlite3_stmt *s = m->s[S_EVENT];
	int rc;

	if (details == NULL)
		return idg_seterr(err, "out of memory");
	if (m->examples != NULL && json_array_size(m->examples) < MIRROR_DRIFT_EXAMPLES &&
	    json_array_append_new(m->examples, json_pack("{s:s, s:s?, s:O}", "kind", kind, "name",
							 name, "details", details)) != 0) {
		json_decref(details);
		return idg_seterr(err, "out of memory");
	}
	if (m->drift == MIRROR_DRIFT_VERIFY) { /* compared, never written */
		json_decref(details);
		return 0;
	}
	text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(details);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	sqlite3_bind_int64(s, 1, m->now);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, subject_uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
	rc = store_step_done(m->st, s, err);
	if (rc == 0 && m->audit != NULL)
		rc = audit_append(m->audit, "directory", name, kind, text, err);
	free(text);
	return rc;
}

#define RECORD(m, kind, uuid, name, details, err)                                                  \
	((m)->baseline ? 0 : record((m), (kind), (uuid), (name), (details), (err)))

static void
bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/*
 * The same for a value that stays valid until the statement has been
 * stepped by store_step_done(), which clears the bindings: SQLite neither
 * copies it nor keeps the pointer past it.
 */
static void
bind_static_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void
bind_int_or_null(sqlite3_stmt *s, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int64_t
col_int(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
note_change(json_t *changes, const char *field, const char *before, const char *after)
{
	if (!same(before, after))
		json_object_set_new(changes, field, json_pack("[s?s?]", before, after));
}

static void
note_number_change(json_t *changes, const char *field, int64_t before, int64_t after)
{
	if (before != after)
		json_object_set_new(changes, field,
				    json_pack("[oo]",
					      before >= 0 ? json_integer(before) : json_null(),
					      after >= 0 ? json_integer(after) : json_null()));
}

static int point_identity(struct mirror *m, const char *uuid, const char *dn_norm,
			  struct idg_err *err);
static int point_new_identity(struct mirror *m, const char *uuid, const char *dn_norm,
			      struct idg_err *err);
static int point_moved_identity(struct mirror *m, const char *uuid, const char *dn_norm,
				struct idg_err *err);
static int forget_identity(struct mirror *m, const char *uuid, struct idg_err *err);

/*
 * Warnings are logged after the transaction commits, never from work that
 * is rolled back (and retried: it would say the same thing twice). At most
 * MAX_LOGGED lines a transaction; the rest are counted in one more line.
 */
#define MAX_LOGGED 1000

static int
note_warning(struct mirror *m, const char *name, const char *dn, const struct dir_warning *w)
{
	char line[512];

	if (m->log == NULL)
		return 0;
	if (m->n_logs >= MAX_LOGGED) {
		m->logs_dropped++;
		return 0;
	}
	if (m->n_logs == m->cap_logs) {
		size_t cap = m->cap_logs ? 2 * m->cap_logs : 16;
		char **bigger = realloc(m->logs, cap * sizeof(*bigger));

		if (bigger == NULL)
			return -1;
		m->logs = bigger;
		m->cap_logs = cap;
	}
	snprintf(line, sizeof(line), "sync: %.256s (%.200s): %s %s", name, dn, w->attr, w->problem);
	if ((m->logs[m->n_logs] = strdup(line)) == NULL)
		return -1;
	m->n_logs++;
	return 0;
}

/* Writes the noted warnings (emit) or forgets them, and empties the list. */
static void
flush_logs(struct mirror *m, int emit)
{
	for (size_t i = 0; i < m->n_logs; i++) {
		if (emit)
			log_msg(m->log, LOG_WARNING, "%s", m->logs[i]);
		free(m->logs[i]);
	}
	if (emit && m->logs_dropped > 0)
		log_msg(m->log, LOG_WARNING,
			"sync: %lld more values not stored as the directory "
			"holds them (see 'idgov status')",
			(long long)m->logs_dropped);
	m->n_logs = 0;
	m->logs_dropped = 0;
}

/*
 * Replaces the entry's warnings (values not stored as the directory holds
 * them) and logs them; rows describe the entry as it is now.
 */
static int
write_warnings(struct mirror *m, const struct dir_entry *e, const char *name, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_WARN_DEL];

	/* Nothing to delete while the table is known to be empty. */
	if (!m->warnings_none) {
		sqlite3_bind_text(s, 1, e->uuid, -1, SQLITE_STATIC);
		if (store_step_done(m->st, s, err) != 0)
			return -1;
	}
	s = m->s[S_WARN_INS];
	if (e->n_warnings > 0)
		m->warnings_none = 0;
	for (size_t i = 0; i < e->n_warnings; i++) {
		sqlite3_bind_text(s, 1, e->uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, e->warnings[i].attr, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, e->warnings[i].problem, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, m->now);
		if (store_step_done(m->st, s, err) != 0)
			return -1;
		if (note_warning(m, name, e->dn, &e->warnings[i]) != 0)
			return idg_seterr(err, "out of memory");
	}
	return 0;
}

/* Runs one of the (uuid) statements. */
static int
by_uuid_text(struct mirror *m, int stmt_id, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[stmt_id];

	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	return store_step_done(m->st, s, err);
}

static int
write_user(struct mirror *m, int stmt_id, const struct dir_entry *e, const char *uid,
	   const char *status, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[stmt_id];

	/* e and uid outlive the step: a user's eighteen values are bound without copies. */

	sqlite3_bind_text(s, 1, e->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, e->dn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->dn_norm, -1, SQLITE_STATIC);
	bind_static_or_null(s, 4, uid);
	bind_static_or_null(s, 5, e->display_name);
	bind_static_or_null(s, 6, e->mail);
	bind_int_or_null(s, 7, e->uid_number);
	bind_static_or_null(s, 8, e->manager_norm);
	sqlite3_bind_text(s, 9, status, -1, SQLITE_STATIC);
	bind_static_or_null(s, 10, e->locked);
	bind_int_or_null(s, 11, e->shadow_expire);
	sqlite3_bind_int64(s, 12, m->now);
	sqlite3_bind_int64(s, 13, m->gen);
	bind_int_or_null(s, 14, e->shadow_last_change);
	bind_int_or_null(s, 15, e->pwd_changed_at);
	bind_static_or_null(s, 16, e->disabled_reason);
	bind_static_or_null(s, 17, e->title);
	bind_static_or_null(s, 18, e->department);
	return store_step_done(m->st, s, err);
}

static int depart_now(struct mirror *m, const char *uuid, struct idg_err *err);

/*
 * Another entry now has the uid of a user whose departure the guard holds:
 * the directory has given that name to someone else, so that departure is
 * applied now. Otherwise two active users would share the uid while the
 * hold lasts, and a lookup by name (a login, user show, a grant) could find
 * the leaver, with the leaver's groups, for the new entry.
 */
static int
depart_held_namesakes(struct mirror *m, const char *uuid, const char *uid, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_HELD_NAMESAKE];
	char *held;
	int rc;

	for (;;) {
		sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, uuid, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			return rc == SQLITE_DONE ? 0
						 : store_err(m->st, err, "reading held departures");
		}
		held = idg_strdup(col_text(s, 0));
		sqlite3_reset(s);
		if (held == NULL)
			return idg_seterr(err, "out of memory");
		/* Off the list even when depart_now finds nothing to do (1). */
		rc = depart_now(m, held, err) < 0 ? -1 : by_uuid_text(m, S_HELD_DEL, held, err);
		free(held);
		if (rc != 0)
			return -1;
	}
}

/*
 * In a baseline the store had no users when the transaction began, so an
 * entry is new unless this refresh sent it before: the row is inserted
 * without looking for it first (a b-tree search per user), and only an
 * entryUUID already there, which the primary key refuses, returns 1 for
 * the usual path. 0: inserted.
 */
static int
insert_new_user(struct mirror *m, const struct dir_entry *e, const char *uid, const char *status,
		struct idg_err *err)
{
	struct idg_err why;

	if (write_user(m, S_USER_INS, e, uid, status, &why) == 0)
		return 0;
	if (sqlite3_extended_errcode(m->st->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		return 1;
	*err = why;
	return -1;
}

/* The rest of a joiner, once its row is written: warnings, memberships named before, the event. */
static int
user_joined(struct mirror *m, const struct dir_entry *e, const char *uid, const char *status,
	    struct idg_err *err)
{
	const char *name = uid != NULL ? uid : e->uuid;

	if (write_warnings(m, e, name, err) != 0 ||
	    point_new_identity(m, e->uuid, e->dn_norm, err) != 0)
		return -1;
	m->stats.joiners++;
	return RECORD(m, "user.joiner", e->uuid, name,
		      json_pack("{s:s, s:s, s:s, s:s?}", "uuid", e->uuid, "dn", e->dn, "status",
				status, "reason", e->disabled_reason),
		      err);
}

/*
 * A user's state comes from the entry: disabled with the entry's reason
 * (a lock, a status value, a nologin shell, a value that cannot be read),
 * else active. Expiry is not a stored state (it depends on the day).
 */
static int
apply_user(struct mirror *m, const struct dir_entry *e, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_USER_GET];
	const char *status = e->disabled_reason != NULL ? "disabled" : "active";
	char *kept_uid = NULL;
	const char *uid = e->uid, *name;
	json_t *changes;
	int rc, found, was_departed = 0, moved = 0, renamed;

	if (uid != NULL && !m->holds_none && depart_held_namesakes(m, e->uuid, uid, err) != 0)
		return -1;
	if (m->baseline) {
		rc = insert_new_user(m, e, uid, status, err);
		if (rc <= 0)
			return rc < 0 ? -1 : user_joined(m, e, uid, status, err);
	}
	sqlite3_bind_text(get, 1, e->uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	found = rc == SQLITE_ROW;
	if (!found) {
		sqlite3_reset(get);
		if (rc != SQLITE_DONE)
			return store_err(m->st, err, "reading user");
		if (write_user(m, S_USER_INS, e, uid, status, err) != 0)
			return -1;
		return user_joined(m, e, uid, status, err);
	}
	/* A name that could not be read keeps the one the mirror had. */
	if (uid == NULL && col_text(get, 1) != NULL) {
		if ((kept_uid = strdup(col_text(get, 1))) == NULL) {
			sqlite3_reset(get);
			return idg_seterr(err, "out of memory");
		}
		uid = kept_uid;
	}
	name = uid != NULL ? uid : e->uuid;
	changes = json_object();
	note_change(changes, "uid", col_text(get, 1), uid);
	note_change(changes, "display_name", col_text(get, 2), e->display_name);
	note_change(changes, "mail", col_text(get, 3), e->mail);
	note_number_change(changes, "uid_number", col_int(get, 4), e->uid_number);
	note_change(changes, "manager", col_text(get, 5), e->manager_norm);
	note_change(changes, "locked_time", col_text(get, 7), e->locked);
	note_number_change(changes, "shadow_expire", col_int(get, 8), e->shadow_expire);
	was_departed = same(col_text(get, 6), "departed");
	if (!was_departed) {
		note_change(changes, "status", col_text(get, 6), status);
		note_change(changes, "disabled_reason", col_text(get, 9), e->disabled_reason);
	}
	moved = !same(col_text(get, 0), e->dn);
	renamed = was_departed || !same(col_text(get, 10), e->dn_norm);
	{
		json_t *mover = moved ? json_pack("{s:s, s:s, s:s}", "uuid", e->uuid, "old_dn",
						  col_text(get, 0), "new_dn", e->dn)
				      : NULL;

		sqlite3_reset(get);
		rc = write_user(m, S_USER_UPD, e, uid, status, err);
		if (rc == 0)
			rc = write_warnings(m, e, name, err);
		/* Still in the directory: a held departure of theirs is off the list. */
		if (rc == 0)
			rc = by_uuid_text(m, S_HELD_DEL, e->uuid, err);
		if (rc == 0 && renamed)
			rc = point_moved_identity(m, e->uuid, e->dn_norm, err);
		if (rc == 0 && was_departed) {
			m->stats.joiners++;
			m->stats.returned++;
			rc = RECORD(m, "user.joiner", e->uuid, name,
				    json_pack("{s:s, s:s, s:s, s:b}", "uuid", e->uuid, "dn", e->dn,
					      "status", status, "returned", 1),
				    err);
		}
		if (rc == 0 && moved && !was_departed) {
			m->stats.movers++;
			rc = RECORD(m, "user.mover", e->uuid, name, json_incref(mover), err);
		}
		json_decref(mover);
	}
	if (rc == 0 && json_object_size(changes) > 0 && !was_departed) {
		m->stats.changed++;
		rc = RECORD(m, "user.changed", e->uuid, name,
			    json_pack("{s:s, s:O}", "uuid", e->uuid, "changes", changes), err);
	}
	json_decref(changes);
	free(kept_uid);
	return rc;
}

struct member_row {
	char *value;
	int64_t ref;
};

static void
free_rows(struct member_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].value);
	free(v);
}

/* Reads the stored values of one membership kind, in strcmp order. */
static int
load_members(struct mirror *m, int64_t group, int kind, struct member_row **out, size_t *n,
	     struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_MEMBERS];
	size_t cap = 16, k = 0;
	struct member_row *v = malloc(cap * sizeof(*v));
	int rc = SQLITE_DONE;

	if (v == NULL)
		return idg_seterr(err, "out of memory");
	sqlite3_bind_int64(s, 1, group);
	sqlite3_bind_int(s, 2, kind);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (k == cap) {
			struct member_row *bigger = realloc(v, 2 * cap * sizeof(*v));

			if (bigger == NULL)
				break;
			v = bigger;
			cap *= 2;
		}
		v[k].value = strdup(col_text(s, 0));
		v[k].ref = sqlite3_column_int64(s, 1);
		if (v[k].value == NULL)
			break;
		k++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free_rows(v, k);
		return rc == SQLITE_ROW ? idg_seterr(err, "out of memory")
					: store_err(m->st, err, "reading memberships");
	}
	*out = v;
	*n = k;
	return 0;
}

/*
 * Why a `member` value names no entry, stored with it and shown by `idgov
 * group show`: over DIR_MAX_DN bytes (dir.c kept a prefix), not a DN at all,
 * or a DN that no user or group in the mirror has.
 */
static const char *
unresolved_problem(const char *value, size_t len)
{
	char *norm;
	const char *why;

	if (len > DIR_MAX_DN)
		return "too_long";
	norm = dir_dn_normalize(value);
	why = norm != NULL && strcmp(norm, value) == 0 ? "no_entry" : "not_a_dn";
	free(norm);
	return why;
}

/* The entryUUID of the user or group a normalised DN names, or 0 (uuid empty) for none. */
static int
resolve_dn(struct mirror *m, const char *value, size_t len, char uuid[DIR_UUID_LEN + 1],
	   struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_RESOLVE];
	int64_t i;
	int rc;

	uuid[0] = '\0';
	/* While the cache is complete, every entry in the store was created by this
	 * transaction, is in the fresh map, and is present (a departure or delete,
	 * forget_identity(), empties the cache). */
	if (m->refs_complete) {
		if (strmap_get(m->fresh, value, len, &i))
			idg_strlcpy(uuid, m->fresh_uuids[i], DIR_UUID_LEN + 1);
		return 0;
	}
	sqlite3_bind_text(s, 1, value, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		idg_strlcpy(uuid, col_text(s, 0), DIR_UUID_LEN + 1);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(m->st, err, "resolving a member");
	return 0;
}

/* The id (0: none) and value of the member_refs row of an identity. Caller frees *value. */
static int
ref_of_target(struct mirror *m, const char *uuid, int64_t *id, char **value, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_REF_OF_TARGET];
	int rc;

	*id = 0;
	if (value != NULL)
		*value = NULL;
	/* What a caller does next with the row reads its groups. */
	if (packed_flush(m->packed, err) != 0 || restore_target_index(m, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		if (value != NULL && (*value = idg_strdup(col_text(s, 1))) == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_NOMEM)
		return idg_seterr(err, "out of memory");
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(m->st, err, "reading member reference");
	return 0;
}

static int
set_ref(struct mirror *m, int64_t id, const char *value, const char *target, const char *problem,
	struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_REF_SET];

	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	bind_text_or_null(s, 3, target);
	bind_text_or_null(s, 4, problem);
	/* The cache maps values to ids; a value that moved makes it stale. */
	forget_refs(m);
	return store_step_done(m->st, s, err);
}

/*
 * The member_refs id of (kind, value), created if new; cached for the sync.
 * A new `member` value is resolved to the entry it names now (its
 * entryUUID is the row's target); one that names nothing is kept with the
 * reason, and picked up by the entry that later takes that DN
 * (point_identity).
 */
static int
intern_ref_hashed(struct mirror *m, int kind, const char *value, size_t len, uint64_t h,
		  int64_t *id, struct idg_err *err)
{
	char uuid[DIR_UUID_LEN + 1] = "";
	sqlite3_stmt *s;
	int rc;

	if (strmap_get_hashed(m->refs[kind], value, len, h, id))
		return 0;
	if (m->refs_complete) {
		rc = SQLITE_DONE; /* not cached, so not stored */
	} else {
		s = m->s[S_REF_GET];
		sqlite3_bind_int(s, 1, kind);
		sqlite3_bind_text(s, 2, value, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	if (rc == SQLITE_DONE) {
		const char *problem = NULL;
		int64_t parked = 0;

		if (kind == 0 && len <= DIR_MAX_DN && resolve_dn(m, value, len, uuid, err) != 0)
			return -1;
		if (kind == 0 && uuid[0] == '\0') {
			problem = unresolved_problem(value, len);
			if (strcmp(problem, "too_long") == 0)
				log_msg(m->log, LOG_WARNING,
					"a member value of %zu bytes (over %d) is kept unresolved",
					len, DIR_MAX_DN);
		}
		/*
		 * The identity may hold a parked row (point_identity): take it
		 * back. Only set_ref parks a row, and it clears refs_complete.
		 */
		if (uuid[0] != '\0' && !m->refs_complete &&
		    ref_of_target(m, uuid, &parked, NULL, err) != 0)
			return -1;
		if (parked != 0) {
			if (set_ref(m, parked, value, uuid, NULL, err) != 0)
				return -1;
			*id = parked;
		} else {
			s = m->s[S_REF_INS];
			sqlite3_bind_int(s, 1, kind);
			sqlite3_bind_text(s, 2, value, (int)len, SQLITE_STATIC);
			bind_text_or_null(s, 3, uuid[0] != '\0' ? uuid : NULL);
			bind_text_or_null(s, 4, problem);
			if (store_step_done(m->st, s, err) != 0)
				return -1;
			*id = sqlite3_last_insert_rowid(m->st->db);
		}
	} else if (rc != SQLITE_ROW) {
		return store_err(m->st, err, "reading member reference");
	}
	if (strmap_put(m->refs[kind], value, len, *id) != 0)
		return idg_seterr(err, "out of memory");
	return 0;
}

/* intern_ref_hashed() of a NUL-terminated value. */
static int
intern_ref(struct mirror *m, int kind, const char *value, int64_t *id, struct idg_err *err)
{
	size_t len = strlen(value);

	return intern_ref_hashed(m, kind, value, len, strmap_hash(value, len), id, err);
}

static const char *const kind_names[] = {"member", "memberUid"};

struct group_ref {
	int64_t id;
	const char *uuid;
	const char *cn;
};

/* Counts and records one membership added or removed. */
static int
record_member_change(struct mirror *m, int add, const struct group_ref *g, int kind,
		     const char *value, struct idg_err *err)
{
	if (add)
		m->stats.members_added++;
	else
		m->stats.members_removed++;
	return RECORD(m, add ? "membership.added" : "membership.removed", g->uuid, g->cn,
		      json_pack("{s:s, s:s, s:s, s:s}", "group", g->cn, "group_uuid", g->uuid,
				"kind", kind_names[kind], "member", value),
		      err);
}

/* Adds or removes one membership of a group (its list rewritten) and records it. */
static int
change_member(struct mirror *m, int add, const struct group_ref *g, int kind, const char *value,
	      int64_t ref, struct idg_err *err)
{
	struct packed_pair pair = {.ref = ref, .since = m->now};
	int rc;

	if (add && intern_ref(m, kind, value, &pair.ref, err) != 0)
		return -1;
	if (add)
		rc = packed_group_edit(m->packed, g->id, NULL, 0, &pair, 1, err);
	else
		rc = packed_group_edit(m->packed, g->id, &ref, 1, NULL, 0, err);
	if (rc != 0)
		return -1;
	return record_member_change(m, add, g, kind, value, err);
}

/* Runs a statement that takes one member_refs id. */
static int
by_ref(struct mirror *m, int stmt_id, int64_t ref, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[stmt_id];

	/* A member_refs delete's trigger reads the row's groups. */
	if (packed_flush(m->packed, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, ref);
	return store_step_done(m->st, s, err);
}

/*
 * Sorts n ids ascending, tmp being room for n more. A group's ref ids are
 * close together (they were numbered as the sync met its members), so a
 * byte-wise radix sort of their distance from the smallest takes two or
 * three passes; qsort's comparisons through a function pointer were a
 * twentieth of a baseline's group phase.
 */
static void
sort_ids(int64_t *ids, int64_t *tmp, size_t n)
{
	int64_t lo, hi, *from = ids, *to = tmp, *t;

	if (n < 2)
		return;
	lo = hi = ids[0];
	for (size_t i = 1; i < n; i++) {
		lo = ids[i] < lo ? ids[i] : lo;
		hi = ids[i] > hi ? ids[i] : hi;
	}
	for (unsigned shift = 0; shift < 64 && (((uint64_t)hi - (uint64_t)lo) >> shift) != 0;
	     shift += 8) {
		size_t count[257] = {0};

		for (size_t i = 0; i < n; i++)
			count[((((uint64_t)from[i] - (uint64_t)lo) >> shift) & 0xff) + 1]++;
		for (size_t d = 1; d < 257; d++)
			count[d] += count[d - 1];
		for (size_t i = 0; i < n; i++)
			to[count[(((uint64_t)from[i] - (uint64_t)lo) >> shift) & 0xff]++] = from[i];
		t = from, from = to, to = t;
	}
	if (from != ids)
		memcpy(ids, from, n * sizeof(*ids));
}

/*
 * The member_refs ids of every value of `want` (interned), into ids, each
 * recorded as added: the members of a group just created.
 */
static int
intern_members(struct mirror *m, const struct group_ref *g, int kind, char *const *want,
	       size_t n_want, int64_t *ids, struct idg_err *err)
{
	/* Each value's length and hash, measured once for the prefetches and the lookup. */
	struct {
		size_t len;
		uint64_t h;
	} *key = malloc(n_want * sizeof(*key) + 1);
	int rc = 0;

	if (key == NULL)
		return idg_seterr(err, "out of memory");
	for (size_t j = 0; j < n_want; j++) {
		key[j].len = strlen(want[j]);
		key[j].h = strmap_hash(want[j], key[j].len);
	}
	for (size_t j = 0; rc == 0 && j < n_want; j++) {
		if (j + 16 < n_want)
			strmap_prefetch(m->refs[kind], key[j + 16].h);
		if (j + 8 < n_want)
			strmap_prefetch_key(m->refs[kind], key[j + 8].h);
		rc = intern_ref_hashed(m, kind, want[j], key[j].len, key[j].h, &ids[j], err);
		if (rc == 0)
			rc = record_member_change(m, 1, g, kind, want[j], err);
	}
	free(key);
	return rc;
}

/*
 * The members of a group just created, both kinds: one sorted list,
 * written once (a full sync writes 5,000 rows for a million memberships).
 */
static int
create_members(struct mirror *m, const struct group_ref *g, const struct dir_entry *e,
	       struct idg_err *err)
{
	size_t n = e->n_members + e->n_member_uids, k = 0;
	/* The ids, then room to sort them (sort_ids). */
	int64_t *ids;
	int rc;

	if (n == 0)
		return 0;
	if ((ids = malloc(2 * n * sizeof(*ids))) == NULL)
		return idg_seterr(err, "out of memory");
	rc = intern_members(m, g, 0, e->members, e->n_members, ids, err);
	if (rc == 0)
		rc = intern_members(m, g, 1, e->member_uids, e->n_member_uids, ids + e->n_members,
				    err);
	if (rc == 0) {
		sort_ids(ids, ids + n, n);
		for (size_t i = 0; i < n; i++) /* values are unique per kind, so ids are: a guard */
			if (k == 0 || ids[i] != ids[k - 1])
				ids[k++] = ids[i];
		rc = packed_group_create(m->packed, g->id, ids, k, m->now, err);
	}
	free(ids);
	return rc;
}

/* What changes in a group's list: collected over both kinds, written at once. */
struct member_edit {
	int64_t *del;
	size_t n_del, cap_del;
	struct packed_pair *add;
	size_t n_add, cap_add;
};

static int
edit_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t bigger_cap;
	void *bigger;

	if (n < *cap)
		return 0;
	bigger_cap = *cap ? 2 * *cap : 16;
	if ((bigger = realloc(*v, bigger_cap * size)) == NULL)
		return -1;
	*v = bigger;
	*cap = bigger_cap;
	return 0;
}

/* Compares one kind of a group's stored values with `want`; notes and records the differences. */
static int
diff_members(struct mirror *m, const struct group_ref *g, int kind, char *const *want,
	     size_t n_want, struct member_edit *ed, struct idg_err *err)
{
	struct member_row *have = NULL;
	size_t n_have = 0, i = 0, j = 0;
	int rc = 0;

	if (load_members(m, g->id, kind, &have, &n_have, err) != 0)
		return -1;
	while (rc == 0 && (i < n_have || j < n_want)) {
		int c = i == n_have ? 1 : j == n_want ? -1 : strcmp(have[i].value, want[j]);
		int64_t ref = 0;

		if (c < 0) {
			if (edit_grow((void **)&ed->del, &ed->cap_del, ed->n_del, sizeof(*ed->del)))
				rc = idg_seterr(err, "out of memory");
			else
				ed->del[ed->n_del++] = have[i].ref;
			if (rc == 0)
				rc = record_member_change(m, 0, g, kind, have[i].value, err);
			i++;
		} else if (c > 0) {
			rc = intern_ref(m, kind, want[j], &ref, err);
			if (rc == 0 &&
			    edit_grow((void **)&ed->add, &ed->cap_add, ed->n_add, sizeof(*ed->add)))
				rc = idg_seterr(err, "out of memory");
			if (rc == 0) {
				ed->add[ed->n_add].ref = ref;
				ed->add[ed->n_add++].since = m->now;
				rc = record_member_change(m, 1, g, kind, want[j], err);
			}
			j++;
		} else {
			i++, j++;
		}
	}
	free_rows(have, n_have);
	return rc;
}

/* Brings a group's members of both kinds to exactly these (each sorted, unique). */
static int
sync_members(struct mirror *m, const struct group_ref *g, char *const *members, size_t n_members,
	     char *const *uids, size_t n_uids, struct idg_err *err)
{
	struct member_edit ed = {0};
	int rc = diff_members(m, g, 0, members, n_members, &ed, err);

	if (rc == 0)
		rc = diff_members(m, g, 1, uids, n_uids, &ed, err);
	if (rc == 0)
		rc = packed_group_edit(m->packed, g->id, ed.del, ed.n_del, ed.add, ed.n_add, err);
	free(ed.del);
	free(ed.add);
	return rc;
}

static int
note_written_group(struct mirror *m, int64_t id, struct idg_err *err)
{
	char key[24];
	int n = snprintf(key, sizeof(key), "%lld", (long long)id);

	if (strmap_put(m->written_groups, key, (size_t)n, 1) != 0)
		return idg_seterr(err, "out of memory");
	return 0;
}

static int
written_group(const struct mirror *m, int64_t id)
{
	char key[24];
	int n = snprintf(key, sizeof(key), "%lld", (long long)id);

	return strmap_get(m->written_groups, key, (size_t)n, &(int64_t){0});
}

/*
 * In a refresh, an entry takes a DN whose row another identity still holds
 * (a user deleted and a group created under its DN, whose delete has not
 * arrived yet). A group this refresh already wrote holds the DN as the
 * directory has it now, so its membership is the new entry's: it moves from
 * the parked row to the entry's own (created here if it has none). The
 * parked row keeps the memberships of groups not sent, which go when its
 * identity departs (with refint, the directory removed those values).
 */
static int
take_current_members(struct mirror *m, int64_t parked, int64_t own, const char *uuid,
		     const char *dn_norm, struct idg_err *err)
{
	struct moved {
		int64_t id;
		char *uuid, *cn;
	} *moved = NULL;
	sqlite3_stmt *s = m->s[S_REF_GROUPS];
	size_t n = 0, cap = 0;
	int rc = 0, step = SQLITE_DONE;

	if (packed_flush(m->packed, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, parked);
	while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		struct moved *bigger;

		if (!written_group(m, id))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			if ((bigger = realloc(moved, cap * sizeof(*moved))) == NULL) {
				rc = idg_seterr(err, "out of memory");
				break;
			}
			moved = bigger;
		}
		moved[n].id = id;
		moved[n].uuid = idg_strdup(col_text(s, 1));
		moved[n].cn = idg_strdup(col_text(s, 2));
		if (moved[n].uuid == NULL || moved[n].cn == NULL)
			rc = idg_seterr(err, "out of memory");
		n++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_err(m->st, err, "reading memberships");
	sqlite3_reset(s);
	if (rc == 0 && n > 0 && own == 0) {
		s = m->s[S_REF_INS];
		sqlite3_bind_int(s, 1, 0);
		sqlite3_bind_text(s, 2, dn_norm, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_null(s, 4);
		rc = store_step_done(m->st, s, err);
		own = sqlite3_last_insert_rowid(m->st->db);
		forget_refs(m);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct group_ref g = {.id = moved[i].id, .uuid = moved[i].uuid, .cn = moved[i].cn};

		rc = change_member(m, 0, &g, 0, dn_norm, parked, err);
		if (rc == 0)
			rc = change_member(m, 1, &g, 0, dn_norm, own, err);
	}
	for (size_t i = 0; i < n; i++) {
		free(moved[i].uuid);
		free(moved[i].cn);
	}
	free(moved);
	return rc;
}

/*
 * Memberships follow identities, not DN strings. A member_refs row of kind
 * 0 with a target stands for that entry (user or nested group) and carries
 * its current normalised DN as its value, so the sorted merge above and
 * every reader that joins on the DN keep working. When the entry is renamed
 * or moved, the row's value follows it: the groups that held it still do,
 * whether or not the directory re-sends them (with refint, the groups'
 * `member` values are rewritten without a new entryCSN, so syncprov never
 * sends them). point_identity() is called when an entry appears, returns,
 * or changes its DN.
 *
 *  - Its row already has the DN: nothing to do.
 *  - An unresolved row has the DN (a group named it before the entry was
 *    seen): the entry takes it, or, when the entry already has a row, the
 *    unresolved row's memberships move to it.
 *  - Another identity's row still has the DN (two renames crossing within
 *    one refresh, or a delete and a re-add under the same name whose delete
 *    has not arrived yet): that row is parked under "~" and its uuid, a
 *    value no DN can have, until its own entry says where it went or is
 *    removed. The new entry never inherits the other's memberships.
 */
static int
point_identity(struct mirror *m, const char *uuid, const char *dn_norm, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_REF_BY_VALUE];
	int64_t own = 0, other = 0;
	char *other_target = NULL;
	int rc;

	if (ref_of_target(m, uuid, &own, NULL, err) != 0)
		return -1;
	sqlite3_bind_text(get, 1, dn_norm, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	if (rc == SQLITE_ROW) {
		other = sqlite3_column_int64(get, 0);
		other_target = idg_strdup(col_text(get, 1));
	}
	sqlite3_reset(get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(m->st, err, "reading member reference");
	rc = 0;
	if (other != 0 && other == own) {
		/* already pointing here */
	} else if (other != 0 && other_target == NULL) {
		if (own == 0) {
			rc = set_ref(m, other, dn_norm, uuid, NULL, err);
		} else {
			rc = packed_ref_merge(m->packed, other, own, err);
			/* Its memberships go with it (trigger memberships_of_ref). */
			if (rc == 0)
				rc = by_ref(m, S_REF_DEL, other, err);
			if (rc == 0)
				rc = set_ref(m, own, dn_norm, uuid, NULL, err);
		}
	} else {
		if (other != 0) {
			char parked[DIR_UUID_LEN + 2];

			snprintf(parked, sizeof(parked), "~%s", other_target);
			rc = set_ref(m, other, parked, other_target, NULL, err);
		}
		if (rc == 0 && own != 0)
			rc = set_ref(m, own, dn_norm, uuid, NULL, err);
		if (rc == 0 && other != 0 && m->refresh)
			rc = take_current_members(m, other, own, uuid, dn_norm, err);
	}
	free(other_target);
	return rc;
}

/*
 * point_identity() for an entry the store has never had (no row can name
 * it as its target yet). While the ref cache is complete, a DN it does not
 * hold is a DN no row has, and there is nothing to do: in a baseline, that
 * is every entry that no group named before it arrived.
 */
static int
point_new_identity(struct mirror *m, const char *uuid, const char *dn_norm, struct idg_err *err)
{
	if (m->refs_complete && dn_norm != NULL) {
		if (note_fresh(m, uuid, dn_norm) != 0)
			return idg_seterr(err, "out of memory");
		if (!strmap_get(m->refs[0], dn_norm, strlen(dn_norm), &(int64_t){0}))
			return 0;
	}
	return point_identity(m, uuid, dn_norm, err);
}

/*
 * point_identity() for an entry the store had, whose DN changed or which
 * returned: the fresh map may still name it by its old DN, so the cache
 * stops being complete (only ever the case within a baseline).
 */
static int
point_moved_identity(struct mirror *m, const char *uuid, const char *dn_norm, struct idg_err *err)
{
	if (m->refs_complete)
		forget_refs(m);
	return point_identity(m, uuid, dn_norm, err);
}

/*
 * An entry is gone (a user departed, a group deleted): its row and every
 * membership through it are removed and recorded, so that nobody who later
 * takes its name inherits them.
 */
static int
forget_identity(struct mirror *m, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_REF_GROUPS];
	char *value = NULL;
	int64_t ref;
	int rc = 0, step = SQLITE_DONE;

	if (ref_of_target(m, uuid, &ref, &value, err) != 0)
		return -1;
	if (ref == 0) {
		/* The fresh map may hold the entry (resolve_dn): no longer complete. */
		if (m->refs_complete)
			forget_refs(m);
		return 0;
	}
	sqlite3_bind_int64(s, 1, ref);
	while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
		struct group_ref g = {.id = sqlite3_column_int64(s, 0)};
		char *guuid = idg_strdup(col_text(s, 1)), *cn = idg_strdup(col_text(s, 2));

		g.uuid = guuid;
		g.cn = cn;
		if (guuid == NULL || cn == NULL)
			rc = idg_seterr(err, "out of memory");
		else
			rc = record_member_change(m, 0, &g, 0, value, err);
		free(guuid);
		free(cn);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_err(m->st, err, "reading memberships");
	sqlite3_reset(s);
	/* Its memberships go with it (trigger memberships_of_ref). */
	if (rc == 0)
		rc = by_ref(m, S_REF_DEL, ref, err);
	forget_refs(m);
	free(value);
	return rc;
}

static int
write_group(struct mirror *m, int stmt_id, const struct dir_entry *e, const char *cn,
	    struct idg_err *err)
{
	sqlite3_stmt *s = m->s[stmt_id];

	sqlite3_bind_text(s, 1, e->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, e->dn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->dn_norm, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, cn, -1, SQLITE_STATIC);
	bind_int_or_null(s, 5, e->gid_number);
	sqlite3_bind_int(s, 6, cfg_list_contains(m->cfg->privileged_groups, cn));
	sqlite3_bind_int64(s, 7, m->now);
	sqlite3_bind_int64(s, 8, m->gen);
	bind_text_or_null(s, 9, e->description);
	return store_step_done(m->st, s, err);
}

static int
apply_group(struct mirror *m, const struct dir_entry *e, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_GROUP_GET];
	struct group_ref g = {.uuid = e->uuid, .cn = e->cn};
	char *kept_cn = NULL;
	json_t *ev = NULL;
	const char *kind = NULL;
	int rc, renamed = 1, created = 0;

	sqlite3_bind_text(get, 1, e->uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	/* A name that could not be read: the stored one, else the entryUUID. */
	if (e->cn == NULL) {
		kept_cn = strdup(rc == SQLITE_ROW ? col_text(get, 1) : e->uuid);
		if (kept_cn == NULL) {
			sqlite3_reset(get);
			return idg_seterr(err, "out of memory");
		}
		g.cn = kept_cn;
	}
	if (rc == SQLITE_ROW) {
		int was_deleted = same(col_text(get, 3), "deleted");

		renamed = was_deleted || !same(col_text(get, 5), e->dn_norm);
		g.id = sqlite3_column_int64(get, 4);
		if (was_deleted) {
			m->stats.returned++;
			kind = "group.created";
			ev = json_pack("{s:s, s:s, s:b}", "uuid", e->uuid, "dn", e->dn, "returned",
				       1);
		} else if (!same(col_text(get, 0), e->dn) || !same(col_text(get, 1), g.cn) ||
			   col_int(get, 2) != e->gid_number) {
			kind = "group.changed";
			ev = json_pack("{s:s, s:s, s:s, s:s}", "uuid", e->uuid, "old_dn",
				       col_text(get, 0), "new_dn", e->dn, "old_name",
				       col_text(get, 1));
		}
		sqlite3_reset(get);
		rc = write_group(m, S_GROUP_UPD, e, g.cn, err);
		if (kind != NULL)
			m->stats.groups_changed++;
	} else {
		sqlite3_reset(get);
		if (rc != SQLITE_DONE) {
			free(kept_cn);
			return store_err(m->st, err, "reading group");
		}
		kind = "group.created";
		ev = m->baseline ? NULL : json_pack("{s:s, s:s}", "uuid", e->uuid, "dn", e->dn);
		rc = write_group(m, S_GROUP_INS, e, g.cn, err);
		g.id = sqlite3_last_insert_rowid(m->st->db);
		created = 1;
		m->stats.groups_added++;
	}
	if (rc == 0 && kind != NULL && !m->baseline) {
		rc = record(m, kind, e->uuid, g.cn, ev, err);
		ev = NULL;
	}
	json_decref(ev);
	if (rc == 0 && g.id != 0 && created)
		rc = point_new_identity(m, e->uuid, e->dn_norm, err);
	else if (rc == 0 && renamed)
		rc = point_moved_identity(m, e->uuid, e->dn_norm, err);
	if (rc == 0 && created) /* a group just inserted has no members to compare with */
		rc = create_members(m, &g, e, err);
	else if (rc == 0)
		rc = sync_members(m, &g, e->members, e->n_members, e->member_uids, e->n_member_uids,
				  err);
	if (rc == 0 && m->refresh && !m->baseline && g.id != 0)
		rc = note_written_group(m, g.id, err);
	if (rc == 0)
		rc = write_warnings(m, e, g.cn, err);
	free(kept_cn);
	return rc;
}

/*
 * Which groups are privileged is configuration, not directory data, so a
 * changed [groups] privileged list must reach groups whose entries did not
 * change. Each refresh re-applies it; every group whose flag flips is
 * recorded, since it changes what reviews and grants treat as privileged.
 */
static int
reclassify_groups(struct mirror *m, struct idg_err *err)
{
	sqlite3_stmt *s, *upd;
	int rc = 0, step = SQLITE_DONE;

	if (store_prepare(m->st,
			  "SELECT id, uuid, cn, privileged FROM groups WHERE status = 'active'", &s,
			  err) != 0)
		return -1;
	if (store_prepare(m->st, "UPDATE groups SET privileged = ?2 WHERE id = ?1", &upd, err) !=
	    0) {
		sqlite3_finalize(s);
		return -1;
	}
	while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *uuid = col_text(s, 1), *cn = col_text(s, 2);
		int want = cfg_list_contains(m->cfg->privileged_groups, cn);

		if (want == (sqlite3_column_int(s, 3) != 0))
			continue;
		sqlite3_bind_int64(upd, 1, sqlite3_column_int64(s, 0));
		sqlite3_bind_int(upd, 2, want);
		rc = store_step_done(m->st, upd, err);
		if (rc == 0)
			rc = RECORD(m, "group.changed", uuid, cn,
				    json_pack("{s:s, s:b}", "uuid", uuid, "privileged", want), err);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_err(m->st, err, "reading groups");
	sqlite3_finalize(s);
	sqlite3_finalize(upd);
	return rc;
}

/*
 * What the writers below rely on. dir_parse_entry() makes only such
 * entries, but the mirror's callers are not all the parser, and a NULL
 * name reached the audit chain's text handling as a NULL dereference: an
 * entry without them is refused, not stored half-understood.
 */
static int
entry_usable(const struct dir_entry *e, struct idg_err *err)
{
	if (e->uuid[0] == '\0')
		return idg_seterr(err, "directory entry without an entryUUID");
	if (e->kind == DIR_OTHER)
		return 0;
	if (e->dn == NULL || e->dn_norm == NULL)
		return idg_seterr(err, "directory entry %s without a DN", e->uuid);
	/* A name the parser could not read is allowed only with the account disabled. */
	if (e->kind == DIR_USER && e->uid == NULL && e->disabled_reason == NULL)
		return idg_seterr(err, "user entry %s without a name", e->uuid);
	if (e->kind == DIR_GROUP && e->cn == NULL && e->n_warnings == 0)
		return idg_seterr(err, "group entry %s without a name", e->uuid);
	for (size_t i = 0; i < e->n_members; i++)
		if (e->members == NULL || e->members[i] == NULL)
			return idg_seterr(err, "group entry %s with an empty member", e->uuid);
	for (size_t i = 0; i < e->n_member_uids; i++)
		if (e->member_uids == NULL || e->member_uids[i] == NULL)
			return idg_seterr(err, "group entry %s with an empty memberUid", e->uuid);
	return 0;
}

/*
 * The user's fleet-wide MFA token ([fleet] mfa = directory), as the entry
 * holds it: written, deleted when the entry has none, or marked unusable
 * when a value could not be read (dir.c has added the warning). Not
 * audited: every login moves the step, and the directory is the record.
 */
static int
apply_token(struct mirror *m, const struct dir_entry *e, struct idg_err *err)
{
	switch (e->token_state) {
	case DIR_TOKEN_ABSENT:
		return m->tokens_none ? 0 : tokenmirror_delete(m->st, e->uuid, err);
	case DIR_TOKEN_PRESENT:
		if (e->token == NULL)
			return idg_seterr(err, "user entry %s without its token", e->uuid);
		m->tokens_none = 0;
		return tokenmirror_put(m->st, e->uuid, e->token, err);
	case DIR_TOKEN_UNREADABLE:
		m->tokens_none = 0;
		return tokenmirror_put_unusable(m->st, e->uuid, err);
	default:
		return 0;
	}
}

int
mirror_apply(struct mirror *m, const struct dir_entry *e, struct idg_err *err)
{
	if (entry_usable(e, err) != 0)
		return -1;
	switch (e->kind) {
	case DIR_USER:
		if (apply_user(m, e, err) != 0)
			return -1;
		return apply_token(m, e, err);
	case DIR_GROUP:
		return apply_group(m, e, err);
	default:
		return mirror_delete(m, e->uuid, err);
	}
}

/* Runs one of the (uuid, number) statements: marks take the generation, removals the time. */
static int
by_uuid(struct mirror *m, int stmt_id, const char *uuid, int64_t number, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[stmt_id];

	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, number);
	return store_step_done(m->st, s, err);
}

int
mirror_present(struct mirror *m, const char *uuid, struct idg_err *err)
{
	if (by_uuid(m, S_USER_MARK, uuid, m->gen, err) != 0)
		return -1;
	if (sqlite3_changes(m->st->db) > 0)
		return 0;
	return by_uuid(m, S_GROUP_MARK, uuid, m->gen, err);
}

/* Marks an active user departed now, with its event and audit record. 1: not an active user. */
static int
depart_now(struct mirror *m, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_USER_GET];
	char *uid = NULL, *dn = NULL;
	int rc;

	sqlite3_bind_text(get, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW || same(col_text(get, 6), "departed")) {
		sqlite3_reset(get);
		return rc == SQLITE_ROW || rc == SQLITE_DONE
			       ? 1
			       : store_err(m->st, err, "reading user");
	}
	uid = idg_strdup(col_text(get, 1));
	dn = idg_strdup(col_text(get, 0));
	sqlite3_reset(get);
	rc = by_uuid(m, S_USER_DEPART, uuid, m->now, err);
	if (rc == 0)
		rc = by_uuid_text(m, S_HELD_DEL, uuid, err);
	if (rc == 0)
		rc = forget_identity(m, uuid, err);
	if (rc == 0) {
		m->stats.leavers++;
		rc = RECORD(m, "user.leaver", uuid, uid ? uid : uuid,
			    json_pack("{s:s, s:s?}", "uuid", uuid, "dn", dn), err);
	}
	free(uid);
	free(dn);
	return rc;
}

/*
 * The directory says this user is gone: queued for the guard, which
 * applies or holds the transaction's departures together before commit
 * (settle_departures). 1: not an active user (a group, unknown, departed).
 */
static int
depart_user(struct mirror *m, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_USER_GET];
	size_t len = strlen(uuid);
	int64_t dummy;
	char *copy;
	int rc;

	sqlite3_bind_text(get, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW || same(col_text(get, 6), "departed")) {
		sqlite3_reset(get);
		return rc == SQLITE_ROW || rc == SQLITE_DONE
			       ? 1
			       : store_err(m->st, err, "reading user");
	}
	sqlite3_reset(get);
	/* Already held, or already queued: nothing new for the guard to judge. */
	get = m->s[S_HELD_GET];
	sqlite3_bind_text(get, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	sqlite3_reset(get);
	if (rc == SQLITE_ROW || strmap_get(m->pending_set, uuid, len, &dummy))
		return 0;
	if (rc != SQLITE_DONE)
		return store_err(m->st, err, "reading held departures");
	if (m->n_pending == m->cap_pending) {
		size_t cap = m->cap_pending ? 2 * m->cap_pending : 16;
		char **bigger = realloc(m->pending, cap * sizeof(*bigger));

		if (bigger == NULL)
			return idg_seterr(err, "out of memory");
		m->pending = bigger;
		m->cap_pending = cap;
	}
	if ((copy = strdup(uuid)) == NULL || strmap_put(m->pending_set, uuid, len, 1) != 0) {
		free(copy);
		return idg_seterr(err, "out of memory");
	}
	m->pending[m->n_pending++] = copy;
	return 0;
}

static int
delete_group(struct mirror *m, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *get = m->s[S_GROUP_GET];
	struct group_ref g = {.uuid = uuid};
	char *cn;
	int rc;

	sqlite3_bind_text(get, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW || same(col_text(get, 3), "deleted")) {
		sqlite3_reset(get);
		return rc == SQLITE_ROW || rc == SQLITE_DONE
			       ? 0
			       : store_err(m->st, err, "reading group");
	}
	cn = idg_strdup(col_text(get, 1));
	g.id = sqlite3_column_int64(get, 4);
	sqlite3_reset(get);
	if (cn == NULL)
		return idg_seterr(err, "out of memory");
	g.cn = cn;
	rc = sync_members(m, &g, NULL, 0, NULL, 0, err);
	if (rc == 0)
		rc = forget_identity(m, uuid, err);
	if (rc == 0)
		rc = by_uuid(m, S_GROUP_DELETE, uuid, m->now, err);
	if (rc == 0) {
		m->stats.groups_deleted++;
		rc = RECORD(m, "group.deleted", uuid, cn, json_pack("{s:s}", "uuid", uuid), err);
	}
	free(cn);
	return rc;
}

int
mirror_delete(struct mirror *m, const char *uuid, struct idg_err *err)
{
	int rc = depart_user(m, uuid, err);

	if (rc <= 0)
		return rc;
	return delete_group(m, uuid, err);
}

static int
collect_unseen(struct mirror *m, const char *q, char ***out, size_t *n, struct idg_err *err)
{
	sqlite3_stmt *s;
	size_t cap = 16, k = 0;
	char **v;
	int rc = SQLITE_DONE;

	if (store_prepare(m->st, q, &s, err) != 0)
		return -1;
	v = malloc(cap * sizeof(*v));
	if (v == NULL) {
		sqlite3_finalize(s);
		return idg_seterr(err, "out of memory");
	}
	if (sqlite3_bind_parameter_count(s) > 0)
		sqlite3_bind_int64(s, 1, m->gen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (k == cap) {
			char **bigger = realloc(v, 2 * cap * sizeof(*v));

			if (bigger == NULL)
				break;
			v = bigger;
			cap *= 2;
		}
		if ((v[k] = strdup(col_text(s, 0))) == NULL)
			break;
		k++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return idg_seterr(err, "store %s: reading entries to sweep failed", m->st->path);
	}
	*out = v;
	*n = k;
	return 0;
}

static int
sweep_list(struct mirror *m, const char *q,
	   int (*fn)(struct mirror *, const char *, struct idg_err *), struct idg_err *err)
{
	char **uuids = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (collect_unseen(m, q, &uuids, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (rc == 0 && fn(m, uuids[i], err) < 0)
			rc = -1;
		free(uuids[i]);
	}
	free(uuids);
	return rc;
}

int
mirror_sweep(struct mirror *m, struct idg_err *err)
{
	if (sweep_list(m, "SELECT uuid FROM users WHERE status <> 'departed' AND seen_gen <> ?1",
		       depart_user, err) != 0)
		return -1;
	return sweep_list(m, "SELECT uuid FROM groups WHERE status = 'active' AND seen_gen <> ?1",
			  delete_group, err);
}

/* Records an event and audit record about the guard (never skipped as a baseline). */
static int
record_guard(struct mirror *m, const char *kind, const char *actor, json_t *details,
	     struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_EVENT];
	char *text;
	int rc;

	if (details == NULL)
		return idg_seterr(err, "out of memory");
	text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(details);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	sqlite3_bind_int64(s, 1, m->now);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, m->cfg->dir_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
	rc = store_step_done(m->st, s, err);
	if (rc == 0 && m->audit != NULL)
		rc = audit_append(m->audit, actor, m->cfg->dir_name, kind, text, err);
	free(text);
	return rc;
}

/* The first few names of users, for a record that says who. */
static json_t *
some_uids(struct mirror *m, char *const *uuids, size_t n)
{
	sqlite3_stmt *get = m->s[S_USER_GET];
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n && i < 10; i++) {
		sqlite3_bind_text(get, 1, uuids[i], -1, SQLITE_STATIC);
		if (sqlite3_step(get) == SQLITE_ROW && col_text(get, 1) != NULL)
			json_array_append_new(a, json_string(col_text(get, 1)));
		sqlite3_reset(get);
	}
	return a;
}

/*
 * The guard's decision over the transaction's departures (guard.h): all
 * applied, or all held. Forced: applied, and if the guard would have held
 * them, a record says what was forced.
 */
static int
settle_departures(struct mirror *m, int force, struct idg_err *err)
{
	struct guard_view g;
	int64_t n = (int64_t)m->n_pending;
	int rc = 0;

	if (n == 0)
		return 0;
	/* A comparison (sync --verify) counts departures as drift and keeps nothing. */
	if (m->drift == MIRROR_DRIFT_VERIFY) {
		for (size_t i = 0; rc == 0 && i < m->n_pending; i++)
			if (depart_now(m, m->pending[i], err) < 0)
				rc = -1;
		clear_pending(m);
		return rc;
	}
	if (guard_judge(m->st, m->cfg, m->now, n, &g, err) != 0)
		return -1;
	if (g.hold && !force) {
		char why[IDG_ERRLEN];

		for (size_t i = 0; rc == 0 && i < m->n_pending; i++) {
			sqlite3_stmt *s = m->s[S_HELD_INS];

			m->holds_none = 0;

			sqlite3_bind_text(s, 1, m->pending[i], -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 2, m->now);
			rc = store_step_done(m->st, s, err);
		}
		guard_describe(m->cfg, &g, n, why, sizeof(why));
		if (rc == 0)
			rc = record_guard(
				m, GUARD_HELD, "directory",
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:s}", "held",
					  (json_int_t)n, "held_before", (json_int_t)g.held,
					  "recent", (json_int_t)g.recent, "active",
					  (json_int_t)g.active, "window",
					  (json_int_t)m->cfg->sync_guard_window, "limit",
					  m->cfg->dir_max_departed_fraction, "users",
					  some_uids(m, m->pending, m->n_pending), "reason", why),
				err);
		if (rc == 0) {
			m->stats.held += n;
			if (g.held == 0)
				m->stats.hold_started = 1;
			idg_strlcpy(m->stats.hold_reason, why, sizeof(m->stats.hold_reason));
		}
		clear_pending(m);
		return rc;
	}
	if (g.hold)
		rc = record_guard(m, GUARD_FORCED, "directory",
				  json_pack("{s:I, s:I, s:I, s:f, s:o}", "departures",
					    (json_int_t)n, "recent", (json_int_t)g.recent, "active",
					    (json_int_t)g.active, "limit",
					    m->cfg->dir_max_departed_fraction, "users",
					    some_uids(m, m->pending, m->n_pending)),
				  err);
	for (size_t i = 0; rc == 0 && i < m->n_pending; i++)
		if (depart_now(m, m->pending[i], err) < 0)
			rc = -1;
	if (rc == 0 && g.hold)
		m->stats.forced += n;
	clear_pending(m);
	return rc;
}

int
mirror_check_guard(struct mirror *m, int force, struct idg_err *err)
{
	return settle_departures(m, force, err);
}

int
mirror_release(struct mirror *m, int64_t confirm, const char *admin, int64_t *released,
	       struct idg_err *err)
{
	char **uuids = NULL;
	size_t n = 0;
	int rc;

	*released = 0;
	if (mirror_begin(m, 0, err) != 0)
		return -1;
	rc = collect_unseen(m, "SELECT uuid FROM held_departures ORDER BY held_at, uuid", &uuids,
			    &n, err);
	if (rc == 0 && n == 0)
		rc = idg_seterr(err, "no departures are held");
	else if (rc == 0 && (int64_t)n != confirm)
		rc = idg_seterr(err,
				"%lld departures are held, not %lld: check them ('idgov user list' "
				"shows which), then confirm with that number",
				(long long)n, (long long)confirm);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (depart_now(m, uuids[i], err) < 0)
			rc = -1;
		else if (by_uuid_text(m, S_HELD_DEL, uuids[i], err) != 0)
			rc = -1;
	}
	if (rc == 0)
		rc = record_guard(m, GUARD_RELEASED, admin,
				  json_pack("{s:I, s:s, s:I, s:o}", "released", (json_int_t)n, "by",
					    admin, "confirm", (json_int_t)confirm, "users",
					    some_uids(m, uuids, n)),
				  err);
	for (size_t i = 0; i < n; i++)
		free(uuids[i]);
	free(uuids);
	if (rc != 0) {
		mirror_rollback(m);
		return -1;
	}
	*released = (int64_t)n;
	return mirror_commit(m, err);
}

int
mirror_save_state(struct mirror *m, const struct berval *cookie, const char *mode,
		  const char *result, struct idg_err *err)
{
	sqlite3_stmt *s = m->s[S_STATE];

	sqlite3_bind_text(s, 1, m->cfg->dir_name, -1, SQLITE_STATIC);
	if (cookie != NULL && cookie->bv_val != NULL)
		sqlite3_bind_blob(s, 2, cookie->bv_val, (int)cookie->bv_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_text(s, 3, mode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, idg_now());
	sqlite3_bind_text(s, 5, result, -1, SQLITE_STATIC);
	return store_step_done(m->st, s, err);
}

/* The baseline's one audit record: what the first sync found. */
static int
record_baseline(struct mirror *m, struct idg_err *err)
{
	const struct mirror_stats *s = &m->stats;
	json_t *d;
	char *text;
	int rc;

	if (!m->baseline || m->audit == NULL || (s->joiners == 0 && s->groups_added == 0))
		return 0;
	d = json_pack("{s:I, s:I, s:I}", "users", (json_int_t)s->joiners, "groups",
		      (json_int_t)s->groups_added, "memberships", (json_int_t)s->members_added);
	text = d != NULL ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = audit_append(m->audit, "directory", m->cfg->dir_name, "sync.baseline", text, err);
	free(text);
	return rc;
}

static int64_t
drift_total(const struct mirror_stats *s)
{
	return s->joiners + s->movers + s->leavers + s->changed + s->groups_added +
	       s->groups_changed + s->groups_deleted + s->members_added + s->members_removed;
}

json_t *
mirror_drift_report(const struct mirror *m)
{
	const struct mirror_stats *s = &m->stats;

	return json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "total",
		(json_int_t)drift_total(s), "users_added", (json_int_t)s->joiners, "users_moved",
		(json_int_t)s->movers, "users_departed", (json_int_t)s->leavers, "users_changed",
		(json_int_t)s->changed, "groups_added", (json_int_t)s->groups_added,
		"groups_changed", (json_int_t)s->groups_changed, "groups_deleted",
		(json_int_t)s->groups_deleted, "memberships_added", (json_int_t)s->members_added,
		"memberships_removed", (json_int_t)s->members_removed, "examples",
		m->examples != NULL ? json_incref(m->examples) : json_array());
}

void
mirror_set_drift(struct mirror *m, enum mirror_drift drift)
{
	m->drift = drift;
}

/*
 * A reconciliation that corrected anything says so in one audit record,
 * besides the per-change records: "sync.drift" with the counts and the
 * first few changes, so that drift is visible without reading them all.
 */
static int
record_drift(struct mirror *m, struct idg_err *err)
{
	json_t *d;
	char *text;
	int rc;

	if (m->drift != MIRROR_DRIFT_REPORT || m->baseline || m->audit == NULL ||
	    drift_total(&m->stats) == 0)
		return 0;
	d = mirror_drift_report(m);
	text = d != NULL ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = audit_append(m->audit, "directory", m->cfg->dir_name, "sync.drift", text, err);
	free(text);
	if (rc == 0)
		log_msg(m->log, LOG_WARNING,
			"reconciliation corrected %lld differences from the directory "
			"(audited as sync.drift)",
			(long long)drift_total(&m->stats));
	return rc;
}

int
mirror_commit(struct mirror *m, struct idg_err *err)
{
	/* Departures not settled by mirror_check_guard (persist batches): the guard decides. */
	if (restore_target_index(m, err) != 0 || settle_departures(m, 0, err) != 0)
		goto fail;
	if (m->drift == MIRROR_DRIFT_VERIFY) { /* a comparison: nothing is kept */
		mirror_rollback(m);
		return 0;
	}
	if (packed_flush(m->packed, err) != 0)
		goto fail;
	if (record_baseline(m, err) != 0 || record_drift(m, err) != 0)
		goto fail;
	if (m->audit != NULL && audit_sign_head(m->audit, err) != 0)
		goto fail;
	if (store_commit(m->st, err) != 0)
		goto fail;
	m->in_tx = 0;
	flush_logs(m, 1);
	return 0;
fail:
	mirror_rollback(m);
	return -1;
}

void
mirror_rollback(struct mirror *m)
{
	store_rollback(m->st);
	forget_refs(m); /* ids of rolled-back member_refs rows are gone */
	clear_pending(m);
	flush_logs(m, 0);
	packed_abort(m->packed);
	m->target_index_deferred = 0; /* the DROP INDEX is rolled back too */
	m->in_tx = 0;
}

int
mirror_load_cookie(struct store *st, const char *directory, struct berval *cookie,
		   struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	if (store_prepare(st, "SELECT cookie FROM sync_state WHERE directory = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, directory, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB &&
	    sqlite3_column_bytes(s, 0) > 0) {
		int n = sqlite3_column_bytes(s, 0);

		cookie->bv_val = malloc((size_t)n + 1);
		if (cookie->bv_val != NULL) {
			memcpy(cookie->bv_val, sqlite3_column_blob(s, 0), (size_t)n);
			cookie->bv_val[n] = '\0';
			cookie->bv_len = (ber_len_t)n;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading sync cookie");
	return 0;
}
