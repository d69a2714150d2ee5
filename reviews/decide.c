/*
 * Reviewers' decisions: each by the reviewer of record, on an open
 * campaign, never about themself; changeable until the campaign closes;
 * every change audited. Also delegation and the read side (pending items,
 * campaign lists and progress). See reviews.h.
 */
#include "review_int.h"

#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	int64_t id, campaign;
	char campaign_state[8];
	char reviewer[128], user[128], group[128], decision[8];
	int privileged;
};

static int
load_item(struct store *st, int64_t id, struct item *it, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    st,
		    "SELECT i.campaign_id, c.state, coalesce(i.reviewer, ''), "
		    "coalesce(i.user_uid, ''), i.group_cn, coalesce(i.decision, ''), "
		    "i.privileged FROM review_items i JOIN campaigns c ON c.id = i.campaign_id "
		    "WHERE i.id = ?1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		it->id = id;
		it->campaign = sqlite3_column_int64(s, 0);
		idg_strlcpy(it->campaign_state, (const char *)sqlite3_column_text(s, 1), 8);
		idg_strlcpy(it->reviewer, (const char *)sqlite3_column_text(s, 2), 128);
		idg_strlcpy(it->user, (const char *)sqlite3_column_text(s, 3), 128);
		idg_strlcpy(it->group, (const char *)sqlite3_column_text(s, 4), 128);
		idg_strlcpy(it->decision, (const char *)sqlite3_column_text(s, 5), 8);
		it->privileged = sqlite3_column_int(s, 6);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		idg_seterr(err, "no review item %lld", (long long)id);
		return REVIEW_NOT_FOUND;
	}
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading a review item");
}

/* Who may decide an item, and whether the decision is complete. */
static int
may_decide(const struct review_ctx *r, const struct item *it, const char *decision,
	   const char *comment, struct idg_err *err)
{
	if (strcmp(it->campaign_state, "open") != 0) {
		idg_seterr(err, "campaign #%lld is closed; its decisions are final",
			   (long long)it->campaign);
		return REVIEW_CONFLICT;
	}
	if (strcmp(it->user, r->actor) == 0) {
		idg_seterr(err, "item %lld is about %s's own access; nobody reviews themself",
			   (long long)it->id, r->actor);
		return REVIEW_DENIED;
	}
	if (strcmp(it->reviewer, r->actor) != 0) {
		idg_seterr(err,
			   "item %lld is for %s to review, not %s (an admin may reassign it with "
			   "idgov review delegate)",
			   (long long)it->id, it->reviewer[0] ? it->reviewer : "nobody yet",
			   r->actor);
		return REVIEW_DENIED;
	}
	if (strcmp(decision, "approve") != 0 && strcmp(decision, "revoke") != 0) {
		idg_seterr(err, "a decision is approve or revoke, not '%.20s'", decision);
		return REVIEW_INVALID;
	}
	if (comment != NULL && !idg_text_line(comment, REVIEW_COMMENT_MAX)) {
		idg_seterr(err, "a comment is 1 to %d characters on one line", REVIEW_COMMENT_MAX);
		return REVIEW_INVALID;
	}
	if (comment == NULL && it->privileged && strcmp(decision, "revoke") == 0 &&
	    review_config(r->cfg)->require_comment) {
		idg_seterr(err, "revoking %s (a privileged group) needs --comment saying why",
			   it->group);
		return REVIEW_INVALID;
	}
	return 0;
}

/* One decision inside the caller's transaction. */
static int
decide_one(struct review_ctx *r, int64_t id, const char *decision, const char *comment,
	   const char *source, struct idg_err *err)
{
	struct item it;
	sqlite3_stmt *s;
	int rc;

	if ((rc = load_item(r->st, id, &it, err)) != 0 ||
	    (rc = may_decide(r, &it, decision, comment, err)) != 0)
		return rc;
	if (store_prepare(r->st,
			  "UPDATE review_items SET decision = ?2, comment = ?3, decided_by = ?4, "
			  "decided_at = ?5, decision_source = ?6 WHERE id = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, idg_now());
	sqlite3_bind_text(s, 6, source, -1, SQLITE_STATIC);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	return review_audit(r, it.campaign, "review.decide",
			    json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?}", "item", (json_int_t)id,
				      "user", it.user, "group", it.group, "decision", decision,
				      "previous", it.decision[0] ? it.decision : NULL, "comment",
				      comment),
			    err);
}

/* Ends the transaction: kept if rc is 0 (and the commit works), else nothing is. */
static int
finish(struct review_ctx *r, int rc, struct idg_err *err)
{
	if (rc != 0 || review_commit(r, err) != 0) {
		store_rollback(r->st);
		return rc != 0 ? rc : -1;
	}
	return 0;
}

int
review_decide(struct review_ctx *r, int64_t item, const char *decision, const char *comment,
	      struct idg_err *err)
{
	if (store_begin(r->st, err) != 0)
		return -1;
	return finish(r, decide_one(r, item, decision, comment, "reviewer", err), err);
}

