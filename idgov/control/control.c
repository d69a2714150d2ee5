/*
 * The control protocol's server side; see control.h.
 *
 * Every request is audited with who asked, what, and the outcome,
 * including requests refused for their role and requests that could not
 * be parsed. Arguments are validated strictly: an unknown argument, a
 * wrong type or an over-long value is a bad_request, never ignored; and
 * nothing a request says goes into its record before it has been checked.
 * Refusals of callers who are not admins are coalesced when the caller
 * passes a control_refusals table (see control.h).
 */
#include "control_fleet.h"
#include "control_int.h"

#include "account.h"
#include "anchor_dir.h"
#include "backup.h"
#include "dir.h"
#include "keys.h"
#include "query.h"
#include "spool.h"
#include "sync.h"

#include <grp.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *
from_query(json_t *result, struct reply_err *r, struct idg_err *qerr)
{
	if (result == NULL) {
		r->e = *qerr;
		r->code = strncmp(qerr->msg, QUERY_NOT_FOUND_PREFIX,
				  strlen(QUERY_NOT_FOUND_PREFIX)) == 0
				  ? "not_found"
				  : "failed";
	}
	return result;
}

static json_t *
op_status(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;
	json_t *counts, *state, *o;

	(void)who;
	(void)args;
	counts = ctx->counts_cache != NULL ? query_counts_cached(ctx->st, ctx->counts_cache, &qerr)
					   : query_counts(ctx->st, &qerr);
	state = counts != NULL ? query_sync_state(ctx->st, ctx->cfg->dir_name, &qerr) : NULL;
	if (state == NULL) {
		json_decref(counts);
		return from_query(NULL, r, &qerr);
	}
	o = json_pack("{s:o, s:{s:s, s:s, s:o}, s:o}", "daemon",
		      ctx->daemon_status ? ctx->daemon_status(ctx->arg)
					 : json_pack("{s:b}", "running", 0),
		      "directory", "name", ctx->cfg->dir_name, "uri", ctx->cfg->dir_uri, "sync",
		      state, "counts", counts);
	if (o != NULL && ctx->fleet_status != NULL)
		json_object_set_new(o, "fleet", ctx->fleet_status(ctx->arg));
	return o;
}

static json_t *
stats_json(const struct sync_result *res)
{
	const struct mirror_stats *s = &res->stats;

	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
			 res->mode, "held", (json_int_t)s->held, "forced", (json_int_t)s->forced,
			 "joiners", (json_int_t)s->joiners, "movers", (json_int_t)s->movers,
			 "leavers", (json_int_t)s->leavers, "changed", (json_int_t)s->changed,
			 "groups_added", (json_int_t)s->groups_added, "groups_changed",
			 (json_int_t)s->groups_changed, "groups_deleted",
			 (json_int_t)s->groups_deleted, "memberships_added",
			 (json_int_t)s->members_added, "memberships_removed",
			 (json_int_t)s->members_removed);
}

/* The result of a sync request: the stats (and drift), or NULL with r set. Takes res->drift. */
static json_t *
sync_result_json(int rc, struct sync_result *res, struct reply_err *r)
{
	json_t *o;

	if (rc != 0) {
		json_decref(res->drift);
		res->drift = NULL;
		r->code = "failed";
		return NULL;
	}
	o = stats_json(res);
	/* --verify: the differences found, nothing written (sync.h). */
	if (o != NULL && res->drift != NULL && json_object_set(o, "drift", res->drift) != 0) {
		json_decref(o);
		o = NULL;
	}
	json_decref(res->drift);
	res->drift = NULL;
	return o;
}

static json_t *
op_sync(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct sync_opts opts = {0};
	struct sync_result res;
	int rc;

	(void)who;

	if (control_arg_bool(args, "full", &opts.full, r) != 0 ||
	    control_arg_bool(args, "force", &opts.force, r) != 0 ||
	    control_arg_bool(args, "verify", &opts.verify, r) != 0)
		return NULL;
	/* A full reload is a reconciliation: what it corrects is audited as drift. */
	opts.reconcile = opts.full;
	memset(&res, 0, sizeof(res));
	rc = ctx->run_sync(ctx->arg, &opts, &res, &r->e);
	if (rc == CONTROL_SYNC_STARTED) {
		r->code = "started"; /* control_handle(): no reply, no audit yet */
		return NULL;
	}
	return sync_result_json(rc, &res, r);
}

/*
 * Applies the departures the guard holds. confirm must equal their number,
 * so that an admin releases what they looked at, not what arrived since.
 */
static json_t *
op_sync_release(struct control_ctx *ctx, const struct caller *who, json_t *args,
		struct reply_err *r)
{
	struct mirror *m = NULL;
	int64_t confirm, released = 0;

