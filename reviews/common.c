/* Helpers shared by the reviews library: audit, counts, notifications. */
#include "review_int.h"

#include "notify.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
review_audit(struct review_ctx *r, int64_t campaign, const char *action, json_t *d,
	     struct idg_err *err)
{
	char subject[40], *text;
	int rc;

	snprintf(subject, sizeof(subject), "campaign:%lld", (long long)campaign);
	text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = audit_append(r->audit, r->actor, subject, action, text, err);
	free(text);
	return rc;
}

int
review_commit(struct review_ctx *r, struct idg_err *err)
{
	if (audit_sign_head(r->audit, err) != 0 || store_commit(r->st, err) != 0)
		return -1;
	return 0;
}

json_t *
review_counts(struct store *st, int64_t campaign, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(st,
			  "SELECT count(*) AS items, "
			  "count(*) FILTER (WHERE decision IS NULL) AS undecided, "
			  "count(*) FILTER (WHERE decision = 'approve') AS approved, "
			  "count(*) FILTER (WHERE decision = 'revoke') AS revoked, "
			  "count(*) FILTER (WHERE reviewer IS NULL) AS unassigned, "
			  "count(*) FILTER (WHERE remediation = 'pending') AS remediation_pending, "
			  "count(*) FILTER (WHERE remediation = 'verified') AS verified, "
			  "count(*) FILTER (WHERE remediation = 'failed') AS failed "
			  "FROM review_items WHERE campaign_id = ?1",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_int64(s, 1, campaign);
	return query_row(st, s, "no counts", err);
}

void
review_notify_reviewers(struct review_ctx *r, int64_t campaign, const char *subject,
			const char *body)
{
	sqlite3_stmt *s;
	char text[1024], deadline[32], how[300];

	if (r->cfg->notify_command[0] == '\0' ||
	    store_prepare(r->st,
			  "SELECT i.reviewer, count(*), (SELECT mail FROM users u WHERE u.uid = "
			  "i.reviewer AND u.status = 'active' LIMIT 1), (SELECT display_name FROM "
			  "users u WHERE u.uid = i.reviewer AND u.status = 'active' LIMIT 1), "
			  "(SELECT deadline FROM campaigns c WHERE c.id = ?1) FROM "
			  "review_items i WHERE i.campaign_id = ?1 AND i.decision IS NULL AND "
			  "i.reviewer IS NOT NULL "
			  "GROUP BY i.reviewer",
			  &s, NULL) != 0)
		return;
	/* Where to decide: the web pages when there are some ([web] url), else the command. */
	if (r->cfg->web_url[0] != '\0')
		snprintf(how, sizeof(how), "Review them at: %.200s/reviews", r->cfg->web_url);
	else
		snprintf(how, sizeof(how), "Review them with: idgov review pending");
	sqlite3_bind_int64(s, 1, campaign);
	while (sqlite3_step(s) == SQLITE_ROW) {
		/* The mail and name are the directory's: notify_send() checks them. */
		struct notify_rcpt to = {.who = (const char *)sqlite3_column_text(s, 0),
					 .addr = (const char *)sqlite3_column_text(s, 2),
					 .name = (const char *)sqlite3_column_text(s, 3)};
		time_t t = (time_t)sqlite3_column_int64(s, 4);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(deadline, sizeof(deadline), "%Y-%m-%d %H:%M UTC", &tm);
		snprintf(text, sizeof(text),
			 "%s\n\n%s has %d undecided item(s) in campaign #%lld.\nDeadline: %s\n%s\n",
			 body, to.who, sqlite3_column_int(s, 1), (long long)campaign, deadline,
			 how);
		notify_send(r->cfg, r->log, "review", &to, 1, subject, text);
	}
	sqlite3_finalize(s);
}

int
review_campaign_state(struct store *st, int64_t campaign, char state[8], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT state FROM campaigns WHERE id = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, campaign);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		idg_strlcpy(state, (const char *)sqlite3_column_text(s, 0), 8);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no campaign #%lld", (long long)campaign);
		return REVIEW_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading campaigns");
}
