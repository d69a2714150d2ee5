/*
 * The requests pam_idgov.so sends, one per PAM call, decided here with
 * the policy layer:
 *
 *   authenticate   TOTP (or a recovery code) for enrolled users, with
 *                  replay protection and lockout (policy/mfa.c)
 *   account        account state, then the access rules, then password
 *                  age, which stops only logins that gave a password
 *                  unless [pam] password_age is all-logins
 *                  (policy/account.c, policy/policy.c)
 *   session        login records: service, rhost, tty (policy/account.c)
 *   password       the password rules and history (policy/password.c):
 *                  check, record, or both
 *
 * Each request takes what it needs (store, master key, the audit spool)
 * from the worker serving it, which opens each once and keeps it open
 * for the next requests (files.c). The
 * service never opens the audit key: its events are spooled (spool.h) and
 * idgovd signs them into the chain. The request
 * table says what each one needs, so that only authentication ever loads
 * the master key. It fails closed: if the store or a key cannot be used,
 * the answer is AUTHINFO_UNAVAIL, which the module treats as a service
 * that cannot answer: only a break-glass code lets anyone in then.
 */
#include "authd.h"

#include "account.h"
#include "audit.h"
#include "mfa.h"
#include "mfastate.h"
#include "password.h"
#include "secmem.h"
#include "secret.h"
#include "store.h"
#include "timeparse.h"

#include <jansson.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env {
	const struct cfg *cfg;
	struct authd_files *files; /* the worker's: opened once, kept (files.c) */
	struct conv *c;
	struct store *st;
	struct store *state; /* the state file (mfastate.h): MFA, sessions, password history */
	struct secret_key *key;
	struct audit *audit;
	struct logger *log;
	char actor[80];
};

/*
 * What a request opens beyond the store, which it only reads: no request
 * takes the store's write lock, so a directory refresh holding it for
 * seconds never delays one; what a request writes goes to the state file
 * and the spool.
 */
enum { NEED_STORE = 0, NEED_AUDIT = 1, NEED_MASTER_KEY = 2 };

/* Takes what the request needs from the worker's open files, opening what is not yet open. */
static int
env_open(struct env *e, int need, struct idg_err *err)
{
	if (authd_files_store(e->files, e->cfg, &e->st, err) != 0)
		return -1;
	if ((need & NEED_MASTER_KEY) && authd_files_key(e->files, e->cfg, &e->key, err) != 0)
		return -1;
	/* Events go to the spool; only idgovd holds the audit key and signs. */
	if ((need & NEED_AUDIT) && authd_files_audit(e->files, e->cfg, &e->audit, err) != 0)
		return -1;
	return 0;
}

/*
 * The service's own MFA state file: what a login writes goes there, so a
 * directory refresh holding the store's write lock never delays it.
 */
static int
open_state(struct env *e, struct idg_err *err)
{
	return authd_files_state(e->files, e->cfg, &e->state, err);
}

/* The files stay open in the worker for the next request; only the borrowed pointers end. */
static void
env_close(struct env *e)
{
	authd_files_end(e->files);
	e->state = NULL;
	e->audit = NULL;
	e->key = NULL;
	e->st = NULL;
}

/*
 * The directory's spelling of user (account_canonical_uid): a login as
 * "ALICE" is decided as alice's. buf holds it; when there is no such user
 * the name stays as given.
 */
static const char *
canonical(struct env *e, const char *user, char *buf, size_t size)
{
	struct idg_err err;

	if (account_canonical_uid(e->st, user, buf, size, &err) < 0) {
		log_msg(e->log, LOG_ERR, "cannot look up %s: %s", user, err.msg);
		return user;
	}
	return buf;
}

/*
 * Fail closed: the store or a key cannot be used. The module then falls
 * back to break-glass codes, which it checks itself.
 */
static enum authproto_result
unavailable(struct env *e, const char *user, const struct idg_err *err)
{
	log_msg(e->log, LOG_ERR, "denying %s: idgov is unavailable: %s", user, err->msg);
	return AUTHPROTO_R_AUTHINFO_UNAVAIL;
}

