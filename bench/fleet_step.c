/*
 * fleet_step: what the fleet-wide step write adds to a login (bench/fleet
 * runs it; see bench/README.md).
 *
 *   fleet_step N CONFIG USER_DN FIRST_STEP
 *
 * With CONFIG's providers and bind DN (a host's), on the connection
 * providers_get() holds (as an auth service worker keeps it), N times what
 * a login in [fleet] mfa = directory asks of the directory: token_read()
 * of USER_DN, then token_consume_step() of the next step (the modify with
 * the assertion that no step as late is there; idgov/directory/token.h).
 * Then the last step once more, which must come back TOKEN_CHANGED: a
 * replay, and the proof that the writes timed were the asserted ones.
 *
 *   floor_ms P50       a base search without attributes (the directory's floor)
 *   read_ms P50 P99    token_read() alone
 *   step_ms P50 P99    token_read() and token_consume_step(): what a login adds
 *
 * Exit 1 on any error, or when the replay is not refused.
 */
#include "bench_stats.h"
#include "config.h"
#include "provider.h"
#include "token.h"
#include "util.h"

#include <ldap.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A base search of dn without attributes; 0 when the entry came back. */
static int
floor_search(LDAP *ld, const char *dn)
{
	char *none[] = {(char *)(uintptr_t)LDAP_NO_ATTRS, NULL};
	LDAPMessage *res = NULL;
	int rc;

	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", none, 0, NULL, NULL,
			       NULL, 0, &res);
	if (rc == LDAP_SUCCESS && ldap_count_entries(ld, res) != 1)
		rc = LDAP_NO_SUCH_OBJECT;
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS)
		fprintf(stderr, "fleet_step: search %s: %s\n", dn, ldap_err2string(rc));
	return rc == LDAP_SUCCESS ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct idg_err err = {0};
	struct cfg *cfg = NULL;
	struct providers *p = NULL;
	struct token *t = NULL;
	double *floor_ms = NULL, *read_ms = NULL, *step_ms = NULL;
	const char *dn;
	long long first;
	size_t index;
	LDAP *ld;
	int n, rc, status = 1;

	if (argc != 5 || (n = atoi(argv[1])) <= 0 || (first = atoll(argv[4])) <= 0) {
		fprintf(stderr, "usage: fleet_step N CONFIG USER_DN FIRST_STEP\n");
		return 2;
	}
	dn = argv[3];
	floor_ms = calloc((size_t)n, sizeof(*floor_ms));
	read_ms = calloc((size_t)n, sizeof(*read_ms));
	step_ms = calloc((size_t)n, sizeof(*step_ms));
	t = calloc(1, sizeof(*t));
	if (floor_ms == NULL || read_ms == NULL || step_ms == NULL || t == NULL) {
		fprintf(stderr, "fleet_step: out of memory\n");
		goto out;
	}
	/* The bind password is read into sodium_malloc memory (dir.c). */
	if (sodium_init() < 0) {
		fprintf(stderr, "fleet_step: libsodium does not initialise\n");
		goto out;
	}
	if (cfg_load(argv[2], &cfg, &err) != 0 || providers_new(cfg, &p, &err) != 0 ||
	    providers_get(p, idg_now(), &ld, &index, &err) != 0) {
		fprintf(stderr, "fleet_step: %s\n", err.msg);
		goto out;
	}
	for (int k = 0; k < n; k++) {
		double t0 = bench_now_ms();

		if (floor_search(ld, dn) != 0)
			goto out;
		floor_ms[k] = bench_now_ms() - t0;
	}
	for (int k = 0; k < n; k++) {
		double t0 = bench_now_ms(), t1;

		if (token_read(cfg, ld, dn, t, &err) != 0 || !t->enrolled) {
			fprintf(stderr, "fleet_step: token_read %s: %s\n", dn,
				err.msg[0] != '\0' ? err.msg : "no token, or the provider is down");
			goto out;
		}
		t1 = bench_now_ms();
		rc = token_consume_step(cfg, ld, dn, first + k, &err);
		if (rc != 0) {
			fprintf(stderr, "fleet_step: step %lld: %d %s\n", first + k, rc, err.msg);
			goto out;
		}
		read_ms[k] = t1 - t0;
		step_ms[k] = bench_now_ms() - t0;
	}
	rc = token_consume_step(cfg, ld, dn, first + n - 1, &err);
	if (rc != TOKEN_CHANGED) {
		fprintf(stderr, "fleet_step: the replayed step %lld was not refused (%d %s)\n",
			first + n - 1, rc, err.msg);
		goto out;
	}
	printf("provider %s\n", providers_uri(p, index));
	printf("floor_ms %.3f\n", bench_quantile(floor_ms, (size_t)n, 0.5));
	printf("read_ms %.3f %.3f\n", bench_quantile(read_ms, (size_t)n, 0.5),
	       bench_quantile(read_ms, (size_t)n, 0.99));
	printf("step_ms %.3f %.3f\n", bench_quantile(step_ms, (size_t)n, 0.5),
	       bench_quantile(step_ms, (size_t)n, 0.99));
	status = 0;
out:
	providers_free(p);
	cfg_free(cfg);
	free(t);
	free(floor_ms);
	free(read_ms);
	free(step_ms);
	return status;
}
