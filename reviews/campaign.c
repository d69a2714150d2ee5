/*
 * Opening and closing campaigns: the snapshot of items in scope with their
 * reviewers and context, and the final close that turns revokes into
 * directory journal rows. See reviews.h.
 */
#define _GNU_SOURCE
#include "reviews.h"

#include "mfastate.h"
#include "review_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
review_def_from_config(const struct cfg *cfg, const struct review_campaign_cfg *c,
		       struct campaign_def *d)
{
	memset(d, 0, sizeof(*d));
	idg_strlcpy(d->name, c->name, sizeof(d->name));
	d->scope = c->scope;
	d->groups = c->groups;
	d->filter = c->filter;
	d->fallback = c->fallback != NULL ? c->fallback : review_config(cfg)->fallback;
	d->schedule = c->schedule;
	d->timezone = c->timezone;
	d->duration = c->duration;
	d->escalation = c->escalation;
	memcpy(d->reminders, c->reminders, sizeof(d->reminders));
	d->n_reminders = c->n_reminders;
	d->deflt = c->deflt;
}

static const char *const scope_names[] = {"all", "privileged", "groups", "filter"};
static const char *const default_names[] = {"revoke", "approve", "escalate"};

static json_t *
definition_json(const struct campaign_def *d)
{
	json_t *rem = json_array(), *o;

	for (size_t i = 0; i < d->n_reminders; i++)
		json_array_append_new(rem, json_integer(d->reminders[i]));
	o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:o, s:s}", "name",
		      d->name, "scope", scope_names[d->scope], "groups", d->groups, "filter",
		      d->filter, "fallback_reviewer", d->fallback, "schedule", d->schedule,
		      "timezone", d->timezone, "duration", (json_int_t)d->duration, "escalation",
		      (json_int_t)d->escalation, "reminders", rem, "default",
		      default_names[d->deflt]);
	return o;
}

/* ---- scope ---- */

/* temp.scope_groups: the groups in scope. */
static int
scope_groups(struct review_ctx *r, const struct campaign_def *d, struct idg_err *err)
{
	const char *cursor = d->groups, *item;
	sqlite3_stmt *s;
	size_t len;
	int rc = 0;

	if (store_exec(r->st,
		       "CREATE TEMP TABLE IF NOT EXISTS scope_groups (id INTEGER PRIMARY KEY);"
		       "DELETE FROM temp.scope_groups;"
		       "CREATE TEMP TABLE IF NOT EXISTS scope_users (uuid TEXT PRIMARY KEY);"
		       "DELETE FROM temp.scope_users;",
		       err) != 0)
		return -1;
	if (d->scope != REVIEW_SCOPE_GROUPS)
		return store_exec(r->st,
				  d->scope == REVIEW_SCOPE_PRIVILEGED
					  ? "INSERT INTO temp.scope_groups SELECT id FROM groups "
					    "WHERE status = 'active' AND privileged"
					  : "INSERT INTO temp.scope_groups SELECT id FROM groups "
					    "WHERE status = 'active'",
				  err);
	if (store_prepare(
		    r->st,
		    "INSERT OR IGNORE INTO temp.scope_groups SELECT id FROM groups WHERE cn = "
		    "?1 AND status = 'active'",
		    &s, err) != 0)
		return -1;
	while (rc == 0 && idg_list_next(&cursor, &item, &len)) {
		sqlite3_bind_text(s, 1, item, (int)len, SQLITE_TRANSIENT);
		rc = store_step_done(r->st, s, err);
		if (rc == 0 && sqlite3_changes(r->st->db) == 0)
			rc = idg_seterr(err, "scope: no group '%.*s' in the directory", (int)len,
					item);
	}
	sqlite3_finalize(s);
	return rc;
}

