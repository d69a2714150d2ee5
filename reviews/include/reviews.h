/*
 * Access reviews: campaigns, reviewers' decisions, deadlines,
 * remediation and evidence (tables campaigns and review_items,
 * schema/006). The daemon and the CLI call this library; it uses the
 * store, the audit chain and the directory journal of libidgov.
 *
 * A campaign opens by snapshotting one item per (user, group) in its
 * scope, each with how the access was obtained, the user's last login, a
 * recommendation, and a reviewer: the user's manager, or the first
 * fallback reviewer who is not the user (never a self-review). Reviewers
 * decide their own items until the campaign closes (at its deadline, where
 * the configured default decides what is left, or early by an admin).
 * Closing turns every revoke into directory journal rows that remove the
 * membership exactly as it is held; each is then verified by reading the
 * directory back.
 *
 * Every change is audited with subject "campaign:ID", so a report can name
 * the audit records that cover it.
 */
#ifndef IDGOV_REVIEWS_H
#define IDGOV_REVIEWS_H

#include "audit.h"
#include "config.h"
#include "review_config.h"
#include "journal.h"
#include "log.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

#define REVIEW_COMMENT_MAX 1000

/* Return values besides 0 and -1, as in grants.h. */
#define REVIEW_DENIED (-2)
#define REVIEW_NOT_FOUND (-3)
#define REVIEW_INVALID (-4)
#define REVIEW_CONFLICT (-5)

struct review_ctx {
	const struct cfg *cfg;
	struct store *st;
	struct audit *audit;
	struct logger *log;
	struct journal *journal; /* its LDAP connection: filter scopes and verification */
	const char *actor;       /* the caller's name, or "idgovd" */
	int admin;
};

/* What a campaign covers and how it runs: a [campaign NAME] or an ad hoc one. */
struct campaign_def {
	char name[65];
	enum review_scope scope;
	const char *groups, *filter, *fallback, *schedule, *timezone;
	int64_t duration, escalation;
	int64_t reminders[REVIEW_MAX_REMINDERS];
	size_t n_reminders;
	enum review_default deflt;
};

/* The definition of a configured campaign. */
void review_def_from_config(const struct cfg *cfg, const struct review_campaign_cfg *c,
			    struct campaign_def *d);

/* Opens a campaign now. due_at: the scheduled start it is for (0: on demand). */
int review_open(struct review_ctx *r, const struct campaign_def *d, int64_t due_at, int64_t *id,
		struct idg_err *err);

/* Closes an open campaign (admin, or the clock at the deadline); decisions are final. */
int review_close(struct review_ctx *r, int64_t id, struct idg_err *err);

/* Decisions by the caller on their own items (admins: any). */
int review_decide(struct review_ctx *r, int64_t item, const char *decision, const char *comment,
		  struct idg_err *err);
/* Many decisions at once, all or none: an array of {item, decision, comment}. */
int review_decide_many(struct review_ctx *r, json_t *decisions, int64_t *n, struct idg_err *err);

/*
 * Bulk decisions larger than one request (batch.c): add chunks to a batch
 * (batch 0 opens one; *id is its number, *total its decisions so far),
 * then commit it: every decision applied in one transaction, or none, as
 * review_decide_many. A batch is the caller's alone and is gone after its
 * commit, whatever the outcome, or an hour after it was opened.
 */
int review_batch_add(struct review_ctx *r, int64_t batch, json_t *decisions, int64_t now,
		     int64_t *id, int64_t *total, struct idg_err *err);
int review_batch_commit(struct review_ctx *r, int64_t batch, int64_t now, int64_t *n,
			struct idg_err *err);

/*
 * A decision file as "idgov review decide --file" reads it: a JSON array
 * of {item, decision, comment}, or CSV lines "item,decision[,comment]"
 * after an optional header "item,...". text need not end in a NUL. Returns
 * the array for review_decide_many(), or NULL with why ("line N: ...").
 * It checks the form only; review_decide_many() checks the values.
 */
