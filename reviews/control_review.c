/*
 * The control protocol's review operations (control_ctx.extra_ops). The
 * caller is who SO_PEERCRED says: a reviewer sees and decides only their
 * own items; admins start, close, reassign and report.
 */
#include "control_ops.h"

#include "review_int.h"
#include "timeparse.h"

#include <string.h>

#define MAX_TEXT 4096

static void
review_context(struct control_ctx *ctx, const struct caller *who, struct journal *j,
	       struct review_ctx *r)
{
	*j = (struct journal){.cfg = ctx->cfg,
			      .st = ctx->st,
			      .audit = ctx->audit,
			      .log = ctx->log,
			      .actor = who->name};
	*r = (struct review_ctx){.cfg = ctx->cfg,
				 .st = ctx->st,
				 .audit = ctx->audit,
				 .log = ctx->log,
				 .journal = j,
				 .actor = who->name,
				 .admin = who->admin};
}

static json_t *
failed(int rc, struct reply_err *r)
{
	r->code = rc == REVIEW_DENIED      ? "denied"
		  : rc == REVIEW_NOT_FOUND ? "not_found"
		  : rc == REVIEW_INVALID   ? "bad_request"
					   : "failed";
	return NULL;
}

static int
arg_id(json_t *args, const char *key, int optional, int64_t *id, struct reply_err *r)
{
	json_t *v = json_object_get(args, key);

	*id = 0;
	if (v == NULL && optional)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return control_fail(r, "bad_request", "argument '%s' must be a number >= 1", key);
	*id = json_integer_value(v);
	return 0;
}

/* ---- starting ---- */

static int
adhoc_def(struct control_ctx *ctx, json_t *args, struct campaign_def *d, struct reply_err *r)
{
	static const char *const scopes[] = {"all", "privileged", "groups", "filter", NULL};
	/* "keep", the old name of approve, is still taken. */
	static const char *const defaults[] = {"revoke", "approve", "escalate", "keep", NULL};
	const char *scope, *deflt, *duration;
	int i;

	memset(d, 0, sizeof(*d));
	if (control_arg_name(args, "scope", 1, &scope, r) != 0 ||
	    control_arg_text(args, "groups", 1, MAX_TEXT, &d->groups, r) != 0 ||
	    control_arg_text(args, "filter", 1, MAX_TEXT, &d->filter, r) != 0 ||
	    control_arg_name(args, "default", 1, &deflt, r) != 0 ||
	    control_arg_name(args, "duration", 1, &duration, r) != 0 ||
	    control_arg_text(args, "fallback", 1, MAX_TEXT, &d->fallback, r) != 0)
		return -1;
	for (i = 0; scopes[i] != NULL && scope != NULL && strcmp(scopes[i], scope) != 0; i++)
		;
	if (scope != NULL && scopes[i] == NULL)
		return control_fail(r, "bad_request", "scope is all, privileged, groups or filter");
	d->scope = scope != NULL ? (enum review_scope)i : REVIEW_SCOPE_ALL;
	for (i = 0; defaults[i] != NULL && deflt != NULL && strcmp(defaults[i], deflt) != 0; i++)
		;
	if (deflt != NULL && defaults[i] == NULL)
		return control_fail(r, "bad_request", "default is revoke, approve or escalate");
	d->deflt = deflt == NULL ? REVIEW_DEFAULT_REVOKE
		   : i == 3      ? REVIEW_DEFAULT_APPROVE
				 : (enum review_default)i;
	if ((d->scope == REVIEW_SCOPE_GROUPS) != (d->groups != NULL) ||
	    (d->scope == REVIEW_SCOPE_FILTER) != (d->filter != NULL))
		return control_fail(r, "bad_request",
				    "--groups goes with scope groups, --filter with scope filter");
	if (d->filter != NULL && (d->filter[0] != '(' || d->filter[strlen(d->filter) - 1] != ')'))
		return control_fail(r, "bad_request", "--filter is a parenthesised LDAP filter");
	d->duration = 14 * 86400;
	if (duration != NULL && duration_parse(duration, &d->duration, &r->e) != 0)
		return control_fail(r, "bad_request", "%s", r->e.msg);
	if (d->fallback == NULL)
		d->fallback = review_config(ctx->cfg)->fallback;
	if (d->fallback[0] == '\0')
		return control_fail(r, "bad_request",
				    "an ad hoc campaign needs --fallback (or [reviews] "
				    "fallback_reviewer)");
	d->escalation = 7 * 86400;
	/* The default reminders, 7 and 2 days before the deadline, where they fit. */
	for (int64_t rem = 7 * 86400; rem > 0; rem = rem == 7 * 86400 ? 2 * 86400 : 0)
		if (rem < d->duration)
			d->reminders[d->n_reminders++] = rem;
	d->schedule = "none";
	d->timezone = "UTC";
	snprintf(d->name, sizeof(d->name), "adhoc");
	return 0;
}

