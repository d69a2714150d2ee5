/*
 * Reviews in time: scheduled starts, reminders, deadlines (revoke, approve,
 * or escalate to the fallback reviewer for a further period), and the
 * closed loop that verifies each revocation in the directory. See
 * reviews.h.
 */
#define _GNU_SOURCE
#include "review_int.h"

#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
earliest(int64_t *next, int64_t t)
{
	if (t > 0 && (*next == 0 || t < *next))
		*next = t;
}

/* ---- scheduled starts ---- */

static int
first_seen(struct review_ctx *r, const char *name, int64_t now, int64_t *since, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(r->st,
			  "INSERT INTO campaign_schedules (name, first_seen) VALUES (?1, ?2) "
			  "ON CONFLICT DO UPDATE SET name = name RETURNING first_seen",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*since = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_err(r->st, err, "recording a campaign schedule");
}

static int
already_started(struct store *st, const char *name, int64_t due)
{
	sqlite3_stmt *s;
	int found = 1; /* on error, do not start twice */

	if (store_prepare(st,
			  "SELECT EXISTS (SELECT 1 FROM campaigns WHERE name = ?1 AND due_at = ?2)",
			  &s, NULL) != 0)
		return 1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, due);
	if (sqlite3_step(s) == SQLITE_ROW)
		found = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return found;
}

/* Starts the latest due occurrence of each scheduled campaign, once. */
static int
scheduled_starts(struct review_ctx *r, int64_t now, int64_t *next, struct idg_err *err)
{
	for (size_t i = 0; i < review_config(r->cfg)->n_campaigns; i++) {
		const struct review_campaign_cfg *c = &review_config(r->cfg)->campaigns[i];
		struct campaign_def d;
		int64_t prev, upcoming, since = 0, id;

		if (c->sched.none)
			continue;
		if (first_seen(r, c->name, now, &since, err) != 0 ||
		    schedule_prev(&c->sched, c->timezone, now, &prev, err) != 0 ||
		    schedule_next(&c->sched, c->timezone, now, &upcoming, err) != 0)
			return -1;
		earliest(next, upcoming);
		if (prev == 0 || prev < since || already_started(r->st, c->name, prev))
			continue;
		review_def_from_config(r->cfg, c, &d);
		if (review_open(r, &d, prev, &id, err) != 0) {
			log_msg(r->log, LOG_ERR, "review campaign %s due at %lld did not start: %s",
				c->name, (long long)prev, err->msg);
			earliest(next, now + 60);
		}
	}
	return 0;
}

/* ---- reminders and deadlines ---- */

struct open_campaign {
	int64_t id, deadline, escalated_at;
	int reminders_sent;
	json_t *def;
};

static int
open_campaigns(struct store *st, struct open_campaign **out, size_t *n, struct idg_err *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(st,
			  "SELECT id, deadline, coalesce(escalated_at, 0), reminders_sent, "
			  "definition FROM campaigns WHERE state = 'open' ORDER BY id",
			  &s, err) != 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct open_campaign *c;

		if (*n == cap) {
			struct open_campaign *more =
				realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(**out));

			if (more == NULL)
				break;
			*out = more;
		}
		c = &(*out)[(*n)++];
		c->id = sqlite3_column_int64(s, 0);
		c->deadline = sqlite3_column_int64(s, 1);
		c->escalated_at = sqlite3_column_int64(s, 2);
		c->reminders_sent = sqlite3_column_int(s, 3);
		c->def = json_loads((const char *)sqlite3_column_text(s, 4), 0, NULL);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	for (size_t i = 0; i < *n; i++)
		json_decref((*out)[i].def);
	free(*out);
	*out = NULL;
	*n = 0;
	return idg_seterr(err, "reading open campaigns failed");
}

/* Sends the reminder whose offset before the deadline has been reached, once. */
static int
remind(struct review_ctx *r, const struct open_campaign *c, int64_t now, int64_t *next,
       struct idg_err *err)
{
	json_t *rem = json_object_get(c->def, "reminders");
	size_t k = (size_t)c->reminders_sent;
	char body[160];