int
review_decision_shape(json_t *d, size_t i, struct idg_err *err)
{
	json_t *item = json_object_get(d, "item"), *comment = json_object_get(d, "comment");

	if (!json_is_integer(item) || !json_is_string(json_object_get(d, "decision")) ||
	    (comment != NULL && !json_is_string(comment)) || json_object_size(d) > 3) {
		idg_seterr(err,
			   "decision %zu: needs item (a number), decision (approve or revoke) and "
			   "optionally comment",
			   i + 1);
		return REVIEW_INVALID;
	}
	return 0;
}

int
review_decide_many(struct review_ctx *r, json_t *decisions, int64_t *n, struct idg_err *err)
{
	size_t i;
	json_t *d;
	int rc = 0;

	*n = 0;
	if (!json_is_array(decisions) || json_array_size(decisions) == 0) {
		idg_seterr(err, "no decisions given");
		return REVIEW_INVALID;
	}
	if (store_begin(r->st, err) != 0)
		return -1;
	json_array_foreach(decisions, i, d)
	{
		json_t *item = json_object_get(d, "item");
		const char *decision = json_string_value(json_object_get(d, "decision"));
		json_t *comment = json_object_get(d, "comment");

		if ((rc = review_decision_shape(d, i, err)) != 0)
			break;
		rc = decide_one(r, json_integer_value(item), decision, json_string_value(comment),
				"reviewer", err);
		if (rc != 0) {
			char why[IDG_ERRLEN];

			idg_strlcpy(why, err->msg, sizeof(why));
			idg_seterr(err, "decision %zu (item %lld): %s; nothing was recorded", i + 1,
				   (long long)json_integer_value(item), why);
			break;
		}
		(*n)++;
	}
	if (rc != 0)
		*n = 0;
	return finish(r, rc, err);
}

/* The ids of the caller's undecided items in open campaigns (campaign 0: all). */
static int
my_items(struct review_ctx *r, int64_t campaign, int undecided_only, int64_t **ids, size_t *n,
	 struct idg_err *err)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc;

	*ids = NULL;
	*n = 0;
	if (store_prepare(
		    r->st,
		    "SELECT i.id FROM review_items i JOIN campaigns c ON c.id = i.campaign_id "
		    "WHERE i.reviewer = ?1 AND c.state = 'open' AND (?2 = 0 OR c.id = ?2) AND "
		    "(NOT ?3 OR i.decision IS NULL) ORDER BY i.id",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, campaign);
	sqlite3_bind_int(s, 3, undecided_only);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			int64_t *more = realloc(*ids, (cap = cap ? cap * 2 : 64) * sizeof(**ids));

			if (more == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			*ids = more;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		return idg_seterr(err, "reading review items failed");
	}
	return 0;
}

int
review_decide_recommended(struct review_ctx *r, int64_t campaign, int64_t *n, struct idg_err *err)
{
	sqlite3_stmt *s = NULL;
	int64_t *ids;
	size_t count;
	int rc;

	*n = 0;
	if (store_begin(r->st, err) != 0)
		return -1;
	rc = my_items(r, campaign, 1, &ids, &count, err);
	if (rc == 0)
		rc = store_prepare(
			r->st,
			"SELECT recommendation, 'as recommended: ' || recommend_why FROM "
			"review_items WHERE id = ?1",
			&s, err);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		char decision[8], comment[512];

		sqlite3_bind_int64(s, 1, ids[i]);
		if (sqlite3_step(s) != SQLITE_ROW) {
			rc = store_err(r->st, err, "reading a recommendation");
			break;
		}
		idg_strlcpy(decision, (const char *)sqlite3_column_text(s, 0), sizeof(decision));
		idg_strlcpy(comment, (const char *)sqlite3_column_text(s, 1), sizeof(comment));
		sqlite3_reset(s);
		rc = decide_one(r, ids[i], strcmp(decision, "revoke") == 0 ? "revoke" : "approve",
				comment, "reviewer", err);
		*n += rc == 0;
	}
	sqlite3_finalize(s);
	free(ids);
	if (rc != 0)
		*n = 0;
	return finish(r, rc, err);
}

/* ---- delegation ---- */

