/*
 * pam_idgov.so: the PAM entry points, a thin client of idgov-authd(8).
 *
 * Each PAM call becomes one request on the auth socket (client.c); the
 * service decides (TOTP and recovery codes, account state, access rules,
 * password age and rules, session records) and this module relays its
 * prompts and messages through the application's conversation and maps
 * its result to a PAM code. The module reads no configuration file, opens
 * no store and no key: it links libpam and libc, and nothing of idgov but
 * the record formats it shares with the service (authproto) and with
 * `idgov breakglass codes` (bgcodes). libcrypt is loaded only while a
 * break-glass code is checked (bgcrypt_loaded.c): an ordinary login does
 * not pay for mapping it into every process that starts a PAM handle.
 *
 * Options:
 *   socket=PATH      the service's socket (default /run/idgov/authd.sock)
 *   server_uid=UID   the only uid the service may run as (default 0)
 *   timeout=SECONDS  for the connection and each reply, 1 to 30 (default 3)
 *   breakglass=PATH  the break-glass code file (none unless given)
 *   spool=PATH       the audit spool a break-glass use is written to
 *                    (default /var/lib/idgov/spool; idgovd signs it)
 *   debug            log each call's result
 *   check_only, record_only   the two halves of the password stack
 *   use_authtok, use_first_pass, try_first_pass   read by pam_get_authtok()
 *
 * It fails closed: when the service cannot answer (no socket, no answer
 * in time, a socket served by another uid, or a service that cannot read
 * its store or keys), the call is refused and one line at LOG_ERR says
 * why. The one way in then is a break-glass code from the breakglass=
 * file, checked here with crypt(3) and burned on use, every use alerted at
 * LOG_ALERT; the account step of the same handle then lets that user in.
 * Nothing is kept between calls but, in the handle itself, the connection
 * from authenticate to account (struct kept, closed by account or by
 * pam_end), so the module is safe to load twice and to use from several
 * threads with separate handles; it never exits, never prints and
 * installs no signal handler. It is linked -z nodelete: once a handle has
 * loaded it, it stays mapped, so that a process running many handles
 * (bench/pam, an IMAP or RADIUS server's PAM worker) does not map and
 * unmap it for each one; its one static, a counter for spool file names,
 * decides nothing.
 */
#include "bgcodes.h"
#include "client.h"
#include "spool.h"

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/idgov/authd.sock"
#define DEFAULT_TIMEOUT_S 3
#define MAX_TIMEOUT_S 30

/* pam_set_data() name: this handle's user came in with a break-glass code. */
#define BREAKGLASS_DATA "pam_idgov_breakglass"
/* pam_set_data() name: the auth stack read a password before this module ran. */
#define PASSWORD_DATA "pam_idgov_password_used"
/* pam_set_data() name: the connection kept from this handle's previous call (struct kept). */
#define KEPT_DATA "pam_idgov_connection"

struct opts {
	struct client_opts client;
	const char *breakglass;
	const char *spool;
	int debug;
	unsigned pw_role; /* AUTHPROTO_F_PW_CHECK | AUTHPROTO_F_PW_RECORD */
};

/* A whole decimal number in [lo, hi], or -1. */
static long
number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= lo && v <= hi ? v : -1;
}