	while (k < json_array_size(rem) &&
	       c->deadline - json_integer_value(json_array_get(rem, k)) <= now)
		k++;
	if (k < json_array_size(rem))
		earliest(next, c->deadline - json_integer_value(json_array_get(rem, k)));
	if (k == (size_t)c->reminders_sent)
		return 0;
	if (store_begin(r->st, err) != 0)
		return -1;
	if (store_exec_int64(r->st, "UPDATE campaigns SET reminders_sent = ?2 WHERE id = ?1", c->id,
			     (int64_t)k, 0, err) != 0 ||
	    review_audit(r, c->id, "review.remind", json_pack("{s:I}", "reminder", (json_int_t)k),
			 err) != 0 ||
	    review_commit(r, err) != 0) {
		store_rollback(r->st);
		return -1;
	}
	snprintf(body, sizeof(body), "Reminder: the review closes in %lld hour(s).",
		 (long long)((c->deadline - now) / 3600));
	review_notify_reviewers(r, c->id, "access review reminder", body);
	return 0;
}

/* escalate: the undecided items go to the fallback reviewer, who gets a further period. */
static int
escalate(struct review_ctx *r, const struct open_campaign *c, int64_t now, struct idg_err *err)
{
	const char *list = json_string_value(json_object_get(c->def, "fallback_reviewer"));
	int64_t period = json_integer_value(json_object_get(c->def, "escalation"));
	int rc = review_fallbacks(r, list, err), items = 0;

	if (rc == 0)
		rc = store_exec_int64(
			r->st,
			"UPDATE review_items SET reviewer_why = 'escalated from ' || "
			"coalesce(reviewer, 'nobody'), reviewer = (SELECT f.uid FROM "
			"temp.fallbacks f WHERE f.uid != coalesce(user_uid, '') ORDER BY "
			"f.pos LIMIT 1) WHERE campaign_id = ?1 AND decision IS NULL",
			c->id, 0, 0, err);
	if (rc == 0)
		items = sqlite3_changes(r->st->db);
	if (rc == 0)
		rc = store_exec_int64(
			r->st,
			"UPDATE campaigns SET escalated_at = ?2, deadline = ?3 WHERE id = ?1",
			c->id, now, now + period, err);
	if (rc == 0)
		rc = review_audit(r, c->id, "review.escalate",
				  json_pack("{s:I, s:i}", "deadline", (json_int_t)(now + period),
					    "items", items),
				  err);
	return rc;
}

/* The deadline passed: apply the default, or escalate once. */
static int
deadline(struct review_ctx *r, const struct open_campaign *c, int64_t now, int64_t *next,
	 struct idg_err *err)
{
	const char *deflt = json_string_value(json_object_get(c->def, "default"));
	int escalating = deflt != NULL && strcmp(deflt, "escalate") == 0 && c->escalated_at == 0;
	int rc;

	if (c->deadline > now) {
		earliest(next, c->deadline);
		return 0;
	}
	if (store_begin(r->st, err) != 0)
		return -1;
	if (escalating) {
		rc = escalate(r, c, now, err);
	} else {
		/* approve ("keep" before the rename) approves; revoke, and escalate's second
		 * deadline, revoke. */
		int approve = deflt != NULL &&
			      (strcmp(deflt, "approve") == 0 || strcmp(deflt, "keep") == 0);

		rc = review_decide_rest(r, c->id, approve ? "approve" : "revoke",
					c->escalated_at ? "default after escalation" : "default",
					now, err);
		if (rc == 0)
			rc = review_close_locked(r, c->id, now, err);
	}
	if (rc != 0 || review_commit(r, err) != 0) {
		store_rollback(r->st);
		return -1;
	}
	log_msg(r->log, LOG_NOTICE, "review campaign #%lld: deadline, %s", (long long)c->id,
		escalating ? "escalated to the fallback reviewer" : "closed");
	if (escalating) {
		review_notify_reviewers(r, c->id, "access review escalated to you",
					"Undecided access review items were escalated to you.");
		earliest(next, now + json_integer_value(json_object_get(c->def, "escalation")));
	}
	return 0;
}