static int
active_user(struct store *st, const char *uid)
{
	sqlite3_stmt *s;
	int found = 0;

	if (store_prepare(st, "SELECT 1 FROM users WHERE uid = ?1 AND status = 'active'", &s,
			  NULL) != 0)
		return 0;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

static int
delegate_one(struct review_ctx *r, int64_t id, const char *to, struct idg_err *err)
{
	char why[300];
	struct item it;
	sqlite3_stmt *s;
	int rc;

	if ((rc = load_item(r->st, id, &it, err)) != 0)
		return rc;
	if (strcmp(it.campaign_state, "open") != 0) {
		idg_seterr(err, "campaign #%lld is closed", (long long)it.campaign);
		return REVIEW_CONFLICT;
	}
	if (!r->admin && strcmp(it.reviewer, r->actor) != 0) {
		idg_seterr(err, "item %lld is not yours to delegate (it is %s's)", (long long)id,
			   it.reviewer[0] ? it.reviewer : "nobody");
		return REVIEW_DENIED;
	}
	if (strcmp(it.user, to) == 0) {
		idg_seterr(err, "item %lld is about %s; nobody reviews themself", (long long)id,
			   to);
		return REVIEW_DENIED;
	}
	snprintf(why, sizeof(why), "delegated by %s (was %s)", r->actor,
		 it.reviewer[0] ? it.reviewer : "unassigned");
	if (store_prepare(r->st,
			  "UPDATE review_items SET reviewer = ?2, reviewer_why = ?3 WHERE id = ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, why, -1, SQLITE_STATIC);
	rc = store_step_done(r->st, s, err);
	sqlite3_finalize(s);
	if (rc != 0)
		return rc;
	return review_audit(r, it.campaign, "review.delegate",
			    json_pack("{s:I, s:s, s:s, s:s}", "item", (json_int_t)id, "from",
				      it.reviewer, "to", to, "user", it.user),
			    err);
}

int
review_delegate(struct review_ctx *r, int64_t item, int64_t campaign, const char *to, int64_t *n,
		struct idg_err *err)
{
	int64_t *ids = NULL;
	size_t count = 1;
	int rc = 0;

	*n = 0;
	if (!active_user(r->st, to)) {
		idg_seterr(err, "no active user '%.64s' to delegate to", to);
		return REVIEW_NOT_FOUND;
	}
	if (store_begin(r->st, err) != 0)
		return -1;
	if (item == 0)
		rc = my_items(r, campaign, 0, &ids, &count, err);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		rc = delegate_one(r, item != 0 ? item : ids[i], to, err);
		/* With --all, items about the delegate stay with their reviewer. */
		if (item == 0 && rc == REVIEW_DENIED)
			rc = 0;
		else
			*n += rc == 0;
	}
	free(ids);
	if (rc != 0)
		*n = 0;
	return finish(r, rc, err);
}

/* ---- reading ---- */

json_t *
review_pending(struct store *st, const char *reviewer, int64_t campaign, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(
		    st,
		    "SELECT i.id AS item, i.campaign_id AS campaign, c.name AS campaign_name, "
		    "c.deadline, i.user_uid AS user, (SELECT u.display_name FROM users u WHERE "
		    "u.uuid = i.user_uuid) AS display_name, i.user_status, i.group_cn AS grp, "
		    "i.privileged, i.held_as, i.via, i.source, i.since, i.last_login, "
		    "" REVIEW_RECOMMENDATION_SQL
		    ", i.recommend_why, i.reviewer_why, i.decision, i.comment "
		    "FROM review_items i JOIN campaigns c ON c.id = i.campaign_id WHERE "
		    "i.reviewer = ?1 AND c.state = 'open' AND (?2 = 0 OR c.id = ?2) ORDER BY "
		    "i.decision IS NOT NULL, i.id",
		    &s, err) != 0)
		return NULL;
	sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, campaign);
	return query_rows(st, s, err);
}

json_t *
review_list(struct store *st, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(
		    st,
		    "SELECT c.id, c.name, c.state, c.opened_at, c.deadline, c.closed_at, "
		    "(SELECT count(*) FROM review_items i WHERE i.campaign_id = c.id) AS items, "
		    "(SELECT count(*) FROM review_items i WHERE i.campaign_id = c.id AND "
		    "i.decision IS NULL) AS undecided FROM campaigns c ORDER BY c.id",
		    &s, err) != 0)
		return NULL;
	return query_rows(st, s, err);
}

json_t *
review_show(struct store *st, int64_t id, struct idg_err *err)
{
	sqlite3_stmt *s;
	char missing[48];
	json_t *o, *part;

	if (store_prepare(st,
			  "SELECT id, name, state, definition, due_at, opened_at, opened_by, "
			  "deadline, escalated_at, reminders_sent, closed_at, closed_by FROM "
			  "campaigns WHERE id = ?1",
			  &s, err) != 0)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	snprintf(missing, sizeof(missing), "no campaign #%lld", (long long)id);
	if ((o = query_row(st, s, missing, err)) == NULL)
		return NULL;
	/* The definition is stored as JSON text; show it as an object. */
	part = json_loads(json_string_value(json_object_get(o, "definition")), 0, NULL);
	if (part != NULL)
		json_object_set_new(o, "definition", part);
	if ((part = review_counts(st, id, err)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "counts", part);
	if (store_prepare(
		    st,
		    "SELECT coalesce(reviewer, '(unassigned)') AS reviewer, count(*) AS items, "
		    "count(*) FILTER (WHERE decision IS NOT NULL) AS decided, "
		    "count(*) FILTER (WHERE decision = 'revoke') AS revoked FROM review_items "
		    "WHERE campaign_id = ?1 GROUP BY reviewer ORDER BY reviewer",
		    &s, err) != 0 ||
	    (sqlite3_bind_int64(s, 1, id), part = query_rows(st, s, err)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "reviewers", part);
	return o;
}
