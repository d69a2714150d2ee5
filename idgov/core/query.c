/*
 * Queries over the mirror; see query.h.
 *
 * Join order: several queries use CROSS JOIN, which in SQLite fixes the
 * order of the tables. Without statistics the planner may otherwise scan
 * all of member_refs in index order to save a sort, which on a directory
 * of 100,000 users turns a lookup into a full scan.
 *
 * Nested groups: a group's `member` values may be DNs of other groups.
 * Effective membership follows them with a recursive CTE bounded by the
 * configured depth; UNION (not UNION ALL) plus the depth bound make cycles
 * in the directory harmless.
 */
#include "query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns that hold SQL truth values and read better as JSON booleans. */
static int
is_flag(const char *name)
{
	static const char *const flags[] = {
		"direct",       "privileged", "has_cookie",     "breakglass",
		"needs_review", "overdue",    "departure_held", NULL};

	for (const char *const *f = flags; *f != NULL; f++)
		if (strcmp(name, *f) == 0)
			return 1;
	return 0;
}

/* One row of stmt as an object keyed by column name; NULL columns left out when sparse. */
static json_t *
row_object(sqlite3_stmt *s, int sparse)
{
	json_t *o = json_object();
	int n = sqlite3_column_count(s);

	for (int i = 0; i < n && o != NULL; i++) {
		const char *name = sqlite3_column_name(s, i);
		json_t *v;

		switch (sqlite3_column_type(s, i)) {
		case SQLITE_INTEGER:
			v = is_flag(name) ? json_boolean(sqlite3_column_int64(s, i) != 0)
					  : json_integer(sqlite3_column_int64(s, i));
			break;
		case SQLITE_NULL:
			if (sparse)
				continue;
			v = json_null();
			break;
		default:
			v = json_string((const char *)sqlite3_column_text(s, i));
			if (v == NULL) /* not UTF-8: keep the row, flag the value */
				v = json_string("(invalid UTF-8)");
		}
		json_object_set_new(o, name, v);
	}
	return o;
}

static json_t *
rows(struct store *st, sqlite3_stmt *s, int sparse, struct idg_err *err)
{
	json_t *a = json_array();
	int rc = SQLITE_DONE;

	while (a != NULL && (rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(a, row_object(s, sparse));
	if (a == NULL || rc != SQLITE_DONE) {
		json_decref(a);
		store_err(st, err, "query");
		a = NULL;
	}
	store_release(st, s);
	return a;
}

json_t *
query_rows(struct store *st, sqlite3_stmt *s, struct idg_err *err)
{
	return rows(st, s, 0, err);
}

/* One cell of stmt's current row, typed as row_object() types it, NULL as null. */
static json_t *
cell(sqlite3_stmt *s, int i, int flag)
{
	json_t *v;

	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		return flag ? json_boolean(sqlite3_column_int64(s, i) != 0)
			    : json_integer(sqlite3_column_int64(s, i));
	case SQLITE_NULL:
		return json_null();
	default:
		v = json_string((const char *)sqlite3_column_text(s, i));
		return v != NULL ? v : json_string("(invalid UTF-8)");
	}
}

json_t *
query_table(struct store *st, sqlite3_stmt *s, struct idg_err *err)
{
	int n = sqlite3_column_count(s), rc = SQLITE_DONE;
	json_t *t = json_object(), *cols = json_array(), *list = json_array(), *r;
	char flag[QUERY_TABLE_MAX_COLUMNS];

	if (t == NULL || cols == NULL || list == NULL || n > QUERY_TABLE_MAX_COLUMNS)
		goto fail;
	/* Names and flags once per statement, not once per row. */
	for (int i = 0; i < n; i++) {
		flag[i] = (char)is_flag(sqlite3_column_name(s, i));
		json_array_append_new(cols, json_string(sqlite3_column_name(s, i)));
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = json_array()) == NULL || json_array_append_new(list, r) != 0)
			goto fail;
		for (int i = 0; i < n; i++)
			if (json_array_append_new(r, cell(s, i, flag[i])) != 0)
				goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	json_object_set_new(t, "columns", cols);
	json_object_set_new(t, "rows", list);
	store_release(st, s);
	return t;
fail:
	if (n > QUERY_TABLE_MAX_COLUMNS)
		idg_seterr(err, "query: %d columns, more than %d", n, QUERY_TABLE_MAX_COLUMNS);
	else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_err(st, err, "query");
	else
		idg_seterr(err, "out of memory");
	json_decref(t);
	json_decref(cols);
	json_decref(list);
	store_release(st, s);
	return NULL;
}

