/*
 * bench helper: puts MFA tokens into the directory for many users at once,
 * with the secrets mfa_seed printed ("uid base32-secret" lines on stdin),
 * sealed under the fleet key as a fleet-wide enrolment leaves them
 * ([fleet] mfa = directory), without recovery codes (their argon2id
 * hashing would make seeding take minutes). Not installed; benchmarks
 * only.
 *
 *   mfa_seed CONFIG UID... | fleet_seed CONFIG
 */
#include "config.h"
#include "fleet_token_build.h"
#include "provider.h"

#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
seed(const struct cfg *cfg, struct store *st, const struct secret_key *key, LDAP *ld,
     const char *uid, const char *b32, struct token *t, struct idg_err *err)
{
	char uuid[FLEET_BUILD_UUID_MAX], dn[FLEET_BUILD_DN_MAX], *secret = NULL;
	size_t len = 0;
	int rc;

	rc = fleet_build_user(st, uid, uuid, dn, err);
	if (rc <= 0)
		return rc < 0 ? -1 : idg_seterr(err, "no user %s", uid);
	if (oath_base32_decode(b32, strlen(b32), &secret, &len) != OATH_OK)
		return idg_seterr(err, "the secret of %s is not base32", uid);
	rc = fleet_build_token(t, key, uuid, (const unsigned char *)secret, len, cfg->mfa_digits,
			       cfg->mfa_period, err);
	sodium_memzero(secret, len);
	free(secret);
	if (rc != 0)
		return -1;
	rc = token_write(cfg, ld, dn, t, 0, err);
	return rc == 0               ? 0
	       : rc == TOKEN_CHANGED ? idg_seterr(err, "%s is enrolled already", uid)
				     : -1;
}

int
main(int argc, char **argv)
{
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct secret_key *key = NULL;
	struct providers *p = NULL;
	struct token *t = calloc(1, sizeof(*t));
	struct idg_err err = {0};
	char line[512], uid[256], b32[256];
	size_t index, n = 0;
	LDAP *ld;
	int rc = 1;

	if (argc != 2 || t == NULL) {
		fprintf(stderr, "usage: mfa_seed CONFIG UID... | fleet_seed CONFIG\n");
		free(t);
		return 2;
	}
	if (sodium_init() < 0 || oath_init() != OATH_OK || cfg_load(argv[1], &cfg, &err) != 0 ||
	    store_open(cfg->store_path, STORE_OPEN_READONLY, &st, &err) != 0 ||
	    fleet_key_load(cfg, &key, &err) != 0 || providers_new(cfg, &p, &err) != 0 ||
	    providers_get(p, idg_now(), &ld, &index, &err) != 0)
		goto out;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "%255s %255s", uid, b32) != 2)
			continue;
		if (seed(cfg, st, key, ld, uid, b32, t, &err) != 0)
			goto out;
		n++;
	}
	fprintf(stderr, "fleet_seed: %zu tokens written\n", n);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "fleet_seed: %s\n", err.msg);
	free(t);
	providers_free(p);
	secret_key_free(key);
	store_close(st);
	cfg_free(cfg);
	oath_done();
	return rc;
}
