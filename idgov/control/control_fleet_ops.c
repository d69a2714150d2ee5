/*
 * The fleet operations of the control protocol:
 *
 * - fleet.migrate moves this host's confirmed enrolments into the
 *   directory: each secret is opened with the master key, sealed with the
 *   fleet key, and written with the assertion that the entry has no token
 *   (token_write, replace 0), with the watermark and the unspent recovery
 *   codes. A person already enrolled in the directory with the same
 *   secret is skipped (a second run, or another host migrated the same
 *   store copy); with another secret it is a conflict, reported and left
 *   alone (the directory's enrolment stands). So it is idempotent. The
 *   local enrolments stay, for a return to [fleet] mfa = local.
 * - fleet.check is what `idgov fleet join` verifies on a host: the fleet
 *   key file (present, root's, 0400 or 0600, loads), its key id against
 *   the tokens the mirror holds, a provider that answers and binds, and
 *   [fleet] mfa = directory. Each check passes or fails with a reason.
 */
#include "control_fleet.h"

#include "fleetseal.h"
#include "provider.h"
#include "tokenmirror.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct migrant {
	char uuid[FLEET_UUID_MAX];
	char *uid, *dn;
};

static void
migrants_free(struct migrant *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].uid);
		free(v[i].dn);
	}
	free(v);
}

/* Every confirmed local enrolment of a person still in the directory, by name. */
static int
migrants(struct control_ctx *ctx, struct migrant **out, size_t *n, struct idg_err *err)
{
	struct migrant *v = NULL, *grown;
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(ctx->st,
			  "SELECT m.user_uuid, u.uid, u.dn FROM mfa m JOIN users u ON "
			  "u.uuid = m.user_uuid WHERE m.confirmed = 1 AND u.status <> 'departed' "
			  "AND u.uid IS NOT NULL ORDER BY u.uid",
			  &s, err) != 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			if ((grown = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = grown;
		}
		idg_strlcpy(v[*n].uuid, (const char *)sqlite3_column_text(s, 0), FLEET_UUID_MAX);
		v[*n].uid = idg_strdup((const char *)sqlite3_column_text(s, 1));
		v[*n].dn = idg_strdup((const char *)sqlite3_column_text(s, 2));
		(*n)++;
		if (v[*n - 1].uid == NULL || v[*n - 1].dn == NULL)
			break;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		*out = v;
		return 0;
	}
	migrants_free(v, *n);
	*n = 0;
	return rc == SQLITE_ROW ? idg_seterr(err, "out of memory")
				: store_err(ctx->st, err, "reading MFA enrolments");
}

enum outcome { MIGRATED, SKIPPED, CONFLICT };
static const char *const outcome_names[] = {"migrated", "already in the directory",
					    "conflict: enrolled there with another secret"};

/* 1 if the directory's token holds secret (sealed under fk for uuid), else 0. */
static int
same_secret(const struct secret_key *fk, const char *uuid, const struct token *t,
	    const unsigned char *secret)
{
	unsigned char *plain = sodium_malloc(FLEET_SEAL_MAX_PLAIN);
	struct idg_err e;
	size_t len = 0;
	int same = 0;

	if (plain == NULL)
		return 0;
	if (fleet_open(fk, uuid, t->sealed, t->sealed_len, plain, FLEET_SEAL_MAX_PLAIN, &len, &e) ==
	    0)
		same = len == MFA_SECRET_LEN && sodium_memcmp(plain, secret, MFA_SECRET_LEN) == 0;
	sodium_free(plain);
	return same;
}

/* One person: 0 with *out, FLEET_UNREACHABLE, or -1 (err). */
static int
migrate_one(struct control_ctx *ctx, const struct secret_key *fk, const struct migrant *p,
	    enum outcome *out, char uri[FLEET_URI_MAX], struct idg_err *err)
{
	struct fleet_local l;
	struct token *t = sodium_malloc(sizeof(struct token));
	int rc;

