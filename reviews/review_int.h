/* What the files of the reviews library share; not for use outside it. */
#ifndef IDGOV_REVIEW_INT_H
#define IDGOV_REVIEW_INT_H

#include "reviews.h"

/* Appends an audit record with subject "campaign:ID" (inside a transaction); steals d. */
int review_audit(struct review_ctx *r, int64_t campaign, const char *action, json_t *d,
		 struct idg_err *err);
/* Signs the audit head and commits. */
int review_commit(struct review_ctx *r, struct idg_err *err);
/* Counts of a campaign's items: total, by decision, by remediation. */
json_t *review_counts(struct store *st, int64_t campaign, struct idg_err *err);
/* Tells each reviewer with undecided items in campaign; after a commit. */
void review_notify_reviewers(struct review_ctx *r, int64_t campaign, const char *subject,
			     const char *body);
/* Journals the campaign's undone revokes (inside a transaction). */
int review_journal_revocations(struct review_ctx *r, int64_t campaign, int64_t now,
			       struct idg_err *err);
/* temp.fallbacks (pos, uid): the comma-separated fallback reviewers, in order. */
int review_fallbacks(struct review_ctx *r, const char *list, struct idg_err *err);
/* Undecided items of campaign get decision by the clock (source says which rule). */
int review_decide_rest(struct review_ctx *r, int64_t campaign, const char *decision,
		       const char *source, int64_t now, struct idg_err *err);
/* Closes an open campaign inside the caller's transaction. */
int review_close_locked(struct review_ctx *r, int64_t campaign, int64_t now, struct idg_err *err);
/* A campaign's state ("open", "closed"); REVIEW_NOT_FOUND if there is none. */
int review_campaign_state(struct store *st, int64_t campaign, char state[8], struct idg_err *err);

/* One decision of a bulk list (element i) has item, decision and at most a comment: 0, or
 * REVIEW_INVALID with err. */
int review_decision_shape(json_t *d, size_t i, struct idg_err *err);

/*
 * review_items.recommendation as shown: approve or revoke, the words a
 * decision uses, as stored since 013_review_words.sql.
 */
#define REVIEW_RECOMMENDATION_SQL "i.recommendation AS recommendation"

#endif
