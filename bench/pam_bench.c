/*
 * bench helper: times pam_authenticate() + pam_acct_mgmt() transactions in
 * one process through the real libpam (pam_start_confdir, so no root and
 * no /etc), answering each prompt with a fresh TOTP code for the user
 * computed at that moment. Each user is used once, so replay protection
 * never turns a valid code away.
 *
 *   pam_bench CONFDIR SERVICE USERS-FILE     (lines: "uid base32-secret")
 *
 * Prints: SERVICE ok N/M median-us P90-us
 */
#include <liboath/oath.h>
#include "pam_answer.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char code[16];

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	char uid[128], b32[128], *secret;
	size_t len;
	double *t = NULL;
	int n = 0, ok = 0;
	FILE *f;

	if (argc != 4 || (f = fopen(argv[3], "r")) == NULL || oath_init() != OATH_OK) {
		fprintf(stderr, "usage: pam_bench CONFDIR SERVICE USERS-FILE\n");
		return 2;
	}
	while (fscanf(f, "%127s %127s", uid, b32) == 2) {
		struct pam_conv c = {pam_answer_conv, NULL};
		pam_handle_t *h = NULL;
		double start;
		int rc;

		if (oath_base32_decode(b32, strlen(b32), &secret, &len) != OATH_OK) {
			free(t);
			fclose(f);
			return 2;
		}
		oath_totp_generate(secret, len, time(NULL), 30, 0, 6, code);
		pam_answer = code;
		free(secret);
		{
			double *bigger = realloc(t, (size_t)(n + 1) * sizeof(*t));

			if (bigger == NULL) {
				free(t);
				return 2;
			}
			t = bigger;
		}
		start = now_us();
		rc = pam_start_confdir(argv[2], uid, &c, argv[1], &h);
		if (rc == PAM_SUCCESS)
			rc = pam_authenticate(h, PAM_SILENT);
		if (rc == PAM_SUCCESS)
			rc = pam_acct_mgmt(h, PAM_SILENT);
		pam_end(h, rc);
		t[n++] = now_us() - start;
		ok += rc == PAM_SUCCESS;
	}
	fclose(f);
	if (n == 0)
		return 2;
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%s ok %d/%d median-us %.0f p90-us %.0f\n", argv[2], ok, n, t[n / 2], t[n * 9 / 10]);
	free(t);
	return ok == n ? 0 : 1;
}
