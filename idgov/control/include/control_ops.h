/*
 * Control operations: the public header for code that adds operations to
 * the control protocol (the built-in ones, and libraries such as reviews
 * that hand theirs to control_ctx.extra_ops). An operation is a row of a
 * table: its name, whether only admins may call it, the argument names it
 * accepts (anything else is refused before the handler runs) and its
 * handler. Handlers read arguments with control_arg_*() and refuse with
 * control_fail(); the dispatcher audits the outcome.
 */
#ifndef IDGOV_CONTROL_OPS_H
#define IDGOV_CONTROL_OPS_H

#include "control.h"

struct reply_err {
	const char *code;
	struct idg_err e;
};

typedef json_t *(*op_fn)(struct control_ctx *, const struct caller *, json_t *args,
			 struct reply_err *);

/* What an operation is, read off its table row (OpenSSH monitor.c style). */
/* Only admins may call it. */
#define CONTROL_OP_ADMIN 0x1
/* Its request or reply carries secrets: wiped before freeing. */
#define CONTROL_OP_SECRET 0x2
/* Only the web frontend's uid, as itself (no session), may call it. */
#define CONTROL_OP_FRONTEND 0x4
/* A web session that still owes its code may call it. */
#define CONTROL_OP_CODE_STEP 0x8
/* A web session of a person not yet enrolled for MFA may call it. */
#define CONTROL_OP_ENROL_STEP 0x10
/*
 * It governs (grants, temporary accounts, reviews): only the governor that
 * holds the lease runs it; elsewhere "run this on the governor (NAME)"
 * (control_ctx.may_govern, role.h).
 */
#define CONTROL_OP_GOVERN 0x20
/*
 * It reads the caller's name and nothing of their role (a reviewer's own
 * page): the admin group is not looked up for it, a saving per page view.
 */
#define CONTROL_OP_ROLELESS 0x40

/* One operation: its name, its CONTROL_OP_* flags, its argument names, its handler. */
struct control_op {
	const char *name;
	unsigned flags;
	const char *const *args; /* accepted argument names, NULL-terminated */
	op_fn fn;
};

/* Sets r (code and message) and returns -1. */
int control_fail(struct reply_err *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A name argument: present (or, with optional, absent: *out NULL), a string, 1..256 bytes, no
 * control characters (C0, DEL, C1). */
int control_arg_name(json_t *args, const char *key, int optional, const char **out,
		     struct reply_err *r);
/* The same for free text of up to max bytes (reasons, comments). */
int control_arg_text(json_t *args, const char *key, int optional, size_t max, const char **out,
		     struct reply_err *r);
int control_arg_bool(json_t *args, const char *key, int *out, struct reply_err *r);
int control_arg_count(json_t *args, const char *key, int64_t *out, struct reply_err *r);

#endif
