/*
 * For the PAM test and benchmark helpers: a conversation function that
 * answers every prompt with the text pam_answer points to, and ignores
 * informational and error messages.
 */
#ifndef IDGOV_PAM_ANSWER_H
#define IDGOV_PAM_ANSWER_H

#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

static const char *pam_answer = "";

static int
pam_answer_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(pam_answer);
	*resp = r;
	return PAM_SUCCESS;
}

#endif