static void
parse_opts(pam_handle_t *pamh, int argc, const char **argv, struct opts *o)
{
	long v;

	o->client.socket = DEFAULT_SOCKET;
	o->client.server_uid = 0;
	o->client.timeout_ms = DEFAULT_TIMEOUT_S * 1000;
	o->breakglass = NULL;
	o->spool = DEFAULT_SPOOL;
	o->debug = 0;
	o->pw_role = AUTHPROTO_F_PW_CHECK | AUTHPROTO_F_PW_RECORD;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "socket=", 7) == 0 && a[7] == '/')
			o->client.socket = a + 7;
		else if (strncmp(a, "server_uid=", 11) == 0 &&
			 (v = number(a + 11, 0, 2147483646)) >= 0)
			o->client.server_uid = (uid_t)v;
		else if (strncmp(a, "timeout=", 8) == 0 &&
			 (v = number(a + 8, 1, MAX_TIMEOUT_S)) > 0)
			o->client.timeout_ms = (int)v * 1000;
		else if (strncmp(a, "breakglass=", 11) == 0 && a[11] == '/')
			o->breakglass = a + 11;
		else if (strncmp(a, "spool=", 6) == 0 && a[6] == '/')
			o->spool = a + 6;
		else if (strcmp(a, "debug") == 0)
			o->debug = 1;
		else if (strcmp(a, "check_only") == 0)
			o->pw_role = AUTHPROTO_F_PW_CHECK;
		else if (strcmp(a, "record_only") == 0)
			o->pw_role = AUTHPROTO_F_PW_RECORD;
		else if (strcmp(a, "use_authtok") == 0 || strcmp(a, "use_first_pass") == 0 ||
			 strcmp(a, "try_first_pass") == 0)
			continue; /* for pam_get_authtok() */
		else
			pam_syslog(pamh, LOG_ERR, "unknown or invalid option '%s' ignored", a);
	}
}

static int
conv_prompt(void *arg, const char *text, char **answer)
{
	pam_handle_t *pamh = arg;
	char *resp = NULL;

	*answer = NULL;
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s ", text) != PAM_SUCCESS ||
	    resp == NULL)
		return -1;
	*answer = resp;
	return 0;
}

static void
conv_info(void *arg, const char *text)
{
	pam_info(arg, "%s", text);
}

static void
conv_error(void *arg, const char *text)
{
	pam_error(arg, "%s", text);
}

static int
pam_code(enum authproto_result r)
{
	switch (r) {
	case AUTHPROTO_R_SUCCESS:
		return PAM_SUCCESS;
	case AUTHPROTO_R_AUTH_ERR:
		return PAM_AUTH_ERR;
	case AUTHPROTO_R_USER_UNKNOWN:
		return PAM_USER_UNKNOWN;
	case AUTHPROTO_R_PERM_DENIED:
		return PAM_PERM_DENIED;
	case AUTHPROTO_R_ACCT_EXPIRED:
		return PAM_ACCT_EXPIRED;
	case AUTHPROTO_R_NEW_AUTHTOK_REQD:
		return PAM_NEW_AUTHTOK_REQD;
	case AUTHPROTO_R_AUTHTOK_ERR:
		return PAM_AUTHTOK_ERR;
	case AUTHPROTO_R_TRY_AGAIN:
		return PAM_TRY_AGAIN;
	case AUTHPROTO_R_CONV_ERR:
		return PAM_CONV_ERR;
	case AUTHPROTO_R_IGNORE:
		return PAM_IGNORE;
	default:
		return PAM_AUTHINFO_UNAVAIL;
	}
}

/*
 * A request for this handle: op, the user (1 to 256 bytes; the service
 * checks the rest of the name's rules) and the PAM items. -1 when there
 * is no usable user name.
 */
static int
make_request(pam_handle_t *pamh, const struct opts *o, enum authproto_op op,
	     struct authproto_msg *req, const char **user)
{
	const void *service = NULL, *rhost = NULL, *tty = NULL, *ruser = NULL;