/* temp.scope_users: the users an LDAP filter selects, read from the directory now. */
static int
scope_users(struct review_ctx *r, const struct campaign_def *d, int *limited, struct idg_err *err)
{
	char *filter, *attrs[] = {"entryUUID", NULL};
	LDAPMessage *res = NULL;
	LDAP *ld;
	sqlite3_stmt *s;
	int rc;
	const char *base =
		r->cfg->dir_user_base[0] != '\0' ? r->cfg->dir_user_base : r->cfg->dir_base;

	*limited = d->scope == REVIEW_SCOPE_FILTER;
	if (!*limited)
		return 0;
	if (journal_connection(r->journal, &ld, err) != 0)
		return -1;
	if (asprintf(&filter, "(&%s%s)", r->cfg->dir_user_filter, d->filter) < 0)
		return idg_seterr(err, "out of memory");
	rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, NULL, 0,
			       &res);
	free(filter);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		if (rc == LDAP_SERVER_DOWN)
			journal_close(r->journal);
		return idg_seterr(err, "scope filter %s: %s", d->filter, ldap_err2string(rc));
	}
	if (store_prepare(r->st, "INSERT OR IGNORE INTO temp.scope_users VALUES (?1)", &s, err) !=
	    0) {
		ldap_msgfree(res);
		return -1;
	}
	for (LDAPMessage *e = ldap_first_entry(ld, res); rc == 0 && e != NULL;
	     e = ldap_next_entry(ld, e)) {
		struct berval **v = ldap_get_values_len(ld, e, "entryUUID");

		if (v != NULL && v[0] != NULL) {
			sqlite3_bind_text(s, 1, v[0]->bv_val, (int)v[0]->bv_len, SQLITE_TRANSIENT);
			rc = store_step_done(r->st, s, err);
		}
		ldap_value_free_len(v);
	}
	sqlite3_finalize(s);
	ldap_msgfree(res);
	return rc;
}

int
review_fallbacks(struct review_ctx *r, const char *list, struct idg_err *err)
{
	const char *cursor = list, *item;
	sqlite3_stmt *s;
	size_t len;
	int rc = 0, pos = 0;

	if (store_exec(r->st,
		       "CREATE TEMP TABLE IF NOT EXISTS fallbacks (pos INTEGER PRIMARY KEY, uid "
		       "TEXT NOT NULL); DELETE FROM temp.fallbacks;",
		       err) != 0 ||
	    store_prepare(r->st, "INSERT INTO temp.fallbacks VALUES (?1, ?2)", &s, err) != 0)
		return -1;
	while (rc == 0 && list != NULL && idg_list_next(&cursor, &item, &len)) {
		if (len == 0)
			continue;
		sqlite3_bind_int(s, 1, pos++);
		sqlite3_bind_text(s, 2, item, (int)len, SQLITE_TRANSIENT);
		rc = store_step_done(r->st, s, err);
	}
	sqlite3_finalize(s);
	return rc;
}

/* ---- the snapshot ---- */

/*
 * Each (user, group) found by one of the three queries below becomes an
 * item with its context. b is the base row: user uuid, group id, how the
 * membership is held, via which nested group, since when.
 */
/*
 * What the snapshot needs of each user, worked out once per user instead
 * of once per membership: the reviewer (the manager, else the first
 * fallback who is not the user), the last login and the recommendation.
 */
static const char user_ctx_sql[] =
	"INSERT INTO temp.user_ctx SELECT u.uuid, u.uid, u.dn, u.status, ll.t, "
	"CASE WHEN u.status = 'departed' OR (?3 AND (ll.t IS NULL OR ll.t < ?2 - ?4)) THEN "
	"'revoke' ELSE 'approve' END, "
	"CASE WHEN u.status = 'departed' THEN 'the user has left' WHEN NOT ?3 THEN 'no login "
	"records yet' WHEN ll.t IS NULL THEN 'never logged in' WHEN ll.t < ?2 - ?4 THEN "
	"'no login for more than ' || (?4 / 86400) || ' days' ELSE 'last login ' || ((?2 - ll.t) "
	"/ 86400) || ' days ago' END, "
	"CASE WHEN mgr.uid IS NOT NULL AND mgr.status = 'active' AND mgr.uid != "
	"coalesce(u.uid, '') THEN mgr.uid ELSE (SELECT f.uid FROM temp.fallbacks f WHERE f.uid "
	"!= coalesce(u.uid, '') ORDER BY f.pos LIMIT 1) END, "
	"CASE WHEN mgr.uid IS NULL THEN 'fallback: no manager in the directory' WHEN mgr.status "
	"!= 'active' THEN 'fallback: the manager ' || mgr.uid || ' is ' || mgr.status WHEN "
	"mgr.uid = coalesce(u.uid, '') THEN 'fallback: no self-review' ELSE 'manager' END "
	"FROM users u LEFT JOIN users mgr ON mgr.uuid = (SELECT m.uuid FROM users m WHERE "
	"m.dn_norm = u.manager_dn ORDER BY m.status = 'departed' LIMIT 1) LEFT JOIN "
	"temp.last_login ll ON ll.uid = u.uid "
	"WHERE NOT ?5 OR u.uuid IN (SELECT uuid FROM temp.scope_users)";

