/*
 * Test helper: drives the directory token (token.h), the provider order
 * (provider.h) and the fleet seal (fleetseal.h) against a real slapd, one
 * operation per run, for tests/integration/test_fleet_token.sh.
 *
 *   fleet_token [-w FILE] CONF read DN
 *   fleet_token [-w FILE] CONF open DN                  the secret, in hex
 *   fleet_token [-w FILE] CONF write DN 0|1 [ID:HASH...]
 *   fleet_token [-w FILE] CONF consume DN STEP
 *   fleet_token [-w FILE] CONF fail DN FAILURES START LOCK
 *   fleet_token [-w FILE] CONF spend DN ID:HASH
 *   fleet_token [-w FILE] CONF clear|unlock DN
 *   fleet_token [-w FILE] CONF touch DN NOW
 *   fleet_token CONF providers STEP...                  get@NOW, drop, wait:FILE
 *   fleet_token CONF measure DN N                       median microseconds of N
 *                                                       reads, and of N read + consume
 *
 * With -w, a write waits until FILE exists after everything before it
 * (connecting, reading) is done: several runs started together and then
 * released at once race for the same entry. write seals the RFC 6238
 * test secret "12345678901234567890" for the entry's entryUUID under
 * [fleet] key. Exit: 0 done, 1 error, 2 usage, 3 TOKEN_DOWN (or no
 * provider answered), 4 TOKEN_CHANGED; the outcome and err on stdout.
 */
#include "dir.h"
#include "fleetseal.h"
#include "provider.h"
#include "token.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *wait_file;

static void
wait_go(const char *file)
{
	struct timespec ms = {0, 1000000};

	while (file != NULL && access(file, F_OK) != 0)
		nanosleep(&ms, NULL);
}

static int
outcome(int rc, const struct idg_err *err)
{
	switch (rc) {
	case 0:
		printf("done\n");
		return 0;
	case TOKEN_DOWN:
		printf("down: %s\n", err->msg);
		return 3;
	case TOKEN_CHANGED:
		printf("changed\n");
		return 4;
	default:
		printf("error: %s\n", err->msg);
		return 1;
	}
}

static void
print_token(const struct token *t)
{
	printf("enrolled=%d\nsealed_len=%zu\nalgorithm=%s\ndigits=%d\nperiod=%d\n", t->enrolled,
	       t->sealed_len, t->algorithm, t->digits, t->period);
	printf("last_step=%" PRId64 "\nfailures=%" PRId64 "\nfailure_start=%" PRId64
	       "\nlocked_until=%" PRId64 "\nlast_login=%" PRId64 "\n",
	       t->last_step, t->failures, t->failure_start, t->locked_until, t->last_login);
	printf("token_class=%d\nlogin_class=%d\nn_recovery=%zu\n", t->has_token_class,
	       t->has_login_class, t->n_recovery);
	for (size_t i = 0; i < t->n_recovery; i++)
		printf("recovery=%s\n", t->recovery[i]);
}

/* The entry's entryUUID (lower-case text, as the sync stores it). */
static int
entry_uuid(LDAP *ld, const char *dn, char out[DIR_UUID_LEN + 1], struct idg_err *err)
{
	char *attrs[] = {"entryUUID", NULL};
	LDAPMessage *res = NULL, *e;
	struct berval **v = NULL;
	int rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
				   NULL, 1, &res);

	if (rc == LDAP_SUCCESS && (e = ldap_first_entry(ld, res)) != NULL)
		v = ldap_get_values_len(ld, e, "entryUUID");
	if (v == NULL || v[0] == NULL || v[0]->bv_len != DIR_UUID_LEN) {
		ldap_value_free_len(v);
		ldap_msgfree(res);
		return idg_seterr(err, "no entryUUID for %s", dn);
	}
	memcpy(out, v[0]->bv_val, DIR_UUID_LEN);
	out[DIR_UUID_LEN] = '\0';
	idg_ascii_lower(out);
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return 0;
}

