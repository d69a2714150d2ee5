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

#endif