/*
 * Each (user, group) found by one of the three queries below becomes an
 * item with its context. b is the base row: user uuid, group id, how the
 * membership is held, via which nested group, since when.
 */
#define ITEM_INSERT                                                                                \
	"INSERT INTO review_items (campaign_id, user_uuid, user_uid, user_dn, user_status, "       \
	"group_id, group_cn, group_dn, privileged, held_as, via, source, since, last_login, "      \
	"recommendation, recommend_why, reviewer, reviewer_why, decision, decided_by, "            \
	"decided_at, decision_source) "                                                            \
	"SELECT ?1, c.uuid, c.uid, c.dn, c.status, g.id, g.cn, g.dn, g.privileged, b.held_as, "    \
	"b.via, CASE WHEN ag.id IS NOT NULL THEN 'grant #' || ag.id WHEN pa.campaign_id IS NOT "   \
	"NULL THEN 'review #' || pa.campaign_id ELSE 'directory' END, "                            \
	"coalesce(ag.activated_at, pa.decided_at, b.since), c.last_login, c.recommendation, "      \
	"c.recommend_why, c.reviewer, c.reviewer_why, "                                            \
	"CASE WHEN c.status = 'departed' THEN 'revoke' END, "                                      \
	"CASE WHEN c.status = 'departed' THEN 'idgovd' END, "                                      \
	"CASE WHEN c.status = 'departed' THEN ?2 END, "                                            \
	"CASE WHEN c.status = 'departed' THEN 'pre-decided' END "                                  \
	"FROM (%s) b CROSS JOIN temp.user_ctx c ON c.uuid = b.user_uuid CROSS JOIN groups g ON "   \
	"g.id = b.group_id LEFT JOIN temp.active_grants ag ON ag.uid = c.uid AND ag.cn = g.cn "    \
	"LEFT JOIN temp.prior pa ON pa.user_uuid = c.uuid AND pa.group_id = g.id WHERE 1 %s"

static const char direct_member_sql[] =
	"SELECT u.uuid AS user_uuid, m.group_id AS group_id, 'member' AS held_as, NULL AS via, "
	"m.since AS since FROM temp.scope_groups sg CROSS JOIN memberships m ON m.group_id = "
	"sg.id CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 0 CROSS JOIN users u ON "
	"u.dn_norm = r.value";
static const char direct_uid_sql[] =
	"SELECT u.uuid AS user_uuid, m.group_id AS group_id, 'memberUid' AS held_as, NULL AS via, "
	"m.since AS since FROM temp.scope_groups sg CROSS JOIN memberships m ON m.group_id = "
	"sg.id CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 1 CROSS JOIN users u ON "
	"u.uid = r.value";
/* Users who hold a group in scope only through groups nested in it (to [directory] nested_depth).
 */
static const char nested_sql[] =
	"WITH RECURSIVE nest(outer_id, inner_id, depth) AS ("
	" SELECT sg.id, gi.id, 1 FROM temp.scope_groups sg CROSS JOIN memberships m ON "
	" m.group_id = sg.id CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 0 CROSS JOIN "
	" groups gi ON gi.dn_norm = r.value AND gi.status = 'active'"
	" UNION SELECT n.outer_id, gi.id, n.depth + 1 FROM nest n CROSS JOIN memberships m ON "
	" m.group_id = n.inner_id CROSS JOIN member_refs r ON r.id = m.ref_id AND r.kind = 0 "
	" CROSS JOIN groups gi ON gi.dn_norm = r.value AND gi.status = 'active' WHERE n.depth < "
	" ?6) "
	"SELECT u.uuid AS user_uuid, n.outer_id AS group_id, 'nested' AS held_as, "
	"(SELECT cn FROM groups WHERE id = n.inner_id) AS via, min(m.since) AS since FROM nest n "
	"CROSS JOIN memberships m ON m.group_id = n.inner_id CROSS JOIN member_refs r ON r.id = "
	"m.ref_id CROSS JOIN users u ON (r.kind = 0 AND u.dn_norm = r.value) OR (r.kind = 1 AND "
	"u.uid = r.value) GROUP BY u.uuid, n.outer_id";

/*
 * Adds this host's login sessions to temp.last_login, the later of a
 * session and a fleet stamp counting. The sessions are in the auth
 * service's state file (mfastate.h), which PAM writes without waiting for
 * the main store's write lock.
 */
