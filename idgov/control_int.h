/*
 * Internal to the control protocol: what the operation handlers in
 * control.c and control_mfa.c share. Not for use outside them.
 */
#ifndef IDGOV_CONTROL_INT_H
#define IDGOV_CONTROL_INT_H

#include "control.h"

struct reply_err {
	const char *code;
	struct idg_err e;
};

typedef json_t *(*op_fn)(struct control_ctx *, const struct caller *, json_t *args,
			 struct reply_err *);

/* One operation: its name, whether only admins may call it, its argument names, its handler. */
struct control_op {
	const char *name;
	int admin_only;
	const char *const *args; /* accepted argument names, NULL-terminated */
	op_fn fn;
};

/* Sets r (code and message) and returns -1. */
int control_fail(struct reply_err *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A name argument: present (or, with optional, absent: *out NULL), a string, 1..256 bytes, no
 * controls. */
int control_arg_name(json_t *args, const char *key, int optional, const char **out,
		     struct reply_err *r);
/* The same for free text of up to max bytes (reasons, comments). */
int control_arg_text(json_t *args, const char *key, int optional, size_t max, const char **out,
		     struct reply_err *r);
int control_arg_bool(json_t *args, const char *key, int *out, struct reply_err *r);
int control_arg_count(json_t *args, const char *key, int64_t *out, struct reply_err *r);

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