static int
cmd_open(const struct cfg *cfg, LDAP *ld, const char *dn, struct idg_err *err)
{
	char uuid[DIR_UUID_LEN + 1], hex[2 * FLEET_SEAL_MAX_PLAIN + 1];
	struct secret_key *k = NULL;
	unsigned char *plain = sodium_malloc(FLEET_SEAL_MAX_PLAIN);
	struct token t;
	size_t n;
	int rc;

	if (plain == NULL)
		return idg_seterr(err, "out of memory");
	if ((rc = token_read(cfg, ld, dn, &t, err)) != 0)
		goto out;
	rc = -1;
	if (entry_uuid(ld, dn, uuid, err) != 0 || fleet_key_load(cfg, &k, err) != 0 ||
	    fleet_open(k, uuid, t.sealed, t.sealed_len, plain, FLEET_SEAL_MAX_PLAIN, &n, err) != 0)
		goto out;
	sodium_bin2hex(hex, sizeof(hex), plain, n);
	printf("secret=%s\n", hex);
	rc = 0;
out:
	sodium_free(plain);
	secret_key_free(k);
	return rc;
}

static int
cmd_write(const struct cfg *cfg, LDAP *ld, const char *dn, int replace, int nrec, char **rec,
	  struct idg_err *err)
{
	static const unsigned char secret[] = "12345678901234567890";
	char uuid[DIR_UUID_LEN + 1];
	struct secret_key *k = NULL;
	struct token t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (nrec > TOKEN_MAX_RECOVERY + 1)
		return idg_seterr(err, "too many recovery values");
	if (replace) {
		/* New recovery codes: the token as read, its secret and step kept. */
		if ((rc = token_read(cfg, ld, dn, &t, err)) != 0)
			return rc;
	} else {
		if (entry_uuid(ld, dn, uuid, err) != 0 || fleet_key_load(cfg, &k, err) != 0 ||
		    fleet_seal(k, uuid, secret, sizeof(secret) - 1, t.sealed, &t.sealed_len, err) !=
			    0)
			goto out;
		snprintf(t.algorithm, sizeof(t.algorithm), "sha1");
		t.digits = 6;
		t.period = 30;
	}
	t.n_recovery = 0;
	for (int i = 0; i < nrec && i < TOKEN_MAX_RECOVERY + 1; i++) {
		/* One more than allowed is passed on, so that token_write() is seen to refuse it.
		 */
		if (i == TOKEN_MAX_RECOVERY) {
			t.n_recovery = TOKEN_MAX_RECOVERY + 1;
			break;
		}
		snprintf(t.recovery[i], TOKEN_RECOVERY_MAX, "%s", rec[i]);
		t.n_recovery = (size_t)i + 1;
	}
	wait_go(wait_file);
	rc = token_write(cfg, ld, dn, &t, replace, err);
out:
	secret_key_free(k);
	return rc;
}

static int64_t
number(const char *s)
{
	return strtoll(s, NULL, 10);
}

