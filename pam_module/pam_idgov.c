/*
 * pam_idgov.so: thin PAM glue over libidgov.
 *
 *   auth     TOTP (or a recovery code) for enrolled users, with replay
 *            protection and lockout (mfa.c)
 *   account  account state (departed, disabled, expired), then the access
 *            rules (time windows, networks, countries), then password age
 *            (account.c, policy.c)
 *   session  login records: service, rhost, tty (account.c)
 *   password the password rules and history (password.c): "check_only"
 *            before pam_unix, "record_only use_authtok" after it
 *
 * Options: config=PATH (default /etc/idgov/idgov.conf), debug,
 * check_only, record_only; and use_authtok, use_first_pass,
 * try_first_pass, which pam_get_authtok() itself reads.
 *
 * Every call opens what it needs (configuration, store, keys, logger) and
 * closes it before returning: nothing left open in the host process, safe
 * to load twice and to use from several threads with separate handles. The
 * one thing kept between calls is geo.c's mapping of the MaxMind DB (under
 * a mutex, released when the module is unloaded). The module never exits, never prints to stdout
 * and installs no signal handlers. It fails closed: if the configuration, the store or the master
 * key cannot be used, the login is refused, except for the break-glass users named in [pam]
 * break_glass, whose every such login is logged at LOG_ALERT.
 */
#include "account.h"
#include "audit.h"
#include "config.h"
#include "log.h"
#include "mfa.h"
#include "password.h"
#include "secret.h"
#include "store.h"
#include "timeparse.h"

#include <jansson.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Which halves of the password stack this instance does (both unless told). */
enum pw_role { PW_CHECK = 1, PW_RECORD = 2 };

struct opts {
	const char *config;
	int debug;
	int pw_role;
};

struct env {
	struct cfg *cfg;
	struct store *st;
	struct secret_key *key;
	struct audit *audit;
	struct logger log;
	int log_open;
	char actor[64];
};

static void
parse_opts(int argc, const char **argv, struct opts *o, pam_handle_t *pamh)
{
	o->config = CFG_DEFAULT_PATH;
	o->debug = 0;
	o->pw_role = PW_CHECK | PW_RECORD;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0)
			o->config = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			o->debug = 1;
		else if (strcmp(argv[i], "check_only") == 0)
			o->pw_role = PW_CHECK;
		else if (strcmp(argv[i], "record_only") == 0)
			o->pw_role = PW_RECORD;
		else if (strcmp(argv[i], "use_authtok") == 0 ||
			 strcmp(argv[i], "use_first_pass") == 0 ||
			 strcmp(argv[i], "try_first_pass") == 0)
			continue; /* for pam_get_authtok() */
		else
			pam_syslog(pamh, LOG_ERR, "pam_idgov: unknown option '%s' ignored",
				   argv[i]);
	}
}

/*
 * Every entry point starts here: its options, and a user name that is a
 * name (account_name_valid): "alice " or a name with control characters is
 * refused before anything looks it up or logs it.
 */
static int
begin(pam_handle_t *pamh, int argc, const char **argv, struct opts *o, const char **user)
{
	struct idg_err err;

	parse_opts(argc, argv, o, pamh);
	*user = NULL;
	if (pam_get_user(pamh, user, NULL) != PAM_SUCCESS || *user == NULL)
		return PAM_USER_UNKNOWN;
	if (account_name_valid(*user, &err) != 0) {
		pam_syslog(pamh, LOG_WARNING, "pam_idgov: refused a user name: %s", err.msg);
		return PAM_USER_UNKNOWN;
	}
	return PAM_SUCCESS;
}

/*
 * The directory's spelling of user (account_canonical_uid): a login as
 * "ALICE" is decided as alice's, enrolment and account state included.
 * buf holds it; when there is no such user the name stays as given.
 */
static const char *
canonical(struct env *e, const char *user, char *buf, size_t size)
{
	struct idg_err err;

	if (account_canonical_uid(e->st, user, buf, size, &err) < 0) {
		log_msg(&e->log, LOG_ERR, "cannot look up %s: %s", user, err.msg);
		return user;
	}
	return buf;
}