json_t *
query_rows_sparse(struct store *st, sqlite3_stmt *s, struct idg_err *err)
{
	return rows(st, s, 1, err);
}

static json_t *
one_row(struct store *st, sqlite3_stmt *s, const char *what, const char *name, struct idg_err *err)
{
	char missing[IDG_ERRLEN];

	snprintf(missing, sizeof(missing), QUERY_NOT_FOUND_PREFIX "%s named '%s'", what, name);
	return query_row(st, s, missing, err);
}

json_t *
query_row(struct store *st, sqlite3_stmt *s, const char *missing, struct idg_err *err)
{
	json_t *a = query_rows(st, s, err), *o;

	if (a == NULL)
		return NULL;
	o = json_incref(json_array_get(a, 0));
	json_decref(a);
	if (o == NULL)
		idg_seterr(err, "%s", missing);
	return o;
}

void
query_bind_day(sqlite3_stmt *s, int64_t now)
{
	int i = sqlite3_bind_parameter_index(s, ":day");

	if (i > 0)
		sqlite3_bind_int64(s, i, now / 86400);
}

json_t *
query_counts(struct store *st, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(
		    st,
		    "SELECT "
		    "(SELECT count(*) FROM users WHERE " QUERY_STATE_SQL
		    " = 'active') AS users_active, "
		    "(SELECT count(*) FROM users WHERE status = 'disabled') AS users_disabled, "
		    "(SELECT count(*) FROM users WHERE " QUERY_STATE_SQL " = 'expired') "
		    "AS users_expired, "
		    "(SELECT count(*) FROM users WHERE status = 'departed') AS users_departed, "
		    "(SELECT count(*) FROM groups WHERE status = 'active') AS groups, "
		    "(SELECT count(*) FROM groups WHERE status = 'active' AND privileged) "
		    "AS groups_privileged, "
		    "(SELECT count(*) FROM memberships) AS memberships, "
		    "(SELECT count(DISTINCT uuid) FROM entry_warnings) AS entries_with_warnings, "
		    "(SELECT count(*) FROM entry_warnings) AS value_warnings, "
		    "(SELECT count(*) FROM held_departures) AS departures_held, "
		    "(SELECT min(held_at) FROM held_departures) AS held_since, "
		    /* CROSS JOIN: the view is read by group (one row per group); taken
		     * second, its pairs would be walked once per matching member_refs row. */
		    "(SELECT count(*) FROM memberships m CROSS JOIN member_refs r ON r.id = "
		    "m.ref_id WHERE r.kind = 0 AND r.target IS NULL) AS members_unresolved, "
		    "(SELECT count(*) FROM memberships m CROSS JOIN member_refs r ON r.id = "
		    "m.ref_id WHERE r.problem = 'too_long') AS members_too_long, "
		    "(SELECT coalesce(max(seq), 0) FROM audit) AS audit_records",
		    &s, err) != 0)
		return NULL;
	query_bind_day(s, idg_now());
	return query_row(st, s, "no counts", err);
}

/* What the counts depend on: the store's version as this connection sees it, and the day. */
static int
counts_key(struct store *st, int64_t *data_version, int64_t *changes, int64_t *day,
	   struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "PRAGMA data_version", &s, err) != 0)
		return -1;
	rc = sqlite3_step(s);
	*data_version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return idg_seterr(err, "data_version: %s", sqlite3_errmsg(st->db));
	*changes = sqlite3_total_changes64(st->db);
	*day = idg_now() / 86400;
	return 0;
}

