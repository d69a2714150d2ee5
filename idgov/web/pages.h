/* idgov-web's pages, shared between pages.c and the page files beside it. */
#ifndef IDGOV_WEB_PAGES_H
#define IDGOV_WEB_PAGES_H

#include "web.h"

/* The layout around content_html (already escaped), with the navigation for s (NULL: none). */
void pages_layout(struct web_resp *rs, const struct wsess *s, const char *current,
		  const char *title, const char *flash_html, const char *content_html);
/* A flash message (kind "ok" or "error"), escaped, into b; nothing when text is NULL or "". */
void pages_flash(struct buf *b, const char *kind, const char *text);
/* A page with one message and a link. */
void pages_message(struct web_resp *rs, const struct wsess *s, int status, const char *title,
		   const char *message, const char *link, const char *link_text);
/* idgovd said the session is over: drop ours, clear the cookie, go to sign-in. */
void pages_signed_out(struct web_app *app, const struct wsess *s, struct web_resp *rs);
/* The HTTP status for idgovd's refusal: denied 403, not_found 404, bad_request 400, else other. */
int pages_refusal_status(const char *code, int other);
/*
 * Asks idgovd for op (ctl_call: args are taken) on behalf of s. When
 * idgovd says the session is over, answers rs with pages_signed_out(),
 * frees r and returns 1: the caller returns at once. Otherwise 0 with r
 * filled (r->code set when idgovd refused), for the caller to free.
 */
int pages_call(struct web_app *app, const struct web_req *rq, const struct wsess *s,
	       struct web_resp *rs, const char *op, json_t *args, struct ctl_reply *r);

void pages_reviews(struct web_app *app, const struct web_req *rq, struct wsess *s,
		   struct web_resp *rs);
void pages_reviews_decide(struct web_app *app, const struct web_req *rq, struct wsess *s,
			  struct web_resp *rs);

void pages_requests(struct web_app *app, const struct web_req *rq, struct wsess *s,
		    struct web_resp *rs);
void pages_requests_post(struct web_app *app, const struct web_req *rq, struct wsess *s,
			 struct web_resp *rs);
void pages_approvals(struct web_app *app, const struct web_req *rq, struct wsess *s,
		     struct web_resp *rs);
void pages_approvals_post(struct web_app *app, const struct web_req *rq, struct wsess *s,
			  struct web_resp *rs);
void pages_approvals_acknowledge(struct web_app *app, const struct web_req *rq, struct wsess *s,
				 struct web_resp *rs);
void pages_campaigns(struct web_app *app, const struct web_req *rq, struct wsess *s,
		     struct web_resp *rs);
void pages_campaign_report(struct web_app *app, const struct web_req *rq, struct wsess *s,
			   struct web_resp *rs);

#endif