/*
 * Users with no enrolment (and users the directory does not know): denied,
 * or let through until the grace date with a reminder. Temporary
 * privileged accounts get no grace. Unless [mfa] reveal_enrolment, a
 * refused user is asked for a code like an enrolled one and refused like
 * one giving a wrong code, so that nobody can learn who is enrolled (or
 * who exists) by trying names; the reason goes to the log only. asked:
 * the code was asked already.
 */
static enum authproto_result
not_enrolled(struct env *e, const char *user, int asked)
{
	const struct cfg *cfg = e->cfg;
	struct idg_err err;
	char date[32];

	if (cfg->mfa_unenrolled == CFG_UNENROLLED_GRACE && idg_now() < cfg->mfa_grace_until &&
	    account_is_temporary(e->st, user, &err) == 0) {
		time_format(cfg->mfa_grace_until, date);
		conv_info(e->c,
			  "Multi-factor authentication becomes mandatory on %.10s; enrol now "
			  "with: idgov mfa enroll",
			  date);
		log_msg(e->log, LOG_NOTICE, "auth: %s not enrolled, allowed by grace period", user);
		return AUTHPROTO_R_SUCCESS;
	}
	if (!cfg->mfa_reveal_enrolment) {
		char *code = NULL;

		if (!asked && conv_prompt(e->c, cfg->mfa_prompt, &code) != 0)
			return AUTHPROTO_R_CONV_ERR;
		secmem_free(code);
		log_msg(e->log, LOG_WARNING,
			"auth: denied %s: rule mfa.not_enrolled (not told: [mfa] reveal_enrolment "
			"is no)",
			user);
		return AUTHPROTO_R_AUTH_ERR;
	}
	conv_error(e->c,
		   "Multi-factor authentication is required and %s is not enrolled. "
		   "Ask an admin, or run: idgov mfa enroll",
		   user);
	log_msg(e->log, LOG_WARNING, "auth: denied %s: rule mfa.not_enrolled", user);
	return AUTHPROTO_R_AUTH_ERR;
}

/*
 * A user removed from the directory (d, from account_check) is refused at
 * the first step as what they are, departed, and audited; never told to
 * enrol. 1 when refused, else 0.
 */
static int
departed(struct env *e, const char *user, enum account_decision d, const char *rule)
{
	struct idg_err err;
	json_t *details;

	if (d != ACCOUNT_DEPARTED)
		return 0;
	conv_error(e->c, "Access denied: this account has been removed from the directory.");
	log_msg(e->log, LOG_WARNING, "auth: denied %s (%s) by rule %s", user, e->actor, rule);
	details = json_pack("{s:s, s:s}", "rule", "rule account.departed", "why",
			    "the account is departed");
	if (details == NULL ||
	    audit_record(e->audit, e->actor, user, "login.denied", details, &err) != 0)
		log_msg(e->log, LOG_ERR, "auth: cannot audit the denial of %s: %s", user,
			details == NULL ? "out of memory" : err.msg);
	return 1;
}

/*
 * [pam] local_users: a user the directory does not know (d, from
 * account_check) but passwd does (root, the system's own accounts, a
 * local admin). 1 with *r when that decides the request: PAM_IGNORE, so
 * that the rest of the stack (pam_unix) decides, or a refusal; 0 when the
 * user is in the directory or not a local account either. passwd is read
 * only for a name the directory does not know.
 */