static void
env_close(struct env *e)
{
	audit_close(e->audit);
	secret_key_free(e->key);
	store_close(e->st);
	if (e->log_open)
		log_close(&e->log);
	cfg_free(e->cfg);
	memset(e, 0, sizeof(*e));
}

/* What env_open() opens beyond the configuration and the store. */
enum { ENV_STORE = 0, ENV_AUDIT = 1, ENV_MASTER_KEY = 2 };

/*
 * Opens the configuration, then what the caller needs. On failure err
 * says why; e->cfg may still be set (for the break-glass list).
 */
static int
env_open(struct env *e, const struct opts *o, pam_handle_t *pamh, int need, struct idg_err *err)
{
	const char *service = NULL;

	memset(e, 0, sizeof(*e));
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (cfg_load(o->config, &e->cfg, err) != 0)
		return -1;
	log_open(&e->log, "pam_idgov", e->cfg->log_socket, 0);
	e->log_open = 1;
	pam_get_item(pamh, PAM_SERVICE, (const void **)&service);
	snprintf(e->actor, sizeof(e->actor), "pam:%s", service ? service : "?");
	if (store_open(e->cfg->store_path, STORE_OPEN_EXISTING, &e->st, err) != 0)
		return -1;
	if ((need & ENV_MASTER_KEY) && secret_key_load(e->cfg->master_key_file, &e->key, err) != 0)
		return -1;
	if ((need & ENV_AUDIT) &&
	    audit_open(e->st, e->cfg->audit_key_file, e->cfg->audit_anchor_file,
		       e->cfg->audit_sign_every, &e->log, &e->audit, err) != 0)
		return -1;
	return 0;
}

/*
 * Fail closed, but let a configured break-glass user in, loudly. denial
 * is the code the calling stack documents for a refusal.
 */
static int
unavailable(struct env *e, pam_handle_t *pamh, const char *user, const struct idg_err *err,
	    int denial)
{
	if (e->cfg != NULL && cfg_list_contains(e->cfg->pam_break_glass, user)) {
		if (e->log_open)
			log_msg(&e->log, LOG_ALERT,
				"BREAK-GLASS login of %s allowed while idgov is unavailable: %s",
				user, err->msg);
		pam_syslog(pamh, LOG_ALERT, "break-glass login of %s: %s", user, err->msg);
		return PAM_SUCCESS;
	}
	if (e->log_open)
		log_msg(&e->log, LOG_ERR, "denying %s: idgov is unavailable: %s", user, err->msg);
	else
		pam_syslog(pamh, LOG_ERR, "denying %s: idgov is unavailable: %s", user, err->msg);
	return denial;
}

/* Asks for the code; *code is sodium_malloc'd (wipe with sodium_free). */
static int
ask_code(pam_handle_t *pamh, const char *prompt, char **code)
{
	char text[160];
	char *resp = NULL;
	size_t len;
	int rc;

	*code = NULL;
	snprintf(text, sizeof(text), "%s ", prompt);
	rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", text);
	if (rc != PAM_SUCCESS || resp == NULL)
		return rc != PAM_SUCCESS ? rc : PAM_CONV_ERR;
	len = strlen(resp);
	*code = sodium_malloc(len + 1);
	if (*code != NULL)
		memcpy(*code, resp, len + 1);
	sodium_memzero(resp, len);
	free(resp);
	return *code != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
}

/*
 * Users with no enrolment: denied, or let through until the grace date with
 * a reminder. Temporary privileged accounts get no grace: their owner
 * enrols them before the first login.
 */