/* The last audit record's number (the primary key's end: no scan). */
static int
audit_length(struct store *st, json_int_t *records, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT coalesce(max(seq), 0) FROM audit", &s, err) != 0)
		return -1;
	rc = sqlite3_step(s);
	*records = rc == SQLITE_ROW ? (json_int_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return idg_seterr(err, "audit: %s", sqlite3_errmsg(st->db));
	return 0;
}

json_t *
query_counts_cached(struct store *st, struct query_counts_cache *c, struct idg_err *err)
{
	int64_t version = 0, changes = 0, day = 0;
	json_int_t records = 0;
	json_t *o;

	if (counts_key(st, &version, &changes, &day, err) != 0)
		return NULL;
	if (c->counts == NULL || c->st != st || c->data_version != version ||
	    c->changes != changes || c->day != day) {
		query_counts_cache_clear(c);
		if ((c->counts = query_counts(st, err)) == NULL)
			return NULL;
		*c = (struct query_counts_cache){st, version, changes, day, c->counts};
	}
	/*
	 * A copy (the caller may change what it is given, the cache must not)
	 * with the chain's length read now: recording a request appends to
	 * the audit chain without changing anything else counted here.
	 */
	if ((o = json_deep_copy(c->counts)) == NULL) {
		idg_seterr(err, "out of memory");
		return NULL;
	}
	if (audit_length(st, &records, err) != 0) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "audit_records", json_integer(records));
	return o;
}

void
query_counts_cache_audited(struct query_counts_cache *c, int64_t from, int64_t to)
{
	if (c->counts != NULL && c->changes == from)
		c->changes = to;
}

void
query_counts_cache_clear(struct query_counts_cache *c)
{
	json_decref(c->counts);
	memset(c, 0, sizeof(*c));
}

json_t *
query_sync_state(struct store *st, const char *directory, struct idg_err *err)
{
	sqlite3_stmt *s;
	json_t *a, *o;

	if (store_prepare(st,
			  "SELECT mode, last_sync, last_result, cookie IS NOT NULL AS has_cookie "
			  "FROM sync_state WHERE directory = ?1",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, directory, -1, SQLITE_TRANSIENT);
	a = query_rows(st, s, err);
	if (a == NULL)
		return NULL;
	o = json_array_size(a) > 0 ? json_incref(json_array_get(a, 0)) : json_object();
	json_decref(a);
	return o;
}

json_t *
query_user_list(struct store *st, const char *state, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(
		    st,
		    "SELECT * FROM (SELECT uid, display_name, mail, uid_number, " QUERY_STATE_SQL
		    " AS status, " QUERY_REASON_SQL " AS reason, CASE WHEN shadow_expire >= 0 "
		    "THEN date(shadow_expire * 86400, 'unixepoch') END AS expires, dn, uuid, "
		    "EXISTS (SELECT 1 FROM held_departures h WHERE h.uuid = users.uuid) AS "
		    "departure_held FROM users) WHERE :state IS NULL OR status = :state ORDER BY "
		    "uid",
		    &s, err) != 0)
		return NULL;
	if (state != NULL)
		sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":state"), state, -1,
				  SQLITE_TRANSIENT);
	query_bind_day(s, idg_now());
	return query_rows(st, s, err);
}

/*
 * The groups a user is in, directly or through nested groups (direct first).
 * `member` values are followed by identity (member_refs.target), so a
 * departed user's DN reused by a newcomer shows only the newcomer's groups.
 */
static const char user_groups_sql[] =
	"WITH RECURSIVE direct(id) AS ("
	"  SELECT j.value FROM member_refs r CROSS JOIN ref_groups p ON p.ref_id = r.id"
	"    CROSS JOIN json_each(p.groups) j WHERE r.target = ?1"
	"  UNION SELECT j.value FROM member_refs r CROSS JOIN ref_groups p ON p.ref_id = r.id"
	"    CROSS JOIN json_each(p.groups) j WHERE r.kind = 1 AND r.value = ?2"
	"), up(id, depth) AS ("
	"  SELECT id, 0 FROM direct"
	"  UNION SELECT j.value, up.depth + 1 FROM up"
	"    JOIN groups g ON g.id = up.id"
	"    JOIN member_refs r ON r.target = g.uuid"
	"    JOIN ref_groups p ON p.ref_id = r.id"
	"    CROSS JOIN json_each(p.groups) j"
	"    WHERE up.depth < ?3"
	") SELECT g.cn AS name, g.privileged AS privileged, min(up.depth) = 0 AS direct "
	"FROM up JOIN groups g ON g.id = up.id WHERE g.status = 'active' "
	"GROUP BY g.id ORDER BY direct DESC, g.cn";

/* The groups of the user with this entryUUID and uid (user_groups_sql's rows). */
static json_t *
groups_of(struct store *st, const char *uuid, const char *uid, int depth, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare_cached(st, user_groups_sql, &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, uid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 3, depth);
	return query_rows(st, s, err);
}

