/*
 * The control protocol's grant and temporary-account operations. The
 * rules of who may do what live in grants.c; this file reads arguments,
 * maps outcomes to reply codes, and asks for the work that a change made
 * due (activation, directory writes) to run at once.
 */
#include "control_int.h"

#include "account.h"
#include "grants.h"

#include <string.h>

#define MAX_TEXT 4096

static void
grants_context(struct control_ctx *ctx, const struct caller *who, struct grants_ctx *g)
{
	*g = (struct grants_ctx){.cfg = ctx->cfg,
				 .st = ctx->st,
				 .audit = ctx->audit,
				 .log = ctx->log,
				 .actor = who->name,
				 .admin = who->admin};
}

/* Maps a grants.c return code to the reply's error code. */
static json_t *
failed(int rc, struct reply_err *r)
{
	r->code = rc == GRANT_DENIED      ? "denied"
		  : rc == GRANT_NOT_FOUND ? "not_found"
		  : rc == GRANT_INVALID   ? "bad_request"
					  : "failed";
	return NULL;
}

/* After a change: the daemon re-runs its clock; the CLI applies it in-process. */
static json_t *
changed(struct control_ctx *ctx, int64_t id)
{
	struct idg_err err;
	json_t *o;

	if (ctx->governance != NULL)
		ctx->governance(ctx->arg);
	o = grant_show(ctx->st, id, &err);
	return o != NULL ? o : json_pack("{s:I}", "id", (json_int_t)id);
}

/* The reply to a change: the error, or the grant as it is now. */
static json_t *
answer(struct control_ctx *ctx, int rc, int64_t id, struct reply_err *r)
{
	return rc != 0 ? failed(rc, r) : changed(ctx, id);
}

static int
arg_id(json_t *args, int64_t *id, struct reply_err *r)
{
	json_t *v = json_object_get(args, "id");

	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return control_fail(r, "bad_request", "argument 'id' must be a grant number");
	*id = json_integer_value(v);
	return 0;
}

/* The start/until/for/reason arguments shared by requests. */
static int
arg_times(json_t *args, struct grant_request *req, struct reply_err *r)
{
	if (control_arg_name(args, "start", 1, &req->start, r) != 0 ||
	    control_arg_name(args, "until", 1, &req->until, r) != 0 ||
	    control_arg_name(args, "for", 1, &req->duration, r) != 0 ||
	    control_arg_text(args, "reason", 0, MAX_TEXT, &req->reason, r) != 0)
		return -1;
	return 0;
}

json_t *
control_grant_request(struct control_ctx *ctx, const struct caller *who, json_t *args,
		      struct reply_err *r)
{
	struct grant_request req = {0};
	struct grants_ctx g;
	char canon[ACCOUNT_NAME_MAX + 1];
	int64_t id = 0;
	int rc;

	if (control_arg_name(args, "user", 1, &req.grantee, r) != 0 ||
	    control_user_spelling(ctx, &req.grantee, canon, sizeof(canon), r) != 0 ||
	    control_arg_name(args, "group", 0, &req.group, r) != 0 ||
	    control_arg_bool(args, "sudo", &req.sudo, r) != 0 || arg_times(args, &req, r) != 0)
		return NULL;
	if (req.grantee == NULL)
		req.grantee = who->name;
	grants_context(ctx, who, &g);
	rc = grant_request(&g, &req, &id, &r->e);
	return answer(ctx, rc, id, r);
}

static json_t *
decide(struct control_ctx *ctx, const struct caller *who, json_t *args, int approve,
       struct reply_err *r)
{
	struct grants_ctx g;
	const char *comment;
	int64_t id = 0;
	int rc;

	if (arg_id(args, &id, r) != 0 ||
	    control_arg_text(args, "comment", 1, MAX_TEXT, &comment, r) != 0)
		return NULL;
	grants_context(ctx, who, &g);
	rc = grant_decide(&g, id, approve, comment, &r->e);
	return answer(ctx, rc, id, r);
}