static int
local_user(struct env *e, const char *user, enum account_decision d, enum authproto_result denial,
	   enum authproto_result *r)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int ignore;

	if (d != ACCOUNT_UNKNOWN || getpwnam_r(user, &pw, buf, sizeof(buf), &found) != 0 ||
	    found == NULL)
		return 0;
	switch (e->cfg->pam_local_users) {
	case CFG_LOCAL_IGNORE:
		ignore = 1;
		break;
	case CFG_LOCAL_DENY:
		ignore = 0;
		break;
	default:
		ignore = pw.pw_uid < 1000; /* Debian's SYS_UID_MAX is 999 */
		break;
	}
	if (ignore) {
		log_msg(e->log, LOG_INFO,
			"%s (%s): a local account (uid %ld) outside the directory, left to the "
			"rest of the stack ([pam] local_users)",
			user, e->actor, (long)pw.pw_uid);
		*r = AUTHPROTO_R_IGNORE;
		return 1;
	}
	conv_error(e->c, "Access denied: %s is a local account outside the directory.", user);
	log_msg(e->log, LOG_WARNING,
		"denied %s (%s) by rule pam.local_users: a local account (uid %ld) outside the "
		"directory",
		user, e->actor, (long)pw.pw_uid);
	*r = denial;
	return 1;
}

/* What an MFA outcome answers, said to the user and logged with the rule that decided. */
static enum authproto_result
mfa_result(struct env *e, const char *user, enum mfa_outcome out)
{
	switch (out) {
	case MFA_OK:
	case MFA_OK_RECOVERY:
		log_msg(e->log, LOG_INFO, "auth: %s passed MFA%s (%s)", user,
			out == MFA_OK_RECOVERY ? " with a recovery code" : "", e->actor);
		return AUTHPROTO_R_SUCCESS;
	case MFA_REPLAYED:
		conv_error(e->c, "This code was already used; wait for the next one.");
		log_msg(e->log, LOG_WARNING, "auth: denied %s: rule mfa.replayed", user);
		return AUTHPROTO_R_AUTH_ERR;
	case MFA_RECOVERY_REUSED:
		conv_error(e->c, "This recovery code was already used; each works once.");
		log_msg(e->log, LOG_WARNING, "auth: denied %s: rule mfa.recovery_reused", user);
		return AUTHPROTO_R_AUTH_ERR;
	case MFA_LOCKED:
		conv_error(e->c, "Too many wrong codes: verification is locked for now.");
		log_msg(e->log, LOG_WARNING, "auth: denied %s: rule mfa.locked", user);
		return AUTHPROTO_R_AUTH_ERR;
	case MFA_NOT_ENROLLED:
		return not_enrolled(e, user, 1);
	case MFA_UNKNOWN_USER:
		log_msg(e->log, LOG_WARNING, "auth: denied %s: rule account.unknown", user);
		return AUTHPROTO_R_USER_UNKNOWN;
	default:
		log_msg(e->log, LOG_WARNING, "auth: denied %s: rule mfa.bad_code", user);
		return AUTHPROTO_R_AUTH_ERR;
	}
}

/*
 * No directory provider answers and [fleet] offline = deny: the code
 * cannot be checked fleet-wide, so it is not checked at all (fleet.c
 * logged the rule). The answer is the one of a service that cannot
 * decide: the module then offers break-glass codes, the one way in it
 * has when idgov cannot check MFA.
 */
static enum authproto_result
fleet_offline_denied(struct env *e)
{
	conv_error(e->c, "MFA cannot be checked: no directory provider answers.");
	return AUTHPROTO_R_AUTHINFO_UNAVAIL;
}

/*
 * authenticate with [fleet] mfa = directory: enrolment and the code are
 * the directory's (fleet.c); the account checks before it are the same.
 */
static enum authproto_result
authenticate_fleet(struct env *e, const char *user)
{
	struct authd_fleet x = {.cfg = e->cfg,
				.files = e->files,
				.st = e->st,
				.state = e->state,
				.audit = e->audit,
				.log = e->log,
				.actor = e->actor};
	struct authd_fleet_attempt *a;
	struct secret_key *key;
	enum authproto_result r;
	enum mfa_outcome out;
	struct idg_err err;
	char *code = NULL;
	int rc;

	if (authd_files_fleet(e->files, e->cfg, &key, &x.prov, &err) != 0)
		return unavailable(e, user, &err);
	x.key = key;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return unavailable(e, user, &(struct idg_err){.msg = "out of memory"});
	rc = authd_fleet_begin(&x, user, idg_now(), a, &err);
	if (rc < 0) {
		r = unavailable(e, user, &err);
	} else if (rc == AUTHD_FLEET_NOT_ENROLLED) {
		r = not_enrolled(e, user, 0);
	} else if (rc == AUTHD_FLEET_OFFLINE_DENIED) {
		r = fleet_offline_denied(e);
	} else if (conv_prompt(e->c, e->cfg->mfa_prompt, &code) != 0) {
		r = AUTHPROTO_R_CONV_ERR;
	} else {
		rc = authd_fleet_verify(&x, user, a, code, idg_now(), &out, &err);
		secmem_free(code);
		if (rc < 0)
			r = unavailable(e, user, &err);
		else if (rc == AUTHD_FLEET_OFFLINE_DENIED)
			r = fleet_offline_denied(e);
		else
			r = mfa_result(e, user, out);
	}
	free(a);
	return r;
}