/*
 * The row query_user_show() picks for uid (an active one over departed
 * namesakes): its entryUUID and the state it prints (QUERY_STATE_SQL).
 * 1 when there is one, 0 when not, -1 with err.
 */
static int
user_row(struct store *st, const char *uid, char uuid[64], char state[16], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st,
				 "SELECT uuid, " QUERY_STATE_SQL " FROM users WHERE uid = :uid "
				 "ORDER BY status = 'departed' LIMIT 1",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":uid"), uid, -1, SQLITE_TRANSIENT);
	query_bind_day(s, idg_now());
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(s, 0);
		const char *v = (const char *)sqlite3_column_text(s, 1);

		idg_strlcpy(uuid, u != NULL ? u : "", 64);
		idg_strlcpy(state, v != NULL ? v : "", 16);
	}
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "query");
	return rc == SQLITE_ROW;
}

json_t *
query_user_groups(struct store *st, const char *uid, int depth, struct idg_err *err)
{
	char uuid[64], state[16];
	int found = user_row(st, uid, uuid, state, err);

	if (found < 0)
		return NULL;
	if (found == 0) {
		idg_seterr(err, QUERY_NOT_FOUND_PREFIX "user named '%s'", uid);
		return NULL;
	}
	return groups_of(st, uuid, uid, depth, err);
}

json_t *
query_user_show(struct store *st, const char *uid, int depth, struct idg_err *err)
{
	sqlite3_stmt *s;
	json_t *user, *groups;

	if (store_prepare_cached(
		    st,
		    "SELECT uid, display_name, mail, uid_number, " QUERY_STATE_SQL
		    " AS status, " QUERY_REASON_SQL " AS reason, CASE WHEN shadow_expire >= 0 THEN "
		    "date(shadow_expire * 86400, 'unixepoch') END AS expires, dn, dn_norm, uuid, "
		    "manager_dn, (SELECT m.uid FROM users m WHERE m.dn_norm = u.manager_dn "
		    "LIMIT 1) AS manager, locked_time, shadow_expire, first_seen, "
		    "last_changed, departed_at, (SELECT held_at FROM held_departures h WHERE "
		    "h.uuid = u.uuid) AS departure_held_since, (SELECT json_group_array("
		    "w.attribute || ': ' || w.problem) FROM entry_warnings w WHERE w.uuid = "
		    "u.uuid) AS warnings FROM users u WHERE uid = :uid "
		    "ORDER BY status = 'departed' LIMIT 1",
		    &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":uid"), uid, -1, SQLITE_TRANSIENT);
	query_bind_day(s, idg_now());
	user = one_row(st, s, "user", uid, err);
	if (user == NULL)
		return NULL;
	groups = groups_of(st, json_string_value(json_object_get(user, "uuid")), uid, depth, err);
	if (groups == NULL) {
		json_decref(user);
		return NULL;
	}
	json_object_del(user, "dn_norm");
	json_object_set_new(user, "groups", groups);
	/* The values not stored as the directory holds them, as a list. */
	{
		const char *w = json_string_value(json_object_get(user, "warnings"));
		json_t *list = w != NULL ? json_loads(w, 0, NULL) : NULL;

		json_object_set_new(user, "warnings", json_is_array(list) ? list : json_array());
		if (list != NULL && !json_is_array(list))
			json_decref(list);
	}
	return user;
}

json_t *
query_group_list(struct store *st, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(st,
			  "SELECT g.cn AS name, g.gid_number, g.privileged, g.dn, "
			  "(SELECT count(*) FROM memberships m WHERE m.group_id = g.id) "
			  "AS direct_members FROM groups g WHERE g.status = 'active' ORDER BY g.cn",
			  &s, err) != 0)
		return NULL;
	return query_rows(st, s, err);
}

/*
 * Direct member values, each resolved to a user, a nested group (by the
 * identity the value was resolved to), or nothing known; an unresolved
 * `member` value says why (member_refs.problem).
 */
static const char group_direct_sql[] =
	"SELECT CASE r.kind WHEN 0 THEN 'member' ELSE 'memberUid' END AS kind, r.value, m.since, "
	"  CASE r.kind WHEN 0 THEN (SELECT u.uid FROM users u WHERE u.uuid = r.target)"
	"              ELSE (SELECT u.uid FROM users u WHERE u.uid = r.value LIMIT 1) END AS user, "
	"  (SELECT c.cn FROM groups c WHERE c.uuid = r.target AND c.status = 'active') "
	"  AS group_name, r.problem AS unresolved "
	"FROM memberships m CROSS JOIN member_refs r ON r.id = m.ref_id WHERE m.group_id = ?1 "
	"ORDER BY r.kind, r.value";

