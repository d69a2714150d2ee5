/*
 * Account state at login, from the store: whether a user may log in at
 * all, before any time or place rule. Knows nothing of PAM; the module
 * maps the decision to a PAM code.
 */
#ifndef IDGOV_ACCOUNT_H
#define IDGOV_ACCOUNT_H

#include "config.h"
#include "policy.h"
#include "store.h"

#include <stdint.h>

enum account_decision {
	ACCOUNT_OK,
	ACCOUNT_UNKNOWN,  /* not in the directory mirror */
	ACCOUNT_DEPARTED, /* removed from the directory */
	ACCOUNT_DISABLED, /* disabled in the directory (a lock, a status, a nologin shell) */
	ACCOUNT_EXPIRED,  /* shadowExpire has passed */
	ACCOUNT_ENDED,    /* a temporary privileged account past its end (or not started) */
};

#define ACCOUNT_NAME_MAX 256

/*
 * A login name as it arrives from PAM: 1 to ACCOUNT_NAME_MAX bytes, no
 * control characters, no white space at either end. A name is checked
 * once, here, before anything looks it up: "alice " must not become a
 * second, unenrolled alice. 0, or -1 with why.
 */
int account_name_valid(const char *name, struct idg_err *err);

/*
 * The directory's spelling of a login name: uid matching in LDAP ignores
 * case, so "ALICE" is alice, and every decision (MFA, account state, rules)
 * must be about her. Copies into canon the uid that equals name exactly,
 * else the one uid that equals it ignoring case (ASCII through the NOCASE
 * index; a non-ASCII name by UTF-8 case folding, casefold.h, so that U+00C4
 * and U+00E4 are one letter, as LDAP's caseIgnoreMatch has it). Returns 1
 * when found, 0 when there is none or several (canon then holds name), -1
 * on error.
 */
int account_canonical_uid(struct store *st, const char *name, char *canon, size_t size,
			  struct idg_err *err);

/*
 * Fills *d and, unless ACCOUNT_OK, rule with the name of the rule that
 * decided and reason (size bytes) with why in words ("locked by ppolicy
 * (pwdAccountLockedTime)", "shadowExpire 2026-01-31 has passed"). The
 * state is the one `idgov status`, `user list` and `user show` print
 * (QUERY_STATE_SQL).
 */
int account_check(struct store *st, const char *uid, int64_t now, enum account_decision *d,
		  const char **rule, char *reason, size_t size, struct idg_err *err);

/* 1 if uid is a temporary privileged account idgov created (grants, schema/005), 0 if not. */
int account_is_temporary(struct store *st, const char *uid, struct idg_err *err);

struct access_verdict {
	enum account_decision state;
	int allowed;
	int password_expired;   /* allowed, but a new password is required first */
	int password_warn_days; /* days until it expires, within the warning period; else -1 */
	char rule[80];          /* what denied: "account.departed", "rule office", ... */
	char why[288];
};

/*
 * The whole account decision at login, in order: account state, the access
 * rules (with the user's effective groups from the store), grants whose end
 * has passed but whose removal from the directory is not done (refused on
 * [grants] enforce_services), then password age (from the later of idgov's
 * recorded change, in the auth service's state file (mfastate.h) when
 * state is given, and the directory's shadowLastChange/pwdChangedTime).
 * report, if given, hears every check.
 */
int account_decide(struct store *st, struct store *state, const struct cfg *cfg, const char *user,
		   const char *service, const char *rhost, int64_t now, policy_report_fn report,
		   void *arg, struct access_verdict *v, struct idg_err *err);

/* What the maximum password age does to one allowed login. */
enum account_pwage {
	ACCOUNT_PWAGE_NONE,   /* the password has not expired */
	ACCOUNT_PWAGE_CHANGE, /* expired: a new password before the login goes on */
	ACCOUNT_PWAGE_WARN,   /* expired, but this login gave none: let in, warned, audited */
};

/*
 * [pam] password_age applied to v (from account_decide) for a login that
 * gave a password (password_used) or not. A login that gave no password,
 * an ssh key and a code, cannot be asked for the password it did not
 * give: with password-logins it is warned and recorded instead of sent to
 * a "Current password:" prompt it may not be able to answer (a locked
 * local password); with all-logins it must change it all the same.
 */
enum account_pwage account_password_age(const struct cfg *cfg, const struct access_verdict *v,
					int password_used);

/* Records a login session opening and closing, in the auth service's state file (mfastate.h). */
int account_session_open(struct store *st, const char *uid, const char *service, const char *rhost,
			 const char *tty, long pid, int64_t now, struct idg_err *err);
int account_session_close(struct store *st, const char *uid, const char *service, long pid,
			  int64_t now, struct idg_err *err);

#endif