static json_t *
op_start(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct campaign_def d;
	struct review_ctx rc;
	struct journal j;
	const char *name;
	int adhoc, rv;
	int64_t id;
	json_t *o;

	if (control_arg_name(args, "name", 1, &name, r) != 0 ||
	    control_arg_bool(args, "adhoc", &adhoc, r) != 0)
		return NULL;
	if ((name == NULL) == !adhoc) {
		control_fail(r, "bad_request", "give a configured campaign NAME or --adhoc");
		return NULL;
	}
	if (name != NULL) {
		const struct review_campaign_cfg *c = review_campaign_cfg(ctx->cfg, name);

		if (c == NULL) {
			control_fail(r, "not_found", "no [campaign %s] in %s", name,
				     ctx->cfg->path);
			return NULL;
		}
		if (json_object_size(args) > 1) {
			control_fail(r, "bad_request",
				     "a configured campaign takes its settings from the config");
			return NULL;
		}
		review_def_from_config(ctx->cfg, c, &d);
	} else if (adhoc_def(ctx, args, &d, r) != 0) {
		return NULL;
	}
	review_context(ctx, who, &j, &rc);
	rv = review_open(&rc, &d, 0, &id, &r->e);
	journal_close(&j);
	if (rv != 0)
		return failed(rv, r);
	if (ctx->governance != NULL) /* its deadline and reminders join the daemon's timer */
		ctx->governance(ctx->arg);
	o = review_show(ctx->st, id, &r->e);
	return o != NULL ? o : failed(-1, r);
}

/* ---- reviewers ---- */

static json_t *
op_pending(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	int64_t campaign;
	json_t *o;

	if (arg_id(args, "campaign", 1, &campaign, r) != 0)
		return NULL;
	o = review_pending(ctx->st, who->name, campaign, &r->e);
	return o != NULL ? o : failed(-1, r);
}

/* A cursor argument (review_cursor_parse()) into c; absent leaves c zero. 0, or -1 with r. */
static int
arg_cursor(json_t *args, const char *key, struct review_cursor *c, struct reply_err *r)
{
	const char *text;

	memset(c, 0, sizeof(*c));
	if (control_arg_text(args, key, 1, REVIEW_CURSOR_MAX, &text, r) != 0)
		return -1;
	if (text != NULL && review_cursor_parse(text, c) != 0)
		return control_fail(r, "bad_request",
				    "argument '%s' must be u or d and an item number (u4900)", key);
	return 0;
}

/*
 * review.page: {campaign?, person?, group?, undecided?, privileged?,
 * offset? | after? | before?, limit?, table?}; with table, the items come
 * as "columns" and "rows" instead of "items" (review_page()).
 */
static json_t *
op_page(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct review_page_query q;
	json_t *o;

	memset(&q, 0, sizeof(q));
	if (arg_id(args, "campaign", 1, &q.campaign, r) != 0 ||
	    control_arg_text(args, "person", 1, 256, &q.person, r) != 0 ||
	    control_arg_text(args, "group", 1, 256, &q.group, r) != 0 ||
	    control_arg_bool(args, "undecided", &q.undecided, r) != 0 ||
	    control_arg_bool(args, "privileged", &q.privileged, r) != 0 ||
	    control_arg_count(args, "offset", &q.offset, r) != 0 ||
	    control_arg_count(args, "limit", &q.limit, r) != 0 ||
	    arg_cursor(args, "after", &q.after, r) != 0 ||
	    arg_cursor(args, "before", &q.before, r) != 0 ||
	    control_arg_bool(args, "table", &q.table, r) != 0)
		return NULL;
	if ((q.after.id > 0) + (q.before.id > 0) + (q.offset > 0) > 1) {
		control_fail(r, "bad_request", "give one of 'offset', 'after' and 'before'");
		return NULL;
	}
	if (json_object_get(args, "limit") == NULL)
		q.limit = REVIEW_PAGE_DEFAULT;
	if (q.limit < 1 || q.limit > REVIEW_PAGE_MAX) {
		control_fail(r, "bad_request", "argument 'limit' must be 1 to %d", REVIEW_PAGE_MAX);
		return NULL;
	}
	o = review_page(ctx->st, who->name, &q, &r->e);
	return o != NULL ? o : failed(-1, r);
}