	if (json_object_get(args, "confirm") == NULL) {
		control_fail(r, "bad_request",
			     "argument 'confirm' (the number of held departures) is required");
		return NULL;
	}
	if (control_arg_count(args, "confirm", &confirm, r) != 0)
		return NULL;
	r->code = "failed";
	if (mirror_open(ctx->st, ctx->audit, ctx->cfg, ctx->log, &m, &r->e) != 0)
		return NULL;
	if (mirror_release(m, confirm, who->name, &released, &r->e) != 0) {
		mirror_close(m);
		return NULL;
	}
	mirror_close(m);
	log_msg(ctx->log, LOG_NOTICE, "sync: %s released %lld held departures", who->name,
		(long long)released);
	return json_pack("{s:I}", "released", (json_int_t)released);
}

static json_t *
op_user_list(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;
	json_t *v = json_object_get(args, "status");
	const char *status = NULL;

	(void)who;
	if (v != NULL) {
		status = json_string_value(v);
		if (status == NULL ||
		    (strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0 &&
		     strcmp(status, "expired") != 0 && strcmp(status, "departed") != 0)) {
			control_fail(r, "bad_request",
				     "argument '%s' must be active, disabled, expired or departed",
				     "status");
			return NULL;
		}
	}
	return from_query(query_user_list(ctx->st, status, &qerr), r, &qerr);
}

static json_t *
op_user_show(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;
	const char *name, *self = who->name;
	char canon[ACCOUNT_NAME_MAX + 1], self_canon[ACCOUNT_NAME_MAX + 1];

	if (control_arg_name(args, "name", 0, &name, r) != 0 ||
	    control_user_spelling(ctx, &name, canon, sizeof(canon), r) != 0 ||
	    control_user_spelling(ctx, &self, self_canon, sizeof(self_canon), r) != 0)
		return NULL;
	/* Anyone may look at themself; only admins at others. */
	if (!who->admin && strcmp(self, name) != 0) {
		control_fail(r, "denied", "only admins may look at other users (you are %s)",
			     who->name);
		return NULL;
	}
	return from_query(query_user_show(ctx->st, name, ctx->cfg->dir_nested_depth, &qerr), r,
			  &qerr);
}

static json_t *
op_group_list(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;

	(void)who;
	(void)args;
	return from_query(query_group_list(ctx->st, &qerr), r, &qerr);
}

static json_t *
op_group_show(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;
	const char *name;

	(void)who;
	if (control_arg_name(args, "name", 0, &name, r) != 0)
		return NULL;
	return from_query(query_group_show(ctx->st, name, ctx->cfg->dir_nested_depth, &qerr), r,
			  &qerr);
}

static json_t *
op_audit_list(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct idg_err qerr;
	int64_t since, limit;

	(void)who;
	if (control_arg_count(args, "since", &since, r) != 0 ||
	    control_arg_count(args, "limit", &limit, r) != 0)
		return NULL;
	return from_query(query_audit_list(ctx->st, since, limit, &qerr), r, &qerr);
}

/*
 * The directory's copy of the audit head ([store] audit_anchor_dn), read
 * before the store is: *found 0 when none is configured or published yet.
 * Not reading it when it is configured fails the verification: a check
 * that an attacker could skip by cutting the host off is not one.
 */
static int
directory_head(const struct control_ctx *ctx, struct anchor_head *h, int *found,
	       struct idg_err *err)
{
	LDAP *ld;
	int rc;

	*found = 0;
	if (!dir_anchor_configured(ctx->cfg))
		return 0;
	if (dir_connect(ctx->cfg, &ld, err) != 0)
		return -1;
	rc = dir_anchor_fetch(ctx->cfg, ld, h, found, err);
	ldap_unbind_ext(ld, NULL, NULL);
	return rc;
}

/*
 * Signs what idgov-authd and pam_idgov.so spooled (spool.h) into the chain
 * now: idgovd does it on its own, this is for an admin (or a test) who
 * wants it done at once, or with no daemon running.
 */
static json_t *
op_audit_ingest(struct control_ctx *ctx, const struct caller *who, json_t *args,
		struct reply_err *r)
{
	struct spool_result res, sum = {0};

	(void)who;
	(void)args;
	r->code = "failed";
	do {
		if (spool_ingest(ctx->audit, ctx->cfg->audit_spool_dir, 500, ctx->log, &res,
				 &r->e) != 0)
			return NULL;
		sum.ingested += res.ingested;
		sum.duplicates += res.duplicates;
		sum.quarantined += res.quarantined;
	} while (res.more);
	return json_pack("{s:i, s:i, s:i}", "ingested", sum.ingested, "duplicates", sum.duplicates,
			 "quarantined", sum.quarantined);
}

