/*
 * The MFA operations with [fleet] mfa = directory: one enrolment for the
 * whole fleet, in the person's directory entry (token.h), written on the
 * first provider that answers.
 *
 * - enrol: begin keeps the new secret pending in the local store (sealed
 *   under the master key, as in local mode) once the directory (or, when
 *   no provider answers, the mirror) says the person has no token; confirm
 *   checks the first code against it, makes the recovery codes, seals the
 *   secret under the fleet key and writes the token with the assertion
 *   that the entry has none (token_write, replace 0), so of two hosts
 *   enrolling the same person at once only one wins. The mirror's row is
 *   written at once and the local pending row deleted.
 * - status reads the token from a provider, or from the mirror when none
 *   answers (and says which).
 * - reset and unlock change the directory first and the mirror and the
 *   auth service's state file after; nothing is changed when no provider
 *   answers.
 * - new recovery codes replace the token's values with the assertion that
 *   its secret is still the one read; for oneself, a current code proves
 *   the second factor and is consumed fleet-wide (token_consume_step).
 * - the web sign-in's code step (control_web.c) checks a code against the
 *   directory's token: a TOTP code's step consumed there, a recovery code
 *   spent there, a wrong code counted and locking there; with no provider
 *   answering nothing is checked (refused).
 *
 * Codes (the web's, and the one proving new recovery codes) are decided
 * by the policy layer's mfa_decide() (mfadecide.h), as a login decides
 * them; this file only writes the outcome.
 */
#include "control_fleet.h"

#include "fleetseal.h"
#include "mfadecide.h"
#include "tokenmirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The person's uuid and DN, or a refusal in r. */
static int
person(struct control_ctx *ctx, const char *name, char uuid[FLEET_UUID_MAX], char **dn,
       struct reply_err *r)
{
	int rc = fleet_user(ctx, name, uuid, dn, &r->e);

	if (rc == 0)
		return control_fail(r, "not_found", "no user named '%s' in the directory", name);
	if (rc < 0) {
		r->code = "failed";
		return -1;
	}
	return 0;
}

static int
unreachable(struct reply_err *r, const char *what)
{
	struct idg_err why = r->e;

	return control_fail(r, "failed", "MFA cannot be %s: no directory provider answers (%s)",
			    what, why.msg);
}

/* A token op's answer other than 0 as a refusal; rc is fleet_run()'s. */
static int
token_failed(struct reply_err *r, int rc, const char *what)
{
	if (rc == FLEET_UNREACHABLE)
		return unreachable(r, what);
	r->code = "failed";
	return -1;
}

static int
audit(struct control_ctx *ctx, const struct caller *who, const char *name, const char *action,
      json_t *details, struct idg_err *err)
{
	char *text = details != NULL ? json_dumps(details, JSON_COMPACT) : NULL;
	int rc = 0;

	json_decref(details);
	if (ctx->log != NULL)
		log_msg(ctx->log, LOG_NOTICE, "mfa: %s for %s by %s (fleet-wide)", action, name,
			who->name);
	if (ctx->audit != NULL)
		rc = audit_append(ctx->audit, who->name, name, action, text, err);
	free(text);
	return rc;
}

int
control_mfa_fleet_may_begin(struct control_ctx *ctx, const char *name, struct reply_err *r)
{
	/* Beginning writes nothing shared: the mirror is enough to refuse early. */
	int enrolled = control_mfa_fleet_enrolled(ctx, name, r);

	if (enrolled < 0)
		return -1;
	if (enrolled)
		return control_fail(r, "failed",
				    "%s is already enrolled fleet-wide; an admin must reset it "
				    "first",
				    name);
	return 0;
}

/* The pending secret of uuid, checked against code: 0 with *step, or -1 with r. */
static int
check_first_code(struct control_ctx *ctx, const char *name, const char *uuid, const char *code,
		 struct fleet_local *l, int64_t *step, struct reply_err *r)
{
	struct totp_params p;
	int rc = fleet_local_read(ctx, uuid, l, &r->e);

