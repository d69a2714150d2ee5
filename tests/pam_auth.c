/*
 * Test helper: one pam_authenticate() through the real libpam with
 * pam_start_confdir(), answering every prompt with ANSWER. Unlike
 * pam_wrapper it needs no per-process temporary directory, so many can
 * run at once (the parallel-login test).
 *
 *   pam_auth CONFDIR SERVICE USER ANSWER    exit 0 if authenticated
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *answer;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(answer);
	*resp = r;
	return PAM_SUCCESS;
}

int
main(int argc, char **argv)
{
	struct pam_conv c = {conv, NULL};
	pam_handle_t *h = NULL;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: pam_auth CONFDIR SERVICE USER ANSWER\n");
		return 2;
	}
	answer = argv[4];
	rc = pam_start_confdir(argv[2], argv[3], &c, argv[1], &h);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_start: %s\n", pam_strerror(NULL, rc));
		return 2;
	}
	rc = pam_authenticate(h, PAM_SILENT);
	pam_end(h, rc);
	return rc == PAM_SUCCESS ? 0 : 1;
}
