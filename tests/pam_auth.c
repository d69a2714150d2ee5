/*
 * Test helper: one pam_authenticate() through the real libpam with
 * pam_start_confdir(), answering every prompt with ANSWER. Unlike
 * pam_wrapper it needs no per-process temporary directory, so many can
 * run at once (the parallel-login test).
 *
 *   pam_auth CONFDIR SERVICE USER ANSWER    exit 0 if authenticated
 */
#include "pam_answer.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	struct pam_conv c = {pam_answer_conv, NULL};
	pam_handle_t *h = NULL;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: pam_auth CONFDIR SERVICE USER ANSWER\n");
		return 2;
	}
	pam_answer = argv[4];
	rc = pam_start_confdir(argv[2], argv[3], &c, argv[1], &h);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_start: %s\n", pam_strerror(NULL, rc));
		return 2;
	}
	rc = pam_authenticate(h, PAM_SILENT);
	pam_end(h, rc);
	return rc == PAM_SUCCESS ? 0 : 1;
}