enum before_prompt {
	BEFORE_PROMPT_ERROR = -1,
	BEFORE_PROMPT_ENROLLED,
	BEFORE_PROMPT_DECIDED, /* departed, or a local account: *r says */
	BEFORE_PROMPT_FLEET,   /* [fleet] mfa = directory decides the rest */
	BEFORE_PROMPT_NOT_ENROLLED,
};

/* What authentication decides from the store before any code is asked for. */
static enum before_prompt
before_prompt(struct env *e, struct mfa_ctx *mc, const char *user, enum authproto_result *r,
	      struct idg_err *err)
{
	enum account_decision d;
	const char *rule;
	char reason[256];
	int rc;

	/* Read once: departed and local_users both decide on it. */
	if (account_check(e->st, user, idg_now(), &d, &rule, reason, sizeof(reason), err) != 0)
		return BEFORE_PROMPT_ERROR;
	if (departed(e, user, d, rule)) {
		*r = AUTHPROTO_R_AUTH_ERR;
		return BEFORE_PROMPT_DECIDED;
	}
	if (local_user(e, user, d, AUTHPROTO_R_AUTH_ERR, r))
		return BEFORE_PROMPT_DECIDED;
	if (e->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY)
		return BEFORE_PROMPT_FLEET;
	rc = mfa_is_enrolled(mc, user, err);
	if (rc < 0)
		return BEFORE_PROMPT_ERROR;
	return rc ? BEFORE_PROMPT_ENROLLED : BEFORE_PROMPT_NOT_ENROLLED;
}

static enum authproto_result
authenticate(struct env *e, const struct authproto_msg *req, uint32_t *delay_ms)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	struct mfa_ctx mc = {.cfg = e->cfg, .log = e->log, .actor = e->actor};
	enum authproto_result r;
	enum mfa_outcome out;
	struct idg_err err;
	const char *user = req->user;
	char *code = NULL;
	int rc;

	/* With [fleet] mfa = directory the secrets are sealed under the fleet key instead. */
	if (env_open(e,
		     NEED_AUDIT |
			     (e->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY ? 0 : NEED_MASTER_KEY),
		     &err) != 0 ||
	    open_state(e, &err) != 0)
		return unavailable(e, user, &err);
	*delay_ms = (uint32_t)e->cfg->mfa_fail_delay_ms;
	mc.st = e->st;
	mc.key = e->key;
	mc.audit = e->audit;
	mc.state = e->state;
	/* One snapshot for what is decided before the prompt, ended before any wait. */
	if (store_read_begin(e->st, &err) != 0)
		return unavailable(e, user, &err);
	user = canonical(e, user, canon, sizeof(canon));
	rc = before_prompt(e, &mc, user, &r, &err);
	store_read_end(e->st);
	switch (rc) {
	case BEFORE_PROMPT_ERROR:
		return unavailable(e, user, &err);
	case BEFORE_PROMPT_DECIDED:
		return r;
	case BEFORE_PROMPT_FLEET:
		return authenticate_fleet(e, user);
	case BEFORE_PROMPT_NOT_ENROLLED:
		return not_enrolled(e, user, 0);
	default:
		break;
	}
	if (conv_prompt(e->c, e->cfg->mfa_prompt, &code) != 0)
		return AUTHPROTO_R_CONV_ERR;
	rc = mfa_verify(&mc, user, code, idg_now(), &out, &err);
	secmem_free(code);
	if (rc != 0)
		return unavailable(e, user, &err);
	return mfa_result(e, user, out);
}