/* Runs a decision-type call and answers {"decided": n}. */
static json_t *
counted(int rv, int64_t n, const char *key, struct reply_err *r)
{
	if (rv != 0)
		return failed(rv, r);
	return json_pack("{s:I}", key, (json_int_t)n);
}

static json_t *
op_decide(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	const char *decision, *comment;
	struct review_ctx rc;
	struct journal j;
	int64_t item;
	int rv;

	if (arg_id(args, "item", 0, &item, r) != 0 ||
	    control_arg_name(args, "decision", 0, &decision, r) != 0 ||
	    control_arg_text(args, "comment", 1, MAX_TEXT, &comment, r) != 0)
		return NULL;
	review_context(ctx, who, &j, &rc);
	rv = review_decide(&rc, item, decision, comment, &r->e);
	return counted(rv, 1, "decided", r);
}

static json_t *
op_decide_many(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	int64_t n;
	int rv;

	review_context(ctx, who, &j, &rc);
	rv = review_decide_many(&rc, json_object_get(args, "decisions"), &n, &r->e);
	return counted(rv, n, "decided", r);
}

static json_t *
op_batch_add(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	int64_t batch = 0, id, total;
	int rv;

	if (arg_id(args, "batch", 1, &batch, r) != 0)
		return NULL;
	review_context(ctx, who, &j, &rc);
	rv = review_batch_add(&rc, batch, json_object_get(args, "decisions"), idg_now(), &id,
			      &total, &r->e);
	if (rv != 0)
		return failed(rv, r);
	return json_pack("{s:I, s:I}", "batch", (json_int_t)id, "decisions", (json_int_t)total);
}

static json_t *
op_batch_commit(struct control_ctx *ctx, const struct caller *who, json_t *args,
		struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	int64_t batch, n;
	int rv;

	if (arg_id(args, "batch", 0, &batch, r) != 0)
		return NULL;
	review_context(ctx, who, &j, &rc);
	rv = review_batch_commit(&rc, batch, idg_now(), &n, &r->e);
	return counted(rv, n, "decided", r);
}

static json_t *
op_decide_recommended(struct control_ctx *ctx, const struct caller *who, json_t *args,
		      struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	int64_t campaign, n;
	int rv;

	if (arg_id(args, "campaign", 1, &campaign, r) != 0)
		return NULL;
	review_context(ctx, who, &j, &rc);
	rv = review_decide_recommended(&rc, campaign, &n, &r->e);
	return counted(rv, n, "decided", r);
}

static json_t *
op_delegate(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	const char *to;
	int64_t item, campaign, n;
	int all, rv;

	if (arg_id(args, "item", 1, &item, r) != 0 ||
	    arg_id(args, "campaign", 1, &campaign, r) != 0 ||
	    control_arg_bool(args, "all", &all, r) != 0 ||
	    control_arg_name(args, "to", 0, &to, r) != 0)
		return NULL;
	if ((item == 0) == !all) {
		control_fail(r, "bad_request", "give an ITEM or --all");
		return NULL;
	}
	review_context(ctx, who, &j, &rc);
	rv = review_delegate(&rc, item, campaign, to, &n, &r->e);
	return counted(rv, n, "delegated", r);
}

/* ---- admins ---- */

static json_t *
op_close(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct review_ctx rc;
	struct journal j;
	int64_t id;
	int rv;

	if (arg_id(args, "campaign", 0, &id, r) != 0)
		return NULL;
	review_context(ctx, who, &j, &rc);
	if ((rv = review_close(&rc, id, &r->e)) != 0)
		return failed(rv, r);
	if (ctx->governance != NULL) /* the revocations go to the directory now */
		ctx->governance(ctx->arg);
	return review_show(ctx->st, id, &r->e);
}