	*user = NULL;
	if (pam_get_user(pamh, user, NULL) != PAM_SUCCESS || *user == NULL || (*user)[0] == '\0')
		return -1;
	pam_get_item(pamh, PAM_SERVICE, &service);
	pam_get_item(pamh, PAM_RHOST, &rhost);
	pam_get_item(pamh, PAM_TTY, &tty);
	pam_get_item(pamh, PAM_RUSER, &ruser);
	authproto_init(req, AUTHPROTO_REQUEST);
	req->op = op;
	req->flags = o->debug ? AUTHPROTO_F_DEBUG : 0;
	req->have |= AUTHPROTO_HAVE_OP | AUTHPROTO_HAVE_FLAGS;
	/* Sent to the requests that read them: the session records, an admin's password change. */
	if (op == AUTHPROTO_OP_SESSION_OPEN || op == AUTHPROTO_OP_SESSION_CLOSE) {
		req->pid = (uint32_t)getpid();
		req->have |= AUTHPROTO_HAVE_PID;
	}
	if (op == AUTHPROTO_OP_PASSWORD) {
		req->ruid = (uint32_t)getuid();
		req->have |= AUTHPROTO_HAVE_RUID;
	}
	/* Items too long for the protocol are sent as absent, never cut: rhost is a rule's input.
	 */
	if (authproto_set(req, AUTHPROTO_HAVE_USER, *user) != 0 ||
	    authproto_set(req, AUTHPROTO_HAVE_SERVICE, service != NULL ? service : "?") != 0) {
		pam_syslog(pamh, LOG_WARNING, "refused a user or service name too long to send");
		return -1;
	}
	(void)authproto_set(req, AUTHPROTO_HAVE_RHOST, rhost);
	(void)authproto_set(req, AUTHPROTO_HAVE_TTY, tty);
	(void)authproto_set(req, AUTHPROTO_HAVE_RUSER, ruser);
	return 0;
}

/*
 * A connection kept in the handle from authenticate to account, so that
 * the second call does not pay for a connection of its own (and the
 * service's worker for an accept). It belongs to the process that made
 * it: after a fork, the child leaves its copy alone and connects anew.
 * The account call closes it after its answer; one no call took is
 * closed with the handle (pam_end).
 * The service closes its end within AUTHD_KEEP_MS when no request comes,
 * and the socket is close-on-exec.
 */
struct kept {
	int fd;
	pid_t pid;
};

static void
kept_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	struct kept *k = data;

	(void)pamh;
	(void)error_status;
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

/* The handle's kept connection for this process, taken out of the handle: the fd or -1. */
static int
kept_take(pam_handle_t *pamh)
{
	const void *data = NULL;
	struct kept *k;
	int fd;

	if (pam_get_data(pamh, KEPT_DATA, &data) != PAM_SUCCESS || data == NULL)
		return -1;
	k = (struct kept *)(uintptr_t)data;
	fd = k->fd;
	k->fd = -1;
	if (fd >= 0 && k->pid != getpid()) {
		close(fd); /* this process's copy; the parent's connection stays its own */
		fd = -1;
	}
	return fd;
}

/* Keeps fd in the handle for its next call; closes it when it cannot. */
static void
kept_put(pam_handle_t *pamh, int fd)
{
	const void *data = NULL;
	struct kept *k;

	if (pam_get_data(pamh, KEPT_DATA, &data) == PAM_SUCCESS && data != NULL) {
		k = (struct kept *)(uintptr_t)data;
	} else if ((k = malloc(sizeof(*k))) == NULL) {
		close(fd);
		return;
	} else if (pam_set_data(pamh, KEPT_DATA, k, kept_cleanup) != PAM_SUCCESS) {
		free(k);
		close(fd);
		return;
	}
	k->fd = fd;
	k->pid = getpid();
}

/*
 * Sends req and relays the conversation: 0 with *r, or -1 (logged with the
 * reason) when the service could not answer.
 */
static int
ask(pam_handle_t *pamh, const struct opts *o, const struct authproto_msg *req, const char *user,
    enum authproto_result *r)
{
	const struct client_conv conv = {conv_prompt, conv_info, conv_error, pamh};
	uint32_t delay_ms;
	char why[256];
	int rc, fd = -1;

	/* A password change never rides on a kept connection: it is not sent twice. */
	if (req->op == AUTHPROTO_OP_PASSWORD) {
		if ((fd = kept_take(pamh)) >= 0)
			close(fd);
		fd = -1;
	} else {
		fd = kept_take(pamh);
	}
	rc = client_call(&o->client, req, &conv, &fd, r, &delay_ms, why, sizeof(why));
	if (fd >= 0)
		kept_put(pamh, fd);
	if (rc != 0) {
		pam_syslog(pamh, LOG_ERR, "denying %s: the auth service at %s cannot answer: %s",
			   user, o->client.socket, why);
		return -1;
	}
	if (delay_ms > 0)
		pam_fail_delay(pamh, delay_ms * 1000u);
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "%s: %s", user, authproto_result_name(*r));
	return 0;
}