int
reviews_tick(struct review_ctx *r, int64_t now, int64_t *next, struct idg_err *err)
{
	struct open_campaign *open;
	size_t n;
	int rc = 0;

	*next = 0;
	if (scheduled_starts(r, now, next, err) != 0 || open_campaigns(r->st, &open, &n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = remind(r, &open[i], now, next, err);
		if (rc == 0)
			rc = deadline(r, &open[i], now, next, err);
		json_decref(open[i].def);
	}
	free(open);
	return rc;
}

/* ---- verification ---- */

/* Items verified per round; more wait for the next round, due at once. */
#define VERIFY_LIMIT 2000
#define VERIFY_LIMIT_TEXT "2000"

struct pending {
	int64_t id;
	char *group_dn, *user_dn, *uid, *error;
	int failed;
};

/* 1 if the directory still lists the user in the group, 0 if not, -1 if it cannot be read. */
static int
still_member(struct review_ctx *r, LDAP *ld, const struct pending *p, struct idg_err *err)
{
	struct berval dn = {strlen(p->user_dn), p->user_dn}, uid = {0, NULL};
	struct berval edn = {0, NULL}, euid = {0, NULL};
	char *filter = NULL, *attrs[] = {"1.1", NULL};
	LDAPMessage *res = NULL;
	int rc, found;

	/* Both values are escaped for the filter: they come from the directory. */
	if (p->uid != NULL)
		uid = (struct berval){strlen(p->uid), p->uid};
	if (ldap_bv2escaped_filter_value(&dn, &edn) != 0 ||
	    (p->uid != NULL && ldap_bv2escaped_filter_value(&uid, &euid) != 0) ||
	    asprintf(&filter, "(|(%s=%s)(%s=%s))", r->cfg->attr_member, edn.bv_val,
		     r->cfg->attr_member_uid, euid.bv_val != NULL ? euid.bv_val : "\\00") < 0) {
		ber_memfree(edn.bv_val);
		ber_memfree(euid.bv_val);
		return idg_seterr(err, "out of memory");
	}
	rc = ldap_search_ext_s(ld, p->group_dn, LDAP_SCOPE_BASE, filter, attrs, 0, NULL, NULL, NULL,
			       1, &res);
	found = rc == LDAP_SUCCESS && ldap_count_entries(ld, res) > 0;
	ldap_msgfree(res);
	ber_memfree(edn.bv_val);
	ber_memfree(euid.bv_val);
	free(filter);
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		journal_close(r->journal);
		return idg_seterr(err, "reading %s: %s", p->group_dn, ldap_err2string(rc));
	}
	return found;
}

/* Items whose revocation has been written (or failed for good), with what they need. */
static int
load_written(struct store *st, struct pending **out, size_t *n, struct idg_err *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(
		    st,
		    "SELECT i.id, i.group_dn, i.user_dn, i.user_uid, (SELECT j.last_error FROM "
		    "dir_journal j WHERE j.item_id = i.id AND j.state = 'failed' LIMIT 1) "
		    "FROM review_items i WHERE i.remediation IN ('pending', 'remediated') AND "
		    "NOT EXISTS (SELECT "
		    "1 FROM dir_journal j WHERE j.item_id = i.id AND j.state = 'pending') "
		    "ORDER BY i.id LIMIT " VERIFY_LIMIT_TEXT,
		    &s, err) != 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct pending *p;

		if (*n == cap) {
			struct pending *more =
				realloc(*out, (cap = cap ? cap * 2 : 64) * sizeof(**out));

			if (more == NULL)
				break;
			*out = more;
		}
		p = &(*out)[(*n)++];
		p->id = sqlite3_column_int64(s, 0);
		p->group_dn = idg_strdup((const char *)sqlite3_column_text(s, 1));
		p->user_dn = idg_strdup((const char *)sqlite3_column_text(s, 2));
		p->uid = idg_strdup((const char *)sqlite3_column_text(s, 3));
		p->error = idg_strdup((const char *)sqlite3_column_text(s, 4));
		p->failed = p->error != NULL;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	for (size_t i = 0; i < *n; i++) {
		free((*out)[i].group_dn);
		free((*out)[i].user_dn);
		free((*out)[i].uid);
		free((*out)[i].error);
	}
	free(*out);
	*out = NULL;
	*n = 0;
	return idg_seterr(err, "reading remediations failed");
}

