/*
 * idgov-web's requests to idgovd: one control request per call, as the
 * frontend itself (sign-in) or on behalf of a signed-in person (with the
 * session token idgovd issued, and the client's address).
 */
#ifndef IDGOV_WEB_CTL_H
#define IDGOV_WEB_CTL_H

#include "jarena.h"
#include "log.h"

#include <jansson.h>

struct ctl {
	const char *socket;
	const char *daemon_user;
	int timeout_ms;     /* [web] idgovd_timeout */
	struct logger *log; /* says why idgovd could not be asked (NULL: nowhere) */
};

struct ctl_reply {
	json_t *reply;        /* the whole reply; NULL when idgovd could not be asked */
	struct jarena *arena; /* where reply was parsed (jarena.h) */
	json_t *result;       /* borrowed from reply: NULL unless ok */
	const char *code;     /* NULL when ok; "unavailable" when idgovd could not be asked */
	const char *message;  /* why, for the person: never NULL */
};

/*
 * Sends op with args (taken: the caller no longer owns it) for token
 * (NULL: as the frontend) from addr. The request text is wiped after
 * sending, for it holds a password or a token. When idgovd cannot be
 * asked, or its reply cannot be read, the person sees only "unavailable"
 * and the log says why (the op, never the request). Always fills r; free it
 * with ctl_reply_free(), on the same thread (the reply lives in an arena
 * of this thread's, see jarena.h).
 */
void ctl_call(const struct ctl *c, const char *op, json_t *args, const char *token,
	      const char *addr, struct ctl_reply *r);

void ctl_reply_free(struct ctl_reply *r);

#endif