/*
 * Every user reached from the group through nested groups, within depth.
 * CROSS JOIN: memberships is a view over each group's packed list, which
 * can be read only by group.
 */
static const char group_effective_sql[] =
	"WITH RECURSIVE down(id, depth) AS ("
	"  SELECT ?1, 0"
	"  UNION SELECT c.id, down.depth + 1 FROM down"
	"    CROSS JOIN memberships m ON m.group_id = down.id"
	"    CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 0"
	"    JOIN groups c ON c.uuid = r.target AND c.status = 'active'"
	"    WHERE down.depth < ?2"
	"), reached(user_uuid, depth) AS ("
	"  SELECT u.uuid, down.depth FROM down"
	"    CROSS JOIN memberships m ON m.group_id = down.id"
	"    CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 0"
	"    JOIN users u ON u.uuid = r.target"
	"  UNION ALL SELECT u.uuid, down.depth FROM down"
	"    CROSS JOIN memberships m ON m.group_id = down.id"
	"    CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 1"
	"    JOIN users u ON u.uid = r.value"
	") SELECT u.uid, u.status, min(r.depth) = 0 AS direct FROM reached r "
	"JOIN users u ON u.uuid = r.user_uuid WHERE u.status <> 'departed' "
	"GROUP BY u.uuid ORDER BY u.uid";

json_t *
query_group_show(struct store *st, const char *cn, int depth, struct idg_err *err)
{
	sqlite3_stmt *s;
	json_t *group, *direct = NULL, *effective = NULL;
	json_int_t id;

	if (store_prepare(st,
			  "SELECT id, cn AS name, gid_number, privileged, dn, uuid, first_seen, "
			  "last_changed FROM groups WHERE cn = ?1 AND status = 'active' LIMIT 1",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, cn, -1, SQLITE_TRANSIENT);
	group = one_row(st, s, "group", cn, err);
	if (group == NULL)
		return NULL;
	id = json_integer_value(json_object_get(group, "id"));
	json_object_del(group, "id"); /* a local key, meaningless outside this store */
	if (store_prepare(st, group_direct_sql, &s, err) == 0) {
		sqlite3_bind_int64(s, 1, id);
		direct = query_rows(st, s, err);
	}
	if (direct != NULL && store_prepare(st, group_effective_sql, &s, err) == 0) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int(s, 2, depth);
		effective = query_rows(st, s, err);
	}
	if (direct == NULL || effective == NULL) {
		json_decref(group);
		json_decref(direct);
		return NULL;
	}
	json_object_set_new(group, "direct_members", direct);
	json_object_set_new(group, "effective_members", effective);
	return group;
}

json_t *
query_audit_list(struct store *st, int64_t since, int64_t limit, struct idg_err *err)
{
	sqlite3_stmt *s;

	/* The newest `limit` records, returned oldest first. */
	if (store_prepare(
		    st,
		    "SELECT * FROM (SELECT seq, time, actor, subject, action, details FROM audit "
		    "WHERE time >= ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
		    &s, err) != 0)
		return NULL;
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
	return query_rows(st, s, err);
}

int
query_is_member(struct store *st, const char *uid, const char *cn, int depth, struct idg_err *err)
{
	char uuid[64], state[16];
	json_t *groups, *g;
	int found = user_row(st, uid, uuid, state, err);
	size_t i;

	/* Only an active account counts. */
	if (found <= 0 || strcmp(state, "active") != 0)
		return found < 0 ? -1 : 0;
	if ((groups = groups_of(st, uuid, uid, depth, err)) == NULL)
		return -1;
	found = 0;
	json_array_foreach(groups, i, g)
	{
		if (strcmp(json_string_value(json_object_get(g, "name")), cn) == 0)
			found = 1;
	}
	json_decref(groups);
	return found;
}

/*
 * Privilege in effect. A member of a group that is nested in a privileged
 * group holds that privilege through any system that resolves nesting
 * (sssd, nslcd), whatever depth idgov's own effective-membership queries
 * stop at, so privilege follows nesting to any depth. The walk is
 * breadth-first over the groups that contain the current one, each group
 * visited once: it ends on cycles, and the first privileged group it meets
 * is the nearest, reached by a shortest chain.
 */