static enum authproto_result
account_result(const struct access_verdict *v)
{
	switch (v->state) {
	case ACCOUNT_OK:
		return v->allowed ? AUTHPROTO_R_SUCCESS : AUTHPROTO_R_PERM_DENIED;
	case ACCOUNT_UNKNOWN:
		return AUTHPROTO_R_USER_UNKNOWN;
	case ACCOUNT_DISABLED:
		return AUTHPROTO_R_PERM_DENIED;
	default:
		return AUTHPROTO_R_ACCT_EXPIRED;
	}
}

/* A refused login: told to the user, logged and audited with the rule that refused it. */
static void
refuse(struct env *e, const char *user, const char *rhost, const struct access_verdict *v)
{
	struct idg_err err;
	json_t *d;

	log_msg(e->log, LOG_WARNING, "account: denied %s (%s%s%s) by %s: %s", user, e->actor,
		rhost ? " from " : "", rhost ? rhost : "", v->rule, v->why);
	if (v->state == ACCOUNT_UNKNOWN)
		return; /* another module may know the user; nothing to audit here */
	conv_error(e->c, "Access denied by %s: %s.", v->rule, v->why);
	d = json_pack("{s:s, s:s, s:s?}", "rule", v->rule, "why", v->why, "rhost", rhost);
	if (d == NULL || audit_record(e->audit, e->actor, user, "login.denied", d, &err) != 0)
		log_msg(e->log, LOG_ERR, "account: cannot audit the denial of %s: %s", user,
			d == NULL ? "out of memory" : err.msg);
}

/*
 * An expired password makes sshd and login ask for a new one, when this
 * login gave a password or [pam] password_age is all-logins. A login that
 * gave none (an ssh key and a code; the module's AUTHPROTO_F_PASSWORD_USED
 * is unset) is let in under password-logins with a warning, logged and
 * audited as login.password_expired, so that the record shows who goes on
 * with an old password. One about to expire is announced.
 */
static enum authproto_result
password_age(struct env *e, const char *user, const char *rhost, const struct access_verdict *v,
	     int password_used, int debug)
{
	struct idg_err err;
	json_t *d;

	switch (account_password_age(e->cfg, v, password_used)) {
	case ACCOUNT_PWAGE_CHANGE:
		conv_error(e->c, "Your password has expired (%s); choose a new one.", v->why);
		log_msg(e->log, LOG_NOTICE, "account: %s must change the password: %s (%s)", user,
			v->why,
			password_used ? "this login used a password"
				      : "[pam] password_age is all-logins");
		return AUTHPROTO_R_NEW_AUTHTOK_REQD;
	case ACCOUNT_PWAGE_WARN:
		conv_info(e->c,
			  "Your password has expired (%s). This login used no password, so it "
			  "goes on; change it with passwd before you next need it.",
			  v->why);
		log_msg(e->log, LOG_NOTICE,
			"account: %s (%s%s%s) allowed with an expired password: %s; the login "
			"used no password ([pam] password_age is password-logins)",
			user, e->actor, rhost ? " from " : "", rhost ? rhost : "", v->why);
		d = json_pack("{s:s, s:s, s:b, s:s, s:s?}", "rule", v->rule, "why", v->why,
			      "password_used", 0, "password_age", "password-logins", "rhost",
			      rhost);
		if (d == NULL ||
		    audit_record(e->audit, e->actor, user, "login.password_expired", d, &err) != 0)
			log_msg(e->log, LOG_ERR,
				"account: cannot audit the expired password of %s: %s", user,
				d == NULL ? "out of memory" : err.msg);
		return AUTHPROTO_R_SUCCESS;
	default:
		break;
	}
	if (v->password_warn_days >= 0)
		conv_info(e->c, "Your password expires in %d day%s.", v->password_warn_days,
			  v->password_warn_days == 1 ? "" : "s");
	if (debug)
		log_msg(e->log, LOG_DEBUG, "account: %s allowed", user);
	return AUTHPROTO_R_SUCCESS;
}

