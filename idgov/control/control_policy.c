/*
 * `idgov policy check`: the login decision pam_idgov would make, without
 * its side effects (no failure counted, nothing audited but the request),
 * with every check and why it passed or failed. And user names as that
 * decision sees them: in the directory's spelling (control_user_spelling),
 * for every operation that names a directory user.
 */
#include "control_int.h"

#include "account.h"
#include "netmatch.h"

#include <string.h>

int
control_user_spelling(struct control_ctx *ctx, const char **name, char *buf, size_t size,
		      struct reply_err *r)
{
	struct idg_err why;

	if (*name == NULL)
		return 0;
	if (account_name_valid(*name, &why) != 0)
		return control_fail(r, "bad_request", "%s", why.msg);
	if (account_canonical_uid(ctx->st, *name, buf, size, &r->e) < 0) {
		r->code = "failed";
		return -1;
	}
	*name = buf;
	return 0;
}

static void
collect(void *arg, const char *rule, const char *check, int pass, const char *why)
{
	json_array_append_new((json_t *)arg, json_pack("{s:s, s:s, s:b, s:s}", "rule", rule,
						       "check", check, "pass", pass, "why", why));
}

json_t *
control_policy_check(struct control_ctx *ctx, const struct caller *who, json_t *args,
		     struct reply_err *r)
{
	const char *name, *service = NULL, *rhost = NULL;
	char canon[ACCOUNT_NAME_MAX + 1];
	struct access_verdict v;
	struct net_prefix addr;
	struct store *state = NULL;
	int64_t at = 0;
	json_t *checks;

	(void)who;
	if (control_arg_name(args, "name", 0, &name, r) != 0 ||
	    control_arg_name(args, "service", 1, &service, r) != 0 ||
	    control_arg_name(args, "rhost", 1, &rhost, r) != 0 ||
	    control_arg_count(args, "at", &at, r) != 0 ||
	    control_user_spelling(ctx, &name, canon, sizeof(canon), r) != 0)
		return NULL;
	if (rhost != NULL && net_parse_address(rhost, &addr) != 0) {
		control_fail(r, "bad_request", "rhost '%s' is not a numeric IP address", rhost);
		return NULL;
	}
	if (service == NULL)
		service = "sshd";
	if (at == 0)
		at = idg_now();
	/* The password history is the auth service's (its state file), read here as at login. */
	if (control_mfa_state(ctx, &state, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	checks = json_array();
	if (account_decide(ctx->st, state, ctx->cfg, name, service, rhost, at, collect, checks, &v,
			   &r->e) != 0) {
		json_decref(checks);
		r->code = "failed";
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s?, s:I, s:b, s:b, s:s?, s:s?, s:o}", "user", name,
			 "service", service, "rhost", rhost, "at", (json_int_t)at, "allowed",
			 v.state == ACCOUNT_OK && v.allowed, "password_expired", v.password_expired,
			 "denied_by", v.rule[0] ? v.rule : NULL, "why", v.rule[0] ? v.why : NULL,
			 "checks", checks);
}