json_t *
control_grant_approve(struct control_ctx *ctx, const struct caller *who, json_t *args,
		      struct reply_err *r)
{
	return decide(ctx, who, args, 1, r);
}

json_t *
control_grant_deny(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	return decide(ctx, who, args, 0, r);
}

static json_t *
revoke(struct control_ctx *ctx, const struct caller *who, int64_t id, json_t *args,
       struct reply_err *r)
{
	struct grants_ctx g;
	const char *reason;
	int rc;

	if (control_arg_text(args, "reason", 0, MAX_TEXT, &reason, r) != 0)
		return NULL;
	grants_context(ctx, who, &g);
	rc = grant_revoke(&g, id, reason, &r->e);
	return answer(ctx, rc, id, r);
}

json_t *
control_grant_revoke(struct control_ctx *ctx, const struct caller *who, json_t *args,
		     struct reply_err *r)
{
	int64_t id = 0;

	return arg_id(args, &id, r) == 0 ? revoke(ctx, who, id, args, r) : NULL;
}

static json_t *
extend(struct control_ctx *ctx, const struct caller *who, int64_t id, json_t *args,
       struct reply_err *r)
{
	struct grant_request req = {0};
	struct grants_ctx g;
	int64_t new_id = 0;
	int rc;

	if (arg_times(args, &req, r) != 0)
		return NULL;
	if ((req.until == NULL) == (req.duration == NULL)) {
		control_fail(r, "bad_request",
			     "give exactly one of --for DURATION and --until TIME");
		return NULL;
	}
	grants_context(ctx, who, &g);
	rc = grant_extend(&g, id, req.until, req.duration, req.reason, &new_id, &r->e);
	return answer(ctx, rc, new_id, r);
}

json_t *
control_grant_extend(struct control_ctx *ctx, const struct caller *who, json_t *args,
		     struct reply_err *r)
{
	int64_t id = 0;

	return arg_id(args, &id, r) == 0 ? extend(ctx, who, id, args, r) : NULL;
}

json_t *
control_grant_breakglass(struct control_ctx *ctx, const struct caller *who, json_t *args,
			 struct reply_err *r)
{
	const char *group, *duration, *reason;
	struct grants_ctx g;
	int64_t id = 0;
	int rc;

	if (control_arg_name(args, "group", 0, &group, r) != 0 ||
	    control_arg_name(args, "for", 0, &duration, r) != 0 ||
	    control_arg_text(args, "reason", 0, MAX_TEXT, &reason, r) != 0)
		return NULL;
	grants_context(ctx, who, &g);
	rc = grant_breakglass(&g, group, duration, reason, &id, &r->e);
	return answer(ctx, rc, id, r);
}

json_t *
control_grant_acknowledge(struct control_ctx *ctx, const struct caller *who, json_t *args,
			  struct reply_err *r)
{
	struct grants_ctx g;
	const char *comment;
	int64_t id = 0;
	int rc;

	if (arg_id(args, &id, r) != 0 ||
	    control_arg_text(args, "comment", 1, MAX_TEXT, &comment, r) != 0)
		return NULL;
	grants_context(ctx, who, &g);
	rc = grant_acknowledge(&g, id, comment, &r->e);
	return answer(ctx, rc, id, r);
}

