/*
 * Time-bound grants of privilege (table grants, schema/005): group
 * memberships, temporary privileged accounts, and extensions of either.
 *
 * This module decides; the journal (journal.h) writes to the directory.
 * Every decision is one transaction holding the state change, its
 * decision record, the journal rows it needs and its audit records, so a
 * crash leaves either all of it or none.
 *
 * A group grant made with sudo also writes a sudoRole (sudoUser, the
 * configured sudoHost and sudoCommand, sudoNotBefore/sudoNotAfter) that
 * its end deletes, so that sudo with timed rules refuses it at its end
 * even before the removal reaches the directory.
 *
 * Who may do what:
 *   request      anyone for themself; an admin for anyone
 *   approve      an admin who is not the grantee; for a privileged grant
 *                also not the requester (two-person rule), [grants]
 *                approvers of them. Privileged is judged on the effect: a
 *                privileged group, a group nested in one at any depth,
 *                sudo rights, or an account; the reason is recorded and
 *                shown. An admin's request for a grant that is none of
 *                these counts as its one approval.
 *   deny         an admin who is not the grantee
 *   revoke       an admin, or the grantee giving it up
 *   breakglass   a member of [breakglass] group, for themself; active at
 *                once, alerted, listed until an admin acknowledges it
 *
 * grants_tick() moves grants along in time: requests lapse, approved
 * grants start, active grants end, accounts past their retention are
 * deleted. It returns when it next has something to do, so the daemon
 * sleeps on a timer until then instead of sweeping.
 */
#ifndef IDGOV_GRANTS_H
#define IDGOV_GRANTS_H

#include "audit.h"
#include "config.h"
#include "log.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

#define GRANT_REASON_MAX 1000
#define GRANT_ACCOUNT_GROUPS_MAX 16

struct grants_ctx {
	const struct cfg *cfg;
	struct store *st;
	struct audit *audit;
	struct logger *log;
	const char *actor; /* the caller's name, or "idgovd" */
	int admin;
};

/* Return values besides 0 and -1 (failed: err says why). */
#define GRANT_DENIED (-2)    /* the caller may not do this */
#define GRANT_NOT_FOUND (-3) /* no such grant, user or group */
#define GRANT_INVALID (-4)   /* the request itself is malformed */
#define GRANT_CONFLICT (-5)  /* the grant's state does not allow it */

struct grant_request {
	const char *grantee; /* the user; for an account, its owner */
	const char *group;   /* kind group */
	const char *account; /* kind account: the new account's name */
	const char *groups;  /* kind account: comma-separated groups */
	const char *start;   /* TIME or NULL for now */
	const char *until;   /* TIME; or */
	const char *duration;
	const char *reason;
	int sudo; /* kind group: also a sudoRole entry under [grants] sudo_base */
};

int grant_request(struct grants_ctx *g, const struct grant_request *req, int64_t *id,
		  struct idg_err *err);
int grant_decide(struct grants_ctx *g, int64_t id, int approve, const char *comment,
		 struct idg_err *err);
int grant_revoke(struct grants_ctx *g, int64_t id, const char *reason, struct idg_err *err);
int grant_extend(struct grants_ctx *g, int64_t id, const char *until, const char *duration,
		 const char *reason, int64_t *new_id, struct idg_err *err);
int grant_breakglass(struct grants_ctx *g, const char *group, const char *duration,
		     const char *reason, int64_t *id, struct idg_err *err);
int grant_acknowledge(struct grants_ctx *g, int64_t id, const char *comment, struct idg_err *err);

/* Does what is due at now; *next: when something is next due (0: nothing scheduled). */
int grants_tick(struct grants_ctx *g, int64_t now, int64_t *next, struct idg_err *err);

/*
 * Grants as JSON. filter: "all", "active", "pending" (awaiting approval),
 * "review" (break-glass not yet acknowledged); user: only this grantee
 * (NULL: all); kind: "group", "account" or NULL.
 */
json_t *grant_list(struct store *st, const char *filter, const char *user, const char *kind,
		   struct idg_err *err);
json_t *grant_show(struct store *st, int64_t id, struct idg_err *err);
/* The grant id of the newest account grant for name; GRANT_NOT_FOUND if none. */
int grant_account_id(struct store *st, const char *name, int64_t *id, struct idg_err *err);

#endif
