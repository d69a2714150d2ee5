/*
 * Internal to the control protocol: what the fleet-wide MFA operations
 * share ([fleet] mfa = directory). The person's token lives in the
 * directory (token.h), written on the first provider that answers
 * (provider.h), with the mirror's copy (tokenmirror.h) beside it; the
 * enrolment waiting for its first code stays in the local store's mfa
 * table, sealed under the master key, as in local mode.
 */
#ifndef IDGOV_CONTROL_FLEET_H
#define IDGOV_CONTROL_FLEET_H

#include "control_int.h"
#include "mfa.h"
#include "token.h"

#include <stddef.h>

#define FLEET_UUID_MAX 64
#define FLEET_URI_MAX 512

/* control_fleet_run()'s answer when no provider answered (err names each). */
#define FLEET_UNREACHABLE 3

/* A person of the mirror, by name: 1 with uuid and *dn (malloc'd), 0 not found, -1 error. */
int fleet_user(struct control_ctx *ctx, const char *name, char uuid[FLEET_UUID_MAX], char **dn,
	       struct idg_err *err);

/* One operation on a token through a bound connection (token.h's answers). */
typedef int (*fleet_op)(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg,
			struct idg_err *err);

/*
 * Runs op on dn on the first provider that answers, moving on when one
 * stops answering mid-way (TOKEN_DOWN). op's answer (0, TOKEN_CHANGED,
 * -1), or FLEET_UNREACHABLE. uri (FLEET_URI_MAX bytes, or NULL) names the
 * provider that answered.
 */
int fleet_run(struct control_ctx *ctx, const char *dn, fleet_op op, void *arg, char *uri,
	      struct idg_err *err);

/* The operations fleet_run() runs: arg is the struct token to fill, or to write. */
int fleet_op_read(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err);
int fleet_op_enrol(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err);
int fleet_op_replace(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg,
		     struct idg_err *err);
int fleet_op_clear(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg, struct idg_err *err);
int fleet_op_unlock(const struct cfg *cfg, LDAP *ld, const char *dn, void *arg,
		    struct idg_err *err);

/*
 * A local enrolment (the mfa table) read for the directory: the secret
 * opened with the master key (sodium_malloc'd, MFA_SECRET_LEN bytes), the
 * watermark (the higher of the store's and the state file's) and, for a
 * confirmed one, the unspent recovery codes as "ID:HASH".
 */
struct fleet_local {
	int confirmed;
	unsigned char *secret;
	int64_t last_step;
	char recovery[TOKEN_MAX_RECOVERY][TOKEN_RECOVERY_MAX];
	size_t n_recovery;
};

/* 1 with l filled (free it with fleet_local_free), 0 when uuid has no enrolment, -1 error. */
int fleet_local_read(struct control_ctx *ctx, const char *uuid, struct fleet_local *l,
		     struct idg_err *err);
void fleet_local_free(struct fleet_local *l);

/* Deletes uuid's local enrolment (pending or migrated) and its recovery codes. */
int fleet_local_delete(struct control_ctx *ctx, const char *uuid, struct idg_err *err);

/*
 * A token for the directory: secret sealed under the fleet key for uuid,
 * the configured TOTP parameters, last_step, and no recovery values yet.
 */
int fleet_token_new(const struct cfg *cfg, const struct secret_key *fleet_key, const char *uuid,
		    const unsigned char *secret, int64_t last_step, struct token *t,
		    struct idg_err *err);

/*
 * New recovery codes: fills codes (for the person, once) and replaces t's
 * recovery values with their "ID:HASH" forms.
 */
int fleet_recovery_codes(struct token *t, char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN],
			 struct idg_err *err);

/* The mirror's copy of uuid's token after a write we made: read back and stored (or deleted). */
int fleet_mirror_refresh(struct control_ctx *ctx, const char *uuid, const char *dn,
			 struct idg_err *err);

/* The fleet operations (control_fleet_ops.c). */
json_t *control_fleet_migrate(struct control_ctx *, const struct caller *, json_t *,
			      struct reply_err *);
json_t *control_fleet_check(struct control_ctx *, const struct caller *, json_t *,
			    struct reply_err *);

/* The MFA operations in directory mode (control_mfa_fleet.c), called by control_mfa.c. */
int control_mfa_fleet_may_begin(struct control_ctx *ctx, const char *name, struct reply_err *r);
json_t *control_mfa_fleet_confirm(struct control_ctx *ctx, const struct caller *who,
				  const char *name, const char *code, struct reply_err *r);
json_t *control_mfa_fleet_status(struct control_ctx *ctx, const char *name, struct reply_err *r);
json_t *control_mfa_fleet_reset(struct control_ctx *ctx, const struct caller *who, const char *name,
				struct reply_err *r);
json_t *control_mfa_fleet_unlock(struct control_ctx *ctx, const struct caller *who,
				 const char *name, struct reply_err *r);
/* Whether name has a token (the directory's, or the mirror's when no provider answers); -1 (r). */
int control_mfa_fleet_enrolled(struct control_ctx *ctx, const char *name, struct reply_err *r);
/*
 * A web sign-in's code (TOTP or recovery) checked, consumed and counted
 * against the directory's token: 0 with *out, or -1 with r (no provider
 * answering is an error: nothing can be checked).
 */
int control_mfa_fleet_verify(struct control_ctx *ctx, const char *name, const char *code,
			     int64_t now, enum mfa_outcome *out, struct reply_err *r);
json_t *control_mfa_fleet_recovery_codes(struct control_ctx *ctx, const struct caller *who,
					 const char *name, const char *code, int prove,
					 struct reply_err *r);

#endif
