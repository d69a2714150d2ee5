/*
 * The control protocol's MFA operations: enrolment (begin, then confirm
 * with a first code), status, new recovery codes, and the admin's reset
 * and unlock. A user acts on themself (enrolment only when [mfa]
 * self_enroll allows it); an admin on anyone. With [fleet] mfa =
 * directory the enrolment is fleet-wide, in the directory
 * (control_mfa_fleet.c); who may act is decided here the same way.
 */
#include "control_fleet.h"
#include "control_int.h"

#include "account.h"
#include "mfa.h"
#include "mfastate.h"

#include <stdlib.h>
#include <string.h>

static int
fleet_wide(const struct control_ctx *ctx)
{
	return ctx->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY;
}

/* The user an MFA request is about: args.name, or the caller; checks who may act on them. */
static const char *
target(struct control_ctx *ctx, const struct caller *who, json_t *args, int enrolment,
       char canon[ACCOUNT_NAME_MAX + 1], struct reply_err *r)
{
	char self_canon[ACCOUNT_NAME_MAX + 1];
	const char *name, *self = who->name;

	if (control_arg_name(args, "name", 1, &name, r) != 0)
		return NULL;
	if (name == NULL)
		name = who->name;
	/* In the directory's spelling: "KIM" enrols the user whose uid is Kim. */
	if (control_user_spelling(ctx, &name, canon, ACCOUNT_NAME_MAX + 1, r) != 0 ||
	    control_user_spelling(ctx, &self, self_canon, sizeof(self_canon), r) != 0)
		return NULL;
	if (!who->admin && strcmp(name, self) != 0) {
		control_fail(r, "denied", "only admins may manage another user's MFA (you are %s)",
			     who->name);
		return NULL;
	}
	if (enrolment && !who->admin && !ctx->cfg->mfa_self_enroll) {
		control_fail(r, "denied", "self-enrolment is disabled; ask an admin to enrol %s",
			     name);
		return NULL;
	}
	if (ctx->key == NULL) {
		control_fail(r, "failed", "the master key is not loaded; %s", "run idgov init");
		return NULL;
	}
	return name;
}

int
control_mfa_state(struct control_ctx *ctx, struct store **out, struct idg_err *err)
{
	char path[4096];

	if (ctx->mfa_state == NULL &&
	    (mfastate_path(ctx->cfg, ctx->st->path, path, sizeof(path), err) != 0 ||
	     mfastate_open(path, ctx->st, &ctx->mfa_state, err) != 0))
		return -1;
	*out = ctx->mfa_state;
	return 0;
}

/* The MFA context of a request: the store, the key, and the auth service's state file. */
static int
mfa_context(struct control_ctx *ctx, const struct caller *who, struct mfa_ctx *c,
	    struct reply_err *r)
{
	*c = (struct mfa_ctx){.st = ctx->st,
			      .cfg = ctx->cfg,
			      .key = ctx->key,
			      .audit = ctx->audit,
			      .log = ctx->log,
			      .actor = who->name};
	if (control_mfa_state(ctx, &c->state, &r->e) != 0) {
		r->code = "failed";
		return -1;
	}
	return 0;
}

static json_t *
failed(struct reply_err *r)
{
	r->code = strncmp(r->e.msg, "no user", 7) == 0 ? "not_found" : "failed";
	return NULL;
}

json_t *
control_mfa_enroll_begin(struct control_ctx *ctx, const struct caller *who, json_t *args,
			 struct reply_err *r)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *name = target(ctx, who, args, 1, canon, r);
	struct mfa_ctx c;
	json_t *o;
	char *uri;

	if (name == NULL)
		return NULL;
	if (fleet_wide(ctx) && control_mfa_fleet_may_begin(ctx, name, r) != 0)
		return NULL;
	if (mfa_context(ctx, who, &c, r) != 0)
		return NULL;
	if (mfa_enroll_begin(&c, name, &uri, &r->e) != 0)
		return failed(r);
	o = json_pack("{s:s, s:s}", "user", name, "uri", uri);
	sodium_memzero(uri, strlen(uri));
	free(uri);
	return o;
}

static json_t *
codes_json(char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN])
{
	json_t *a = json_array();

	for (int i = 0; i < MFA_RECOVERY_CODES; i++)
		json_array_append_new(a, json_string(codes[i]));
	sodium_memzero(codes, (size_t)MFA_RECOVERY_CODES * MFA_RECOVERY_LEN);
	return a;
}