static int
record_verification(struct review_ctx *r, struct pending *p, int n, int64_t now,
		    struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc = 0;

	if (store_begin(r->st, err) != 0)
		return -1;
	if (store_prepare(r->st,
			  "UPDATE review_items SET remediation = ?2, remediation_why = ?3, "
			  "verified_at = CASE ?2 WHEN 'verified' THEN ?4 END WHERE id = ?1 "
			  "RETURNING campaign_id, user_uid, group_cn",
			  &s, err) != 0) {
		store_rollback(r->st);
		return -1;
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		const char *state = p[i].failed ? "failed" : "verified";
		int64_t campaign;
		char user[128], group[128];

		sqlite3_bind_int64(s, 1, p[i].id);
		sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, p[i].error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
		if (sqlite3_step(s) != SQLITE_ROW) {
			rc = store_err(r->st, err, "recording a verification");
			break;
		}
		campaign = sqlite3_column_int64(s, 0);
		idg_strlcpy(user, (const char *)sqlite3_column_text(s, 1), sizeof(user));
		idg_strlcpy(group, (const char *)sqlite3_column_text(s, 2), sizeof(group));
		sqlite3_reset(s);
		rc = review_audit(r, campaign,
				  p[i].failed ? "review.remediation_failed" : "review.verified",
				  json_pack("{s:I, s:s, s:s, s:s?}", "item", (json_int_t)p[i].id,
					    "user", user, "group", group, "reason", p[i].error),
				  err);
		if (rc == 0 && p[i].failed)
			log_msg(r->log, LOG_ALERT,
				"review item %lld: %s still holds %s after revocation: %s",
				(long long)p[i].id, user, group, p[i].error);
	}
	sqlite3_finalize(s);
	if (rc != 0 || review_commit(r, err) != 0) {
		store_rollback(r->st);
		return -1;
	}
	return 0;
}

/* Written to the directory but not yet read back (the directory went away). */
static int
mark_remediated(struct review_ctx *r, const struct pending *p, size_t n, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc = 0;

	if (store_prepare(r->st,
			  "UPDATE review_items SET remediation = 'remediated' WHERE id = ?1 AND "
			  "remediation = 'pending'",
			  &s, err) != 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (p[i].failed)
			continue;
		sqlite3_bind_int64(s, 1, p[i].id);
		rc = store_step_done(r->st, s, err);
	}
	sqlite3_finalize(s);
	return rc;
}

int
reviews_verify(struct review_ctx *r, int64_t now, struct idg_err *err)
{
	struct pending *p;
	size_t n, done = 0;
	int rc = 0;

	if (load_written(r->st, &p, &n, err) != 0)
		return -1;
	for (; done < n; done++) {
		LDAP *ld;
		int still;

		if (p[done].failed)
			continue;
		if (journal_connection(r->journal, &ld, err) != 0)
			break;
		if ((still = still_member(r, ld, &p[done], err)) < 0)
			break;
		if (still) {
			p[done].failed = 1;
			p[done].error = idg_strdup("the directory still lists the membership after "
						   "its removal");
		}
	}
	if (done > 0)
		rc = record_verification(r, p, (int)done, now, err);
	if (rc == 0 && done < n)
		rc = mark_remediated(r, &p[done], n - done, err);
	for (size_t i = 0; i < n; i++) {
		free(p[i].group_dn);
		free(p[i].user_dn);
		free(p[i].uid);
		free(p[i].error);
	}
	free(p);
	if (rc == 0 && done < n)
		return 1; /* the directory could not be read: try again soon */
	if (rc == 0 && n == VERIFY_LIMIT)
		return 2; /* more are waiting */
	return rc;
}
