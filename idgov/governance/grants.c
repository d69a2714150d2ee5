/* Time-bound grants: requests, two-person approval, revocation, extensions, break-glass; see
 * grants.h. */
#include "grants_int.h"

#include "journal.h"
#include "notify.h"
#include "query.h"
#include "timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a grant gives: the account's name or the group's. */
const char *
grant_what(const struct grant *gr)
{
	if (gr->account_name != NULL)
		return gr->account_name;
	return gr->group_cn != NULL ? gr->group_cn : "-";
}

void
grant_free(struct grant *gr)
{
	free(gr->grantee);
	free(gr->group_cn);
	free(gr->group_dn);
	free(gr->account_name);
	free(gr->reason);
	free(gr->requester);
	free(gr->privileged_reason);
	memset(gr, 0, sizeof(*gr));
}

static char *
col(sqlite3_stmt *s, int i)
{
	return idg_strdup((const char *)sqlite3_column_text(s, i));
}

void
grant_from_row(sqlite3_stmt *s, struct grant *gr)
{
	memset(gr, 0, sizeof(*gr));
	gr->id = sqlite3_column_int64(s, 0);
	idg_strlcpy(gr->kind, (const char *)sqlite3_column_text(s, 1), sizeof(gr->kind));
	idg_strlcpy(gr->state, (const char *)sqlite3_column_text(s, 2), sizeof(gr->state));
	gr->grantee = col(s, 3);
	gr->group_cn = col(s, 4);
	gr->group_dn = col(s, 5);
	gr->privileged = sqlite3_column_int(s, 6);
	gr->account_name = col(s, 7);
	gr->target_id = sqlite3_column_int64(s, 8);
	gr->start_at = sqlite3_column_int64(s, 9);
	gr->end_at = sqlite3_column_int64(s, 10);
	gr->reason = col(s, 11);
	gr->requester = col(s, 12);
	gr->requested_at = sqlite3_column_int64(s, 13);
	gr->approvals_needed = sqlite3_column_int(s, 14);
	gr->breakglass = sqlite3_column_int(s, 15);
	gr->sudo = sqlite3_column_int(s, 16);
	gr->privileged_reason = col(s, 17);
}

int
load_grant(struct store *st, int64_t id, struct grant *gr, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT " GRANT_COLUMNS " FROM grants WHERE id = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		grant_from_row(s, gr);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no grant #%lld", (long long)id);
		return GRANT_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading a grant");
}

/* ---- small checks ---- */

static int
check_reason(const char *reason, struct idg_err *err)
{
	if (!idg_text_line(reason, GRANT_REASON_MAX)) {
		idg_seterr(err, "a reason is required: 1 to %d characters on one line",
			   GRANT_REASON_MAX);
		return GRANT_INVALID;
	}
	return 0;
}

/* Account names as useradd(8) allows them: [a-z_][a-z0-9_-]*, at most 32. */
static int
valid_account_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return 0;
	return 1;
}

/*
 * The grant's start and end: start is now or --start; the end is --until
 * or start + --for (exactly one of them); the length may not exceed max.
 */
static int
resolve_times(const char *start_s, const char *until, const char *duration, int64_t now,
	      int64_t max, int64_t *start, int64_t *end, struct idg_err *err)
{
	int64_t d;
	char maxs[32];

	*start = now;
	if ((until == NULL) == (duration == NULL)) {
		idg_seterr(err, "give exactly one of --for DURATION and --until TIME");
		return GRANT_INVALID;
	}
	if (start_s != NULL && time_parse_absolute(start_s, start, err) != 0)
		return GRANT_INVALID;
	if (*start < now)
		*start = now;
	if (until != NULL && time_parse_absolute(until, end, err) != 0)
		return GRANT_INVALID;
	if (duration != NULL) {
		if (duration_parse(duration, &d, err) != 0)
			return GRANT_INVALID;
		*end = *start + d;
	}
	if (*end <= *start) {
		idg_seterr(err, "the end must be after the start (and in the future)");
		return GRANT_INVALID;
	}
	if (*end - *start > max) {
		duration_format(max, maxs);
		idg_seterr(err, "at most %s may be granted here", maxs);
		return GRANT_INVALID;
	}
	return 0;
}

/* ---- the directory side, as mirrored ---- */

int
grant_lookup_user(struct store *st, const char *uid, struct user_ref *u, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    st,
		    "SELECT dn, dn_norm, coalesce(mail, ''), coalesce(display_name, '') FROM users "
		    "WHERE uid = ?1 AND status = 'active' LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		idg_strlcpy(u->dn, (const char *)sqlite3_column_text(s, 0), sizeof(u->dn));
		idg_strlcpy(u->dn_norm, (const char *)sqlite3_column_text(s, 1),
			    sizeof(u->dn_norm));
		idg_strlcpy(u->mail, (const char *)sqlite3_column_text(s, 2), sizeof(u->mail));
		idg_strlcpy(u->display_name, (const char *)sqlite3_column_text(s, 3),
			    sizeof(u->display_name));
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no active user '%.64s' in the directory", uid);
		return GRANT_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading a user");
}