static json_t *
op_audit_verify(struct control_ctx *ctx, const struct caller *who, json_t *args,
		struct reply_err *r)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct audit_report rep;
	struct anchor_head dh;
	struct idg_err derr;
	int dfound = 0, drc;

	(void)who;
	(void)args;
	r->code = "failed";
	if (keys_load_audit_public(ctx->cfg->audit_pubkey_file, pk, &r->e) != 0)
		return NULL;
	drc = directory_head(ctx, &dh, &dfound, &derr);
	if (audit_verify(ctx->st, pk, ctx->cfg->audit_anchor_file, &rep, &r->e) != 0)
		return NULL;
	if (rep.ok && drc != 0) {
		rep.ok = 0;
		snprintf(rep.reason, sizeof(rep.reason),
			 "cannot read the audit head from the directory: %.400s", derr.msg);
	} else if (rep.ok && dfound &&
		   audit_check_head(ctx->st, pk, &dh, "directory entry", &rep, &r->e) != 0) {
		return NULL;
	}
	return json_pack("{s:b, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:s}", "ok", rep.ok,
			 "records", (json_int_t)rep.records, "signatures",
			 (json_int_t)rep.signatures, "key_rotations", (json_int_t)rep.key_rotations,
			 "key_id", rep.key_id, "last_signed", (json_int_t)rep.last_signed_seq,
			 "first_bad", (json_int_t)rep.first_bad_seq, "anchor",
			 (json_int_t)rep.anchor_seq, "directory_anchor",
			 (json_int_t)(!dir_anchor_configured(ctx->cfg) ? -1
				      : dfound                         ? dh.seq
								       : 0),
			 "reason", rep.ok ? "" : rep.reason);
}

/*
 * After a reset, the directory's copy is reset too: idgovd never lowers
 * it by itself, so a copy left ahead of a restored store would fail every
 * verification after it.
 */
static int
reset_directory_head(const struct control_ctx *ctx, struct idg_err *err)
{
	enum anchor_status status;
	struct anchor_head h;
	LDAP *ld;
	int rc;

	if (!dir_anchor_configured(ctx->cfg))
		return 0;
	if (anchor_read(ctx->cfg->audit_anchor_file, &h, &status, err) != 0)
		return -1;
	if (status == ANCHOR_MISSING)
		return idg_seterr(err, "the anchor file is gone");
	if (dir_connect(ctx->cfg, &ld, err) != 0)
		return -1;
	rc = dir_anchor_publish(ctx->cfg, ld, &h, err);
	ldap_unbind_ext(ld, NULL, NULL);
	return rc;
}

/*
 * Re-anchors the chain at the store's head (audit_anchor_reset): the
 * caller confirms the head they saw, so a reset is never a reflex.
 */
static json_t *
op_audit_anchor_reset(struct control_ctx *ctx, const struct caller *who, json_t *args,
		      struct reply_err *r)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct idg_err derr;
	int64_t confirm, seq;

	if (json_object_get(args, "confirm") == NULL) {
		control_fail(r, "bad_request", "argument 'confirm' (the store's head) is required");
		return NULL;
	}
	if (control_arg_count(args, "confirm", &confirm, r) != 0)
		return NULL;
	r->code = "failed";
	if (keys_load_audit_public(ctx->cfg->audit_pubkey_file, pk, &r->e) != 0 ||
	    audit_anchor_reset(ctx->audit, pk, who->name, confirm, &seq, &r->e) != 0)
		return NULL;
	if (reset_directory_head(ctx, &derr) != 0) {
		control_fail(r, "failed",
			     "the anchor file is reset to record %lld, but not the directory's "
			     "copy: %.300s (run the reset again with --confirm of the new head)",
			     (long long)seq, derr.msg);
		return NULL;
	}
	return json_pack("{s:s, s:I}", "anchor", ctx->cfg->audit_anchor_file, "seq",
			 (json_int_t)seq);
}

static int
is_target(const struct cfg *cfg, const char *dir)
{
	const char *cur = cfg->backup_targets, *item;
	size_t len;

	while (cfg->backup_targets[0] != '\0' && cur != NULL && idg_list_next(&cur, &item, &len))
		if (len == strlen(dir) && strncmp(item, dir, len) == 0)
			return 1;
	return 0;
}

/*
 * A backup of the store into args.to, or the first of [backup] targets.
 * Runs in the caller's loop: idgovd answers nothing else meanwhile (the
 * snapshot itself holds only a read transaction, so logins go on).
 */
static json_t *
op_backup_run(struct control_ctx *ctx, const struct caller *who, json_t *args, struct reply_err *r)
{
	struct backup_manifest m;
	const char *to = NULL, *cur = ctx->cfg->backup_targets, *item;
	char dir[4096], path[4096];
	size_t len;

	if (control_arg_text(args, "to", 1, sizeof(dir) - 1, &to, r) != 0)
		return NULL;
	if (to != NULL) {
		if (to[0] != '/') {
			control_fail(r, "bad_request", "'to' must be an absolute directory");
			return NULL;
		}
		idg_strlcpy(dir, to, sizeof(dir));
		/* idgovd writes as root: an admin who is not root picks among the targets. */
		if (who->uid != 0 && !is_target(ctx->cfg, dir)) {
			control_fail(r, "denied",
				     "only root may back up into a directory that is not one of "
				     "[backup] targets");
			return NULL;
		}
	} else if (ctx->cfg->backup_targets[0] != '\0' && idg_list_next(&cur, &item, &len) &&
		   len < sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%.*s", (int)len, item);
	} else {
		control_fail(r, "bad_request",
			     "no directory: give --to DIR or set [backup] targets");
		return NULL;
	}
	r->code = "failed";
	if (backup_run(ctx->cfg, ctx->st, dir, path, sizeof(path), &m, &r->e) != 0)
		return NULL;
	if (audit_record(ctx->audit, who->name, path, "backup.create",
			 json_pack("{s:I, s:I}", "audit_head_seq", (json_int_t)m.head_seq,
				   "store_bytes", (json_int_t)m.store_bytes),
			 &r->e) != 0)
		return NULL;
	return json_pack("{s:s, s:I, s:I, s:i, s:s}", "file", path, "audit_head_seq",
			 (json_int_t)m.head_seq, "store_bytes", (json_int_t)m.store_bytes, "schema",
			 m.schema, "host", m.host);
}