	if (t == NULL)
		return idg_seterr(err, "out of memory");
	rc = fleet_local_read(ctx, p->uuid, &l, err);
	if (rc <= 0) {
		sodium_free(t);
		return rc == 0 ? idg_seterr(err, "the enrolment of %s went away", p->uid) : -1;
	}
	/* Twice at most: a TOKEN_CHANGED means someone enrolled in between; judge theirs. */
	for (int round = 0; round < 2; round++) {
		rc = fleet_run(ctx, p->dn, fleet_op_read, t, uri, err);
		if (rc != 0)
			break;
		if (t->enrolled) {
			*out = same_secret(fk, p->uuid, t, l.secret) ? SKIPPED : CONFLICT;
			break;
		}
		if (fleet_token_new(ctx->cfg, fk, p->uuid, l.secret, l.last_step, t, err) != 0) {
			rc = -1;
			break;
		}
		memcpy(t->recovery, l.recovery, sizeof(l.recovery));
		t->n_recovery = l.n_recovery;
		rc = fleet_run(ctx, p->dn, fleet_op_enrol, t, uri, err);
		if (rc == 0) {
			*out = MIGRATED;
			if (tokenmirror_put(ctx->st, p->uuid, t, err) != 0)
				rc = -1;
			break;
		}
		if (rc != TOKEN_CHANGED)
			break;
	}
	if (rc == TOKEN_CHANGED)
		rc = idg_seterr(err, "the token of %s keeps changing", p->uid);
	fleet_local_free(&l);
	sodium_free(t);
	return rc;
}

static int
audit_rec(struct control_ctx *ctx, const struct caller *who, const char *subject,
	  const char *action, json_t *details, struct idg_err *err)
{
	char *text = details != NULL ? json_dumps(details, JSON_COMPACT) : NULL;
	int rc = ctx->audit != NULL
			 ? audit_append(ctx->audit, who->name, subject, action, text, err)
			 : 0;

	json_decref(details);
	free(text);
	return rc;
}

json_t *
control_fleet_migrate(struct control_ctx *ctx, const struct caller *who, json_t *args,
		      struct reply_err *r)
{
	struct secret_key *fk = NULL;
	struct migrant *v = NULL;
	size_t n = 0, counts[3] = {0, 0, 0};
	char uri[FLEET_URI_MAX] = "", key_id[2 * FLEET_KEY_ID_LEN + 1];
	json_t *people = json_array(), *o = NULL;
	int rc = 0;

	(void)args;
	if (ctx->key == NULL) {
		control_fail(r, "failed", "the master key is not loaded; %s", "run idgov init");
		goto out;
	}
	if (fleet_key_load(ctx->cfg, &fk, &r->e) != 0 || migrants(ctx, &v, &n, &r->e) != 0) {
		r->code = "failed";
		goto out;
	}
	fleet_key_id_hex(fk, key_id);
	for (size_t i = 0; i < n && rc == 0; i++) {
		enum outcome out = SKIPPED;

		rc = migrate_one(ctx, fk, &v[i], &out, uri, &r->e);
		if (rc != 0)
			break;
		counts[out]++;
		json_array_append_new(people, json_pack("{s:s, s:s}", "user", v[i].uid, "outcome",
							out == MIGRATED  ? "migrated"
							: out == SKIPPED ? "skipped"
									 : "conflict"));
		if (out != SKIPPED &&
		    audit_rec(ctx, who, v[i].uid,
			      out == MIGRATED ? "fleet.migrated" : "fleet.migrate_conflict",
			      json_pack("{s:s, s:s, s:s}", "provider", uri, "key_id", key_id,
					"outcome", outcome_names[out]),
			      &r->e) != 0)
			rc = -1;
		if (ctx->log != NULL)
			log_msg(ctx->log, out == CONFLICT ? LOG_WARNING : LOG_NOTICE,
				"fleet migrate: %s: %s", v[i].uid, outcome_names[out]);
	}
	/* One record of the whole run, also when it stopped part-way. */
	{
		struct idg_err e;

		audit_rec(ctx, who, "fleet", "fleet.migrate",
			  json_pack("{s:I, s:I, s:I, s:I, s:b, s:s}", "migrated",
				    (json_int_t)counts[MIGRATED], "skipped",
				    (json_int_t)counts[SKIPPED], "conflicts",
				    (json_int_t)counts[CONFLICT], "enrolments", (json_int_t)n,
				    "complete", rc == 0, "key_id", key_id),
			  &e);
	}
	if (rc != 0) {
		struct idg_err why = r->e;

		control_fail(r, "failed",
			     "%s (%zu migrated, %zu skipped, %zu conflicts before that; run it "
			     "again: what is done is skipped)",
			     rc == FLEET_UNREACHABLE ? "no directory provider answers" : why.msg,
			     counts[MIGRATED], counts[SKIPPED], counts[CONFLICT]);
		goto out;
	}
	o = json_pack("{s:I, s:I, s:I, s:I, s:s, s:O}", "enrolments", (json_int_t)n, "migrated",
		      (json_int_t)counts[MIGRATED], "skipped", (json_int_t)counts[SKIPPED],
		      "conflicts", (json_int_t)counts[CONFLICT], "key_id", key_id, "users", people);
out:
	json_decref(people);
	migrants_free(v, n);
	secret_key_free(fk);
	return o;
}