json_t *review_decisions_parse(const char *text, size_t len, char *why, size_t whylen);
/* Every undecided item of the caller's (in campaign, or all open) as recommended. */
int review_decide_recommended(struct review_ctx *r, int64_t campaign, int64_t *n,
			      struct idg_err *err);
/* Hands items to another reviewer: one item, or (item 0) all the caller's in campaign. */
int review_delegate(struct review_ctx *r, int64_t item, int64_t campaign, const char *to,
		    int64_t *n, struct idg_err *err);

/*
 * Does what is due at now: starts scheduled campaigns (one that fell due
 * while the daemon was down, once), sends reminders, applies deadlines,
 * journals the revocations of closed campaigns. *next: when next due.
 */
int reviews_tick(struct review_ctx *r, int64_t now, int64_t *next, struct idg_err *err);
/*
 * Verifies remediations whose directory writes are done, by reading the
 * directory. Returns 0 when all are done, 1 when the directory could not
 * be read (try again later), 2 when more are waiting, -1 on error.
 */
int reviews_verify(struct review_ctx *r, int64_t now, struct idg_err *err);

/* Reading. */
json_t *review_list(struct store *st, struct idg_err *err);
json_t *review_show(struct store *st, int64_t id, struct idg_err *err);
json_t *review_pending(struct store *st, const char *reviewer, int64_t campaign,
		       struct idg_err *err);

/*
 * A place in the page's order (undecided first, then by item number), as
 * the pager carries it: "u" or "d" (the item was undecided or decided
 * when the page was drawn) and the item's number, e.g. "u4900". A window
 * asked "after" or "before" a cursor costs the rows it shows however deep
 * it is, where an offset walks every entry it skips. id 0: no cursor.
 */
struct review_cursor {
	int decided;
	int64_t id;
};
#define REVIEW_CURSOR_MAX 24 /* "u" or "d", up to 19 digits, the NUL */
/* Parses text into c: 0, or -1 for anything not of the shape above (c zeroed). */
int review_cursor_parse(const char *text, struct review_cursor *c);
/* Writes c as the pager carries it. */
void review_cursor_format(const struct review_cursor *c, char out[REVIEW_CURSOR_MAX]);

/*
 * One page of a reviewer's items in open campaigns (page.c). The filters
 * narrow the page and its "matched" count, never "total" and "decided"
 * (the campaign's progress). Returns {"total", "decided", "matched",
 * "offset", "limit", "campaigns": [{campaign, name, deadline, items}],
 * "items": [as review_pending], "first", "last"}, or NULL with err;
 * "first" and "last" (present when items are) are the cursors of the
 * page's first and last items: "before" first is the previous page,
 * "after" last the next.
 */
struct review_page_query {
	int64_t campaign;   /* 0: every open campaign */
	const char *person; /* substring of uid or display name; NULL or "" for any */
	const char *group;  /* substring of the group's cn; NULL or "" for any */
	int undecided;      /* only items without a decision */
	int privileged;     /* only privileged items */
	int64_t offset, limit;
	/* At most one of them, and then offset 0: the window just after or just before it. */
	struct review_cursor after, before;
	/* The items as a table, "columns" and "rows" (query_table()), instead of "items". */
	int table;
};
#define REVIEW_PAGE_DEFAULT 100
#define REVIEW_PAGE_MAX 1000
json_t *review_page(struct store *st, const char *reviewer, const struct review_page_query *q,
		    struct idg_err *err);

/*
 * The evidence report of a campaign: format "csv", "json" or "html".
 * Returns a malloc'd text, or NULL with err.
 */
char *review_report(struct store *st, int64_t id, const char *format, struct idg_err *err);

/* The control operations of reviews, for control_ctx.extra_ops; *n gets their number. */
struct control_op;
const struct control_op *review_control_ops(size_t *n);

#endif