static const char *const no_args[] = {NULL};
static const char *const backup_args[] = {"to", NULL};
static const char *const sync_args[] = {"full", "force", "verify", NULL};
static const char *const release_args[] = {"confirm", NULL};
static const char *const name_args[] = {"name", NULL};
static const char *const list_args[] = {"status", NULL};
static const char *const audit_args[] = {"since", "limit", NULL};
static const char *const anchor_reset_args[] = {"confirm", NULL};
static const char *const mfa_args[] = {"name", NULL};
static const char *const mfa_code_args[] = {"name", "code", NULL};
static const char *const policy_args[] = {"name", "service", "rhost", "at", NULL};
static const char *const signin_args[] = {"name", "password", "addr", NULL};
static const char *const code_args[] = {"code", NULL};

static const char *const grant_req_args[] = {"user", "group",  "start", "until",
					     "for",  "reason", "sudo",  NULL};
static const char *const grant_id_args[] = {"id", "comment", NULL};
static const char *const grant_revoke_args[] = {"id", "reason", NULL};
static const char *const grant_extend_args[] = {"id", "until", "for", "reason", NULL};
static const char *const breakglass_args[] = {"group", "for", "reason", NULL};
static const char *const grant_list_args[] = {"filter", "user", "kind", NULL};
static const char *const grant_show_args[] = {"id", NULL};
static const char *const account_args[] = {"name",  "owner", "groups", "start",
					   "until", "for",   "reason", NULL};
static const char *const account_extend_args[] = {"name", "until", "for", "reason", NULL};
static const char *const account_end_args[] = {"name", "reason", NULL};

static const struct control_op ops[] = {
	{"status", 0, no_args, op_status},
	{"sync", CONTROL_OP_ADMIN, sync_args, op_sync},
	{"sync.release", CONTROL_OP_ADMIN, release_args, op_sync_release},
	{"user.list", CONTROL_OP_ADMIN, list_args, op_user_list},
	{"user.show", 0, name_args, op_user_show},
	{"group.list", CONTROL_OP_ADMIN, no_args, op_group_list},
	{"group.show", CONTROL_OP_ADMIN, name_args, op_group_show},
	{"audit.list", CONTROL_OP_ADMIN, audit_args, op_audit_list},
	{"audit.verify", CONTROL_OP_ADMIN, no_args, op_audit_verify},
	{"audit.ingest", CONTROL_OP_ADMIN, no_args, op_audit_ingest},
	{"audit.anchor_reset", CONTROL_OP_ADMIN, anchor_reset_args, op_audit_anchor_reset},
	{"backup.run", CONTROL_OP_ADMIN, backup_args, op_backup_run},
	{"mfa.enroll.begin", CONTROL_OP_SECRET | CONTROL_OP_ENROL_STEP, mfa_args,
	 control_mfa_enroll_begin},
	{"mfa.enroll.confirm", CONTROL_OP_SECRET | CONTROL_OP_ENROL_STEP, mfa_code_args,
	 control_mfa_enroll_confirm},
	{"mfa.status", CONTROL_OP_ENROL_STEP, mfa_args, control_mfa_status},
	{"mfa.reset", CONTROL_OP_ADMIN, mfa_args, control_mfa_reset},
	{"mfa.unlock", CONTROL_OP_ADMIN, mfa_args, control_mfa_unlock},
	{"mfa.recovery_codes", CONTROL_OP_SECRET, mfa_code_args, control_mfa_recovery_codes},
	{"policy.check", CONTROL_OP_ADMIN, policy_args, control_policy_check},
	{"fleet.migrate", CONTROL_OP_ADMIN, no_args, control_fleet_migrate},
	{"fleet.check", CONTROL_OP_ADMIN, no_args, control_fleet_check},
	{"key.rotate", CONTROL_OP_ADMIN, name_args, control_key_rotate},
	{"key.destroy_old", CONTROL_OP_ADMIN, name_args, control_key_destroy_old},
	{"key.list", CONTROL_OP_ADMIN, no_args, control_key_list},
	{"grant.request", CONTROL_OP_GOVERN, grant_req_args, control_grant_request},
	{"grant.approve", CONTROL_OP_GOVERN, grant_id_args, control_grant_approve},
	{"grant.deny", CONTROL_OP_GOVERN, grant_id_args, control_grant_deny},
	{"grant.revoke", CONTROL_OP_GOVERN, grant_revoke_args, control_grant_revoke},
	{"grant.extend", CONTROL_OP_GOVERN, grant_extend_args, control_grant_extend},
	{"grant.breakglass", CONTROL_OP_GOVERN, breakglass_args, control_grant_breakglass},
	{"grant.acknowledge", CONTROL_OP_ADMIN | CONTROL_OP_GOVERN, grant_id_args,
	 control_grant_acknowledge},
	{"grant.list", CONTROL_OP_GOVERN, grant_list_args, control_grant_list},
	{"grant.show", CONTROL_OP_GOVERN, grant_show_args, control_grant_show},
	{"account.create", CONTROL_OP_GOVERN, account_args, control_account_create},
	{"account.show", CONTROL_OP_GOVERN, name_args, control_account_show},
	{"account.extend", CONTROL_OP_GOVERN, account_extend_args, control_account_extend},
	{"account.end", CONTROL_OP_GOVERN, account_end_args, control_account_end},
	{"web.signin", CONTROL_OP_FRONTEND | CONTROL_OP_SECRET, signin_args, control_web_signin},
	{"web.verify", CONTROL_OP_SECRET | CONTROL_OP_CODE_STEP | CONTROL_OP_ENROL_STEP, code_args,
	 control_web_verify},
	{"web.signout", CONTROL_OP_CODE_STEP | CONTROL_OP_ENROL_STEP, no_args, control_web_signout},
	{"web.session", CONTROL_OP_CODE_STEP | CONTROL_OP_ENROL_STEP, no_args, control_web_session},
};