	if (rc < 0) {
		r->code = "failed";
		return -1;
	}
	if (rc == 0 || l->confirmed)
		return control_fail(r, "failed", "%s has no enrolment waiting for confirmation",
				    name);
	mfa_params(ctx->cfg, &p);
	if (totp_match(l->secret, MFA_SECRET_LEN, &p, idg_now(), 0, code, step) != TOTP_OK)
		return control_fail(r, "failed",
				    "the code does not match; check the app's clock and try the "
				    "next code");
	return 0;
}

static json_t *
codes_json(const char *name, char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN])
{
	json_t *a = json_array();

	for (int i = 0; i < MFA_RECOVERY_CODES; i++)
		json_array_append_new(a, json_string(codes[i]));
	sodium_memzero(codes, (size_t)MFA_RECOVERY_CODES * MFA_RECOVERY_LEN);
	return json_pack("{s:s, s:o, s:b}", "user", name, "recovery_codes", a, "fleet", 1);
}

/* After the directory took the token: the mirror's row, the local row gone, audited; one commit. */
static int
enrolled_locally(struct control_ctx *ctx, const struct caller *who, const char *name,
		 const char *uuid, const struct token *t, const char *uri, const char *key_id,
		 struct idg_err *err)
{
	if (store_begin(ctx->st, err) != 0)
		return -1;
	if (tokenmirror_put(ctx->st, uuid, t, err) != 0 ||
	    fleet_local_delete(ctx, uuid, err) != 0 ||
	    audit(ctx, who, name, "mfa.enrolled",
		  json_pack("{s:b, s:s, s:s}", "fleet", 1, "provider", uri, "key_id", key_id),
		  err) != 0) {
		store_rollback(ctx->st);
		return -1;
	}
	return store_commit(ctx->st, err);
}

json_t *
control_mfa_fleet_confirm(struct control_ctx *ctx, const struct caller *who, const char *name,
			  const char *code, struct reply_err *r)
{
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char uuid[FLEET_UUID_MAX], uri[FLEET_URI_MAX] = "", key_id[2 * FLEET_KEY_ID_LEN + 1];
	char *dn = NULL;
	struct secret_key *fk = NULL;
	struct fleet_local l = {0};
	struct token *t = NULL;
	json_t *out = NULL;
	int64_t step = 0;
	int rc, have_codes = 0;

	if (person(ctx, name, uuid, &dn, r) != 0)
		return NULL;
	if ((t = sodium_malloc(sizeof(*t))) == NULL) {
		control_fail(r, "failed", "out of memory");
		goto out;
	}
	if (fleet_key_load(ctx->cfg, &fk, &r->e) != 0) {
		r->code = "failed";
		goto out;
	}
	fleet_key_id_hex(fk, key_id);
	if (check_first_code(ctx, name, uuid, code, &l, &step, r) != 0)
		goto out;
	if (fleet_token_new(ctx->cfg, fk, uuid, l.secret, step, t, &r->e) != 0 ||
	    fleet_recovery_codes(t, codes, &r->e) != 0) {
		r->code = "failed";
		goto out;
	}
	have_codes = 1;
	rc = fleet_run(ctx, dn, fleet_op_enrol, t, uri, &r->e);
	if (rc == TOKEN_CHANGED) {
		/* Someone enrolled first (another host, another admin): theirs stands. */
		struct idg_err e;

		if (fleet_local_delete(ctx, uuid, &e) != 0)
			log_msg(ctx->log, LOG_WARNING, "mfa: %s", e.msg);
		control_fail(r, "failed",
			     "%s was enrolled in the directory meanwhile; an admin must reset "
			     "it first",
			     name);
		goto out;
	}
	if (rc != 0) {
		/* The pending row stays: confirming again once a provider answers works. */
		token_failed(r, rc, "enrolled");
		goto out;
	}
	if (enrolled_locally(ctx, who, name, uuid, t, uri, key_id, &r->e) != 0) {
		/*
		 * The directory holds the enrolment (the truth); the sync brings
		 * the mirror's row, and a later begin will say "enrolled".
		 */
		log_msg(ctx->log, LOG_WARNING, "mfa: %s enrolled in %s but not recorded here: %s",
			name, uri, r->e.msg);
	}
	out = codes_json(name, codes);
	have_codes = 0;
out:
	if (have_codes)
		sodium_memzero(codes, sizeof(codes));
	if (t != NULL)
		sodium_free(t);
	fleet_local_free(&l);
	secret_key_free(fk);
	free(dn);
	return out;
}

