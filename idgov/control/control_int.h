/*
 * Internal to the control protocol: the built-in operation handlers that
 * control.c lists in its table. Not for use outside idgov/control/.
 */
#ifndef IDGOV_CONTROL_INT_H
#define IDGOV_CONTROL_INT_H

#include "control_ops.h"

json_t *control_mfa_enroll_begin(struct control_ctx *, const struct caller *, json_t *,
				 struct reply_err *);
json_t *control_mfa_enroll_confirm(struct control_ctx *, const struct caller *, json_t *,
				   struct reply_err *);
json_t *control_mfa_status(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_mfa_reset(struct control_ctx *, const struct caller *, json_t *,
			  struct reply_err *);
json_t *control_mfa_unlock(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_mfa_recovery_codes(struct control_ctx *, const struct caller *, json_t *,
				   struct reply_err *);

json_t *control_key_rotate(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_key_destroy_old(struct control_ctx *, const struct caller *, json_t *,
				struct reply_err *);
json_t *control_key_list(struct control_ctx *, const struct caller *, json_t *, struct reply_err *);

json_t *control_grant_request(struct control_ctx *, const struct caller *, json_t *,
			      struct reply_err *);
json_t *control_grant_approve(struct control_ctx *, const struct caller *, json_t *,
			      struct reply_err *);
json_t *control_grant_deny(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_grant_revoke(struct control_ctx *, const struct caller *, json_t *,
			     struct reply_err *);
json_t *control_grant_extend(struct control_ctx *, const struct caller *, json_t *,
			     struct reply_err *);
json_t *control_grant_breakglass(struct control_ctx *, const struct caller *, json_t *,
				 struct reply_err *);
json_t *control_grant_acknowledge(struct control_ctx *, const struct caller *, json_t *,
				  struct reply_err *);
json_t *control_grant_list(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_grant_show(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_account_create(struct control_ctx *, const struct caller *, json_t *,
			       struct reply_err *);
json_t *control_account_show(struct control_ctx *, const struct caller *, json_t *,
			     struct reply_err *);
json_t *control_account_extend(struct control_ctx *, const struct caller *, json_t *,
			       struct reply_err *);
json_t *control_account_end(struct control_ctx *, const struct caller *, json_t *,
			    struct reply_err *);

/* control_web.c: sign-in and acting on behalf of a person. */
int control_web_frontend(const struct control_ctx *ctx, const struct caller *who);
/* Checks token and fills person (who the request is then run as); 0, or -1 with r. */
int control_web_person(struct control_ctx *ctx, const struct caller *who, const char *token,
		       const char *addr, struct caller *person, struct reply_err *r);
json_t *control_web_signin(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_web_verify(struct control_ctx *, const struct caller *, json_t *,
			   struct reply_err *);
json_t *control_web_signout(struct control_ctx *, const struct caller *, json_t *,
			    struct reply_err *);
json_t *control_web_session(struct control_ctx *, const struct caller *, json_t *,
			    struct reply_err *);

json_t *control_policy_check(struct control_ctx *, const struct caller *, json_t *,
			     struct reply_err *);

/*
 * A user name argument in the directory's spelling: uid matching in LDAP
 * ignores case, so "KIM" names the user whose uid is Kim, and every lookup
 * (user show, policy check, grants, MFA) is about that user. *name (if not
 * NULL) is checked (account_name_valid) and then points into buf (size
 * bytes, ACCOUNT_NAME_MAX + 1 is enough); a name the mirror does not know
 * is kept as given. 0, or -1 with r filled.
 */
int control_user_spelling(struct control_ctx *ctx, const char **name, char *buf, size_t size,
			  struct reply_err *r);

/*
 * The MFA state file of ctx, opened (and on first use created and filled
 * from the store) when first needed. 0 with *out, or -1 (err).
 */
int control_mfa_state(struct control_ctx *ctx, struct store **out, struct idg_err *err);

#endif
