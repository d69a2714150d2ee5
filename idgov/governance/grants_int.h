/*
 * What grants.c (requests and decisions), grants_clock.c (activation and
 * the clock) and grants_view.c share. Not for use outside them.
 */
#ifndef IDGOV_GRANTS_INT_H
#define IDGOV_GRANTS_INT_H

#include "dir.h"
#include "grants.h"

/* The columns grant_from_row reads, in its order. */
#define GRANT_COLUMNS                                                                              \
	"id, kind, state, grantee, group_cn, group_dn, privileged, account_name, target_id, "      \
	"start_at, end_at, reason, requester, requested_at, approvals_needed, breakglass, sudo, "  \
	"privileged_reason"

/* Room for why a grant is privileged ("sre is nested in admins; carries sudo rights"). */
#define GRANT_WHY_MAX 1024

struct grant {
	int64_t id, target_id, start_at, end_at, requested_at;
	char kind[8], state[12];
	char *grantee, *group_cn, *group_dn, *account_name, *reason, *requester;
	int privileged, approvals_needed, breakglass, sudo;
	char *privileged_reason; /* NULL when not privileged (or recorded before reasons were) */
};

struct user_ref {
	char dn[DIR_MAX_DN], dn_norm[DIR_MAX_DN], mail[256], display_name[256];
};

struct group_ref {
	int64_t id;
	char dn[DIR_MAX_DN];
	int privileged;
};

/* What a grant gives: the account's name or the group's. */
const char *grant_what(const struct grant *gr);
void grant_free(struct grant *gr);
void grant_from_row(sqlite3_stmt *s, struct grant *gr);
/* 0, GRANT_NOT_FOUND, or -1. */
int load_grant(struct store *st, int64_t id, struct grant *gr, struct idg_err *err);

/* An active user / group of the mirror; GRANT_NOT_FOUND if there is none. */
int grant_lookup_user(struct store *st, const char *uid, struct user_ref *u, struct idg_err *err);
int grant_lookup_group(struct store *st, const char *cn, struct group_ref *gref,
		       struct idg_err *err);

/*
 * Judges whether gr is privileged by what it gives, not by its group's
 * name alone: a group that is privileged or nested (at any depth) in a
 * privileged group, sudo rights, or an account (always; the reason names
 * its privileged groups). Sets gr->privileged, and gr->privileged_reason
 * to why (written there) or NULL. An extension (which carries its grant's
 * group, account and sudo) is judged as the grant it extends.
 */
int grant_judge_privilege(struct grants_ctx *g, struct grant *gr, char why[GRANT_WHY_MAX],
			  struct idg_err *err);

/* Appends grant.ACTION about grant id (inside the caller's transaction); steals d. */
int audit_grant(struct grants_ctx *g, int64_t id, const char *action, json_t *d,
		struct idg_err *err);
/* Tells the people concerned about event on grant id; after the commit, never inside it. */
void notify_grant(struct grants_ctx *g, int64_t id, const char *event, const char *detail);

int grant_begin(struct grants_ctx *g, struct idg_err *err);
/* Commits (signing the audit head) if rc is 0, else rolls back; returns rc or -1. */
int grant_commit(struct grants_ctx *g, int rc, struct idg_err *err);
/* Sets a grant's state and one of its time columns (a fixed name from these files). */
int grant_set_state(struct store *st, int64_t id, const char *state, const char *time_col,
		    int64_t now, struct idg_err *err);
/* Ends an open grant as expired or revoked, journaling what undoes its activation. */
int end_grant(struct grants_ctx *g, const struct grant *gr, const char *state, const char *reason,
	      int64_t now, struct idg_err *err);

#endif