/*
 * One request for this handle, with flags added to the request's; *r is
 * AUTHPROTO_R_AUTHINFO_UNAVAIL when the service cannot answer.
 */
static int
simple(pam_handle_t *pamh, int argc, const char **argv, enum authproto_op op, uint32_t flags,
       struct opts *o, const char **user, enum authproto_result *r)
{
	struct authproto_msg req;

	parse_opts(pamh, argc, argv, o);
	if (make_request(pamh, o, op, &req, user) != 0)
		return -1;
	req.flags |= flags;
	/*
	 * Authentication is followed at once by the account call, which takes
	 * the connection and closes it: none is held in the host past account
	 * (a session can last hours; its calls connect for themselves).
	 */
	if (op == AUTHPROTO_OP_AUTHENTICATE)
		req.flags |= AUTHPROTO_F_KEEP;
	if (ask(pamh, o, &req, *user, r) != 0)
		*r = AUTHPROTO_R_AUTHINFO_UNAVAIL;
	authproto_wipe(&req);
	return 0;
}

/*
 * Whether this login gave a password, for [pam] password_age. The one
 * honest signal is PAM_AUTHTOK: a password module of the auth stack
 * (pam_unix, pam_sss) sets it when it reads the password, and sshd's
 * password method hands its password to the stack the same way; an ssh
 * key leaves the auth stack unrun, or with keyboard-interactive runs this
 * module alone, whose prompts never set it. libpam clears the item when
 * pam_authenticate() returns, so the account step cannot look for itself:
 * the authentication step, after pam_unix in the stack, notes it here in
 * the handle. Only the item's presence is read, never its value. A module
 * that put something else there makes the login count as one with a
 * password: the safe way, a change required.
 */
static int
note_password(pam_handle_t *pamh)
{
	const void *tok = NULL;

	if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || tok == NULL)
		return 0;
	/* Unnoted, a password login would pass as one without: fail instead. */
	if (pam_set_data(pamh, PASSWORD_DATA, (void *)(uintptr_t)1, NULL) != PAM_SUCCESS)
		return -1;
	return 0;
}

/* AUTHPROTO_F_PASSWORD_USED when the authentication step of this handle saw a password. */
static uint32_t
password_used(pam_handle_t *pamh)
{
	const void *seen = NULL;

	if (pam_get_data(pamh, PASSWORD_DATA, &seen) == PAM_SUCCESS && seen != NULL)
		return AUTHPROTO_F_PASSWORD_USED;
	return 0;
}

/*
 * The service cannot decide: a break-glass code is the only way in. The
 * code is checked against the file and burned in one locked rewrite.
 */
static int
breakglass(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	char *code = NULL, why[256];
	int left = 0, rc;

	if (o->breakglass == NULL)
		return PAM_AUTHINFO_UNAVAIL;
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &code, "%s",
		       "idgov is unavailable. Break-glass code: ") != PAM_SUCCESS ||
	    code == NULL)
		return PAM_CONV_ERR;
	rc = bgcodes_use(o->breakglass, user, code, &left, why, sizeof(why));
	explicit_bzero(code, strlen(code));
	free(code);
	if (rc < 0) {
		pam_syslog(pamh, LOG_ERR, "break-glass codes cannot be used: %s", why);
		return PAM_AUTHINFO_UNAVAIL;
	}
	if (rc == 0) {
		pam_syslog(pamh, LOG_WARNING, "break-glass: a wrong code for %s", user);
		return PAM_AUTH_ERR;
	}
	pam_syslog(pamh, LOG_ALERT,
		   "BREAK-GLASS login of %s with a single-use code while the auth service cannot "
		   "answer; the code is spent, %d left",
		   user, left);
	{
		const void *service = NULL, *rhost = NULL;

		(void)pam_get_item(pamh, PAM_SERVICE, &service);
		(void)pam_get_item(pamh, PAM_RHOST, &rhost);
		/* The alert above is the record of last resort; the chain gets it from idgovd. */
		if (pam_spool_breakglass(o->spool, user, service, rhost, left, why, sizeof(why)) !=
		    0)
			pam_syslog(pamh, LOG_ALERT,
				   "BREAK-GLASS login of %s not spooled for the audit chain: %s",
				   user, why);
	}
	if (pam_set_data(pamh, BREAKGLASS_DATA, (void *)(uintptr_t)1, NULL) != PAM_SUCCESS)
		return PAM_BUF_ERR;
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	enum authproto_result r;
	const char *user;
	struct opts o;

	(void)flags;
	if (note_password(pamh) != 0)
		return PAM_BUF_ERR;
	if (simple(pamh, argc, argv, AUTHPROTO_OP_AUTHENTICATE, 0, &o, &user, &r) != 0)
		return PAM_USER_UNKNOWN;
	if (r == AUTHPROTO_R_AUTHINFO_UNAVAIL)
		return breakglass(pamh, &o, user);
	return pam_code(r);
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