static json_t *
op_list(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	json_t *o = review_list(ctx->st, &r->e);

	(void)who;
	(void)args;
	return o != NULL ? o : failed(-1, r);
}

static json_t *
op_show(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	int64_t id;
	json_t *o;

	(void)who;
	if (arg_id(args, "campaign", 0, &id, r) != 0)
		return NULL;
	if ((o = review_show(ctx->st, id, &r->e)) == NULL)
		return failed(strncmp(r->e.msg, "no campaign", 11) == 0 ? REVIEW_NOT_FOUND : -1, r);
	return o;
}

static json_t *
op_report(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	const char *format;
	struct review_ctx rc;
	struct journal j;
	int64_t id;
	char *text;
	json_t *o;

	if (arg_id(args, "campaign", 0, &id, r) != 0 ||
	    control_arg_name(args, "format", 0, &format, r) != 0)
		return NULL;
	if ((text = review_report(ctx->st, id, format, &r->e)) == NULL)
		return failed(strncmp(r->e.msg, "no campaign", 11) == 0 ? REVIEW_NOT_FOUND
			      : strncmp(r->e.msg, "a report", 8) == 0   ? REVIEW_INVALID
									: -1,
			      r);
	o = json_pack("{s:s, s:s}", "format", format, "content", text);
	free(text);
	/* Who took evidence out, and when, is itself evidence. */
	review_context(ctx, who, &j, &rc);
	if (store_begin(ctx->st, &r->e) == 0) {
		if (review_audit(&rc, id, "review.report", json_pack("{s:s}", "format", format),
				 &r->e) != 0 ||
		    review_commit(&rc, &r->e) != 0)
			store_rollback(ctx->st);
	}
	return o;
}

static const char *const no_args[] = {NULL};
static const char *const start_args[] = {"name",    "adhoc",    "scope",    "groups", "filter",
					 "default", "duration", "fallback", NULL};
static const char *const campaign_opt[] = {"campaign", NULL};
static const char *const page_args[] = {"campaign",   "person", "group", "undecided",
					"privileged", "offset", "limit", "after",
					"before",     "table",  NULL};
static const char *const decide_args[] = {"item", "decision", "comment", NULL};
static const char *const many_args[] = {"decisions", NULL};
static const char *const batch_add_args[] = {"batch", "decisions", NULL};
static const char *const batch_commit_args[] = {"batch", NULL};
static const char *const delegate_args[] = {"item", "campaign", "all", "to", NULL};
static const char *const report_args[] = {"campaign", "format", NULL};

static const struct control_op review_ops[] = {
	{"review.start", CONTROL_OP_ADMIN | CONTROL_OP_GOVERN, start_args, op_start},
	{"review.list", CONTROL_OP_GOVERN, no_args, op_list},
	{"review.show", CONTROL_OP_ADMIN | CONTROL_OP_GOVERN, campaign_opt, op_show},
	{"review.pending", CONTROL_OP_GOVERN | CONTROL_OP_ROLELESS, campaign_opt, op_pending},
	{"review.page", CONTROL_OP_GOVERN | CONTROL_OP_ROLELESS, page_args, op_page},
	{"review.decide", CONTROL_OP_GOVERN, decide_args, op_decide},
	{"review.decide_many", CONTROL_OP_GOVERN, many_args, op_decide_many},
	{"review.batch_add", CONTROL_OP_GOVERN, batch_add_args, op_batch_add},
	{"review.batch_commit", CONTROL_OP_GOVERN, batch_commit_args, op_batch_commit},
	{"review.decide_recommended", CONTROL_OP_GOVERN, campaign_opt, op_decide_recommended},
	{"review.delegate", CONTROL_OP_GOVERN, delegate_args, op_delegate},
	{"review.close", CONTROL_OP_ADMIN | CONTROL_OP_GOVERN, campaign_opt, op_close},
	{"review.report", CONTROL_OP_ADMIN | CONTROL_OP_GOVERN, report_args, op_report},
};
const struct control_op *
review_control_ops(size_t *n)
{
	*n = sizeof(review_ops) / sizeof(review_ops[0]);
	return review_ops;
}
