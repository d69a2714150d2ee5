/* The read side of grants: lists and one grant with its decisions and directory writes. */
#include "grants.h"

#include "query.h"

#include <string.h>

/* Columns for list and show; the directory status is read from the journal. */
#define GRANT_VIEW                                                                                 \
	"SELECT g.id, g.kind, g.state, g.grantee, coalesce(g.group_cn, '') AS grp, "               \
	"g.account_name AS account, g.target_id AS extends, g.privileged, g.privileged_reason, "   \
	"g.start_at AS start, "                                                                    \
	"g.end_at AS end, g.reason, g.requester, g.requested_at, g.approvals_needed, "             \
	"(SELECT count(*) FROM grant_decisions d WHERE d.grant_id = g.id AND "                     \
	"d.decision = 'approve') AS approvals, g.breakglass, "                                     \
	"(g.breakglass AND g.acknowledged_by IS NULL) AS needs_review, g.acknowledged_by, "        \
	"g.activated_at, g.ended_at, g.ended_by, g.end_reason, "                                   \
	"(SELECT count(*) FROM dir_journal j WHERE j.grant_id = g.id AND j.state = 'pending') "    \
	"AS directory_pending, "                                                                   \
	"(SELECT count(*) FROM dir_journal j WHERE j.grant_id = g.id AND j.state = 'failed') "     \
	"AS directory_failed, "                                                                    \
	"(SELECT j.last_error FROM dir_journal j WHERE j.grant_id = g.id AND j.state != 'done' "   \
	"ORDER BY j.id DESC LIMIT 1) AS directory_error, "                                         \
	"(g.state IN ('expired', 'revoked') AND EXISTS (SELECT 1 FROM dir_journal j WHERE "        \
	"j.grant_id = g.id AND j.op = 'del_member' AND j.state != 'done')) AS overdue "            \
	"FROM grants g "

json_t *
grant_list(struct store *st, const char *filter, const char *user, const char *kind,
	   struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(st,
			  GRANT_VIEW
			  "WHERE (?1 = 'all' OR (?1 = 'active' AND g.state = 'active') OR "
			  "(?1 = 'pending' AND g.state = 'requested') OR (?1 = 'review' AND "
			  "g.breakglass AND g.acknowledged_by IS NULL)) AND (?2 IS NULL OR "
			  "g.grantee = ?2) AND (?3 IS NULL OR g.kind = ?3) ORDER BY g.id",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	return query_rows(st, s, err);
}

json_t *
grant_show(struct store *st, int64_t id, struct idg_err *err)
{
	sqlite3_stmt *s;
	char missing[40];
	json_t *o, *part;

	if (store_prepare(st, GRANT_VIEW "WHERE g.id = ?1", &s, err) != 0)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	snprintf(missing, sizeof(missing), "no grant #%lld", (long long)id);
	if ((o = query_row(st, s, missing, err)) == NULL)
		return NULL;
	if (store_prepare(st,
			  "SELECT actor, decision, comment, time FROM grant_decisions WHERE "
			  "grant_id = ?1 ORDER BY time, actor",
			  &s, err) != 0 ||
	    (sqlite3_bind_int64(s, 1, id), part = query_rows(st, s, err)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "decisions", part);
	if (store_prepare(
		    st,
		    "SELECT id, op, dn, value AS member, state, attempts, result, last_error, "
		    "done_at FROM dir_journal WHERE grant_id = ?1 AND op != 'add_entry' "
		    "UNION ALL SELECT id, op, dn, NULL, state, attempts, result, last_error, "
		    "done_at FROM dir_journal WHERE grant_id = ?1 AND op = 'add_entry' "
		    "ORDER BY id",
		    &s, err) != 0 ||
	    (sqlite3_bind_int64(s, 1, id), part = query_rows(st, s, err)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "directory", part);
	return o;
}

int
grant_account_id(struct store *st, const char *name, int64_t *id, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st,
			  "SELECT id FROM grants WHERE kind = 'account' AND account_name = ?1 "
			  "ORDER BY id DESC LIMIT 1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no temporary account '%.64s'", name);
		return GRANT_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading accounts");
}