json_t *
control_grant_list(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	static const char *const filters[] = {"all", "active", "pending", "review", NULL};
	const char *filter, *user, *kind;
	char canon[ACCOUNT_NAME_MAX + 1];
	json_t *o;
	int known = 0;

	if (control_arg_name(args, "filter", 1, &filter, r) != 0 ||
	    control_arg_name(args, "user", 1, &user, r) != 0 ||
	    control_user_spelling(ctx, &user, canon, sizeof(canon), r) != 0 ||
	    control_arg_name(args, "kind", 1, &kind, r) != 0)
		return NULL;
	filter = filter != NULL ? filter : "all";
	for (const char *const *f = filters; *f != NULL; f++)
		known |= strcmp(*f, filter) == 0;
	if (!known || (kind != NULL && strcmp(kind, "group") != 0 && strcmp(kind, "account") != 0 &&
		       strcmp(kind, "extend") != 0)) {
		control_fail(r, "bad_request", "unknown filter or kind");
		return NULL;
	}
	/* Users see their own grants; admins everyone's. */
	if (!who->admin) {
		if (user != NULL && strcmp(user, who->name) != 0) {
			control_fail(r, "denied", "only admins may list another user's grants");
			return NULL;
		}
		user = who->name;
	}
	if ((o = grant_list(ctx->st, filter, user, kind, &r->e)) == NULL)
		r->code = "failed";
	return o;
}

static json_t *
show(struct control_ctx *ctx, const struct caller *who, int64_t id, struct reply_err *r)
{
	json_t *o = grant_show(ctx->st, id, &r->e);
	const char *grantee, *requester;

	if (o == NULL) {
		r->code = strncmp(r->e.msg, "no grant", 8) == 0 ? "not_found" : "failed";
		return NULL;
	}
	grantee = json_string_value(json_object_get(o, "grantee"));
	requester = json_string_value(json_object_get(o, "requester"));
	if (!who->admin && (grantee == NULL || strcmp(grantee, who->name) != 0) &&
	    (requester == NULL || strcmp(requester, who->name) != 0)) {
		json_decref(o);
		control_fail(r, "denied", "grant #%lld is not yours to see", (long long)id);
		return NULL;
	}
	return o;
}

json_t *
control_grant_show(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	int64_t id = 0;

	return arg_id(args, &id, r) == 0 ? show(ctx, who, id, r) : NULL;
}

/* ---- temporary privileged accounts ---- */

json_t *
control_account_create(struct control_ctx *ctx, const struct caller *who, json_t *args,
		       struct reply_err *r)
{
	struct grant_request req = {0};
	struct grants_ctx g;
	int64_t id = 0;
	int rc;

	if (control_arg_name(args, "name", 0, &req.account, r) != 0 ||
	    control_arg_name(args, "owner", 1, &req.grantee, r) != 0 ||
	    control_arg_text(args, "groups", 0, MAX_TEXT, &req.groups, r) != 0 ||
	    arg_times(args, &req, r) != 0)
		return NULL;
	if (req.grantee == NULL)
		req.grantee = who->name;
	grants_context(ctx, who, &g);
	rc = grant_request(&g, &req, &id, &r->e);
	return answer(ctx, rc, id, r);
}

/* The account grant named by args.name. */
static int
account_id(struct control_ctx *ctx, json_t *args, int64_t *id, struct reply_err *r)
{
	const char *name;
	int rc;

	if (control_arg_name(args, "name", 0, &name, r) != 0)
		return -1;
	if ((rc = grant_account_id(ctx->st, name, id, &r->e)) != 0) {
		failed(rc, r);
		return -1;
	}
	return 0;
}

json_t *
control_account_show(struct control_ctx *ctx, const struct caller *who, json_t *args,
		     struct reply_err *r)
{
	int64_t id = 0;

	return account_id(ctx, args, &id, r) == 0 ? show(ctx, who, id, r) : NULL;
}

json_t *
control_account_extend(struct control_ctx *ctx, const struct caller *who, json_t *args,
		       struct reply_err *r)
{
	int64_t id = 0;

	return account_id(ctx, args, &id, r) == 0 ? extend(ctx, who, id, args, r) : NULL;
}

json_t *
control_account_end(struct control_ctx *ctx, const struct caller *who, json_t *args,
		    struct reply_err *r)
{
	int64_t id = 0;

	return account_id(ctx, args, &id, r) == 0 ? revoke(ctx, who, id, args, r) : NULL;
}