struct reach {
	int64_t id;
	size_t from; /* index of the group this one contains; SIZE_MAX for a start */
	int privileged;
	char cn[256];
};

struct walk {
	struct reach *v;
	size_t n, cap;
};

/* Adds the group of s's row unless it was reached already (groups above one are few). */
static int
walk_add(struct walk *w, sqlite3_stmt *s, size_t from, struct idg_err *err)
{
	int64_t id = sqlite3_column_int64(s, 0);
	struct reach *v;

	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].id == id)
			return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap != 0 ? w->cap * 2 : 16;

		if ((v = realloc(w->v, cap * sizeof(*v))) == NULL)
			return idg_seterr(err, "out of memory");
		w->v = v;
		w->cap = cap;
	}
	v = &w->v[w->n++];
	v->id = id;
	v->from = from;
	idg_strlcpy(v->cn, (const char *)sqlite3_column_text(s, 1), sizeof(v->cn));
	v->privileged = sqlite3_column_int(s, 2);
	return 0;
}

/* Adds the rows of s (id, cn, privileged), each reached from index from. */
static int
walk_add_rows(struct store *st, struct walk *w, sqlite3_stmt *s, size_t from, struct idg_err *err)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (walk_add(w, s, from, err) != 0)
			return -1;
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_err(st, err, "reading nested groups");
}

/* Appends s to the string in buf, truncating at size. */
static void
append(char *buf, size_t size, const char *s)
{
	size_t len = strlen(buf);

	if (len + 1 < size)
		idg_strlcpy(buf + len, s, size - len);
}

/*
 * How the group at index found was reached: its name, its depth, and the
 * groups in between (following from back to the start, then read
 * forward so that the one nearest to cn comes first; of a chain longer
 * than 64, the 64 nearest to the privileged group).
 */
static void
walk_describe(const struct walk *w, size_t found, struct query_privilege *p)
{
	size_t chain[64], n = 0, i;

	memset(p, 0, sizeof(*p));
	idg_strlcpy(p->group, w->v[found].cn, sizeof(p->group));
	for (i = found; w->v[i].from != SIZE_MAX; i = w->v[i].from) {
		p->depth++;
		if (i != found && n < sizeof(chain) / sizeof(chain[0]))
			chain[n++] = i;
	}
	while (n > 0) {
		append(p->via, sizeof(p->via), w->v[chain[--n]].cn);
		if (n > 0)
			append(p->via, sizeof(p->via), ", ");
	}
}

int
query_group_privilege(struct store *st, const char *cn, struct query_privilege *p,
		      struct idg_err *err)
{
	struct walk w = {0};
	sqlite3_stmt *start = NULL, *up = NULL;
	size_t i;
	int rc = -1;

	/* Every active group of that name: if any is privileged in effect, so is the name. */
	if (store_prepare(st,
			  "SELECT id, cn, privileged FROM groups WHERE cn = ?1 AND "
			  "status = 'active' ORDER BY id",
			  &start, err) != 0 ||
	    store_prepare(st,
			  "SELECT p.id, p.cn, p.privileged FROM groups c "
			  "CROSS JOIN member_refs r ON r.target = c.uuid "
			  "CROSS JOIN ref_groups rg ON rg.ref_id = r.id "
			  "CROSS JOIN json_each(rg.groups) j "
			  "CROSS JOIN groups p ON p.id = j.value "
			  "WHERE c.id = ?1 AND p.status = 'active' ORDER BY p.cn",
			  &up, err) != 0)
		goto out;
	sqlite3_bind_text(start, 1, cn, -1, SQLITE_STATIC);
	if (walk_add_rows(st, &w, start, SIZE_MAX, err) != 0)
		goto out;
	for (i = 0; i < w.n && !w.v[i].privileged; i++) {
		sqlite3_bind_int64(up, 1, w.v[i].id);
		if (walk_add_rows(st, &w, up, i, err) != 0)
			goto out;
	}
	rc = i < w.n;
	if (rc == 1)
		walk_describe(&w, i, p);
out:
	sqlite3_finalize(start);
	sqlite3_finalize(up);
	free(w.v);
	return rc;
}
