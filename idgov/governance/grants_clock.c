/*
 * Grants in time: activation (the directory changes a grant makes when it
 * starts, for a group, an account or an extension) and the clock that
 * lapses, starts, ends and purges grants when they are due. See grants.h.
 */
#include "grants_int.h"

#include "dir.h"
#include "journal.h"
#include "timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- activation ---- */

static int
next_uid_number(struct grants_ctx *g, int64_t *out, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(g->st,
			  "SELECT max(n) FROM (SELECT uid_number AS n FROM users WHERE uid_number "
			  "BETWEEN ?1 AND ?2 UNION ALL SELECT uid_number FROM temp_accounts WHERE "
			  "uid_number BETWEEN ?1 AND ?2)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int(s, 1, g->cfg->acct_uid_min);
	sqlite3_bind_int(s, 2, g->cfg->acct_uid_max);
	rc = sqlite3_step(s);
	*out = sqlite3_column_type(s, 0) == SQLITE_NULL ? g->cfg->acct_uid_min
							: sqlite3_column_int64(s, 0) + 1;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_err(g->st, err, "allocating a uidNumber");
	if (*out > g->cfg->acct_uid_max) {
		idg_seterr(err, "no free uidNumber left in [accounts] uid_min..uid_max");
		return GRANT_CONFLICT;
	}
	return 0;
}

static json_t *
account_entry(struct grants_ctx *g, const struct grant *gr, const struct user_ref *owner,
	      int64_t uid_number)
{
	char num[24], gid[24], home[1024], desc[256], end[32];
	const char *u = strstr(g->cfg->acct_home, "%u");

	snprintf(num, sizeof(num), "%lld", (long long)uid_number);
	snprintf(gid, sizeof(gid), "%d", g->cfg->acct_gid_number);
	snprintf(home, sizeof(home), "%.*s%s%s", (int)(u - g->cfg->acct_home), g->cfg->acct_home,
		 gr->account_name, u + 2);
	time_format(gr->end_at, end);
	snprintf(desc, sizeof(desc), "idgov temporary account of %s until %s (grant #%lld)",
		 gr->grantee, end, (long long)gr->id);
	return json_pack("{s:[s,s,s,s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s], "
			 "s:[s]}",
			 "objectClass", "top", "inetOrgPerson", "posixAccount", "shadowAccount",
			 "uid", gr->account_name, "cn", gr->account_name, "sn", gr->account_name,
			 "uidNumber", num, "gidNumber", gid, "homeDirectory", home, "loginShell",
			 g->cfg->acct_shell, "description", desc, "manager", owner->dn);
}

/* Journals the account's entry and its memberships; records what was created. */
static int
activate_account(struct grants_ctx *g, const struct grant *gr, struct idg_err *err)
{
	struct user_ref owner;
	struct group_ref gref;
	const char *cursor = gr->group_cn, *item;
	char dn[DIR_MAX_DN], cn[256], *attrs;
	sqlite3_stmt *s;
	int64_t uid_number;
	size_t len;
	int rc;

	if ((rc = grant_lookup_user(g->st, gr->grantee, &owner, err)) != 0 ||
	    (rc = next_uid_number(g, &uid_number, err)) != 0)
		return rc;
	snprintf(dn, sizeof(dn), "uid=%s,%s", gr->account_name, g->cfg->acct_base);
	if (store_prepare(g->st,
			  "INSERT INTO temp_accounts (grant_id, name, dn, uid_number, groups) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, gr->id);
	sqlite3_bind_text(s, 2, gr->account_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, dn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, uid_number);
	sqlite3_bind_text(s, 5, gr->group_cn, -1, SQLITE_STATIC);
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	{
		json_t *entry = account_entry(g, gr, &owner, uid_number);

		attrs = entry != NULL ? json_dumps(entry, JSON_COMPACT) : NULL;
		json_decref(entry);
	}
	if (attrs == NULL)
		return idg_seterr(err, "out of memory");
	rc = journal_add(g->st, gr->id, "add_entry", dn, NULL, attrs, err);
	free(attrs);
	while (rc == 0 && idg_list_next(&cursor, &item, &len)) {
		if (len == 0 || len >= sizeof(cn))
			continue;
		memcpy(cn, item, len);
		cn[len] = '\0';
		if ((rc = grant_lookup_group(g->st, cn, &gref, err)) == 0)
			rc = journal_add(g->st, gr->id, "add_member", gref.dn, gr->account_name, dn,
					 err);
	}
	return rc;
}

/* A sudo grant's sudoRole moves its sudoNotAfter with the grant's end. */
static int
journal_sudo_not_after(struct grants_ctx *g, int64_t target_id, int64_t end, struct idg_err *err)
{
	sqlite3_stmt *s;
	char gt[16];
	int rc;

	time_format_generalized(end, gt);
	if (store_prepare(g->st,
			  "INSERT INTO dir_journal (grant_id, op, dn, attr, value, created_at) "
			  "SELECT j.grant_id, 'replace', j.dn, 'sudoNotAfter', ?2, ?3 FROM "
			  "dir_journal j JOIN grants t ON t.id = j.grant_id WHERE j.grant_id = ?1 "
			  "AND j.op = 'add_entry' AND t.kind = 'group'",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, target_id);
	sqlite3_bind_text(s, 2, gt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, idg_now());
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	return rc;
}

static int
apply_extension(struct grants_ctx *g, const struct grant *ext, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(g->st,
			  "UPDATE grants SET end_at = ?2, notified_ending = 0 WHERE id = ?1 AND "
			  "state = 'active'",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, ext->target_id);
	sqlite3_bind_int64(s, 2, ext->end_at);
	rc = store_step_done(g->st, s, err);
	sqlite3_finalize(s);
	if (rc == 0 && sqlite3_changes(g->st->db) == 0) {
		idg_seterr(err, "grant #%lld is no longer active", (long long)ext->target_id);
		return GRANT_CONFLICT;
	}
	if (rc != 0)
		return rc;
	return journal_sudo_not_after(g, ext->target_id, ext->end_at, err);
}

/* The sudoRole of a sudo grant: valid from its start to its end, for sudo's timed rules. */
static int
journal_sudo_role(struct grants_ctx *g, const struct grant *gr, struct idg_err *err)
{
	char cn[40], dn[DIR_MAX_DN], from[16], until[16], desc[160], *text;
	json_t *attrs;
	int rc;

	snprintf(cn, sizeof(cn), "idgov-grant-%lld", (long long)gr->id);
	snprintf(dn, sizeof(dn), "cn=%s,%s", cn, g->cfg->grant_sudo_base);
	time_format_generalized(gr->start_at, from);
	time_format_generalized(gr->end_at, until);
	snprintf(desc, sizeof(desc), "idgov grant #%lld of %s to %s", (long long)gr->id,
		 gr->group_cn, gr->grantee);
	attrs = json_pack("{s:[s,s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s], s:[s]}",
			  "objectClass", "top", "sudoRole", "cn", cn, "sudoUser", gr->grantee,
			  "sudoHost", g->cfg->grant_sudo_host, "sudoCommand",
			  g->cfg->grant_sudo_command, "sudoRunAsUser", "ALL", "sudoNotBefore", from,
			  "sudoNotAfter", until, "description", desc);
	text = attrs != NULL ? json_dumps(attrs, JSON_COMPACT) : NULL;
	json_decref(attrs);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = journal_add(g->st, gr->id, "add_entry", dn, NULL, text, err);
	free(text);
	return rc;
}

/*
 * Starts an approved grant: journals its directory changes. A grant that
 * cannot start (its user has left, its group is gone) lapses instead, and
 * says why.
 */
static int
activate(struct grants_ctx *g, const struct grant *gr, int64_t now, const char **event,
	 struct idg_err *err)
{
	struct user_ref u;
	struct idg_err why;
	int rc;

	/* A refusal half-way must not leave half of the account's rows behind. */
	if (store_exec(g->st, "SAVEPOINT activate", err) != 0)
		return -1;
	if (strcmp(gr->kind, "extend") == 0)
		rc = apply_extension(g, gr, &why);
	else if (strcmp(gr->kind, "account") == 0)
		rc = activate_account(g, gr, &why);
	else if ((rc = grant_lookup_user(g->st, gr->grantee, &u, &why)) == 0)
		rc = journal_add(g->st, gr->id, "add_member", gr->group_dn, gr->grantee, u.dn,
				 &why);
	if (rc == 0 && gr->sudo)
		rc = journal_sudo_role(g, gr, &why);
	if (rc == -1) /* the store failed; a refusal (< -1) lapses the grant below */
		return idg_seterr(err, "%s", why.msg);
	if (store_exec(g->st,
		       rc == 0 ? "RELEASE activate" : "ROLLBACK TO activate; RELEASE activate",
		       err) != 0)
		return -1;
	*event = rc == 0 ? "active" : "lapsed";
	if (rc != 0) {
		sqlite3_stmt *s;

		if (store_prepare(g->st, "UPDATE grants SET end_reason = ?2 WHERE id = ?1", &s,
				  err) != 0)
			return -1;
		sqlite3_bind_int64(s, 1, gr->id);
		sqlite3_bind_text(s, 2, why.msg, -1, SQLITE_STATIC);
		rc = store_step_done(g->st, s, err);
		sqlite3_finalize(s);
		if (rc != 0 || grant_set_state(g->st, gr->id, "lapsed", "ended_at", now, err) != 0)
			return -1;
		return audit_grant(g, gr->id, "lapse", json_pack("{s:s}", "reason", why.msg), err);
	}
	if (grant_set_state(g->st, gr->id, strcmp(gr->kind, "extend") == 0 ? "applied" : "active",
			    "activated_at", now, err) != 0)
		return -1;
	/* A grant shorter than the ending-soon notice gets no separate notice. */
	if (strcmp(gr->kind, "extend") != 0 && gr->end_at - g->cfg->grant_ending_soon <= now &&
	    grant_set_state(g->st, gr->id, "active", "notified_ending", 1, err) != 0)
		return -1;
	return audit_grant(g, gr->id, strcmp(gr->kind, "extend") == 0 ? "extend" : "activate",
			   json_pack("{s:s, s:I, s:I}", "grantee", gr->grantee, "start",
				     (json_int_t)gr->start_at, "end", (json_int_t)gr->end_at),
			   err);
}

/* ---- the clock ---- */

struct due {
	const char *sql; /* selects GRANT_COLUMNS of the grants due at ?1 */
	int (*fn)(struct grants_ctx *, const struct grant *, int64_t, const char **,
		  struct idg_err *);
};

static int
lapse(struct grants_ctx *g, const struct grant *gr, int64_t now, const char **event,
      struct idg_err *err)
{
	const char *why = gr->end_at <= now ? "its end passed before it was approved"
					    : "not approved within [grants] max_pending";

	*event = "lapsed";
	if (grant_set_state(g->st, gr->id, "lapsed", "ended_at", now, err) != 0)
		return -1;
	return audit_grant(g, gr->id, "lapse", json_pack("{s:s}", "reason", why), err);
}

static int
expire(struct grants_ctx *g, const struct grant *gr, int64_t now, const char **event,
       struct idg_err *err)
{
	*event = "ended";
	return end_grant(g, gr, "expired", "end time reached", now, err);
}

static int
ending_soon(struct grants_ctx *g, const struct grant *gr, int64_t now, const char **event,
	    struct idg_err *err)
{
	(void)now;
	*event = "ending soon";
	return grant_set_state(g->st, gr->id, "active", "notified_ending", 1, err);
}

static int
purge(struct grants_ctx *g, const struct grant *gr, int64_t now, const char **event,
      struct idg_err *err)
{
	int rc;

	*event = NULL;
	rc = store_exec_int64(
		g->st,
		"INSERT INTO dir_journal (grant_id, op, dn, created_at) SELECT "
		"grant_id, 'del_entry', dn, ?2 FROM temp_accounts WHERE grant_id = ?1",
		gr->id, now, 0, err);
	if (rc == 0)
		rc = grant_set_state(g->st, gr->id, gr->state, "purged_at", now, err);
	if (rc == 0)
		rc = audit_grant(g, gr->id, "purge",
				 json_pack("{s:s}", "account", gr->account_name), err);
	return rc;
}

static const struct due dues[] = {
	{"SELECT " GRANT_COLUMNS " FROM grants WHERE state = 'requested' AND "
	 "(requested_at + ?2 <= ?1 OR end_at <= ?1) ORDER BY id",
	 lapse},
	{"SELECT " GRANT_COLUMNS " FROM grants WHERE state = 'approved' AND start_at <= ?1 "
	 "ORDER BY id",
	 activate},
	{"SELECT " GRANT_COLUMNS " FROM grants WHERE state = 'active' AND end_at <= ?1 "
	 "ORDER BY end_at, id",
	 expire},
	{"SELECT " GRANT_COLUMNS " FROM grants WHERE state = 'active' AND notified_ending = 0 "
	 "AND end_at - ?3 <= ?1 ORDER BY id",
	 ending_soon},
	{"SELECT " GRANT_COLUMNS " FROM grants WHERE kind = 'account' AND purge_at <= ?1 AND "
	 "purged_at IS NULL ORDER BY id",
	 purge},
};

struct notice {
	int64_t id;
	const char *event;
};

/* The grants a due query selects, read in full before any of them changes. */
static int
load_due(struct grants_ctx *g, const struct due *d, int64_t now, struct grant **out, size_t *n,
	 struct idg_err *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int step;

	*out = NULL;
	*n = 0;
	if (store_prepare(g->st, d->sql, &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int64(s, 2, g->cfg->grant_max_pending);
	if (sqlite3_bind_parameter_count(s) >= 3)
		sqlite3_bind_int64(s, 3, g->cfg->grant_ending_soon);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			struct grant *more =
				realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(**out));

			if (more == NULL) {
				step = SQLITE_NOMEM;
				break;
			}
			*out = more;
		}
		grant_from_row(s, &(*out)[(*n)++]);
	}
	sqlite3_finalize(s);
	return step == SQLITE_DONE ? 0 : idg_seterr(err, "reading due grants failed");
}

/* Runs one kind of due work in one transaction; notices go out after the commit. */
static int
run_due(struct grants_ctx *g, const struct due *d, int64_t now, struct idg_err *err)
{
	struct grant *due;
	const char **events;
	size_t n;
	int rc;

	if (grant_begin(g, err) != 0)
		return -1;
	if ((rc = load_due(g, d, now, &due, &n, err)) != 0 || n == 0) {
		free(due);
		return grant_commit(g, rc, err);
	}
	events = calloc(n, sizeof(*events));
	rc = events != NULL ? 0 : idg_seterr(err, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = d->fn(g, &due[i], now, &events[i], err);
	rc = grant_commit(g, rc, err);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && events != NULL && events[i] != NULL) {
			log_msg(g->log, LOG_NOTICE, "grant #%lld (%s of %s to %s): %s",
				(long long)due[i].id, due[i].kind, grant_what(&due[i]),
				due[i].grantee, events[i]);
			notify_grant(g, due[i].id, events[i], NULL);
		}
		grant_free(&due[i]);
	}
	free(events);
	free(due);
	return rc;
}

static int
next_due(struct grants_ctx *g, int64_t *next, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*next = 0;
	if (store_prepare(
		    g->st,
		    "SELECT min(t) FROM ("
		    "SELECT min(requested_at + ?1, end_at) AS t FROM grants "
		    "WHERE state = 'requested' "
		    "UNION ALL SELECT start_at FROM grants WHERE state = 'approved' "
		    "UNION ALL SELECT CASE notified_ending WHEN 0 THEN end_at - ?2 ELSE end_at "
		    "END FROM grants WHERE state = 'active' "
		    "UNION ALL SELECT purge_at FROM grants WHERE kind = 'account' AND "
		    "purge_at IS NOT NULL AND purged_at IS NULL)",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, g->cfg->grant_max_pending);
	sqlite3_bind_int64(s, 2, g->cfg->grant_ending_soon);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*next = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_err(g->st, err, "reading grant times");
}

int
grants_tick(struct grants_ctx *g, int64_t now, int64_t *next, struct idg_err *err)
{
	for (size_t i = 0; i < sizeof(dues) / sizeof(dues[0]); i++)
		if (run_due(g, &dues[i], now, err) != 0)
			return -1;
	return next_due(g, next, err);
}