static void
check(json_t *checks, int *all, const char *name, int pass, const char *detail)
{
	json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check", name, "pass", pass,
						"detail", detail != NULL ? detail : ""));
	if (!pass)
		*all = 0;
}

/* The key ids of the tokens in the mirror: sealed under k, under another key, malformed. */
static int
mirror_key_census(struct control_ctx *ctx, const struct secret_key *k, int64_t counts[3],
		  struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	counts[0] = counts[1] = counts[2] = 0;
	if (store_prepare(ctx->st, "SELECT sealed FROM fleet_tokens WHERE sealed IS NOT NULL", &s,
			  err) != 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int by = fleet_sealed_by(k, sqlite3_column_blob(s, 0),
					 (size_t)sqlite3_column_bytes(s, 0));

		counts[by == 1 ? 0 : by == 0 ? 1 : 2]++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_err(ctx->st, err, "reading the mirror's tokens");
}

static void
check_key_file(const struct cfg *cfg, json_t *checks, int *all)
{
	char detail[IDG_ERRLEN + 64];
	struct stat sb;
	mode_t mode;

	if (stat(cfg->fleet_key_file, &sb) != 0) {
		snprintf(detail, sizeof(detail), "%s: %s", cfg->fleet_key_file, strerror(errno));
		check(checks, all, "key file present", 0, detail);
		return;
	}
	check(checks, all, "key file present", S_ISREG(sb.st_mode), cfg->fleet_key_file);
	mode = sb.st_mode & 07777;
	snprintf(detail, sizeof(detail), "owner uid %u, mode %04o (wanted root, 0400 or 0600)",
		 (unsigned)sb.st_uid, (unsigned)mode);
	check(checks, all, "key file root-owned and private",
	      sb.st_uid == 0 && (mode == 0400 || mode == 0600), detail);
}

json_t *
control_fleet_check(struct control_ctx *ctx, const struct caller *who, json_t *args,
		    struct reply_err *r)
{
	char detail[IDG_ERRLEN + 128], key_id[2 * FLEET_KEY_ID_LEN + 1] = "";
	struct secret_key *fk = NULL;
	struct providers *p = NULL;
	struct idg_err e;
	json_t *checks = json_array(), *o;
	int64_t census[3];
	int all = 1;

	(void)who;
	(void)args;
	(void)r;
	check(checks, &all, "[fleet] mfa = directory",
	      ctx->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY,
	      ctx->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY ? "set" : "still local");
	check_key_file(ctx->cfg, checks, &all);
	if (fleet_key_load(ctx->cfg, &fk, &e) != 0) {
		check(checks, &all, "key loads", 0, e.msg);
	} else {
		fleet_key_id_hex(fk, key_id);
		snprintf(detail, sizeof(detail), "key id %s", key_id);
		check(checks, &all, "key loads", 1, detail);
		if (mirror_key_census(ctx, fk, census, &e) != 0)
			check(checks, &all, "tokens in the mirror sealed under this key", 0, e.msg);
		else {
			snprintf(detail, sizeof(detail),
				 "%lld under %s, %lld under another key, %lld malformed%s",
				 (long long)census[0], key_id, (long long)census[1],
				 (long long)census[2],
				 census[0] + census[1] + census[2] == 0
					 ? " (none yet: run idgov sync, or check again after an "
					   "enrolment)"
					 : "");
			check(checks, &all, "tokens in the mirror sealed under this key",
			      census[1] == 0 && census[2] == 0, detail);
		}
	}
	if (providers_new(ctx->cfg, &p, &e) != 0) {
		check(checks, &all, "a provider answers and binds", 0, e.msg);
	} else {
		LDAP *ld;
		size_t index;

		if (providers_get(p, idg_now(), &ld, &index, &e) != 0)
			check(checks, &all, "a provider answers and binds", 0, e.msg);
		else
			check(checks, &all, "a provider answers and binds", 1,
			      providers_uri(p, index));
		providers_free(p);
	}
	secret_key_free(fk);
	o = json_pack("{s:b, s:s, s:o}", "pass", all, "key_id", key_id, "checks", checks);
	return o;
}