static int
last_logins_of_host(struct review_ctx *r, struct idg_err *err)
{
	char path[PATH_MAX];
	struct store *state = NULL;
	int rc;

	if (mfastate_path(r->cfg, r->st->path, path, sizeof(path), err) != 0 ||
	    mfastate_open(path, r->st, &state, err) != 0)
		return -1;
	rc = store_copy_rows(state, "SELECT uid, max(opened_at) FROM sessions GROUP BY uid", r->st,
			     "INSERT INTO temp.last_login (uid, t) VALUES (?1, ?2) "
			     "ON CONFLICT (uid) DO UPDATE SET t = max(t, excluded.t)",
			     err);
	store_close(state);
	return rc;
}

/* 1 if any login is on record (so "never logged in" means something); after context_tables. */
static int
login_records(struct review_ctx *r)
{
	sqlite3_stmt *s;
	int found = 0;

	if (store_prepare(r->st, "SELECT EXISTS (SELECT 1 FROM temp.last_login)", &s, NULL) != 0)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		found = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return found;
}

/* Those context tables that the main store alone fills. */
static int
context_tables_sql(struct review_ctx *r, struct idg_err *err)
{
	return store_exec(
		r->st,
		/* The context tables are joined once per membership: keep them in memory. */
		"PRAGMA temp.cache_size = -65536;"
		"DROP TABLE IF EXISTS temp.last_login; DROP TABLE IF EXISTS temp.active_grants; "
		"DROP TABLE IF EXISTS temp.prior;"
		"CREATE TEMP TABLE last_login (uid TEXT PRIMARY KEY, t INTEGER) WITHOUT ROWID;"
		/*
		 * The fleet's last-login stamps (idgovLastLogin, mirrored with
		 * [fleet] mfa = directory): the governor that opens a campaign
		 * sees few logins itself. This host's sessions join them after
		 * (last_logins_of_host).
		 */
		"INSERT INTO temp.last_login SELECT u.uid, max(f.last_login) FROM fleet_tokens f "
		"JOIN users u ON u.uuid = f.user_uuid WHERE f.last_login > 0 AND u.uid IS NOT NULL "
		"GROUP BY u.uid;"
		"CREATE TEMP TABLE active_grants (uid TEXT, cn TEXT, id INTEGER, activated_at "
		"INTEGER, PRIMARY KEY (uid, cn)) WITHOUT ROWID;"
		"INSERT OR IGNORE INTO temp.active_grants SELECT grantee, group_cn, id, "
		"activated_at "
		"FROM grants WHERE kind = 'group' AND state = 'active';"
		"DROP TABLE IF EXISTS temp.user_ctx;"
		"CREATE TEMP TABLE user_ctx (uuid TEXT PRIMARY KEY, uid TEXT, dn TEXT, status "
		"TEXT, "
		"last_login INTEGER, recommendation TEXT, recommend_why TEXT, reviewer TEXT, "
		"reviewer_why TEXT) WITHOUT ROWID;"
		"CREATE TEMP TABLE prior (user_uuid TEXT, group_id INTEGER, campaign_id INTEGER, "
		"decided_at INTEGER, PRIMARY KEY (user_uuid, group_id)) WITHOUT ROWID;"
		"INSERT OR REPLACE INTO temp.prior SELECT i.user_uuid, i.group_id, i.campaign_id, "
		"i.decided_at FROM review_items i JOIN campaigns c ON c.id = i.campaign_id WHERE "
		"c.state = 'closed' AND i.decision = 'approve' ORDER BY i.campaign_id;",
		err);
}

/* The context tables the snapshot joins: last logins, active grants, earlier approvals. */
static int
context_tables(struct review_ctx *r, struct idg_err *err)
{
	return context_tables_sql(r, err) != 0 ? -1 : last_logins_of_host(r, err);
}

/*
 * Runs one statement of the snapshot. Its parameters, where it uses them:
 * ?1 campaign, ?2 now, ?3 whether any login is on record, ?4 inactive_days
 * in seconds, ?5 whether a filter limits the users, ?6 nested_depth.
 */
static int
snapshot_step(struct review_ctx *r, const char *sql, int64_t id, int64_t now, int limited,
	      struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc, n;

	if (store_prepare(r->st, sql, &s, err) != 0)
		return -1;
	n = sqlite3_bind_parameter_count(s);
	if (n >= 1)
		sqlite3_bind_int64(s, 1, id);
	if (n >= 2)
		sqlite3_bind_int64(s, 2, now);
	if (n >= 3)
		sqlite3_bind_int(s, 3, login_records(r));
	if (n >= 4)
		sqlite3_bind_int64(s, 4, (int64_t)review_config(r->cfg)->inactive_days * 86400);
	if (n >= 5)
		sqlite3_bind_int(s, 5, limited);
	if (n >= 6)
		sqlite3_bind_int(s, 6, r->cfg->dir_nested_depth);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	return rc;
}