static enum authproto_result
account(struct env *e, const struct authproto_msg *req, uint32_t *delay_ms)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *rhost = req->rhost[0] != '\0' ? req->rhost : NULL;
	const char *user = req->user;
	struct access_verdict v;
	struct idg_err err;
	enum authproto_result r;
	int rc;

	(void)delay_ms;
	if (env_open(e, NEED_AUDIT, &err) != 0 || open_state(e, &err) != 0 ||
	    store_read_begin(e->st, &err) != 0)
		return unavailable(e, user, &err);
	/* One snapshot for the whole decision (store.h): no prompt is waited for here. */
	user = canonical(e, user, canon, sizeof(canon));
	rc = account_decide(e->st, e->state, e->cfg, user, req->service, rhost, idg_now(), NULL,
			    NULL, &v, &err);
	store_read_end(e->st);
	if (rc != 0)
		return unavailable(e, user, &err);
	/* A name the directory does not know may be a local account ([pam] local_users). */
	if (local_user(e, user, v.state, AUTHPROTO_R_PERM_DENIED, &r))
		return r;
	r = account_result(&v);
	if (r != AUTHPROTO_R_SUCCESS) {
		refuse(e, user, rhost, &v);
		return r;
	}
	return password_age(e, user, rhost, &v, (req->flags & AUTHPROTO_F_PASSWORD_USED) != 0,
			    (req->flags & AUTHPROTO_F_DEBUG) != 0);
}

/*
 * Session records are best effort: a failure is logged, never a reason to
 * refuse. They go to the state file, as a login's other writes do.
 */
static enum authproto_result
session(struct env *e, const struct authproto_msg *req, int open)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *rhost = req->rhost[0] != '\0' ? req->rhost : NULL;
	const char *tty = req->tty[0] != '\0' ? req->tty : NULL;
	const char *user = req->user;
	struct idg_err err;
	int rc = -1;

	if (env_open(e, NEED_STORE, &err) == 0 && open_state(e, &err) == 0) {
		user = canonical(e, user, canon, sizeof(canon));
		rc = open ? account_session_open(e->state, user, req->service, rhost, tty,
						 (long)req->pid, idg_now(), &err)
			  : account_session_close(e->state, user, req->service, (long)req->pid,
						  idg_now(), &err);
	}
	if (rc == 0)
		log_msg(e->log, LOG_INFO, "session %s for %s (%s%s%s)", open ? "opened" : "closed",
			user, e->actor, rhost ? " from " : "", rhost ? rhost : "");
	else
		log_msg(e->log, LOG_ERR, "cannot record session of %s: %s", user, err.msg);
	return AUTHPROTO_R_SUCCESS;
}

static enum authproto_result
session_open(struct env *e, const struct authproto_msg *req, uint32_t *delay_ms)
{
	(void)delay_ms;
	return session(e, req, 1);
}

static enum authproto_result
session_close(struct env *e, const struct authproto_msg *req, uint32_t *delay_ms)
{
	(void)delay_ms;
	return session(e, req, 0);
}

/*
 * Checks the new password against every rule and records it in the
 * history. The module splits this across two lines of the stack
 * ("check_only" before pam_unix, "record_only use_authtok" after it), so a
 * password is remembered only once pam_unix has really set it.
 */
