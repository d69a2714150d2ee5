/*
 * What the helpers that put fleet-wide MFA tokens into the directory share
 * (bench/fleet_seed, tests/fleet_token_put): a user's entryUUID and DN from
 * the mirror, and a token built as a fleet-wide enrolment leaves it (the
 * secret sealed under the fleet key, bound to the entryUUID). Not
 * installed; benchmarks and tests only.
 */
#ifndef IDGOV_BENCH_FLEET_TOKEN_BUILD_H
#define IDGOV_BENCH_FLEET_TOKEN_BUILD_H

#include "fleetseal.h"
#include "store.h"
#include "token.h"

#define FLEET_BUILD_UUID_MAX 64
#define FLEET_BUILD_DN_MAX 1024

/* uid's entryUUID and DN in the mirror st: 1 found, 0 not read, -1 when the query fails (err). */
int fleet_build_user(struct store *st, const char *uid, char uuid[FLEET_BUILD_UUID_MAX],
		     char dn[FLEET_BUILD_DN_MAX], struct idg_err *err);

/*
 * t cleared, then enrolled with secret[0..len) sealed under key for uuid,
 * SHA-1 and the digits and period given; no step, no recovery codes.
 * 0, or -1 when sealing fails (err).
 */
int fleet_build_token(struct token *t, const struct secret_key *key, const char *uuid,
		      const unsigned char *secret, size_t len, int digits, int period,
		      struct idg_err *err);

#endif
