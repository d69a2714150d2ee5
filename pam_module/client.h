/*
 * The module's client of the auth service, apart from PAM (pam_idgov.c is
 * the glue): connect to the socket, check who answers, send one request,
 * relay the conversation through callbacks, return the result. Knows
 * nothing of PAM, so a test can drive it against a fake service.
 */
#ifndef PAM_IDGOV_CLIENT_H
#define PAM_IDGOV_CLIENT_H

#include "authproto.h"

#include <stddef.h>
#include <sys/types.h>

struct client_opts {
	const char *socket; /* the service's socket */
	uid_t server_uid;   /* the only uid the service may run as */
	int timeout_ms;     /* for the connection and for each reply of the service */
};

struct client_conv {
	/* Asks text with echo off; *answer is malloc'd (wipe and free it). 0, or -1. */
	int (*prompt)(void *arg, const char *text, char **answer);
	void (*info)(void *arg, const char *text);
	void (*error)(void *arg, const char *text);
	void *arg;
};

/*
 * One call: 0 with *result and *delay_ms, or -1 when the service could not
 * answer (absent, hung, not the right owner, broke the protocol) with why
 * saying what, for the log line of a refusal. A failed prompt (the user hung
 * up) is a result: AUTHPROTO_R_CONV_ERR.
 *
 * *kept: a connection the same handle kept from its previous call, or -1.
 * It is used if the service has not closed it; a request that meets the
 * service's close before any reply goes again on a new connection
 * (authproto.h). On return *kept is the connection, left open, when the
 * request had AUTHPROTO_F_KEEP and the call completed; else -1, and every
 * connection the call used is closed.
 */
int client_call(const struct client_opts *o, const struct authproto_msg *req,
		const struct client_conv *conv, int *kept, enum authproto_result *result,
		uint32_t *delay_ms, char *why, size_t why_size);

#endif
