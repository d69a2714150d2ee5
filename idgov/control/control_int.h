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

json_t *control_policy_check(struct control_ctx *, const struct caller *, json_t *,
			     struct reply_err *);

#endif