/* Runs one snapshot query; conflict is what a second way of holding the same item does. */
static int
insert_items(struct review_ctx *r, int64_t id, const char *base, const char *conflict, int64_t now,
	     int limited, struct idg_err *err)
{
	char *sql = NULL;
	int rc;

	if (asprintf(&sql, ITEM_INSERT, base, conflict) < 0)
		return idg_seterr(err, "out of memory");
	rc = snapshot_step(r, sql, id, now, limited, err);
	free(sql);
	return rc;
}

static int
snapshot(struct review_ctx *r, int64_t id, const struct campaign_def *d, int64_t now,
	 struct idg_err *err)
{
	int limited;

	if (scope_groups(r, d, err) != 0 || scope_users(r, d, &limited, err) != 0 ||
	    review_fallbacks(r, d->fallback, err) != 0 || context_tables(r, err) != 0 ||
	    snapshot_step(r, user_ctx_sql, id, now, limited, err) != 0)
		return -1;
	if (insert_items(r, id, direct_member_sql, "ON CONFLICT DO NOTHING", now, limited, err) !=
		    0 ||
	    insert_items(r, id, direct_uid_sql,
			 "ON CONFLICT (campaign_id, group_id, user_uuid) DO UPDATE SET held_as = "
			 "held_as || ',memberUid'",
			 now, limited, err) != 0)
		return -1;
	if (r->cfg->dir_nested_depth > 0 &&
	    insert_items(r, id, nested_sql, "ON CONFLICT DO NOTHING", now, limited, err) != 0)
		return -1;
	return 0;
}

int
review_open(struct review_ctx *r, const struct campaign_def *d, int64_t due_at, int64_t *id,
	    struct idg_err *err)
{
	json_t *def = definition_json(d), *counts;
	char *text = def != NULL ? json_dumps(def, JSON_COMPACT) : NULL;
	int64_t now = idg_now();
	json_int_t unassigned;
	sqlite3_stmt *s;
	int rc;

	json_decref(def);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	if (store_begin(r->st, err) != 0) {
		free(text);
		return -1;
	}
	rc = store_prepare(r->st,
			   "INSERT INTO campaigns (name, definition, due_at, opened_at, opened_by, "
			   "deadline) VALUES (?1, ?2, nullif(?3, 0), ?4, ?5, ?6)",
			   &s, err);
	if (rc == 0) {
		sqlite3_bind_text(s, 1, d->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, due_at);
		sqlite3_bind_int64(s, 4, now);
		sqlite3_bind_text(s, 5, r->actor, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now + d->duration);
		rc = store_step_done(r->st, s, err);
		sqlite3_finalize(s);
		*id = sqlite3_last_insert_rowid(r->st->db);
	}
	free(text);
	if (rc == 0)
		rc = snapshot(r, *id, d, now, err);
	counts = rc == 0 ? review_counts(r->st, *id, err) : NULL;
	if (rc == 0 && counts == NULL)
		rc = -1;
	unassigned = json_integer_value(json_object_get(counts, "unassigned"));
	if (rc == 0)
		rc = review_audit(r, *id, "review.open",
				  json_pack("{s:s, s:I, s:o}", "name", d->name, "deadline",
					    (json_int_t)(now + d->duration), "items", counts),
				  err);
	if (rc != 0 || review_commit(r, err) != 0) {
		store_rollback(r->st);
		return -1;
	}
	log_msg(r->log, LOG_NOTICE, "review campaign #%lld (%s) opened by %s", (long long)*id,
		d->name, r->actor);
	if (unassigned > 0)
		log_msg(r->log, LOG_WARNING,
			"review campaign #%lld: %lld item(s) have no eligible reviewer (the "
			"fallback "
			"reviewers are the users themselves); an admin must delegate them",
			(long long)*id, (long long)unassigned);
	review_notify_reviewers(r, *id, "review opened", "You have access reviews to decide.");
	return 0;
}

/* ---- closing ---- */

/*
 * The directory changes that carry out each revoke: the member DN and/or
 * memberUid exactly as held. A membership held through a nested group
 * cannot be removed from this group; it fails at once with the reason.
 */
