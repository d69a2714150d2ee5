/*
 * What the fleet-wide MFA operations share; see control_fleet.h.
 *
 * The local enrolment is read here with mfa.c's format (mfa_binding():
 * the associated data of the secret sealed under the master key), and
 * recovery codes are made by mfa.c (mfa_recovery_make()), because the
 * directory's token carries the same values: a code made here is checked
 * by the login path exactly as a local one.
 */
#include "control_fleet.h"

#include "dir.h"
#include "provider.h"
#include "tokenmirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MFA_RECOVERY_VALUE_LEN <= TOKEN_RECOVERY_MAX,
	       "a token holds a recovery value as mfa.c makes it");

int
fleet_user(struct control_ctx *ctx, const char *name, char uuid[FLEET_UUID_MAX], char **dn,
	   struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*dn = NULL;
	if (store_prepare(ctx->st,
			  "SELECT uuid, dn FROM users WHERE uid = ?1 AND status <> 'departed' "
			  "LIMIT 1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		idg_strlcpy(uuid, (const char *)sqlite3_column_text(s, 0), FLEET_UUID_MAX);
		if ((*dn = idg_strdup((const char *)sqlite3_column_text(s, 1))) == NULL)
			rc = idg_seterr(err, "out of memory");
		else
			rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_err(ctx->st, err, "reading user");
	}
	sqlite3_finalize(s);
	return rc;
}

int
fleet_run(struct control_ctx *ctx, const char *dn, fleet_op op, void *arg, char *uri,
	  struct idg_err *err)
{
	struct providers *p;
	LDAP *ld;
	size_t index;
	int rc;

	if (providers_new(ctx->cfg, &p, err) != 0)
		return -1;
	/* One try per provider and one more: a provider that drops us is tried last again. */
	for (size_t tries = 0;; tries++) {
		rc = providers_get(p, idg_now(), &ld, &index, err);
		if (rc == DIR_UNREACHABLE) {
			rc = FLEET_UNREACHABLE;
			break;
		}
		if (rc != 0)
			break;
		if (uri != NULL)
			idg_strlcpy(uri, providers_uri(p, index), FLEET_URI_MAX);
		rc = op(ctx->cfg, ld, dn, arg, err);
		if (rc != TOKEN_DOWN)
			break;
		providers_drop(p);
		if (tries >= providers_count(p)) {
			rc = FLEET_UNREACHABLE;
			break;
		}
	}
	providers_free(p);
	return rc;
}

int
fleet_op_read(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	return token_read(cfg, ld, dn, arg, err);
}

int
fleet_op_enrol(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	return token_write(cfg, ld, dn, arg, 0, err);
}

int
fleet_op_replace(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	return token_write(cfg, ld, dn, arg, 1, err);
}

int
fleet_op_clear(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	(void)arg;
	return token_clear(cfg, ld, dn, err);
}

int
fleet_op_unlock(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err)
{
	(void)arg;
	return token_unlock(cfg, ld, dn, err);
}

/* The watermark the auth service's state file holds for uuid (0 when none). */
static int
state_last_step(struct control_ctx *ctx, const char *uuid, int64_t *step, struct idg_err *err)
{
	struct store *state;
	sqlite3_stmt *s;
	int rc;

	*step = 0;
	if (control_mfa_state(ctx, &state, err) != 0)
		return -1;
	if (store_prepare(state, "SELECT last_step FROM mfa_state WHERE user_uuid = ?1", &s, err) !=
	    0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*step = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : store_err(state, err, "reading MFA state");
}

/* The unspent recovery codes of uuid as "ID:HASH" values. */
static int
local_recovery(struct control_ctx *ctx, const char *uuid, struct fleet_local *l,
	       struct idg_err *err)
{
	struct store *state;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(ctx->st,
			  "SELECT code_id, hash FROM mfa_recovery WHERE user_uuid = ?1 AND "
			  "used_at IS NULL ORDER BY code_id",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		const char *hash = (const char *)sqlite3_column_text(s, 1);
		int spent;

		if (id == NULL || hash == NULL || strlen(id) != 4 ||
		    strlen(hash) + 6 > TOKEN_RECOVERY_MAX || l->n_recovery == TOKEN_MAX_RECOVERY) {
			sqlite3_finalize(s);
			return idg_seterr(err, "a recovery code of %s is damaged in the store",
					  uuid);
		}
		if ((spent = control_mfa_state(ctx, &state, err) != 0
				     ? -1
				     : mfa_recovery_spent(state, uuid, id, hash, err)) < 0) {
			sqlite3_finalize(s);
			return -1;
		}
		if (!spent)
			snprintf(l->recovery[l->n_recovery++], TOKEN_RECOVERY_MAX, "%s:%s", id,
				 hash);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_err(ctx->st, err, "reading recovery codes");
}

/* Opens the sealed secret of the row s is on (columns 0 nonce, 1 ciphertext). */
static int
local_open(struct control_ctx *ctx, sqlite3_stmt *s, const char *uuid, unsigned char *secret,
	   struct idg_err *err)
{
	if (sqlite3_column_bytes(s, 0) != SECRET_NONCE_LEN ||
	    sqlite3_column_bytes(s, 1) != MFA_SECRET_LEN + SECRET_TAG_LEN)
		return idg_seterr(err, "the MFA secret of %s is damaged in the store", uuid);
	return mfa_secret_open(ctx->key, ctx->st, uuid, sqlite3_column_blob(s, 0),
			       sqlite3_column_blob(s, 1), secret, err);
}

int
fleet_local_read(struct control_ctx *ctx, const char *uuid, struct fleet_local *l,
		 struct idg_err *err)
{
	sqlite3_stmt *s = NULL;
	int64_t state_step = 0;
	int rc = -1, step;

	memset(l, 0, sizeof(*l));
	/* One read transaction: the key the store names and the secret sealed under it agree. */
	if (store_begin(ctx->st, err) != 0)
		return -1;
	if (store_prepare(ctx->st,
			  "SELECT secret_nonce, secret_ct, confirmed, last_step FROM mfa WHERE "
			  "user_uuid = ?1",
			  &s, err) != 0)
		goto out;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	step = sqlite3_step(s);
	if (step == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (step != SQLITE_ROW) {
		store_err(ctx->st, err, "reading MFA enrolment");
		goto out;
	}
	if ((l->secret = sodium_malloc(MFA_SECRET_LEN)) == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	if (local_open(ctx, s, uuid, l->secret, err) != 0)
		goto out;
	l->confirmed = sqlite3_column_int(s, 2) != 0;
	l->last_step = sqlite3_column_int64(s, 3);
	sqlite3_finalize(s);
	s = NULL;
	if (l->confirmed && (local_recovery(ctx, uuid, l, err) != 0 ||
			     state_last_step(ctx, uuid, &state_step, err) != 0))
		goto out;
	if (l->confirmed && state_step > l->last_step)
		l->last_step = state_step;
	rc = 1;
out:
	sqlite3_finalize(s);
	store_rollback(ctx->st); /* read only */
	if (rc != 1)
		fleet_local_free(l);
	return rc;
}

void
fleet_local_free(struct fleet_local *l)
{
	if (l->secret != NULL)
		sodium_free(l->secret);
	sodium_memzero(l, sizeof(*l));
}

int
fleet_local_delete(struct control_ctx *ctx, const char *uuid, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	/* mfa_recovery's rows go with it (ON DELETE CASCADE). */
	if (store_prepare(ctx->st, "DELETE FROM mfa WHERE user_uuid = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = store_step_done(ctx->st, s, err);
	sqlite3_finalize(s);
	return rc;
}

static const char *
algorithm_name(int a)
{
	switch (a) {
	case TOTP_SHA256:
		return "sha256";
	case TOTP_SHA512:
		return "sha512";
	default:
		return "sha1";
	}
}

int
fleet_token_new(const struct cfg *cfg, const struct secret_key *fleet_key, const char *uuid,
		const unsigned char *secret, int64_t last_step, struct token *t,
		struct idg_err *err)
{
	memset(t, 0, sizeof(*t));
	if (fleet_seal(fleet_key, uuid, secret, MFA_SECRET_LEN, t->sealed, &t->sealed_len, err) !=
	    0)
		return -1;
	t->enrolled = 1;
	idg_strlcpy(t->algorithm, algorithm_name(cfg->mfa_algorithm), sizeof(t->algorithm));
	t->digits = cfg->mfa_digits;
	t->period = cfg->mfa_period;
	t->last_step = last_step;
	return 0;
}

int
fleet_recovery_codes(struct token *t, char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN],
		     struct idg_err *err)
{
	char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN];

	t->n_recovery = 0;
	if (mfa_recovery_make(codes, values, err) != 0)
		return -1;
	for (int i = 0; i < MFA_RECOVERY_CODES; i++)
		idg_strlcpy(t->recovery[t->n_recovery++], values[i], TOKEN_RECOVERY_MAX);
	return 0;
}

int
fleet_mirror_refresh(struct control_ctx *ctx, const char *uuid, const char *dn, struct idg_err *err)
{
	struct token t;
	int rc = fleet_run(ctx, dn, fleet_op_read, &t, NULL, err);

	if (rc != 0)
		return rc;
	rc = tokenmirror_empty(&t) ? tokenmirror_delete(ctx->st, uuid, err)
				   : tokenmirror_put(ctx->st, uuid, &t, err);
	sodium_memzero(&t, sizeof(t));
	return rc;
}