static int
not_enrolled(struct env *e, pam_handle_t *pamh, const char *user)
{
	struct idg_err err;
	char date[32];

	if (e->cfg->mfa_unenrolled == CFG_UNENROLLED_GRACE && idg_now() < e->cfg->mfa_grace_until &&
	    account_is_temporary(e->st, user, &err) == 0) {
		time_format(e->cfg->mfa_grace_until, date);
		pam_info(pamh,
			 "Multi-factor authentication becomes mandatory on %.10s; enrol now "
			 "with: idgov mfa enroll",
			 date);
		log_msg(&e->log, LOG_NOTICE, "auth: %s not enrolled, allowed by grace period",
			user);
		return PAM_SUCCESS;
	}
	pam_error(pamh,
		  "Multi-factor authentication is required and %s is not enrolled. "
		  "Ask an admin, or run: idgov mfa enroll",
		  user);
	log_msg(&e->log, LOG_WARNING, "auth: denied %s: rule mfa.not_enrolled", user);
	return PAM_AUTH_ERR;
}

static int
authenticate(struct env *e, pam_handle_t *pamh, const char *user)
{
	struct mfa_ctx c = {.st = e->st,
			    .cfg = e->cfg,
			    .key = e->key,
			    .audit = e->audit,
			    .log = &e->log,
			    .actor = e->actor};
	enum mfa_outcome out;
	struct idg_err err;
	char *code = NULL;
	int rc;

	rc = mfa_is_enrolled(&c, user, &err);
	if (rc < 0)
		return unavailable(e, pamh, user, &err, PAM_AUTHINFO_UNAVAIL);
	if (rc == 0)
		return not_enrolled(e, pamh, user);
	rc = ask_code(pamh, e->cfg->mfa_prompt, &code);
	if (rc != PAM_SUCCESS)
		return rc;
	rc = mfa_verify(&c, user, code, idg_now(), &out, &err);
	sodium_free(code);
	if (rc != 0)
		return unavailable(e, pamh, user, &err, PAM_AUTHINFO_UNAVAIL);
	switch (out) {
	case MFA_OK:
	case MFA_OK_RECOVERY:
		log_msg(&e->log, LOG_INFO, "auth: %s passed MFA%s (%s)", user,
			out == MFA_OK_RECOVERY ? " with a recovery code" : "", e->actor);
		return PAM_SUCCESS;
	case MFA_LOCKED:
		pam_error(pamh, "Too many wrong codes: verification is locked for now.");
		log_msg(&e->log, LOG_WARNING, "auth: denied %s: rule mfa.locked", user);
		return PAM_AUTH_ERR;
	case MFA_NOT_ENROLLED:
		return not_enrolled(e, pamh, user);
	case MFA_UNKNOWN_USER:
		log_msg(&e->log, LOG_WARNING, "auth: denied %s: rule account.unknown", user);
		return PAM_USER_UNKNOWN;
	default:
		log_msg(&e->log, LOG_WARNING, "auth: denied %s: rule mfa.bad_code", user);
		return PAM_AUTH_ERR;
	}
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct env e;
	struct idg_err err;
	const char *user = NULL;
	char canon[ACCOUNT_NAME_MAX + 1];
	int rc;

	(void)flags;
	if (begin(pamh, argc, argv, &o, &user) != PAM_SUCCESS)
		return PAM_USER_UNKNOWN;
	if (env_open(&e, &o, pamh, ENV_AUDIT | ENV_MASTER_KEY, &err) != 0) {
		rc = unavailable(&e, pamh, user, &err, PAM_AUTHINFO_UNAVAIL);
	} else {
		pam_fail_delay(pamh, (unsigned)e.cfg->mfa_fail_delay_ms * 1000u);
		rc = authenticate(&e, pamh, canonical(&e, user, canon, sizeof(canon)));
	}
	env_close(&e);
	return rc;
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

static int
account_code(const struct access_verdict *v)
{
	switch (v->state) {
	case ACCOUNT_OK:
		return v->allowed ? PAM_SUCCESS : PAM_PERM_DENIED;
	case ACCOUNT_UNKNOWN:
		return PAM_USER_UNKNOWN;
	case ACCOUNT_DISABLED:
		return PAM_PERM_DENIED;
	default:
		return PAM_ACCT_EXPIRED;
	}
}

/* A refused login: told to the user, logged and audited with the rule that refused it. */
static void
refuse(struct env *e, pam_handle_t *pamh, const char *user, const char *rhost,
       const struct access_verdict *v)
{
	struct idg_err err;
	json_t *d;

	log_msg(&e->log, LOG_WARNING, "account: denied %s (%s%s%s) by %s: %s", user, e->actor,
		rhost ? " from " : "", rhost ? rhost : "", v->rule, v->why);
	if (v->state == ACCOUNT_UNKNOWN)
		return; /* another module may know the user; nothing to audit here */
	pam_error(pamh, "Access denied by %s: %s.", v->rule, v->why);
	d = json_pack("{s:s, s:s, s:s?}", "rule", v->rule, "why", v->why, "rhost", rhost);
	if (d == NULL || audit_record(e->audit, e->actor, user, "login.denied", d, &err) != 0)
		log_msg(&e->log, LOG_ERR, "account: cannot audit the denial of %s: %s", user,
			d == NULL ? "out of memory" : err.msg);
}

/* An expired password makes sshd and login ask for a new one; one about to expire is announced. */
static int
password_age(struct env *e, pam_handle_t *pamh, const char *user, const struct access_verdict *v,
	     int debug)
{
	if (v->password_expired) {
		pam_error(pamh, "Your password has expired (%s); choose a new one.", v->why);
		log_msg(&e->log, LOG_NOTICE, "account: %s must change the password: %s", user,
			v->why);
		return PAM_NEW_AUTHTOK_REQD;
	}
	if (v->password_warn_days >= 0)
		pam_info(pamh, "Your password expires in %d day%s.", v->password_warn_days,
			 v->password_warn_days == 1 ? "" : "s");
	if (debug)
		log_msg(&e->log, LOG_DEBUG, "account: %s allowed", user);
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct access_verdict v;
	struct opts o;
	struct env e;
	struct idg_err err;
	const char *user = NULL, *service = NULL, *rhost = NULL;
	char canon[ACCOUNT_NAME_MAX + 1];
	int rc;

	(void)flags;
	if (begin(pamh, argc, argv, &o, &user) != PAM_SUCCESS)
		return PAM_USER_UNKNOWN;
	pam_get_item(pamh, PAM_SERVICE, (const void **)&service);
	pam_get_item(pamh, PAM_RHOST, (const void **)&rhost);
	if (env_open(&e, &o, pamh, ENV_AUDIT, &err) != 0 ||
	    (user = canonical(&e, user, canon, sizeof(canon))) == NULL ||
	    account_decide(e.st, e.cfg, user, service ? service : "", rhost, idg_now(), NULL, NULL,
			   &v, &err) != 0) {
		rc = unavailable(&e, pamh, user, &err, PAM_PERM_DENIED);
	} else {
		rc = account_code(&v);
		if (rc != PAM_SUCCESS)
			refuse(&e, pamh, user, rhost, &v);
		else
			rc = password_age(&e, pamh, user, &v, o.debug);
	}
	env_close(&e);
	return rc;
}

/* Session records are best effort: a failure is logged, never a reason to refuse. */
static int
session(pam_handle_t *pamh, int argc, const char **argv, int open)
{
	const char *user = NULL, *service = NULL, *rhost = NULL, *tty = NULL;
	char canon[ACCOUNT_NAME_MAX + 1];
	struct opts o;
	struct env e;
	struct idg_err err;
	int rc;

	if (begin(pamh, argc, argv, &o, &user) != PAM_SUCCESS)
		return PAM_SESSION_ERR;
	pam_get_item(pamh, PAM_SERVICE, (const void **)&service);
	pam_get_item(pamh, PAM_RHOST, (const void **)&rhost);
	pam_get_item(pamh, PAM_TTY, (const void **)&tty);
	if (env_open(&e, &o, pamh, ENV_STORE, &err) == 0) {
		user = canonical(&e, user, canon, sizeof(canon));
		rc = open ? account_session_open(e.st, user, service ? service : "?", rhost, tty,
						 (long)getpid(), idg_now(), &err)
			  : account_session_close(e.st, user, service ? service : "?",
						  (long)getpid(), idg_now(), &err);
		if (rc == 0) {
			log_msg(&e.log, LOG_INFO, "session %s for %s (%s%s%s)",
				open ? "opened" : "closed", user, e.actor, rhost ? " from " : "",
				rhost ? rhost : "");
		}
	} else {
		rc = -1;
	}
	if (rc != 0)
		pam_syslog(pamh, LOG_ERR, "pam_idgov: cannot record session of %s: %s", user,
			   err.msg);
	env_close(&e);
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	return session(pamh, argc, argv, 1);
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	return session(pamh, argc, argv, 0);
}

/*
 * Checks the new password against every rule and records it in the
 * history. Split across two lines of the stack, "check_only" before
 * pam_unix and "record_only" after it (with use_authtok), a password is
 * remembered only once pam_unix has really set it.
 */
static int
change_password(struct env *e, pam_handle_t *pamh, const char *user, int role)
{
	const char *pw = NULL;
	char why[320];
	enum pw_verdict v;
	struct idg_err err;
	int rc;

	rc = pam_get_authtok(pamh, PAM_AUTHTOK, &pw, NULL);
	if (rc != PAM_SUCCESS || pw == NULL)
		return rc != PAM_SUCCESS ? rc : PAM_AUTHTOK_ERR;
	if (!(role & PW_CHECK))
		goto record;
	v = password_check(e->cfg, user, pw, why, sizeof(why));
	/* Real uid 0 is an admin setting the password: the minimum age does not apply. */
	if (v == PW_OK && password_check_history(e->st, e->cfg, user, pw, idg_now(), getuid() == 0,
						 &v, why, sizeof(why), &err) != 0) {
		pam_error(pamh, "The password cannot be checked now; try again later.");
		log_msg(&e->log, LOG_ERR, "password: cannot check history of %s: %s", user,
			err.msg);
		return PAM_AUTHTOK_ERR;
	}
	if (v != PW_OK) {
		pam_error(pamh, "%s", why);
		log_msg(&e->log, v == PW_DICTIONARY_MISSING ? LOG_ERR : LOG_NOTICE,
			"password: change for %s refused: %s", user, why);
		return PAM_AUTHTOK_ERR;
	}
	if (!(role & PW_RECORD)) {
		log_msg(&e->log, LOG_INFO, "password: new password for %s passes the rules", user);
		return PAM_SUCCESS;
	}
record:
	if (password_record(e->st, e->cfg, user, pw, idg_now(), &err) != 0) {
		log_msg(&e->log, LOG_ERR, "password: cannot record change of %s: %s", user,
			err.msg);
		return PAM_AUTHTOK_ERR;
	}
	log_msg(&e->log, LOG_NOTICE, "password: new password for %s accepted (%s)", user, e->actor);
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *user = NULL;
	char canon[ACCOUNT_NAME_MAX + 1];
	struct opts o;
	struct env e;
	struct idg_err err;
	int rc;

	if (begin(pamh, argc, argv, &o, &user) != PAM_SUCCESS)
		return PAM_USER_UNKNOWN;
	if (env_open(&e, &o, pamh, ENV_STORE, &err) != 0) {
		/* No break-glass here: a password change can wait, a login cannot. */
		pam_syslog(pamh, LOG_ERR, "pam_idgov: password change of %s refused: %s", user,
			   err.msg);
		pam_error(pamh,
			  "Passwords cannot be changed now: the policy service is unavailable.");
		env_close(&e);
		return (flags & PAM_PRELIM_CHECK) ? PAM_TRY_AGAIN : PAM_AUTHTOK_ERR;
	}
	user = canonical(&e, user, canon, sizeof(canon));
	rc = (flags & PAM_UPDATE_AUTHTOK) ? change_password(&e, pamh, user, o.pw_role)
					  : PAM_SUCCESS;
	env_close(&e);
	return rc;
}