int
grant_lookup_group(struct store *st, const char *cn, struct group_ref *gref, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    st,
		    "SELECT id, dn, privileged FROM groups WHERE cn = ?1 AND status = 'active' "
		    "LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, cn, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		gref->id = sqlite3_column_int64(s, 0);
		idg_strlcpy(gref->dn, (const char *)sqlite3_column_text(s, 1), sizeof(gref->dn));
		gref->privileged = sqlite3_column_int(s, 2);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no group '%.64s' in the directory", cn);
		return GRANT_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading a group");
}

/* 1 if the user is a direct member of the group already (member DN or memberUid). */
static int
holds_directly(struct store *st, int64_t group_id, const struct user_ref *u, const char *uid,
	       struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st,
			  "SELECT 1 FROM member_refs r CROSS JOIN ref_groups p ON p.ref_id = r.id "
			  "CROSS JOIN json_each(p.groups) j WHERE j.value = ?1 AND "
			  "((r.kind = 0 AND r.value = ?2) OR (r.kind = 1 AND r.value = ?3))",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, group_id);
	sqlite3_bind_text(s, 2, u->dn_norm, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading memberships");
	return rc == SQLITE_ROW;
}

/* An open (requested, approved or active) grant of group to grantee, or 0. */
static int64_t
open_grant(struct store *st, const char *grantee, const char *group)
{
	sqlite3_stmt *s;
	int64_t id = 0;

	if (store_prepare(st,
			  "SELECT id FROM grants WHERE kind = 'group' AND grantee = ?1 AND "
			  "group_cn = ?2 AND state IN ('requested', 'approved', 'active') LIMIT 1",
			  &s, NULL) != 0)
		return -1;
	sqlite3_bind_text(s, 1, grantee, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return id;
}

static int
is_member(struct grants_ctx *g, const char *user, const char *group)
{
	struct idg_err err;

	return group[0] != '\0' &&
	       query_is_member(g->st, user, group, g->cfg->dir_nested_depth, &err) == 1;
}

/* ---- audit and notifications ---- */

/* Why the grant is privileged, for JSON: NULL (null) when it is not or nobody recorded why. */
static const char *
why_or_null(const struct grant *gr)
{
	return gr->privileged_reason != NULL && gr->privileged_reason[0] != '\0'
		       ? gr->privileged_reason
		       : NULL;
}

/* Appends grant.ACTION about grant id (inside the caller's transaction); steals d. */
int
audit_grant(struct grants_ctx *g, int64_t id, const char *action, json_t *d, struct idg_err *err)
{
	char subject[32], act[48], *text;
	int rc;

	snprintf(subject, sizeof(subject), "grant:%lld", (long long)id);
	snprintf(act, sizeof(act), "grant.%s", action);
	text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = audit_append(g->audit, g->actor, subject, act, text, err);
	free(text);
	return rc;
}

/*
 * Tells the people concerned about event on grant id; after the commit, never inside it.
 * The grantee's mail is whatever the directory holds: notify_send() checks it.
 */
void
notify_grant(struct grants_ctx *g, int64_t id, const char *event, const char *detail)
{
	struct grant gr;
	struct user_ref u;
	struct idg_err err;
	struct notify_rcpt to[2] = {{.who = "[notify] admin_mail", .list = 1}};
	char start[32], end[32], subject[200], body[2048];
	const char *what;
	int admins = strcmp(event, "requested") == 0 || strcmp(event, "breakglass") == 0;

	if (g->cfg->notify_command[0] == '\0' || load_grant(g->st, id, &gr, &err) != 0)
		return;
	if (admins)
		to[0].addr = g->cfg->notify_admin_mail;
	if (grant_lookup_user(g->st, gr.grantee, &u, &err) == 0)
		to[1] = (struct notify_rcpt){
			.who = gr.grantee, .name = u.display_name, .addr = u.mail};
	time_format(gr.start_at, start);
	time_format(gr.end_at, end);
	what = grant_what(&gr);
	snprintf(subject, sizeof(subject), "grant #%lld of %s to %s: %s", (long long)id, what,
		 gr.grantee, event);
	snprintf(body, sizeof(body),
		 "Grant #%lld (%s) of %s to %s is now %s.\n\nFrom:      %s\nUntil:     %s\n"
		 "Reason:    %s\nRequested: by %s\n%s%.300s%s%s%s\n\nidgov grant show %lld\n",
		 (long long)id, gr.kind, what, gr.grantee, gr.state, start, end, gr.reason,
		 gr.requester, why_or_null(&gr) != NULL ? "Privileged: " : "",
		 why_or_null(&gr) != NULL ? gr.privileged_reason : "",
		 why_or_null(&gr) != NULL ? "\n" : "", detail != NULL ? "Note:      " : "",
		 detail != NULL ? detail : "", (long long)id);
	notify_send(g->cfg, g->log, event, to, 2, subject, body);
	grant_free(&gr);
}

/* ---- transactions ---- */

int
grant_begin(struct grants_ctx *g, struct idg_err *err)
{
	return store_begin(g->st, err);
}

int
grant_commit(struct grants_ctx *g, int rc, struct idg_err *err)
{
	if (rc == 0 && audit_sign_head(g->audit, err) == 0 && store_commit(g->st, err) == 0)
		return 0;
	store_rollback(g->st);
	return rc != 0 ? rc : -1;
}

int
grant_set_state(struct store *st, int64_t id, const char *state, const char *time_col, int64_t now,
		struct idg_err *err)
{
	char sql[160];
	sqlite3_stmt *s;
	int rc;

	/* time_col is one of a fixed set of column names chosen by this file, never input. */
	snprintf(sql, sizeof(sql), "UPDATE grants SET state = ?2, %s = ?3 WHERE id = ?1", time_col);
	if (store_prepare(st, sql, &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

static int
insert_grant(struct grants_ctx *g, const struct grant *gr, int64_t *id, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    g->st,
		    "INSERT INTO grants (kind, state, grantee, group_cn, group_dn, privileged, "
		    "account_name, target_id, start_at, end_at, reason, requester, "
		    "requested_at, approvals_needed, breakglass, sudo, privileged_reason) VALUES "
		    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, 0), ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		    "?16, ?17)",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, gr->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, gr->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, gr->grantee, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, gr->group_cn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, gr->group_dn, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, gr->privileged);
	sqlite3_bind_text(s, 7, gr->account_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, gr->target_id);
	sqlite3_bind_int64(s, 9, gr->start_at);
	sqlite3_bind_int64(s, 10, gr->end_at);
	sqlite3_bind_text(s, 11, gr->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 12, gr->requester, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 13, gr->requested_at);
	sqlite3_bind_int(s, 14, gr->approvals_needed);
	sqlite3_bind_int(s, 15, gr->breakglass);
	sqlite3_bind_int(s, 16, gr->sudo);
	sqlite3_bind_text(s, 17, gr->privileged_reason, -1, SQLITE_STATIC);
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	*id = sqlite3_last_insert_rowid(g->st->db);
	return rc;
}

static int
insert_decision(struct grants_ctx *g, int64_t id, const char *decision, const char *comment,
		int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(g->st,
			  "INSERT INTO grant_decisions (grant_id, actor, decision, comment, time) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, g->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) { /* primary key: one decision each */
		idg_seterr(err, "%s has already decided on grant #%lld", g->actor, (long long)id);
		return GRANT_CONFLICT;
	}
	return rc == SQLITE_DONE ? 0 : store_err(g->st, err, "recording a decision");
}

static int
count_approvals(struct store *st, int64_t id)
{
	sqlite3_stmt *s;
	int n = -1;

	if (store_prepare(st,
			  "SELECT count(*) FROM grant_decisions WHERE grant_id = ?1 AND "
			  "decision = 'approve'",
			  &s, NULL) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* ---- requests ---- */

/* The groups of an account request: each known, at most GRANT_ACCOUNT_GROUPS_MAX. */
static int
check_account_groups(struct grants_ctx *g, const char *groups, struct idg_err *err)
{
	const char *cursor = groups, *item;
	struct group_ref gref;
	char cn[256];
	size_t len, n = 0;
	int rc;

	if (groups == NULL || groups[0] == '\0') {
		idg_seterr(err, "an account needs --groups G1,G2,...");
		return GRANT_INVALID;
	}
	while (idg_list_next(&cursor, &item, &len)) {
		if (len == 0 || len >= sizeof(cn) || ++n > GRANT_ACCOUNT_GROUPS_MAX) {
			idg_seterr(err, "--groups: 1 to %d group names, comma-separated",
				   GRANT_ACCOUNT_GROUPS_MAX);
			return GRANT_INVALID;
		}
		memcpy(cn, item, len);
		cn[len] = '\0';
		if ((rc = grant_lookup_group(g->st, cn, &gref, err)) != 0)
			return rc;
	}
	return 0;
}

static int
request_account(struct grants_ctx *g, const struct grant_request *req, struct grant *gr,
		int64_t now, struct idg_err *err)
{
	struct user_ref u;
	int rc;

	if (g->cfg->acct_base[0] == '\0') {
		idg_seterr(err, "temporary accounts need [accounts] base in %s", g->cfg->path);
		return GRANT_INVALID;
	}
	if (!valid_account_name(req->account)) {
		idg_seterr(err,
			   "'%.40s' is not an account name (a-z, 0-9, _ and -, starting with a "
			   "letter or _, at most 32)",
			   req->account);
		return GRANT_INVALID;
	}
	if (grant_lookup_user(g->st, req->account, &u, err) == 0) {
		idg_seterr(err, "a user named '%s' already exists", req->account);
		return GRANT_CONFLICT;
	}
	if ((rc = check_account_groups(g, req->groups, err)) != 0 ||
	    (rc = resolve_times(req->start, req->until, req->duration, now,
				g->cfg->acct_max_duration, &gr->start_at, &gr->end_at, err)) != 0)
		return rc;
	idg_strlcpy(gr->kind, "account", sizeof(gr->kind));
	gr->account_name = idg_unconst(req->account);
	gr->group_cn = idg_unconst(req->groups);
	return 0;
}

static int
request_group(struct grants_ctx *g, const struct grant_request *req, struct grant *gr, int64_t now,
	      struct group_ref *gref, struct idg_err *err)
{
	struct user_ref u;
	int64_t other;
	int rc;

	if (req->group == NULL) {
		idg_seterr(err, "give --group G (or --account NAME)");
		return GRANT_INVALID;
	}
	if (req->sudo && g->cfg->grant_sudo_base[0] == '\0') {
		idg_seterr(err, "sudo grants need [grants] sudo_base in %s", g->cfg->path);
		return GRANT_INVALID;
	}
	if ((rc = grant_lookup_user(g->st, req->grantee, &u, err)) != 0 ||
	    (rc = grant_lookup_group(g->st, req->group, gref, err)) != 0)
		return rc;
	if ((rc = holds_directly(g->st, gref->id, &u, req->grantee, err)) != 0) {
		if (rc > 0)
			idg_seterr(err, "%s is already a member of %s; nothing to grant",
				   req->grantee, req->group);
		return rc > 0 ? GRANT_CONFLICT : rc;
	}
	if ((other = open_grant(g->st, req->grantee, req->group)) != 0) {
		idg_seterr(err, "grant #%lld of %s to %s is already open", (long long)other,
			   req->group, req->grantee);
		return GRANT_CONFLICT;
	}
	if ((rc = resolve_times(req->start, req->until, req->duration, now,
				cfg_group_max_duration(g->cfg, req->group), &gr->start_at,
				&gr->end_at, err)) != 0)
		return rc;
	idg_strlcpy(gr->kind, "group", sizeof(gr->kind));
	gr->group_cn = idg_unconst(req->group);
	gr->group_dn = gref->dn;
	gr->sudo = req->sudo;
	return 0;
}

/*
 * An admin's request for a grant that is not privileged (judged on its
 * effect: no privileged group, directly or nested, no sudo, no account),
 * for someone else, is approved by asking; every other request waits for
 * approvers.
 */
static int
self_approves(const struct grants_ctx *g, const struct grant *gr)
{
	return g->admin && !gr->privileged && strcmp(g->actor, gr->grantee) != 0;
}

int
grant_request(struct grants_ctx *g, const struct grant_request *req, int64_t *id,
	      struct idg_err *err)
{
	struct grant gr = {0};
	struct group_ref gref;
	char why[GRANT_WHY_MAX];
	int64_t now = idg_now();
	int rc;

	if (req->grantee == NULL || (!g->admin && strcmp(req->grantee, g->actor) != 0)) {
		idg_seterr(err, "only admins may request a grant for someone else (you are %s)",
			   g->actor);
		return GRANT_DENIED;
	}
	if ((rc = check_reason(req->reason, err)) != 0)
		return rc;
	rc = req->account != NULL ? request_account(g, req, &gr, now, err)
				  : request_group(g, req, &gr, now, &gref, err);
	if (rc == 0)
		rc = grant_judge_privilege(g, &gr, why, err);
	if (rc != 0)
		return rc;
	idg_strlcpy(gr.state, "requested", sizeof(gr.state));
	gr.grantee = idg_unconst(req->grantee);
	gr.reason = idg_unconst(req->reason);
	gr.requester = idg_unconst(g->actor);
	gr.requested_at = now;
	gr.approvals_needed = gr.privileged ? g->cfg->grant_approvers : 1;
	if (grant_begin(g, err) != 0)
		return -1;
	rc = insert_grant(g, &gr, id, err);
	if (rc == 0 && self_approves(g, &gr)) {
		rc = insert_decision(g, *id, "approve", "requested by an admin", now, err);
		if (rc == 0)
			rc = grant_set_state(g->st, *id, "approved", "decided_at", now, err);
	}
	if (rc == 0)
		rc = audit_grant(g, *id, "request",
				 json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:s, s:b, s:b, s:s?}",
					   "grantee", gr.grantee, "group", gr.group_cn, "account",
					   gr.account_name, "start", (json_int_t)gr.start_at, "end",
					   (json_int_t)gr.end_at, "reason", gr.reason, "sudo",
					   gr.sudo, "privileged", gr.privileged,
					   "privileged_reason", why_or_null(&gr)),
				 err);
	if ((rc = grant_commit(g, rc, err)) != 0)
		return rc;
	log_msg(g->log, LOG_NOTICE, "grant #%lld: %s requests %s for %s: %s%s%s%s", (long long)*id,
		g->actor, grant_what(&gr), gr.grantee, gr.reason,
		why_or_null(&gr) != NULL ? " (privileged: " : "",
		why_or_null(&gr) != NULL ? gr.privileged_reason : "",
		why_or_null(&gr) != NULL ? ")" : "");
	if (!self_approves(g, &gr))
		notify_grant(g, *id, "requested", NULL);
	return 0;
}

/* ---- decisions ---- */

/* The two-person rule, with a message that says which part was broken. */
static int
may_decide(const struct grants_ctx *g, const struct grant *gr, int approve, struct idg_err *err)
{
	if (!g->admin) {
		idg_seterr(err, "only admins may approve or deny grants (you are %s)", g->actor);
		return GRANT_DENIED;
	}
	if (strcmp(g->actor, gr->grantee) == 0) {
		idg_seterr(err,
			   "%s may not decide on a grant to themself (two-person rule: another "
			   "admin must)",
			   g->actor);
		return GRANT_DENIED;
	}
	if (approve && gr->privileged && strcmp(g->actor, gr->requester) == 0) {
		idg_seterr(err,
			   "%s requested grant #%lld and may not approve it too "
			   "(two-person rule: another admin must%s%.300s)",
			   g->actor, (long long)gr->id,
			   why_or_null(gr) != NULL ? "; privileged: " : "",
			   why_or_null(gr) != NULL ? gr->privileged_reason : "");
		return GRANT_DENIED;
	}
	if (strcmp(gr->state, "requested") != 0) {
		idg_seterr(err, "grant #%lld is %s, not awaiting a decision", (long long)gr->id,
			   gr->state);
		return GRANT_CONFLICT;
	}
	return 0;
}

/*
 * Privilege is judged again when a request is approved: the group may have
 * been nested in a privileged group since it was asked for. A grant that
 * has become privileged is recorded so and needs [grants] approvers (inside
 * the decision's transaction). A grant once privileged stays so.
 */
static int
judge_again(struct grants_ctx *g, struct grant *gr, struct idg_err *err)
{
	struct grant now = *gr;
	char why[GRANT_WHY_MAX];
	sqlite3_stmt *s;
	int rc;

	if (gr->privileged || strcmp(gr->state, "requested") != 0)
		return 0;
	if (grant_judge_privilege(g, &now, why, err) != 0)
		return -1;
	if (!now.privileged)
		return 0;
	if (store_prepare(g->st,
			  "UPDATE grants SET privileged = 1, privileged_reason = ?2, "
			  "approvals_needed = max(approvals_needed, ?3) WHERE id = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, gr->id);
	sqlite3_bind_text(s, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, g->cfg->grant_approvers);
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	gr->privileged = 1;
	free(gr->privileged_reason);
	if ((gr->privileged_reason = idg_strdup(why)) == NULL)
		return idg_seterr(err, "out of memory");
	if (gr->approvals_needed < g->cfg->grant_approvers)
		gr->approvals_needed = g->cfg->grant_approvers;
	return 0;
}

int
grant_decide(struct grants_ctx *g, int64_t id, int approve, const char *comment,
	     struct idg_err *err)
{
	struct grant gr;
	int64_t now = idg_now();
	int rc, approvals = 0;

	if (comment != NULL && !idg_text_line(comment, GRANT_REASON_MAX)) {
		idg_seterr(err, "a comment is 1 to %d characters on one line", GRANT_REASON_MAX);
		return GRANT_INVALID;
	}
	if (!approve && comment == NULL) {
		idg_seterr(err, "denying a grant needs --comment saying why");
		return GRANT_INVALID;
	}
	if (grant_begin(g, err) != 0)
		return -1;
	if ((rc = load_grant(g->st, id, &gr, err)) != 0)
		return grant_commit(g, rc, err);
	if (approve)
		rc = judge_again(g, &gr, err);
	if (rc == 0)
		rc = may_decide(g, &gr, approve, err);
	if (rc == 0)
		rc = insert_decision(g, id, approve ? "approve" : "deny", comment, now, err);
	if (rc == 0 && (approvals = count_approvals(g->st, id)) < 0)
		rc = store_err(g->st, err, "counting approvals");
	if (rc == 0 && (!approve || approvals >= gr.approvals_needed))
		rc = grant_set_state(g->st, id, approve ? "approved" : "denied", "decided_at", now,
				     err);
	if (rc == 0)
		rc = audit_grant(g, id, approve ? "approve" : "deny",
				 json_pack("{s:s?, s:i, s:i, s:s?}", "comment", comment,
					   "approvals", approvals, "needed", gr.approvals_needed,
					   "privileged_reason", why_or_null(&gr)),
				 err);
	rc = grant_commit(g, rc, err);
	if (rc == 0) {
		log_msg(g->log, LOG_NOTICE, "grant #%lld %s by %s (%d of %d approvals)",
			(long long)id, approve ? "approved" : "denied", g->actor, approvals,
			gr.approvals_needed);
		if (!approve || approvals >= gr.approvals_needed)
			notify_grant(g, id, approve ? "approved" : "denied", comment);
	}
	grant_free(&gr);
	return rc;
}

/* ---- ending ---- */

/* The directory changes that undo what the grant's activation wrote. */
static int
journal_undo(struct grants_ctx *g, const struct grant *gr, int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_exec_int64(g->st,
			     "INSERT INTO dir_journal (grant_id, op, dn, attr, value, created_at) "
			     "SELECT grant_id, 'del_member', dn, attr, value, ?2 FROM dir_journal "
			     "WHERE grant_id = ?1 AND op = 'add_member' ORDER BY id",
			     gr->id, now, 0, err) != 0)
		return -1;
	if (strcmp(gr->kind, "account") != 0) /* a group grant's entries (its sudoRole) go */
		return store_exec_int64(g->st,
					"INSERT INTO dir_journal (grant_id, op, dn, created_at) "
					"SELECT grant_id, 'del_entry', dn, ?2 FROM dir_journal "
					"WHERE grant_id = ?1 AND op = 'add_entry' ORDER BY id",
					gr->id, now, 0, err);
	/* An account is locked and kept (for audit) until its retention ends. */
	if (store_prepare(g->st,
			  "INSERT INTO dir_journal (grant_id, op, dn, attr, value, created_at) "
			  "SELECT grant_id, 'replace', dn, ?3, ?4, ?2 FROM temp_accounts "
			  "WHERE grant_id = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, gr->id);
	sqlite3_bind_int64(s, 2, now);
	if (g->cfg->acct_lock == CFG_LOCK_PPOLICY) {
		sqlite3_bind_text(s, 3, g->cfg->attr_locked, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, "000001010000Z", -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(s, 3, g->cfg->attr_shadow_expire, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, "1", -1, SQLITE_STATIC);
	}
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	return rc;
}

/* Ends an open grant as expired or revoked (inside the caller's transaction). */
int
end_grant(struct grants_ctx *g, const struct grant *gr, const char *state, const char *reason,
	  int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(g->st,
			  "UPDATE grants SET state = ?2, ended_at = ?3, ended_by = ?4, "
			  "end_reason = ?5, purge_at = CASE kind WHEN 'account' THEN ?3 + ?6 END "
			  "WHERE id = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, gr->id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_text(s, 4, g->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, g->cfg->acct_retention);
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	if (rc == 0 && strcmp(gr->state, "active") == 0)
		rc = journal_undo(g, gr, now, err);
	if (rc == 0)
		rc = audit_grant(g, gr->id, strcmp(state, "revoked") == 0 ? "revoke" : "expire",
				 json_pack("{s:s, s:s?, s:s?, s:s, s:I}", "grantee", gr->grantee,
					   "group", gr->group_cn, "account", gr->account_name,
					   "reason", reason, "end", (json_int_t)gr->end_at),
				 err);
	return rc;
}

int
grant_revoke(struct grants_ctx *g, int64_t id, const char *reason, struct idg_err *err)
{
	struct grant gr;
	int rc;

	if ((rc = check_reason(reason, err)) != 0)
		return rc;
	if (grant_begin(g, err) != 0)
		return -1;
	if ((rc = load_grant(g->st, id, &gr, err)) != 0)
		return grant_commit(g, rc, err);
	if (!g->admin && strcmp(g->actor, gr.grantee) != 0 && strcmp(g->actor, gr.requester) != 0) {
		idg_seterr(err, "only admins, the grantee and the requester may revoke grant #%lld",
			   (long long)id);
		rc = GRANT_DENIED;
	} else if (strcmp(gr.kind, "extend") == 0 ||
		   (strcmp(gr.state, "requested") != 0 && strcmp(gr.state, "approved") != 0 &&
		    strcmp(gr.state, "active") != 0)) {
		idg_seterr(err, "grant #%lld is %s; only an open grant can be revoked",
			   (long long)id, gr.state);
		rc = GRANT_CONFLICT;
	} else {
		rc = end_grant(g, &gr, "revoked", reason, idg_now(), err);
	}
	rc = grant_commit(g, rc, err);
	if (rc == 0) {
		log_msg(g->log, LOG_NOTICE, "grant #%lld revoked by %s: %s", (long long)id,
			g->actor, reason);
		notify_grant(g, id, "ended", reason);
	}
	grant_free(&gr);
	return rc;
}

/* ---- extensions, break-glass, acknowledgement ---- */

/*
 * An extension of a privileged grant needs the same approvals. It is
 * judged as its grant is now (nesting may have changed since), and a grant
 * that was privileged when it was made stays so, whatever changed since.
 */
static int
judge_extension(struct grants_ctx *g, const struct grant *gr, struct grant *ext,
		char why[GRANT_WHY_MAX], struct idg_err *err)
{
	if (grant_judge_privilege(g, ext, why, err) != 0)
		return -1;
	if (gr->privileged && !ext->privileged) {
		snprintf(why, GRANT_WHY_MAX, "extends a grant that was privileged%s%.900s",
			 why_or_null(gr) != NULL ? ": " : "",
			 why_or_null(gr) != NULL ? gr->privileged_reason : "");
		ext->privileged = 1;
		ext->privileged_reason = why;
	}
	ext->approvals_needed = ext->privileged ? g->cfg->grant_approvers : 1;
	return 0;
}

int
grant_extend(struct grants_ctx *g, int64_t id, const char *until, const char *duration,
	     const char *reason, int64_t *new_id, struct idg_err *err)
{
	struct grant gr, ext = {0};
	char why[GRANT_WHY_MAX];
	int64_t now = idg_now(), end = 0, max;
	int rc;

	if ((rc = check_reason(reason, err)) != 0)
		return rc;
	if ((rc = load_grant(g->st, id, &gr, err)) != 0)
		return rc;
	max = strcmp(gr.kind, "account") == 0 ? g->cfg->acct_max_duration
					      : cfg_group_max_duration(g->cfg, gr.group_cn);
	if (!g->admin && strcmp(g->actor, gr.grantee) != 0) {
		idg_seterr(err, "only admins and the grantee may ask to extend grant #%lld",
			   (long long)id);
		rc = GRANT_DENIED;
	} else if (strcmp(gr.state, "active") != 0 || gr.breakglass) {
		idg_seterr(err, "grant #%lld is %s%s; only an active grant can be extended",
			   (long long)id, gr.state, gr.breakglass ? " (break-glass)" : "");
		rc = GRANT_CONFLICT;
	} else if (duration != NULL
			   ? duration_parse(duration, &end, err) != 0
			   : time_parse_absolute(until != NULL ? until : "", &end, err) != 0) {
		rc = GRANT_INVALID;
	} else if ((end = duration != NULL ? gr.end_at + end : end) <= gr.end_at) {
		idg_seterr(err, "the new end must be after the current end");
		rc = GRANT_INVALID;
	} else if (end - gr.start_at > max) {
		char maxs[32];

		duration_format(max, maxs);
		idg_seterr(err, "at most %s may be granted here, counted from the start", maxs);
		rc = GRANT_INVALID;
	}
	if (rc != 0) {
		grant_free(&gr);
		return rc;
	}
	ext = gr;
	idg_strlcpy(ext.kind, "extend", sizeof(ext.kind));
	idg_strlcpy(ext.state, "requested", sizeof(ext.state));
	ext.target_id = id;
	ext.start_at = now; /* applies as soon as it is approved */
	ext.end_at = end;
	ext.reason = idg_unconst(reason);
	ext.requester = idg_unconst(g->actor);
	ext.requested_at = now;
	ext.breakglass = 0;
	if (grant_begin(g, err) != 0) {
		grant_free(&gr);
		return -1;
	}
	rc = judge_extension(g, &gr, &ext, why, err);
	if (rc == 0)
		rc = insert_grant(g, &ext, new_id, err);
	if (rc == 0 && self_approves(g, &ext)) {
		rc = insert_decision(g, *new_id, "approve", "requested by an admin", now, err);
		if (rc == 0)
			rc = grant_set_state(g->st, *new_id, "approved", "decided_at", now, err);
	}
	if (rc == 0)
		rc = audit_grant(g, *new_id, "request",
				 json_pack("{s:I, s:I, s:s, s:b, s:s?}", "extends", (json_int_t)id,
					   "end", (json_int_t)end, "reason", reason, "privileged",
					   ext.privileged, "privileged_reason", why_or_null(&ext)),
				 err);
	rc = grant_commit(g, rc, err);
	if (rc == 0 && !self_approves(g, &ext))
		notify_grant(g, *new_id, "requested", NULL);
	grant_free(&gr);
	return rc;
}

int
grant_breakglass(struct grants_ctx *g, const char *group, const char *duration, const char *reason,
		 int64_t *id, struct idg_err *err)
{
	struct grant_request req = {
		.grantee = g->actor, .group = group, .duration = duration, .reason = reason};
	struct grant gr = {0};
	struct group_ref gref;
	char why[GRANT_WHY_MAX];
	int64_t now = idg_now();
	int rc;

	if (g->cfg->breakglass_group[0] == '\0' ||
	    !is_member(g, g->actor, g->cfg->breakglass_group)) {
		idg_seterr(err, "break-glass is for members of the [breakglass] group%s%s",
			   g->cfg->breakglass_group[0] ? " " : " (none is configured)",
			   g->cfg->breakglass_group);
		return GRANT_DENIED;
	}
	if ((rc = check_reason(reason, err)) != 0 ||
	    (rc = request_group(g, &req, &gr, now, &gref, err)) != 0 ||
	    (rc = grant_judge_privilege(g, &gr, why, err)) != 0)
		return rc;
	if (gr.end_at - gr.start_at > g->cfg->breakglass_max_duration) {
		char maxs[32];

		duration_format(g->cfg->breakglass_max_duration, maxs);
		idg_seterr(err, "break-glass lasts at most %s", maxs);
		return GRANT_INVALID;
	}
	idg_strlcpy(gr.state, "approved", sizeof(gr.state));
	gr.grantee = gr.requester = idg_unconst(g->actor);
	gr.reason = idg_unconst(reason);
	gr.requested_at = now;
	gr.breakglass = 1;
	if (grant_begin(g, err) != 0)
		return -1;
	rc = insert_grant(g, &gr, id, err);
	if (rc == 0)
		rc = grant_set_state(g->st, *id, "approved", "decided_at", now, err);
	if (rc == 0)
		rc = audit_grant(g, *id, "breakglass",
				 json_pack("{s:s, s:s, s:I, s:s}", "grantee", g->actor, "group",
					   group, "end", (json_int_t)gr.end_at, "reason", reason),
				 err);
	if ((rc = grant_commit(g, rc, err)) != 0)
		return rc;
	log_msg(g->log, LOG_ALERT, "break-glass: %s took %s until %lld (grant #%lld): %s", g->actor,
		group, (long long)gr.end_at, (long long)*id, reason);
	notify_grant(g, *id, "breakglass", "break-glass access: review it after the fact");
	return 0;
}

int
grant_acknowledge(struct grants_ctx *g, int64_t id, const char *comment, struct idg_err *err)
{
	struct grant gr;
	sqlite3_stmt *s = NULL;
	int rc;

	if (comment != NULL && !idg_text_line(comment, GRANT_REASON_MAX)) {
		idg_seterr(err, "a comment is 1 to %d characters on one line", GRANT_REASON_MAX);
		return GRANT_INVALID;
	}
	if (grant_begin(g, err) != 0)
		return -1;
	if ((rc = load_grant(g->st, id, &gr, err)) != 0)
		return grant_commit(g, rc, err);
	if (!g->admin || strcmp(g->actor, gr.grantee) == 0) {
		idg_seterr(err, "a break-glass use is acknowledged by an admin other than %s",
			   gr.grantee);
		rc = GRANT_DENIED;
	} else if (!gr.breakglass) {
		idg_seterr(err, "grant #%lld is not a break-glass grant", (long long)id);
		rc = GRANT_CONFLICT;
	} else if ((rc = store_prepare(
			    g->st,
			    "UPDATE grants SET acknowledged_by = ?2, acknowledged_at = ?3 "
			    "WHERE id = ?1 AND acknowledged_by IS NULL",
			    &s, err)) == 0) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, g->actor, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, idg_now());
		rc = store_step_done(g->st, s, err);
		if (rc == 0 && sqlite3_changes(g->st->db) == 0) {
			idg_seterr(err, "grant #%lld was acknowledged already", (long long)id);
			rc = GRANT_CONFLICT;
		}
		sqlite3_finalize(s);
	}
	if (rc == 0)
		rc = audit_grant(g, id, "acknowledge", json_pack("{s:s?}", "comment", comment),
				 err);
	grant_free(&gr);
	return grant_commit(g, rc, err);
}
