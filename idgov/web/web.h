/*
 * idgov-web's parts, internal to the program: the application state the
 * HTTP side (http.c) hands to the pages (pages*.c) with each request.
 */
#ifndef IDGOV_WEB_H
#define IDGOV_WEB_H

#include "config.h"
#include "ctl.h"
#include "form.h"
#include "html.h"
#include "log.h"
#include "wsess.h"

#define WEB_COOKIE "__Host-idgov"

struct web_app {
	const struct cfg *cfg;
	struct wsess_table *sessions;
	struct ctl ctl;
	struct logger *log;
};

struct web_req {
	const char *method; /* GET, HEAD or POST: http.c refuses the rest */
	const char *path;
	char addr[64]; /* the client's address, numeric */
	struct form query;
	struct form body;   /* a POST's form; empty otherwise */
	const char *cookie; /* the session cookie's value, or NULL */
};

struct web_resp {
	int status;
	const char *content_type; /* NULL: text/html; charset=utf-8 */
	const char *data;         /* a static body (an asset) instead of body */
	size_t data_len;
	struct buf body;
	char location[1024]; /* a redirect's target; "" none */
	char cookie[64];     /* a session id to set; "" none; "-" to clear it */
	int cacheable;       /* a static asset: may be cached */
	int timed; /* a signed-in person's page: it says its server time (Server-Timing) */
	const char *extra_header, *extra_value; /* one more header (a download's name) */
	char disposition[96];                   /* storage for a Content-Disposition value */
};

/* Answers one request: fills rs (status, body or redirect, cookie). */
void pages_handle(struct web_app *app, struct web_req *rq, struct web_resp *rs);

/*
 * 1 when pages_handle() answers rq without asking idgovd (a static asset,
 * or the 404 for one): http.c answers those in its own thread at once.
 */
int pages_local(const struct web_req *rq);

/* Starts serving; 0, or -1 with err. web_stop() ends it. */
struct web_server;
int web_start(struct web_app *app, struct web_server **out, struct idg_err *err);
void web_stop(struct web_server *s);

#endif