/* Whether uuid has a local enrolment waiting for its first code. */
static int
pending(struct control_ctx *ctx, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(ctx->st, "SELECT confirmed FROM mfa WHERE user_uuid = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(s, 0) == 0;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_err(ctx->st, err, "reading MFA enrolment");
	sqlite3_finalize(s);
	return rc;
}

json_t *
control_mfa_fleet_status(struct control_ctx *ctx, const char *name, struct reply_err *r)
{
	char uuid[FLEET_UUID_MAX], uri[FLEET_URI_MAX] = "", *dn = NULL;
	const char *source = "directory";
	struct token t;
	int64_t now = idg_now();
	int rc, unusable = 0, waiting;
	json_t *o;

	if (person(ctx, name, uuid, &dn, r) != 0)
		return NULL;
	rc = fleet_run(ctx, dn, fleet_op_read, &t, uri, &r->e);
	free(dn);
	if (rc == FLEET_UNREACHABLE) {
		source = "mirror";
		if (ctx->log != NULL)
			log_msg(ctx->log, LOG_INFO, "mfa status of %s from the mirror: %s", name,
				r->e.msg);
		rc = tokenmirror_get(ctx->st, uuid, &t, &unusable, &r->e) < 0 ? -1 : 0;
	}
	if (rc != 0 || (waiting = pending(ctx, uuid, &r->e)) < 0) {
		r->code = "failed";
		return NULL;
	}
	o = json_pack("{s:s, s:b, s:b, s:b, s:I, s:I, s:I, s:s, s:I, s:I}", "user", name,
		      "enrolled", t.enrolled, "pending", !t.enrolled && waiting, "locked",
		      t.locked_until > now, "locked_until", (json_int_t)t.locked_until,
		      "recent_failures", (json_int_t)t.failures, "recovery_codes_left",
		      (json_int_t)t.n_recovery, "source", source, "last_step",
		      (json_int_t)t.last_step, "last_login", (json_int_t)t.last_login);
	if (o != NULL && uri[0] != '\0')
		json_object_set_new(o, "provider", json_string(uri));
	if (o != NULL && unusable)
		json_object_set_new(o, "unusable", json_true());
	sodium_memzero(&t, sizeof(t));
	return o;
}

/* Runs sql on uuid's row of the auth service's state file, as local mode does. */
static int
state_change(struct control_ctx *ctx, const char *uuid, const char *sql, struct idg_err *err)
{
	struct store *state;
	sqlite3_stmt *s;
	int rc;

	if (control_mfa_state(ctx, &state, err) != 0 || store_prepare(state, sql, &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = store_step_done(state, s, err);
	sqlite3_finalize(s);
	return rc;
}

/*
 * reset and unlock: the directory first (nothing else changes when no
 * provider answers), then the mirror's row, the local rows and the state
 * file, audited.
 */
static json_t *
admin_change(struct control_ctx *ctx, const struct caller *who, const char *name, int reset,
	     struct reply_err *r)
{
	char uuid[FLEET_UUID_MAX], uri[FLEET_URI_MAX] = "", *dn = NULL;
	struct token t;
	int rc, had;

	if (person(ctx, name, uuid, &dn, r) != 0)
		return NULL;
	rc = fleet_run(ctx, dn, fleet_op_read, &t, uri, &r->e);
	had = rc == 0 && t.enrolled;
	sodium_memzero(&t, sizeof(t));
	if (rc == 0 && !had)
		rc = control_fail(r, "failed", "%s has no MFA enrolment in the directory", name);
	else if (rc == 0)
		rc = fleet_run(ctx, dn, reset ? fleet_op_clear : fleet_op_unlock, NULL, uri, &r->e);
	if (rc != 0) {
		if (r->code == NULL)
			token_failed(r, rc, reset ? "reset" : "unlocked");
		free(dn);
		return NULL;
	}
	if (state_change(ctx, uuid,
			 reset ? "DELETE FROM mfa_state WHERE user_uuid = ?1"
			       : "UPDATE mfa_state SET locked_until = 0, failures = 0 WHERE "
				 "user_uuid = ?1",
			 &r->e) != 0 ||
	    store_begin(ctx->st, &r->e) != 0) {
		free(dn);
		r->code = "failed";
		return NULL;
	}
	rc = reset ? tokenmirror_delete(ctx->st, uuid, &r->e) : 0;
	if (rc == 0 && reset)
		rc = fleet_local_delete(ctx, uuid, &r->e);
	if (rc == 0)
		rc = audit(ctx, who, name, reset ? "mfa.reset" : "mfa.unlocked",
			   json_pack("{s:b, s:s}", "fleet", 1, "provider", uri), &r->e);
	if (rc == 0)
		rc = store_commit(ctx->st, &r->e);
	else
		store_rollback(ctx->st);
	/* unlock: the mirror's row as the directory now holds it (the sync would bring it too). */
	if (rc == 0 && !reset && fleet_mirror_refresh(ctx, uuid, dn, &r->e) != 0)
		log_msg(ctx->log, LOG_WARNING, "mfa: the mirror's token of %s: %s", name, r->e.msg);
	free(dn);
	if (rc != 0) {
		r->code = "failed";
		return NULL;
	}
	return json_pack("{s:s, s:b}", "user", name, "fleet", 1);
}

json_t *
control_mfa_fleet_reset(struct control_ctx *ctx, const struct caller *who, const char *name,
			struct reply_err *r)
{
	return admin_change(ctx, who, name, 1, r);
}

json_t *
control_mfa_fleet_unlock(struct control_ctx *ctx, const struct caller *who, const char *name,
			 struct reply_err *r)
{
	return admin_change(ctx, who, name, 0, r);
}

struct consume_arg {
	int64_t step;
};

static void count_failure(struct control_ctx *ctx, const char *name, const char *dn,
			  const struct token *t, const struct mfa_decision *d);

static int
op_consume(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	return token_consume_step(cfg, ld, dn, ((struct consume_arg *)arg)->step, err);
}

/*
 * code at now against t, decided by the policy layer's mfa_decide() as a
 * login decides it (the token's own TOTP parameters, its watermark, its
 * lock, its recovery values unless with_recovery is 0): 0 with *d, or -1
 * with r.
 */
static int
decide(struct control_ctx *ctx, const char *uuid, const struct token *t, const char *code,
       int with_recovery, int64_t now, struct mfa_decision *d, struct reply_err *r)
{
	const struct mfa_token_state in = {t->last_step, t->failures, t->failure_start,
					   t->locked_until};
	const char *values[TOKEN_MAX_RECOVERY];
	struct secret_key *fk = NULL;
	unsigned char *secret;
	struct totp_params p;
	size_t len = 0, n = 0;
	int rc = -1;

	if ((secret = sodium_malloc(FLEET_SEAL_MAX_PLAIN)) == NULL)
		return control_fail(r, "failed", "out of memory");
	for (; with_recovery && n < t->n_recovery && n < TOKEN_MAX_RECOVERY; n++)
		values[n] = t->recovery[n];
	if (mfa_token_params(ctx->cfg, t->algorithm, t->digits, t->period, &p, &r->e) == 0 &&
	    fleet_key_load(ctx->cfg, &fk, &r->e) == 0 &&
	    fleet_open(fk, uuid, t->sealed, t->sealed_len, secret, FLEET_SEAL_MAX_PLAIN, &len,
		       &r->e) == 0)
		rc = mfa_decide(ctx->cfg, secret, len, &p, &in, values, n, NULL, 0, code, now, d,
				&r->e);
	if (rc != 0)
		r->code = "failed";
	sodium_free(secret);
	secret_key_free(fk);
	return rc;
}

/*
 * A current code from the person's app, checked against the directory's
 * token and consumed there, so it cannot also log in anywhere: 0, or -1
 * with r. A recovery code proves nothing here: it is a wrong code.
 */
static int
prove_code(struct control_ctx *ctx, const char *name, const char *uuid, const char *dn,
	   const struct token *t, const char *code, struct reply_err *r)
{
	struct consume_arg a = {0};
	struct mfa_decision d;
	int rc;

	if (code == NULL)
		return control_fail(
			r, "denied",
			"a current code from your authenticator app is needed to replace "
			"your recovery codes");
	if (decide(ctx, uuid, t, code, 0, idg_now(), &d, r) != 0)
		return -1;
	if (d.outcome == MFA_LOCKED)
		return control_fail(r, "denied", "verification is locked for %s", name);
	if (d.outcome != MFA_OK) {
		/* As a login counts it; a replay is not a failure. */
		if (d.outcome == MFA_BAD_CODE)
			count_failure(ctx, name, dn, t, &d);
		return control_fail(r, "denied", "the code is not valid for %s", name);
	}
	a.step = d.step;
	rc = fleet_run(ctx, dn, op_consume, &a, NULL, &r->e);
	if (rc == TOKEN_CHANGED)
		rc = control_fail(r, "denied", "that code was already used; wait for the next one");
	else if (rc != 0)
		rc = token_failed(r, rc, "checked");
	return rc;
}

json_t *
control_mfa_fleet_recovery_codes(struct control_ctx *ctx, const struct caller *who,
				 const char *name, const char *code, int prove, struct reply_err *r)
{
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char uuid[FLEET_UUID_MAX], uri[FLEET_URI_MAX] = "", *dn = NULL;
	struct token *t = sodium_malloc(sizeof(struct token));
	json_t *out = NULL;
	int rc;

	if (t == NULL) {
		control_fail(r, "failed", "out of memory");
		return NULL;
	}
	if (person(ctx, name, uuid, &dn, r) != 0)
		goto out;
	rc = fleet_run(ctx, dn, fleet_op_read, t, uri, &r->e);
	if (rc == 0 && !t->enrolled)
		rc = control_fail(r, "failed", "%s is not enrolled", name);
	if (rc == 0 && prove && prove_code(ctx, name, uuid, dn, t, code, r) != 0)
		goto out;
	/* Read again after a consumed code: the write carries the step it left. */
	if (rc == 0 && prove)
		rc = fleet_run(ctx, dn, fleet_op_read, t, uri, &r->e);
	if (rc == 0 && fleet_recovery_codes(t, codes, &r->e) != 0)
		rc = -1;
	if (rc == 0) {
		rc = fleet_run(ctx, dn, fleet_op_replace, t, uri, &r->e);
		if (rc == TOKEN_CHANGED)
			rc = control_fail(r, "failed",
					  "the enrolment of %s changed meanwhile; nothing was "
					  "replaced",
					  name);
		if (rc != 0)
			sodium_memzero(codes, sizeof(codes));
	}
	if (rc != 0) {
		if (r->code == NULL)
			token_failed(r, rc, "changed");
		goto out;
	}
	if (store_begin(ctx->st, &r->e) == 0) {
		if (tokenmirror_put(ctx->st, uuid, t, &r->e) == 0 &&
		    audit(ctx, who, name, "mfa.recovery_codes_replaced",
			  json_pack("{s:b, s:s}", "fleet", 1, "provider", uri), &r->e) == 0)
			store_commit(ctx->st, &r->e);
		else
			store_rollback(ctx->st);
	}
	out = codes_json(name, codes);
out:
	sodium_free(t);
	free(dn);
	return out;
}

int
control_mfa_fleet_enrolled(struct control_ctx *ctx, const char *name, struct reply_err *r)
{
	char uuid[FLEET_UUID_MAX], *dn = NULL;
	struct token t;
	int rc, unusable = 0, enrolled;

	if (person(ctx, name, uuid, &dn, r) != 0)
		return -1;
	rc = fleet_run(ctx, dn, fleet_op_read, &t, NULL, &r->e);
	free(dn);
	if (rc == FLEET_UNREACHABLE)
		rc = tokenmirror_get(ctx->st, uuid, &t, &unusable, &r->e) < 0 ? -1 : 0;
	if (rc != 0) {
		r->code = "failed";
		return -1;
	}
	/* An unusable copy counts as enrolled: the code step then fails closed. */
	enrolled = t.enrolled || unusable;
	sodium_memzero(&t, sizeof(t));
	return enrolled;
}

struct failure_arg {
	const struct token *seen;
	int64_t failures, start, locked_until;
};

static int
op_failure(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	struct failure_arg *a = arg;

	return token_record_failure(cfg, ld, dn, a->seen, a->failures, a->start, a->locked_until,
				    err);
}

static int
op_spend(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	return token_spend_recovery(cfg, ld, dn, arg, err);
}

/*
 * A wrong code counted fleet-wide with the state mfa_decide() gave (its
 * mfa_failure_next(), as a login counts it). Written with the assertion
 * that the count is still what was read; a writer that came first has
 * counted its own, and this one is then only logged.
 */
static void
count_failure(struct control_ctx *ctx, const char *name, const char *dn, const struct token *t,
	      const struct mfa_decision *d)
{
	struct failure_arg a = {.seen = t,
				.failures = d->next.failures,
				.start = d->next.failure_start,
				.locked_until = d->next.locked_until};
	struct idg_err e;
	int rc;

	rc = fleet_run(ctx, dn, op_failure, &a, NULL, &e);
	if (rc != 0)
		log_msg(ctx->log, LOG_WARNING, "mfa: a wrong web code of %s not counted: %s", name,
			rc == TOKEN_CHANGED ? "counted by another writer first" : e.msg);
	else if (d->locked_now)
		log_msg(ctx->log, LOG_WARNING, "mfa: %s locked fleet-wide after %lld failures",
			name, (long long)ctx->cfg->mfa_max_failures);
}

int
control_mfa_fleet_verify(struct control_ctx *ctx, const char *name, const char *code, int64_t now,
			 enum mfa_outcome *out, struct reply_err *r)
{
	char uuid[FLEET_UUID_MAX], *dn = NULL;
	struct consume_arg a = {0};
	struct token *t = sodium_malloc(sizeof(struct token));
	struct mfa_decision d;
	int rc = -1;

	*out = MFA_BAD_CODE;
	if (t == NULL) {
		control_fail(r, "failed", "out of memory");
		goto out;
	}
	if (person(ctx, name, uuid, &dn, r) != 0)
		goto out;
	/* The directory decides: with no provider answering nothing is checked (fail closed). */
	rc = fleet_run(ctx, dn, fleet_op_read, t, NULL, &r->e);
	if (rc != 0) {
		rc = token_failed(r, rc, "checked");
		goto out;
	}
	if (!t->enrolled) {
		*out = MFA_NOT_ENROLLED;
		goto out;
	}
	if ((rc = decide(ctx, uuid, t, code, 1, now, &d, r)) != 0)
		goto out;
	switch (d.outcome) {
	case MFA_OK:
	case MFA_OK_RECOVERY:
		/* The step consumed, or the recovery value spent, fleet-wide. */
		a.step = d.step;
		if (d.outcome == MFA_OK)
			rc = fleet_run(ctx, dn, op_consume, &a, NULL, &r->e);
		else
			rc = fleet_run(ctx, dn, op_spend, idg_unconst(t->recovery[d.recovery]),
				       NULL, &r->e);
		if (rc == TOKEN_CHANGED) /* used elsewhere first */
			*out = d.outcome == MFA_OK ? MFA_REPLAYED : MFA_RECOVERY_REUSED, rc = 0;
		else if (rc == 0)
			*out = d.outcome;
		else
			rc = token_failed(r, rc, "checked");
		break;
	case MFA_BAD_CODE:
		count_failure(ctx, name, dn, t, &d);
		break;
	default:
		*out = d.outcome;
		break;
	}
out:
	if (t != NULL)
		sodium_free(t);
	free(dn);
	return rc;
}
