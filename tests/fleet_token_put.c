/*
 * Test helper: puts a new MFA token for one user into the directory, as
 * an enrolment with [fleet] mfa = directory does (a fresh secret sealed
 * under the fleet key with the user's entryUUID, recovery code hashes as
 * "ID:hash"), written with token_write() on the first provider. Prints
 * the otpauth:// URI (the secret, for oathtool) and the recovery codes,
 * one a line.
 *
 *   fleet_token_put CONFIG USER [LAST_STEP]
 *
 * The user's uuid and DN come from the mirror (run `idgov sync` first).
 * Exit 0 when written, 1 otherwise (the reason on stderr).
 */
#include "config.h"
#include "fleet_token_build.h"
#include "mfa.h"
#include "provider.h"
#include "totp.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct secret_key *key = NULL;
	struct providers *p = NULL;
	struct token *t = calloc(1, sizeof(*t));
	struct totp_params tp;
	struct idg_err err = {0};
	unsigned char secret[MFA_SECRET_LEN];
	char uuid[FLEET_BUILD_UUID_MAX], dn[FLEET_BUILD_DN_MAX],
		codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], *uri = NULL;
	char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN];
	LDAP *ld;
	size_t index;
	int found, rc = 1;

	if (argc < 3 || argc > 4 || t == NULL) {
		fprintf(stderr, "usage: fleet_token_put CONFIG USER [LAST_STEP]\n");
		free(t);
		return 2;
	}
	if (sodium_init() < 0 || cfg_load(argv[1], &cfg, &err) != 0 ||
	    store_open(cfg->store_path, STORE_OPEN_READONLY, &st, &err) != 0)
		goto out;
	if ((found = fleet_build_user(st, argv[2], uuid, dn, &err)) <= 0) {
		if (found == 0)
			idg_seterr(&err, "no user %s in the mirror", argv[2]);
		goto out;
	}
	if (fleet_key_load(cfg, &key, &err) != 0)
		goto out;
	randombytes_buf(secret, sizeof(secret));
	if (fleet_build_token(t, key, uuid, secret, sizeof(secret), 6, 30, &err) != 0)
		goto out;
	t->last_step = argc == 4 ? strtoll(argv[3], NULL, 10) : 0;
	if (mfa_recovery_make(codes, values, &err) != 0)
		goto out;
	for (int i = 0; i < MFA_RECOVERY_CODES; i++)
		idg_strlcpy(t->recovery[i], values[i], TOKEN_RECOVERY_MAX);
	t->n_recovery = MFA_RECOVERY_CODES;
	if (providers_new(cfg, &p, &err) != 0 ||
	    providers_get(p, idg_now(), &ld, &index, &err) != 0)
		goto out;
	switch (token_write(cfg, ld, dn, t, 0, &err)) {
	case 0:
		break;
	case TOKEN_CHANGED:
		idg_seterr(&err, "%s is enrolled already", argv[2]);
		goto out;
	default:
		goto out;
	}
	mfa_params(cfg, &tp);
	uri = totp_uri(secret, sizeof(secret), &tp, "Test", argv[2]);
	if (uri == NULL)
		goto out;
	printf("%s\n", uri);
	for (int i = 0; i < MFA_RECOVERY_CODES; i++)
		printf("%s\n", codes[i]);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "fleet_token_put: %s\n", err.msg);
	sodium_memzero(secret, sizeof(secret));
	free(uri);
	free(t);
	providers_free(p);
	secret_key_free(key);
	store_close(st);
	cfg_free(cfg);
	return rc;
}