static enum authproto_result
change_password(struct env *e, const struct authproto_msg *req, uint32_t *delay_ms)
{
	char canon[ACCOUNT_NAME_MAX + 1];
	const char *user = req->user, *pw = req->text;
	enum pw_verdict v;
	struct idg_err err;
	char why[320];

	(void)delay_ms;
	if (env_open(e, NEED_STORE, &err) != 0 || open_state(e, &err) != 0) {
		/* No break-glass here: a password change can wait, a login cannot. */
		log_msg(e->log, LOG_ERR, "password change of %s refused: %s", user, err.msg);
		conv_error(e->c,
			   "Passwords cannot be changed now: the policy service is unavailable.");
		return AUTHPROTO_R_AUTHTOK_ERR;
	}
	user = canonical(e, user, canon, sizeof(canon));
	if (!(req->flags & AUTHPROTO_F_PW_CHECK))
		goto record;
	v = password_check(e->cfg, user, pw, why, sizeof(why));
	/*
	 * Real uid 0 is an admin setting the password: the minimum age does not
	 * apply. A request that does not say its uid is not an admin's.
	 */
	if (v == PW_OK &&
	    password_check_history(e->state, e->cfg, user, pw, idg_now(),
				   (req->have & AUTHPROTO_HAVE_RUID) && req->ruid == 0, &v, why,
				   sizeof(why), &err) != 0) {
		conv_error(e->c, "The password cannot be checked now; try again later.");
		log_msg(e->log, LOG_ERR, "password: cannot check history of %s: %s", user, err.msg);
		return AUTHPROTO_R_AUTHTOK_ERR;
	}
	if (v != PW_OK) {
		conv_error(e->c, "%s", why);
		log_msg(e->log, v == PW_DICTIONARY_MISSING ? LOG_ERR : LOG_NOTICE,
			"password: change for %s refused: %s", user, why);
		return AUTHPROTO_R_AUTHTOK_ERR;
	}
	if (!(req->flags & AUTHPROTO_F_PW_RECORD)) {
		log_msg(e->log, LOG_INFO, "password: new password for %s passes the rules", user);
		return AUTHPROTO_R_SUCCESS;
	}
record:
	if (password_record(e->state, e->cfg, user, pw, idg_now(), &err) != 0) {
		log_msg(e->log, LOG_ERR, "password: cannot record change of %s: %s", user, err.msg);
		return AUTHPROTO_R_AUTHTOK_ERR;
	}
	log_msg(e->log, LOG_NOTICE, "password: new password for %s accepted (%s)", user, e->actor);
	return AUTHPROTO_R_SUCCESS;
}

/* The requests, by operation: what a caller may ask is read off this table. */
static const struct {
	enum authproto_op op;
	const char *name;
	enum authproto_result (*fn)(struct env *, const struct authproto_msg *, uint32_t *);
} requests[] = {
	{AUTHPROTO_OP_AUTHENTICATE, "authenticate", authenticate},
	{AUTHPROTO_OP_ACCOUNT, "account", account},
	{AUTHPROTO_OP_SESSION_OPEN, "session open", session_open},
	{AUTHPROTO_OP_SESSION_CLOSE, "session close", session_close},
	{AUTHPROTO_OP_PASSWORD, "password", change_password},
};

void
authd_handle(const struct cfg *cfg, struct authd_files *f, struct conv *c,
	     const struct authproto_msg *req)
{
	struct env e = {.cfg = cfg, .files = f, .c = c, .log = c->log};
	enum authproto_result r = AUTHPROTO_R_AUTHINFO_UNAVAIL;
	struct idg_err err;
	uint32_t delay_ms = 0;
	size_t i;

	snprintf(e.actor, sizeof(e.actor), "pam:%s", req->service);
	if (account_name_valid(req->user, &err) != 0) {
		log_msg(c->log, LOG_WARNING, "refused a user name: %s", err.msg);
		conv_result(c, AUTHPROTO_R_USER_UNKNOWN, 0);
		return;
	}
	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		if (requests[i].op != req->op)
			continue;
		r = requests[i].fn(&e, req, &delay_ms);
		if (req->flags & AUTHPROTO_F_DEBUG)
			log_msg(c->log, LOG_DEBUG, "%s of %s (%s): %s", requests[i].name, req->user,
				e.actor, authproto_result_name(r));
		break;
	}
	env_close(&e);
	conv_result(c, r, delay_ms);
	/* What may wait until the module has its answer. */
	authd_fleet_after(cfg, f);
	authd_files_end(f);
}
