/*
 * The web frontend's side of the control protocol: signing a person in,
 * and accepting requests on their behalf.
 *
 * idgov-web holds no key and no directory password. It passes what a
 * person typed to idgovd, which checks it and issues a session token
 * (websession.h); every later request the frontend makes for that person
 * carries the token, and idgovd runs it as the person (their name, their
 * admin rights, the client's address in every record). So a compromised
 * frontend can act only for people who are signed in at that moment.
 *
 * Sign-in has two steps, each its own request, so the frontend never
 * keeps a password between pages:
 *   web.signin {name, password, addr}  directory bind as the person
 *       -> a token at step "code" (or "enrol" for a person with no MFA
 *          enrolment yet, when [mfa] self_enroll allows one), short-lived
 *   web.verify {code} with that token  TOTP or recovery code
 *       -> the old token ended, a new one at step "full"
 * A session at step "code" may only verify or sign out; at "enrol" only
 * enrol, verify (with a code of the new enrolment), look at itself and
 * sign out: the op table's CONTROL_OP_*_STEP flags say which.
 *
 * Throttling: failed steps (wrong password, wrong code, unknown user) are
 * counted per user name and per client address over [web]
 * signin_interval; past [web] signin_max_failures (per user) or
 * signin_max_failures_addr (per address) a sign-in is refused before the
 * directory is asked. The directory's own lockout and MFA's lockout still
 * apply underneath.
 */
#include "control_fleet.h"
#include "control_int.h"

#include "dirauth.h"
#include "mfa.h"
#include "query.h"
#include "websession.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A session that has yet to give its code lives no longer than this. */
#define PARTIAL_SESSION_MAX 300

int
control_web_frontend(const struct control_ctx *ctx, const struct caller *who)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[4096];

	if (ctx->cfg->web_user[0] == '\0' || who->session != NULL || who->uid == 0)
		return 0;
	return getpwnam_r(ctx->cfg->web_user, &pwbuf, buf, sizeof(buf), &pw) == 0 && pw != NULL &&
	       pw->pw_uid == who->uid;
}

/* One record per sign-in step, by the person, with the address and the outcome. */
static void
web_audit(struct control_ctx *ctx, const char *person, const char *addr, const char *action,
	  const char *outcome, const char *reason)
{
	struct idg_err err;
	json_t *d = json_pack("{s:s, s:s, s:s}", "via", "web", "addr", addr, "outcome", outcome);

	if (d != NULL && reason != NULL)
		json_object_set_new(d, "reason", json_string(reason));
	if (ctx->audit == NULL)
		json_decref(d);
	else if (d == NULL || audit_record(ctx->audit, person, person, action, d, &err) != 0)
		log_msg(ctx->log, LOG_ERR, "cannot audit %s of %s from %s: %s", action, person,
			addr, d == NULL ? "out of memory" : err.msg);
}

/* Refuses when name or addr has failed too often lately; 0 when it may try. */
static int
throttled(struct control_ctx *ctx, const char *name, const char *addr, struct reply_err *r)
{
	int64_t by_user, by_addr, now = idg_now();

	if (websession_failures(ctx->st, name, addr, now - ctx->cfg->web_signin_interval, &by_user,
				&by_addr, &r->e) != 0) {
		r->code = "failed";
		return -1;
	}
	if (by_user < ctx->cfg->web_signin_max_failures &&
	    by_addr < ctx->cfg->web_signin_max_failures_addr)
		return 0;
	log_msg(ctx->log, LOG_WARNING,
		"web: sign-in of %s from %s throttled (%lld failures of "
		"the user, %lld from the address)",
		name, addr, (long long)by_user, (long long)by_addr);
	web_audit(ctx, name, addr, "web.signin", "throttled", NULL);
	return control_fail(r, "denied", "too many failed sign-ins; try again later");
}

static int
note_failure(struct control_ctx *ctx, const char *name, const char *addr, const char *step,
	     const char *why, struct reply_err *r)
{
	int64_t now = idg_now();
	struct idg_err err;

	if (websession_note_failure(ctx->st, name, addr, now, now - ctx->cfg->web_signin_interval,
				    &err) != 0)
		log_msg(ctx->log, LOG_ERR, "web: cannot count a failed sign-in of %s: %s", name,
			err.msg);
	log_msg(ctx->log, LOG_NOTICE, "web: %s of %s from %s refused: %s", step, name, addr, why);
	web_audit(ctx, name, addr, step, "refused", why);
	return control_fail(r, "denied", "%s", why);
}