int
review_journal_revocations(struct review_ctx *r, int64_t id, int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    r->st,
		    "INSERT INTO dir_journal (item_id, op, dn, attr, value, created_at) "
		    "SELECT i.id, 'del_value', i.group_dn, ?3, i.user_dn, ?2 FROM review_items "
		    "i WHERE i.campaign_id = ?1 AND i.decision = 'revoke' AND i.remediation IS "
		    "NULL AND (',' || i.held_as || ',') LIKE '%,member,%' "
		    "UNION ALL SELECT i.id, 'del_value', i.group_dn, ?4, i.user_uid, ?2 FROM "
		    "review_items i WHERE i.campaign_id = ?1 AND i.decision = 'revoke' AND "
		    "i.remediation IS NULL AND (',' || i.held_as || ',') LIKE '%,memberUid,%' "
		    "ORDER BY 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, r->cfg->attr_member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->cfg->attr_member_uid, -1, SQLITE_STATIC);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	return store_exec_int64(r->st,
				"UPDATE review_items SET remediation = CASE held_as WHEN 'nested' "
				"THEN 'failed' ELSE 'pending' END, remediation_why = CASE held_as "
				"WHEN 'nested' THEN 'held through the nested group ' || via || ': "
				"remove the user from ' || via || ' or ' || via || ' from ' || "
				"group_cn END WHERE campaign_id = ?1 AND decision = 'revoke' AND "
				"remediation IS NULL",
				id, 0, 0, err);
}

int
review_decide_rest(struct review_ctx *r, int64_t id, const char *decision, const char *source,
		   int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    r->st,
		    "UPDATE review_items SET decision = ?2, decided_by = 'idgovd', decided_at "
		    "= ?3, decision_source = ?4 WHERE campaign_id = ?1 AND decision IS NULL",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, decision, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_text(s, 4, source, -1, SQLITE_STATIC);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	return review_audit(r, id, "review.default",
			    json_pack("{s:s, s:s, s:i}", "decision", decision, "source", source,
				      "items", sqlite3_changes(r->st->db)),
			    err);
}

/* Closes campaign id inside the caller's transaction. */
int
review_close_locked(struct review_ctx *r, int64_t id, int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(r->st,
			  "UPDATE campaigns SET state = 'closed', closed_at = ?2, closed_by = ?3 "
			  "WHERE id = ?1 AND state = 'open'",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, r->actor, -1, SQLITE_STATIC);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	if (rc == 0 && sqlite3_changes(r->st->db) == 0) {
		idg_seterr(err, "campaign #%lld is not open", (long long)id);
		return REVIEW_CONFLICT;
	}
	if (rc == 0)
		rc = review_journal_revocations(r, id, now, err);
	if (rc == 0) {
		json_t *counts = review_counts(r->st, id, err);

		rc = counts != NULL ? review_audit(r, id, "review.close",
						   json_pack("{s:o}", "items", counts), err)
				    : -1;
	}
	return rc;
}

/*
 * At an early close, approve approves and revoke (or escalate, which has no
 * time left) revokes. A campaign started before the rename says "keep".
 */
static int
review_default_early(struct review_ctx *r, int64_t id, int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	char deflt[16] = "";
	int rc;

	if (store_prepare(r->st,
			  "SELECT json_extract(definition, '$.default') FROM campaigns WHERE "
			  "id = ?1 AND state = 'open'",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		idg_strlcpy(deflt, (const char *)sqlite3_column_text(s, 0), sizeof(deflt));
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0; /* not open: review_close_locked says so */
	if (rc != SQLITE_ROW)
		return store_err(r->st, err, "reading a campaign");
	return review_decide_rest(
		r, id,
		strcmp(deflt, "approve") == 0 || strcmp(deflt, "keep") == 0 ? "approve" : "revoke",
		"default (closed early)", now, err);
}

int
review_close(struct review_ctx *r, int64_t id, struct idg_err *err)
{
	int rc;

	if (!r->admin) {
		idg_seterr(err, "only admins may close a campaign");
		return REVIEW_DENIED;
	}
	if (store_begin(r->st, err) != 0)
		return -1;
	/* Closing early is the deadline come sooner: what is undecided gets the default. */
	rc = review_default_early(r, id, idg_now(), err);
	if (rc == 0)
		rc = review_close_locked(r, id, idg_now(), err);
	if (rc != 0 || review_commit(r, err) != 0) {
		store_rollback(r->st);
		return rc != 0 ? rc : -1;
	}
	log_msg(r->log, LOG_NOTICE, "review campaign #%lld closed by %s", (long long)id, r->actor);
	return 0;
}