/* providers STEP...: get@NOW prints "INDEX URI" (or "down: why"); drop; wait:FILE. */
static int
cmd_providers(const struct cfg *cfg, int argc, char **argv, struct idg_err *err)
{
	struct providers *p;
	int rc = 0;

	if (providers_new(cfg, &p, err) != 0)
		return -1;
	for (int i = 0; i < argc && rc >= 0; i++) {
		if (strncmp(argv[i], "get@", 4) == 0) {
			LDAP *ld;
			size_t index;

			rc = providers_get(p, number(argv[i] + 4), &ld, &index, err);
			if (rc == 0)
				printf("%zu %s\n", index, providers_uri(p, index));
			else if (rc == DIR_UNREACHABLE)
				printf("down: %s\n", err->msg);
			fflush(stdout);
		} else if (strcmp(argv[i], "drop") == 0) {
			providers_drop(p);
		} else if (strncmp(argv[i], "wait:", 5) == 0) {
			wait_go(argv[i] + 5);
		} else {
			rc = idg_seterr(err, "unknown step %s", argv[i]);
		}
	}
	providers_free(p);
	return rc == DIR_UNREACHABLE ? TOKEN_DOWN : rc;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t
usec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * What the fleet-wide step costs a login on this connection: the median
 * of n token reads, and of n reads each followed by the consume of the
 * next step (starting past the stored one), in microseconds.
 */
static int
cmd_measure(const struct cfg *cfg, LDAP *ld, const char *dn, int n, struct idg_err *err)
{
	int64_t *rd = calloc((size_t)n, sizeof(*rd)), *rc_us = calloc((size_t)n, sizeof(*rc_us));
	struct token t;
	int rc = -1;

	if (rd == NULL || rc_us == NULL || n < 1) {
		idg_seterr(err, "measure needs N >= 1 (and memory)");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int64_t t0 = usec_now();

		if ((rc = token_read(cfg, ld, dn, &t, err)) != 0)
			goto out;
		rd[i] = usec_now() - t0;
	}
	for (int i = 0; i < n; i++) {
		int64_t t0 = usec_now();

		if ((rc = token_read(cfg, ld, dn, &t, err)) != 0 ||
		    (rc = token_consume_step(cfg, ld, dn, t.last_step + 1, err)) != 0)
			goto out;
		rc_us[i] = usec_now() - t0;
	}
	qsort(rd, (size_t)n, sizeof(*rd), cmp_i64);
	qsort(rc_us, (size_t)n, sizeof(*rc_us), cmp_i64);
	printf("read_median_us=%" PRId64 "\nread_consume_median_us=%" PRId64 "\n", rd[n / 2],
	       rc_us[n / 2]);
	rc = 0;
out:
	free(rd);
	free(rc_us);
	return rc;
}

static int
run(const struct cfg *cfg, LDAP *ld, const char *cmd, int argc, char **argv, struct idg_err *err)
{
	struct token t;
	int rc;

	if (strcmp(cmd, "read") == 0 && argc == 1) {
		if ((rc = token_read(cfg, ld, argv[0], &t, err)) == 0)
			print_token(&t);
		return rc;
	}
	if (strcmp(cmd, "open") == 0 && argc == 1)
		return cmd_open(cfg, ld, argv[0], err);
	if (strcmp(cmd, "write") == 0 && argc >= 2)
		return cmd_write(cfg, ld, argv[0], atoi(argv[1]), argc - 2, argv + 2, err);
	if (strcmp(cmd, "consume") == 0 && argc == 2) {
		wait_go(wait_file);
		return token_consume_step(cfg, ld, argv[0], number(argv[1]), err);
	}
	if (strcmp(cmd, "fail") == 0 && argc == 4) {
		if ((rc = token_read(cfg, ld, argv[0], &t, err)) != 0)
			return rc;
		wait_go(wait_file);
		return token_record_failure(cfg, ld, argv[0], &t, number(argv[1]), number(argv[2]),
					    number(argv[3]), err);
	}
	if (strcmp(cmd, "spend") == 0 && argc == 2) {
		wait_go(wait_file);
		return token_spend_recovery(cfg, ld, argv[0], argv[1], err);
	}
	if (strcmp(cmd, "measure") == 0 && argc == 2)
		return cmd_measure(cfg, ld, argv[0], atoi(argv[1]), err);
	if (strcmp(cmd, "clear") == 0 && argc == 1)
		return token_clear(cfg, ld, argv[0], err);
	if (strcmp(cmd, "unlock") == 0 && argc == 1)
		return token_unlock(cfg, ld, argv[0], err);
	if (strcmp(cmd, "touch") == 0 && argc == 2) {
		wait_go(wait_file);
		return token_touch_login(cfg, ld, argv[0], number(argv[1]), err);
	}
	return idg_seterr(err, "usage: unknown command or wrong arguments: %s", cmd);
}

int
main(int argc, char **argv)
{
	struct idg_err err = {{0}};
	struct cfg *cfg = NULL;
	LDAP *ld = NULL;
	int rc, argi = 1;

	if (argc > 3 && strcmp(argv[1], "-w") == 0) {
		wait_file = argv[2];
		argi = 3;
	}
	if (argc - argi < 2) {
		fprintf(stderr, "usage: fleet_token [-w FILE] CONF COMMAND ARGS...\n");
		return 2;
	}
	if (sodium_init() < 0 || cfg_load(argv[argi], &cfg, &err) != 0) {
		printf("error: %s\n", err.msg);
		return 1;
	}
	if (strcmp(argv[argi + 1], "providers") == 0) {
		rc = cmd_providers(cfg, argc - argi - 2, argv + argi + 2, &err);
	} else if ((rc = dir_connect_uri(cfg, cfg->dir_uri, cfg->fleet_timeout_ms, &ld, &err)) ==
		   0) {
		rc = run(cfg, ld, argv[argi + 1], argc - argi - 2, argv + argi + 2, &err);
		ldap_unbind_ext(ld, NULL, NULL);
	} else if (rc == DIR_UNREACHABLE) {
		rc = TOKEN_DOWN;
	}
	cfg_free(cfg);
	return outcome(rc, &err);
}