static int
arg_addr(json_t *args, const char **addr, struct reply_err *r)
{
	if (control_arg_name(args, "addr", 0, addr, r) != 0)
		return -1;
	if (strlen(*addr) > WEBSESSION_MAX_ADDR ||
	    strspn(*addr, "0123456789abcdefABCDEF.:") != strlen(*addr))
		return control_fail(r, "bad_request", "argument 'addr' must be an IP address");
	return 0;
}

static json_t *
session_json(const char *token, const char *user, enum websession_step step, int64_t expires)
{
	return json_pack("{s:s, s:s, s:s, s:I}", "session", token, "user", user, "step",
			 websession_step_name(step), "expires", (json_int_t)expires);
}

json_t *
control_web_signin(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	char token[WEBSESSION_TOKEN_LEN + 1];
	const char *name, *password, *addr;
	enum dirauth_result res;
	enum websession_step step;
	struct mfa_ctx m;
	int64_t now = idg_now(), lifetime;
	int enrolled;
	json_t *o;

	(void)who;
	if (control_arg_name(args, "name", 0, &name, r) != 0 ||
	    control_arg_text(args, "password", 0, DIRAUTH_MAX_PASSWORD, &password, r) != 0 ||
	    arg_addr(args, &addr, r) != 0)
		return NULL;
	if (throttled(ctx, name, addr, r) != 0)
		return NULL;
	if (dirauth_verify(ctx->cfg, name, password, &res, &r->e) != 0) {
		log_msg(ctx->log, LOG_ERR, "web: cannot check the password of %s: %s", name,
			r->e.msg);
		r->code = "unavailable";
		return NULL;
	}
	if (res != DIRAUTH_OK) {
		note_failure(ctx, name, addr, "web.signin", "wrong user name or password", r);
		return NULL;
	}
	m = (struct mfa_ctx){.st = ctx->st,
			     .cfg = ctx->cfg,
			     .key = ctx->key,
			     .audit = ctx->audit,
			     .log = ctx->log,
			     .actor = name};
	if (control_mfa_state(ctx, &m.state, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	/* With [fleet] mfa = directory the enrolment is the directory's (control_mfa_fleet.c). */
	if (ctx->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY)
		enrolled = control_mfa_fleet_enrolled(ctx, name, r);
	else if ((enrolled = mfa_is_enrolled(&m, name, &r->e)) < 0)
		r->code = "failed";
	if (enrolled < 0)
		return NULL;
	if (!enrolled && !ctx->cfg->mfa_self_enroll) {
		web_audit(ctx, name, addr, "web.signin", "refused", "not enrolled for MFA");
		control_fail(r, "denied",
			     "%s has no MFA enrolment and self-enrolment is off; ask an admin",
			     name);
		return NULL;
	}
	step = enrolled ? WEBSESSION_CODE : WEBSESSION_ENROL;
	lifetime = step == WEBSESSION_CODE ? PARTIAL_SESSION_MAX : ctx->cfg->web_session_max;
	if (websession_issue(ctx->st, name, addr, step, now, lifetime, token, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	web_audit(ctx, name, addr, "web.signin", "ok",
		  enrolled ? "password; code next" : "password; not enrolled, enrolment next");
	o = session_json(token, name, step, now + lifetime);
	sodium_memzero(token, sizeof(token));
	return o;
}

json_t *
control_web_verify(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	char token[WEBSESSION_TOKEN_LEN + 1];
	struct websession s = {.step = WEBSESSION_FULL};
	enum mfa_outcome out;
	struct mfa_ctx m;
	const char *code;
	int64_t now = idg_now(), expires;
	json_t *o;

	if (who->session_step == WEBSESSION_FULL)
		return control_fail(r, "bad_request", "this session has given its code already"),
		       NULL;
	if (control_arg_name(args, "code", 0, &code, r) != 0 ||
	    throttled(ctx, who->name, who->addr, r) != 0)
		return NULL;
	m = (struct mfa_ctx){.st = ctx->st,
			     .cfg = ctx->cfg,
			     .key = ctx->key,
			     .audit = ctx->audit,
			     .log = ctx->log,
			     .actor = who->name};
	if (control_mfa_state(ctx, &m.state, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	if (ctx->key == NULL)
		return control_fail(r, "failed", "the master key is not loaded"), NULL;
	if (ctx->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY) {
		if (control_mfa_fleet_verify(ctx, who->name, code, now, &out, r) != 0)
			return NULL;
	} else if (mfa_verify(&m, who->name, code, now, &out, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	if (out == MFA_LOCKED) {
		web_audit(ctx, who->name, who->addr, "web.verify", "refused", "MFA locked");
		return control_fail(r, "denied", "verification is locked for %s; try later",
				    who->name),
		       NULL;
	}
	if (out != MFA_OK && out != MFA_OK_RECOVERY) {
		note_failure(ctx, who->name, who->addr, "web.verify", "the code is not valid", r);
		return NULL;
	}
	idg_strlcpy(s.user, who->name, sizeof(s.user));
	idg_strlcpy(s.addr, who->addr, sizeof(s.addr));
	/* The absolute limit runs from the password step, not from the code. */
	expires = who->session_created + ctx->cfg->web_session_max;
	if (expires <= now ||
	    websession_advance(ctx->st, who->session, &s, WEBSESSION_FULL, now, expires - now,
			       token, &r->e) != 0 ||
	    websession_clear_failures(ctx->st, who->name, &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	web_audit(ctx, who->name, who->addr, "web.verify", "ok",
		  out == MFA_OK_RECOVERY ? "recovery code" : "code");
	o = session_json(token, who->name, WEBSESSION_FULL, expires);
	if (o != NULL)
		json_object_set_new(o, "admin", json_boolean(who->admin));
	sodium_memzero(token, sizeof(token));
	return o;
}

json_t *
control_web_signout(struct control_ctx *ctx, const struct caller *who, json_t *args,
		    struct reply_err *r)
{
	(void)args;
	if (websession_end(ctx->st, who->session, idg_now(), &r->e) != 0) {
		r->code = "failed";
		return NULL;
	}
	web_audit(ctx, who->name, who->addr, "web.signout", "ok", NULL);
	return json_pack("{s:s}", "user", who->name);
}

json_t *
control_web_session(struct control_ctx *ctx, const struct caller *who, json_t *args,
		    struct reply_err *r)
{
	(void)args;
	(void)r;
	return json_pack("{s:s, s:b, s:s, s:I, s:I}", "user", who->name, "admin", who->admin,
			 "step", websession_step_name((enum websession_step)who->session_step),
			 "expires", (json_int_t)(who->session_created + ctx->cfg->web_session_max),
			 "idle", (json_int_t)ctx->cfg->web_session_idle);
}

int
control_web_person(struct control_ctx *ctx, const struct caller *who, const char *token,
		   const char *addr, struct caller *person, struct reply_err *r)
{
	struct passwd pwbuf, *pw = NULL;
	struct websession s;
	char buf[4096];
	int rc;

	if (!control_web_frontend(ctx, who))
		return control_fail(r, "denied",
				    "only the web frontend ([web] user) may act on behalf of "
				    "someone");
	if (addr != NULL && (strlen(addr) > WEBSESSION_MAX_ADDR ||
			     strspn(addr, "0123456789abcdefABCDEF.:") != strlen(addr)))
		return control_fail(r, "bad_request", "'addr' must be an IP address");
	rc = websession_check(ctx->st, token, idg_now(), ctx->cfg->web_session_idle, &s, &r->e);
	if (rc < 0) {
		r->code = "failed";
		return -1;
	}
	if (rc == 0)
		return control_fail(r, "signed_out", "the session has ended; sign in again");
	if (strlen(s.user) >= sizeof(person->name) || !idg_text_plain(s.user))
		return control_fail(r, "failed", "the session's user name cannot be used");
	memset(person, 0, sizeof(*person));
	idg_strlcpy(person->name, s.user, sizeof(person->name));
	/* The person's own uid when the system knows them; the frontend's otherwise. */
	if (getpwnam_r(s.user, &pwbuf, buf, sizeof(buf), &pw) == 0 && pw != NULL) {
		person->uid = pw->pw_uid;
		person->gid = pw->pw_gid;
	} else {
		person->uid = who->uid;
		person->gid = (gid_t)-1; /* the directory's word alone */
	}
	/* In the admin group by NSS or by the directory: decided by control_handle(). */
	person->admin_unknown = ctx->cfg->admin_group[0] != '\0';
	/* Root signing in through the web is a person like any other, never uid 0's rights. */
	if (person->uid == 0)
		person->uid = who->uid;
	person->session = token;
	person->session_step = (int)s.step;
	person->session_created = s.created;
	idg_strlcpy(person->addr, addr != NULL ? addr : s.addr, sizeof(person->addr));
	return 0;
}