/* Ops that only make sense with a web session (the frontend sends them for a person). */
static int
needs_session(const struct control_op *op)
{
	return op->fn == control_web_verify || op->fn == control_web_signout ||
	       op->fn == control_web_session;
}

/*
 * Who may call op, read off its flags: the frontend itself only the
 * frontend's ops (and status); a web session only what its step allows;
 * anyone else never the frontend's ops nor the session ones. 0, or -1 with r.
 */
static int
op_permitted(const struct control_ctx *ctx, const struct caller *who, const struct control_op *op,
	     struct reply_err *r)
{
	static const unsigned step_flag[] = {CONTROL_OP_CODE_STEP, CONTROL_OP_ENROL_STEP, 0};

	if (who->session != NULL) {
		if (op->flags & CONTROL_OP_FRONTEND)
			return control_fail(r, "denied", "'%s' is not for a signed-in session",
					    op->name);
		if (who->session_step != 2 && !(op->flags & step_flag[who->session_step]))
			return control_fail(r, "denied", "finish signing in first (%s is next)",
					    who->session_step == 0 ? "the code" : "MFA enrolment");
		return 0;
	}
	if (needs_session(op))
		return control_fail(r, "denied", "'%s' needs a web session", op->name);
	if (control_web_frontend(ctx, who))
		return (op->flags & CONTROL_OP_FRONTEND) || strcmp(op->name, "status") == 0
			       ? 0
			       : control_fail(r, "denied",
					      "the web frontend acts only on behalf of a "
					      "signed-in person");
	if (op->flags & CONTROL_OP_FRONTEND)
		return control_fail(r, "denied", "'%s' is for the web frontend ([web] user) only",
				    op->name);
	return 0;
}