json_t *
control_mfa_enroll_confirm(struct control_ctx *ctx, const struct caller *who, json_t *args,
			   struct reply_err *r)
{
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *name = target(ctx, who, args, 1, canon, r), *code;
	struct mfa_ctx c;

	if (name == NULL || control_arg_name(args, "code", 0, &code, r) != 0)
		return NULL;
	if (fleet_wide(ctx))
		return control_mfa_fleet_confirm(ctx, who, name, code, r);
	if (mfa_context(ctx, who, &c, r) != 0)
		return NULL;
	if (mfa_enroll_confirm(&c, name, code, idg_now(), codes, &r->e) != 0)
		return failed(r);
	return json_pack("{s:s, s:o}", "user", name, "recovery_codes", codes_json(codes));
}

json_t *
control_mfa_status(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *name = target(ctx, who, args, 0, canon, r);
	struct mfa_ctx c;
	json_t *o;

	if (name == NULL)
		return NULL;
	if (fleet_wide(ctx))
		return control_mfa_fleet_status(ctx, name, r);
	if (mfa_context(ctx, who, &c, r) != 0)
		return NULL;
	o = mfa_status(&c, name, idg_now(), &r->e);
	return o != NULL ? o : failed(r);
}

/*
 * New recovery codes for oneself need a current code from the app: a
 * session left open (or a stolen shell) must not be enough to mint codes
 * that log in as its user later. Only digits of the configured length are
 * taken, so a recovery code is never spent here. 0, or -1 with r.
 */
static int
prove_second_factor(struct mfa_ctx *c, const char *name, const char *code, struct reply_err *r)
{
	enum mfa_outcome out;
	size_t n = code != NULL ? strlen(code) : 0;

	if (code == NULL)
		return control_fail(
			r, "denied",
			"a current code from your authenticator app is needed to replace "
			"your recovery codes");
	if (n != (size_t)c->cfg->mfa_digits || strspn(code, "0123456789") != n)
		return control_fail(r, "denied", "the code must be the %d digits your app shows",
				    c->cfg->mfa_digits);
	if (mfa_verify(c, name, code, idg_now(), &out, &r->e) != 0) {
		r->code = "failed";
		return -1;
	}
	if (out != MFA_OK)
		return control_fail(r, "denied",
				    out == MFA_LOCKED ? "verification is locked for %s"
						      : "the code is not valid for %s",
				    name);
	return 0;
}

json_t *
control_mfa_recovery_codes(struct control_ctx *ctx, const struct caller *who, json_t *args,
			   struct reply_err *r)
{
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *name = target(ctx, who, args, 0, canon, r), *code;
	struct mfa_ctx c;

	if (name == NULL || control_arg_name(args, "code", 1, &code, r) != 0)
		return NULL;
	if (fleet_wide(ctx))
		return control_mfa_fleet_recovery_codes(
			ctx, who, name, code, strcmp(name, who->name) == 0 && who->uid != 0, r);
	if (mfa_context(ctx, who, &c, r) != 0)
		return NULL;
	/* An admin replacing another user's codes acts as the admin; root is trusted. */
	if (strcmp(name, who->name) == 0 && who->uid != 0 &&
	    prove_second_factor(&c, name, code, r) != 0)
		return NULL;
	if (mfa_new_recovery_codes(&c, name, codes, &r->e) != 0)
		return failed(r);
	return json_pack("{s:s, s:o}", "user", name, "recovery_codes", codes_json(codes));
}

/* reset and unlock: admin only (the op table says so), on a named user. */
static json_t *
admin_change(struct control_ctx *ctx, const struct caller *who, json_t *args,
	     int (*fn)(struct mfa_ctx *, const char *, struct idg_err *), struct reply_err *r)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *name;
	struct mfa_ctx c;

	if (control_arg_name(args, "name", 0, &name, r) != 0 ||
	    control_user_spelling(ctx, &name, canon, sizeof(canon), r) != 0)
		return NULL;
	if (fleet_wide(ctx))
		return fn == mfa_reset ? control_mfa_fleet_reset(ctx, who, name, r)
				       : control_mfa_fleet_unlock(ctx, who, name, r);
	if (mfa_context(ctx, who, &c, r) != 0)
		return NULL;
	if (fn(&c, name, &r->e) != 0)
		return failed(r);
	return json_pack("{s:s}", "user", name);
}

json_t *
control_mfa_reset(struct control_ctx *ctx, const struct caller *who, json_t *args,
		  struct reply_err *r)
{
	return admin_change(ctx, who, args, mfa_reset, r);
}

json_t *
control_mfa_unlock(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	return admin_change(ctx, who, args, mfa_unlock, r);
}