/*
 * The account decision, told whether this login gave a password ([pam]
 * password_age). When the service cannot decide, only a user who came in
 * with a break-glass code in this same handle passes, alerted again.
 */
PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	enum authproto_result r;
	const void *bg = NULL;
	const char *user;
	struct opts o;

	(void)flags;
	if (simple(pamh, argc, argv, AUTHPROTO_OP_ACCOUNT, password_used(pamh), &o, &user, &r) != 0)
		return PAM_USER_UNKNOWN;
	if (r != AUTHPROTO_R_AUTHINFO_UNAVAIL)
		return pam_code(r);
	if (pam_get_data(pamh, BREAKGLASS_DATA, &bg) == PAM_SUCCESS && bg != NULL) {
		pam_syslog(pamh, LOG_ALERT,
			   "BREAK-GLASS: account of %s not checked, the auth service cannot answer",
			   user);
		return PAM_SUCCESS;
	}
	return PAM_PERM_DENIED;
}

/* Session records are best effort: the service's absence is logged, never a refusal. */
PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	enum authproto_result r;
	const char *user;
	struct opts o;

	(void)flags;
	(void)simple(pamh, argc, argv, AUTHPROTO_OP_SESSION_OPEN, 0, &o, &user, &r);
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	enum authproto_result r;
	const char *user;
	struct opts o;

	(void)flags;
	(void)simple(pamh, argc, argv, AUTHPROTO_OP_SESSION_CLOSE, 0, &o, &user, &r);
	return PAM_SUCCESS;
}

/*
 * The new password goes to the service to be checked against the rules
 * and recorded in the history. Split across two lines of the stack,
 * "check_only" before pam_unix and "record_only use_authtok" after it, a
 * password is remembered only once pam_unix has really set it.
 */
PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct authproto_msg req;
	enum authproto_result r;
	struct opts o;
	const char *user, *pw = NULL;
	int rc;

	if (!(flags & PAM_UPDATE_AUTHTOK))
		return PAM_SUCCESS;
	parse_opts(pamh, argc, argv, &o);
	if (make_request(pamh, &o, AUTHPROTO_OP_PASSWORD, &req, &user) != 0)
		return PAM_USER_UNKNOWN;
	rc = pam_get_authtok(pamh, PAM_AUTHTOK, &pw, NULL);
	if (rc != PAM_SUCCESS || pw == NULL) {
		authproto_wipe(&req);
		return rc != PAM_SUCCESS ? rc : PAM_AUTHTOK_ERR;
	}
	if (authproto_set(&req, AUTHPROTO_HAVE_TEXT, pw) != 0) {
		pam_error(pamh, "The new password is too long.");
		authproto_wipe(&req);
		return PAM_AUTHTOK_ERR;
	}
	req.flags |= o.pw_role;
	if (ask(pamh, &o, &req, user, &r) != 0 || r == AUTHPROTO_R_AUTHINFO_UNAVAIL) {
		/* No break-glass here: a password change can wait, a login cannot. */
		pam_error(pamh,
			  "Passwords cannot be changed now: the policy service is unavailable.");
		rc = PAM_AUTHTOK_ERR;
	} else {
		rc = pam_code(r);
	}
	authproto_wipe(&req);
	return rc;
}