static char *
reply_ok(json_t *result)
{
	json_t *o = json_pack("{s:i, s:b, s:o}", "v", CONTROL_VERSION, "ok", 1, "result", result);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static char *
reply_err(const char *code, const char *msg)
{
	json_t *o = json_pack("{s:i, s:b, s:{s:s, s:s}}", "v", CONTROL_VERSION, "ok", 0, "error",
			      "code", code, "message", msg);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

char *
control_error_reply(const char *code, const char *why)
{
	return reply_err(code, why);
}

/* Counts name under its kind; past CONTROL_REFUSAL_KINDS names, under "other". */
static void
count_kind(struct control_refusal_kind k[CONTROL_REFUSAL_KINDS + 1], const char *name)
{
	struct control_refusal_kind *other = &k[CONTROL_REFUSAL_KINDS];

	for (int i = 0; i < CONTROL_REFUSAL_KINDS; i++) {
		if (k[i].n == 0)
			idg_strlcpy(k[i].name, name, sizeof(k[i].name));
		if (strncmp(k[i].name, name, sizeof(k[i].name) - 1) == 0) {
			k[i].n++;
			return;
		}
	}
	idg_strlcpy(other->name, "other", sizeof(other->name));
	other->n++;
}

static json_t *
kinds_json(const struct control_refusal_kind k[CONTROL_REFUSAL_KINDS + 1])
{
	json_t *o = json_object();

	for (int i = 0; o != NULL && i <= CONTROL_REFUSAL_KINDS; i++)
		if (k[i].n > 0)
			json_object_set_new(o, k[i].name, json_integer(k[i].n));
	return o;
}

/* Writes what a window counted as one record, if it counted anything, and frees the slot. */
static void
refusal_close(struct control_ctx *ctx, struct control_refusal *s)
{
	struct idg_err err;
	json_t *d;

	if (s->count > 0) {
		d = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "uid", (json_int_t)s->uid, "count",
			      (json_int_t)s->count, "from", (json_int_t)s->start, "until",
			      (json_int_t)s->last, "actions", kinds_json(s->actions), "outcomes",
			      kinds_json(s->outcomes));
		if (d == NULL ||
		    audit_record(ctx->audit, s->actor, "-", "control.refused", d, &err) != 0)
			log_msg(ctx->log, LOG_ERR, "cannot audit %lld refusals of %s: %s",
				(long long)s->count, s->actor,
				d == NULL ? "out of memory" : err.msg);
	}
	memset(s, 0, sizeof(*s));
}

static int
window_over(const struct control_refusal *s, int64_t now)
{
	return now - s->start >= CONTROL_REFUSAL_WINDOW || now < s->start;
}

static int caller_admin(const struct control_ctx *ctx, const struct caller *who);
static void decide_admin(const struct control_ctx *ctx, struct caller *who);

/*
 * Whether a request's outcome goes into the chain now. Successes, an
 * admin's requests and everything without a table are recorded. Otherwise
 * the caller's uid has a window: its first refusal is recorded as it is,
 * later ones until the window is over are only counted (by action and
 * outcome), and refusal_close() writes the count. A window that is over is
 * closed here first, so its count never waits for the next flush; when
 * every slot is taken, the oldest window is closed early. Nothing is lost,
 * and a caller adds at most about two records a minute, however fast they ask.
 */
static int
refusal_recorded(struct control_ctx *ctx, const struct caller *who, const char *action,
		 const char *outcome)
{
	struct control_refusal *s = NULL, *spare = NULL;
	int64_t now = idg_now();

	if (ctx->refusals == NULL || strcmp(outcome, "ok") == 0 || caller_admin(ctx, who))
		return 1;
	for (int i = 0; i < CONTROL_REFUSAL_UIDS; i++) {
		struct control_refusal *c = &ctx->refusals->slot[i];

		if (c->used && c->uid == who->uid)
			s = c;
		/* A free slot, or else the oldest window. */
		if (spare == NULL || (spare->used && (!c->used || c->start < spare->start)))
			spare = c;
	}
	if (s != NULL && !window_over(s, now)) {
		s->count++;
		s->last = now;
		count_kind(s->actions, action);
		count_kind(s->outcomes, outcome);
		return 0;
	}
	if (s != NULL)
		spare = s;
	if (spare->used)
		refusal_close(ctx, spare);
	spare->used = 1;
	spare->uid = who->uid;
	spare->start = spare->last = now;
	idg_strlcpy(spare->actor, who->name, sizeof(spare->actor));
	return 1;
}

void
control_refusals_flush(struct control_ctx *ctx, int64_t now, int all)
{
	if (ctx->refusals == NULL)
		return;
	for (int i = 0; i < CONTROL_REFUSAL_UIDS; i++) {
		struct control_refusal *s = &ctx->refusals->slot[i];

		if (s->used && (all || window_over(s, now)))
			refusal_close(ctx, s);
	}
}

/*
 * Appends the request's audit record in its own short transaction, unless
 * it is a refusal that is only counted. The reason may quote what the
 * caller sent: it is made visible and capped like the other fields.
 */
static void
audit_request(struct control_ctx *ctx, const struct caller *who, const char *action,
	      const char *subject, const char *outcome, const char *reason)
{
	struct idg_err err;
	char why[IDG_ERRLEN];
	json_t *d;

	if (ctx->audit == NULL || !refusal_recorded(ctx, who, action, outcome))
		return;
	d = json_pack("{s:I, s:s}", "uid", (json_int_t)who->uid, "outcome", outcome);
	if (d != NULL && who->session != NULL) {
		json_object_set_new(d, "via", json_string("web"));
		json_object_set_new(d, "addr", json_string(who->addr));
	}
	if (d != NULL && reason != NULL) {
		idg_strvis(why, sizeof(why), reason);
		json_object_set_new(d, "reason", json_string(why));
	}
	if (d == NULL || audit_record(ctx->audit, who->name, subject, action, d, &err) != 0)
		log_msg(ctx->log, LOG_ERR, "cannot audit %s by %s: %s", action, who->name,
			d == NULL ? "out of memory" : err.msg);
}

/*
 * The subject of a request's record, taken from its arguments only once
 * they are known to be valid: a grant id, or a name that control_arg_name()
 * accepts (1..256 bytes, no control characters); "-" for anything else. So
 * a caller cannot write what they like into the chain by sending it as a
 * name, whether or not the request is then refused.
 */
static const char *
request_subject(json_t *args, char *buf, size_t size)
{
	struct reply_err ignored;
	json_t *id = json_object_get(args, "id");
	const char *name;

	if (json_is_integer(id)) {
		snprintf(buf, size, "grant:%lld", (long long)json_integer_value(id));
		return buf;
	}
	if (control_arg_name(args, "name", 1, &name, &ignored) == 0 && name != NULL)
		return name;
	return "-";
}

static int
args_known(json_t *args, const struct control_op *op, const char **unknown)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		int ok = 0;

		for (const char *const *a = op->args; *a != NULL; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok) {
			*unknown = key;
			return 0;
		}
	}
	return 1;
}

