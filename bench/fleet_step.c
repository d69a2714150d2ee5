/*
 * fleet_step: what the fleet-wide step write adds to a login (bench/fleet
 * runs it; see bench/README.md).
 *
 *   fleet_step N URI BIND_DN PASSWORD_FILE USER_DN FIRST_STEP
 *
 * Bound once, as a host's auth service keeps its connection, it does N
 * times what a login in [fleet] mfa = directory asks of the directory:
 * a base search of USER_DN's token attributes (the token read), then the
 * compare-and-swap that consumes the step: a modify that replaces
 * idgovLastStep with the next step and removes idgovFailureCount, under
 * the assertion (!(idgovLastStep>=STEP)) (RFC 4528), the filter
 * idgov/directory/token.h specifies. Then the last step once more, which
 * the directory must refuse (assertionFailed): a replay, and the proof
 * that the writes measured were the assertion-controlled ones.
 *
 *   read_ms P50 P99    the token read alone
 *   step_ms P50 P99    the read and the step write: what a login adds
 *   floor_ms P50       a base search without attributes (the directory's floor)
 *
 * Exit 1 on any error, or when the replay is not refused.
 */
#include <ldap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *token_attributes[] = {
	"idgovTokenSecret",        "idgovTokenAlgorithm", "idgovTokenDigits",
	"idgovTokenPeriod",        "idgovLastStep",       "idgovFailureCount",
	"idgovFailureWindowStart", "idgovLockEnd",        "idgovRecoveryCode",
	"idgovLastLogin",          "objectClass",         NULL};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
quantile(double *v, size_t n, double q)
{
	size_t rank;

	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* A base search of dn for attrs; 0 when the entry came back. */
static int
read_entry(LDAP *ld, const char *dn, char **attrs)
{
	LDAPMessage *res = NULL;
	int rc;

	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			       NULL, 0, &res);
	if (rc == LDAP_SUCCESS && ldap_count_entries(ld, res) != 1)
		rc = LDAP_NO_SUCH_OBJECT;
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS)
		fprintf(stderr, "fleet_step: search %s: %s\n", dn, ldap_err2string(rc));
	return rc == LDAP_SUCCESS ? 0 : -1;
}

/* The step's compare-and-swap; the LDAP result code. */
static int
consume_step(LDAP *ld, const char *dn, long long step)
{
	char filter[64], value[24];
	char *vals[2] = {value, NULL};
	LDAPMod set, clear, *mods[3] = {&set, &clear, NULL};
	LDAPControl *assertion = NULL, *ctrls[2] = {NULL, NULL};
	int rc;

	snprintf(filter, sizeof(filter), "(!(idgovLastStep>=%lld))", step);
	snprintf(value, sizeof(value), "%lld", step);
	set.mod_op = LDAP_MOD_REPLACE;
	set.mod_type = (char *)(uintptr_t) "idgovLastStep";
	set.mod_values = vals;
	clear.mod_op = LDAP_MOD_REPLACE; /* no values: removed if present */
	clear.mod_type = (char *)(uintptr_t) "idgovFailureCount";
	clear.mod_values = NULL;
	rc = ldap_create_assertion_control(ld, filter, 1, &assertion);
	if (rc != LDAP_SUCCESS)
		return rc;
	ctrls[0] = assertion;
	rc = ldap_modify_ext_s(ld, dn, mods, ctrls, NULL);
	ldap_control_free(assertion);
	return rc;
}

int
main(int argc, char **argv)
{
	char pw[256], *none[] = {(char *)(uintptr_t)LDAP_NO_ATTRS, NULL};
	double *read_ms, *step_ms, *rtt;
	struct berval cred;
	long long first;
	int n, version = LDAP_VERSION3, rc;
	LDAP *ld = NULL;
	FILE *f;
	size_t len;

	if (argc != 7 || (n = atoi(argv[1])) <= 0 || (first = atoll(argv[6])) <= 0) {
		fprintf(stderr,
			"usage: fleet_step N URI BIND_DN PASSWORD_FILE USER_DN FIRST_STEP\n");
		return 2;
	}
	if ((f = fopen(argv[4], "r")) == NULL) {
		perror(argv[4]);
		return 1;
	}
	len = fread(pw, 1, sizeof(pw) - 1, f);
	fclose(f);
	while (len > 0 && pw[len - 1] == '\n')
		len--;
	pw[len] = '\0';
	cred.bv_val = pw;
	cred.bv_len = len;
	if (ldap_initialize(&ld, argv[2]) != LDAP_SUCCESS)
		return 1;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	rc = ldap_sasl_bind_s(ld, argv[3], LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, "fleet_step: bind as %s: %s\n", argv[3], ldap_err2string(rc));
		return 1;
	}
	read_ms = calloc((size_t)n, sizeof(*read_ms));
	step_ms = calloc((size_t)n, sizeof(*step_ms));
	rtt = calloc((size_t)n, sizeof(*rtt));
	if (read_ms == NULL || step_ms == NULL || rtt == NULL)
		return 1;
	for (int k = 0; k < n; k++) {
		double t = now_ms();

		if (read_entry(ld, argv[5], none) != 0)
			return 1;
		rtt[k] = now_ms() - t;
	}
	for (int k = 0; k < n; k++) {
		double t = now_ms(), r;

		if (read_entry(ld, argv[5], (char **)(uintptr_t)token_attributes) != 0)
			return 1;
		r = now_ms();
		rc = consume_step(ld, argv[5], first + k);
		if (rc != LDAP_SUCCESS) {
			fprintf(stderr, "fleet_step: step %lld: %s\n", first + k,
				ldap_err2string(rc));
			return 1;
		}
		read_ms[k] = r - t;
		step_ms[k] = now_ms() - t;
	}
	rc = consume_step(ld, argv[5], first + n - 1);
	if (rc != LDAP_ASSERTION_FAILED) {
		fprintf(stderr, "fleet_step: the replayed step %lld was not refused: %s\n",
			first + n - 1, ldap_err2string(rc));
		return 1;
	}
	printf("floor_ms %.3f\n", quantile(rtt, (size_t)n, 0.5));
	printf("read_ms %.3f %.3f\n", quantile(read_ms, (size_t)n, 0.5),
	       quantile(read_ms, (size_t)n, 0.99));
	printf("step_ms %.3f %.3f\n", quantile(step_ms, (size_t)n, 0.5),
	       quantile(step_ms, (size_t)n, 0.99));
	ldap_unbind_ext_s(ld, NULL, NULL);
	explicit_bzero(pw, sizeof(pw));
	free(read_ms);
	free(step_ms);
	free(rtt);
	return 0;
}