char *
control_reject(struct control_ctx *ctx, const struct caller *who, const char *code, const char *why)
{
	log_msg(ctx->log, LOG_WARNING, "control: rejected request from %s (uid %u): %s", who->name,
		(unsigned)who->uid, why);
	audit_request(ctx, who, "control.malformed", "-", code, why);
	return reply_err(code, why);
}

/* A request has v, op, and maybe args, session and addr: nothing else. */
static int
request_keys_known(json_t *req)
{
	static const char *const known[] = {"v", "op", "args", "session", "addr", NULL};
	const char *key;
	json_t *v;

	json_object_foreach(req, key, v)
	{
		int ok = 0;

		for (const char *const *k = known; *k != NULL; k++)
			ok |= strcmp(*k, key) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

/* Runs op; *changed: whether it changed the store (this connection's changes). */
static json_t *
op_run(struct control_ctx *ctx, const struct control_op *op, const struct caller *who, json_t *args,
       struct reply_err *r, int *changed)
{
	int64_t before = sqlite3_total_changes64(ctx->st->db);
	json_t *result = op->fn(ctx, who, args, r);

	*changed = sqlite3_total_changes64(ctx->st->db) != before;
	return result;
}

char *
control_handle(struct control_ctx *ctx, const struct caller *who, const char *line, size_t len)
{
	struct reply_err r = {.code = NULL};
	const struct control_op *op = NULL;
	struct caller self, person, *me = &self;
	json_error_t jerr;
	json_t *req, *args, *result = NULL, *v, *session, *addr;
	const char *name, *unknown = NULL, *subject = "-";
	char action[64], grant_subject[32], govern_why[IDG_ERRLEN + 128], *reply;
	int changed = 1;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		json_decref(req);
		return control_reject(ctx, who, "bad_request", "request is not a JSON object");
	}
	v = json_object_get(req, "v");
	name = json_string_value(json_object_get(req, "op"));
	args = json_object_get(req, "args");
	session = json_object_get(req, "session");
	addr = json_object_get(req, "addr");
	if (!json_is_integer(v) || json_integer_value(v) != CONTROL_VERSION) {
		json_decref(req);
		return control_reject(ctx, who, "bad_request", "unsupported protocol version");
	}
	for (size_t i = 0; name != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, name) == 0)
			op = &ops[i];
	for (size_t i = 0; name != NULL && i < ctx->n_extra_ops; i++)
		if (strcmp(ctx->extra_ops[i].name, name) == 0)
			op = &ctx->extra_ops[i];
	if (op == NULL || (args != NULL && !json_is_object(args)) ||
	    (session != NULL && !json_is_string(session)) ||
	    (addr != NULL && !json_is_string(addr)) || (addr != NULL && session == NULL) ||
	    !request_keys_known(req)) {
		json_decref(req);
		return control_reject(ctx, who, "bad_request",
				      op == NULL ? "unknown operation" : "malformed request");
	}
	if (session != NULL) {
		/* From here on the request is the person's: run, authorised and audited as them. */
		if (control_web_person(ctx, who, json_string_value(session),
				       json_string_value(addr), &person, &r) != 0) {
			char *out;

			audit_request(ctx, who, "control.web.session", "-",
				      strcmp(r.code, "denied") == 0 ? "refused" : r.code, r.e.msg);
			out = reply_err(r.code, r.e.msg);
			secret_wipe_json(req);
			json_decref(req);
			return out;
		}
		me = &person;
	} else {
		self = *who;
	}
	/*
	 * The role is looked up only for an operation that reads it; a
	 * roleless one sees admin 0 (the safe side) and a refusal's record
	 * decides it then (refusal_recorded()).
	 */
	if (!(op->flags & CONTROL_OP_ROLELESS) || (op->flags & CONTROL_OP_ADMIN))
		decide_admin(ctx, me);
	who = me;
	if (args == NULL) {
		args = json_object();
		json_object_set_new(req, "args", args);
	}
	snprintf(action, sizeof(action), "control.%s", op->name);
	if (!args_known(args, op, &unknown)) {
		/* The name is the caller's own text: quoted only when it is short and plain. */
		if (strlen(unknown) <= 64 && idg_text_plain(unknown))
			control_fail(&r, "bad_request", "unknown argument '%s'", unknown);
		else
			control_fail(&r, "bad_request", "unknown argument (its name not shown)");
	} else {
		subject = request_subject(args, grant_subject, sizeof(grant_subject));
		if ((op->flags & CONTROL_OP_ADMIN) && !who->admin)
			control_fail(&r, "denied", "'%s' is for admins only", op->name);
		else if ((op->flags & CONTROL_OP_GOVERN) && ctx->may_govern != NULL &&
			 !ctx->may_govern(ctx->arg, govern_why, sizeof(govern_why)))
			control_fail(&r, "denied", "%s", govern_why);
		else if (op_permitted(ctx, who, op, &r) != 0)
			;
		else
			result = op_run(ctx, op, who, args, &r, &changed);
	}
	if (result == NULL && r.code != NULL && strcmp(r.code, "started") == 0) {
		reply = NULL; /* the daemon answers and audits it when the sync is over */
	} else if (result != NULL) {
		int64_t from = sqlite3_total_changes64(ctx->st->db);

		audit_request(ctx, who, action, subject, "ok", NULL);
		/* Recording a request that changed nothing leaves status's counts true. */
		if (ctx->counts_cache != NULL && !changed)
			query_counts_cache_audited(ctx->counts_cache, from,
						   sqlite3_total_changes64(ctx->st->db));
		json_incref(result);
		reply = reply_ok(result);
		if (op->flags & CONTROL_OP_SECRET)
			secret_wipe_json(result);
		json_decref(result);
	} else {
		if (r.code == NULL)
			r.code = "failed";
		if (strcmp(r.code, "denied") == 0)
			log_msg(ctx->log, LOG_WARNING, "control: refused %s to %s (uid %u): %s",
				op->name, who->name, (unsigned)who->uid, r.e.msg);
		audit_request(ctx, who, action, subject,
			      strcmp(r.code, "denied") == 0 ? "refused" : r.code, r.e.msg);
		reply = reply_err(r.code, r.e.msg);
	}
	if (op != NULL && ((op->flags & CONTROL_OP_SECRET) || session != NULL))
		secret_wipe_json(req); /* its code argument, its session token */
	json_decref(req);
	return reply;
}

static int
in_nss_group(const char *user, gid_t primary, const char *group)
{
	struct group grbuf, *gr = NULL;
	char buf[16384];
	gid_t groups[256];
	int n = 256;

	if (getgrnam_r(group, &grbuf, buf, sizeof(buf), &gr) != 0 || gr == NULL)
		return 0;
	if (getgrouplist(user, primary, groups, &n) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return 1;
	return 0;
}

/*
 * Whether name is an admin: in the admin group as the system sees it (NSS,
 * when the primary group gid is known, not (gid_t)-1) or as the directory
 * states it.
 */
static int
admin_by_name(const struct control_ctx *ctx, const char *name, gid_t gid)
{
	struct idg_err err;

	if (gid != (gid_t)-1 && in_nss_group(name, gid, ctx->cfg->admin_group))
		return 1;
	return query_is_member(ctx->st, name, ctx->cfg->admin_group, ctx->cfg->dir_nested_depth,
			       &err) == 1;
}

/* Whether the caller is an admin, looked up now if control_identify() left it open. */
static int
caller_admin(const struct control_ctx *ctx, const struct caller *who)
{
	return who->admin_unknown ? admin_by_name(ctx, who->name, who->gid) : who->admin;
}

static void
decide_admin(const struct control_ctx *ctx, struct caller *who)
{
	who->admin = caller_admin(ctx, who);
	who->admin_unknown = 0;
}

void
control_identify(const struct control_ctx *ctx, uid_t uid, struct caller *who)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[16384];

	memset(who, 0, sizeof(*who));
	who->uid = uid;
	who->gid = (gid_t)-1;
	/* A name that could not be shown as it is (an odd directory entry) is not used. */
	if (getpwuid_r(uid, &pwbuf, buf, sizeof(buf), &pw) == 0 && pw != NULL &&
	    strlen(pw->pw_name) < sizeof(who->name) && idg_text_plain(pw->pw_name))
		idg_strlcpy(who->name, pw->pw_name, sizeof(who->name));
	else
		snprintf(who->name, sizeof(who->name), "uid=%u", (unsigned)uid);
	if (uid == 0) {
		who->admin = 1;
		return;
	}
	if (pw == NULL || ctx->cfg->admin_group[0] == '\0')
		return;
	/* Looked up when a request reads the role (control_handle()). */
	who->gid = pw->pw_gid;
	who->admin_unknown = 1;
	if (strcmp(who->name, pw->pw_name) != 0) {
		/* The odd name is not kept, so it is decided now, as it always was. */
		who->admin = admin_by_name(ctx, pw->pw_name, pw->pw_gid);
		who->admin_unknown = 0;
	}
}

char *
control_sync_reply(struct control_ctx *ctx, const struct caller *who, int rc,
		   struct sync_result *res, const struct idg_err *err)
{
	struct reply_err r = {.code = NULL};
	json_t *result;
	char *reply;

	if (rc != 0)
		r.e = *err;
	result = sync_result_json(rc, res, &r);
	if (result == NULL) {
		if (r.code == NULL) {
			r.code = "failed";
			idg_seterr(&r.e, "out of memory");
		}
		audit_request(ctx, who, "control.sync", "-", r.code, r.e.msg);
		return reply_err(r.code, r.e.msg);
	}
	audit_request(ctx, who, "control.sync", "-", "ok", NULL);
	reply = reply_ok(result);
	return reply;
}
