/*
 * idgov-web's pages: routing, the sign-in steps, sign-out, and the
 * static assets. The review list lives in pages_reviews.c.
 *
 * Every page is rendered from an embedded template by html_render(), so
 * every value passes through html_escape(). Every POST needs the
 * session's CSRF token (403 without it), and nothing is done for a GET
 * but reading. A session that idgovd says is over is dropped here too and
 * the browser sent to sign in again.
 */
#include "pages.h"

#include "asset.h"

#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
redirect(struct web_resp *rs, const char *to)
{
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "%s", to);
}

static void
nav(struct buf *b, const struct wsess *s, const char *current)
{
	static const struct {
		const char *path, *label;
		int admin;
	} links[] = {
		{"/reviews", "My reviews", 0},
		{"/requests", "Requests", 0},
		{"/approvals", "Approvals", 1},
		{"/campaigns", "Campaigns", 1},
	};

	buf_puts(b, "<nav>");
	for (size_t i = 0;
	     s != NULL && s->step == WSESS_FULL && i < sizeof(links) / sizeof(links[0]); i++) {
		if (links[i].admin && !s->admin)
			continue;
		buf_printf(b, "<a href=\"%s\"%s>%s</a>", links[i].path,
			   strcmp(links[i].path, current) == 0 ? " aria-current=\"page\"" : "",
			   links[i].label);
	}
	buf_puts(b, "</nav>");
	if (s != NULL && s->step != WSESS_ANON) {
		buf_puts(b, "<span class=\"who\">");
		html_escape(b, s->user);
		buf_puts(b,
			 "</span><form method=\"post\" action=\"/signout\"><input type=\"hidden\" "
			 "name=\"csrf\" value=\"");
		html_escape(b, s->csrf);
		buf_puts(b,
			 "\"><button type=\"submit\" class=\"secondary\">Sign out</button></form>");
	}
}

void
pages_flash(struct buf *b, const char *kind, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	buf_printf(b, "<p class=\"flash %s\" role=\"status\">", kind);
	html_escape(b, text);
	buf_puts(b, "</p>");
}

void
pages_layout(struct web_resp *rs, const struct wsess *s, const char *current, const char *title,
	     const char *flash_html, const char *content_html)
{
	struct buf n;
	const struct html_var vars[] = {
		html_text("title", title),
		html_raw("nav", ""),
		html_raw("flash", flash_html != NULL ? flash_html : ""),
		html_raw("content", content_html),
	};
	struct html_var v[4];

	buf_init(&n);
	nav(&n, s, current);
	memcpy(v, vars, sizeof(v));
	v[1].value = n.p != NULL ? n.p : "";
	/* The content and about as much again of layout: the page is written without a regrowth. */
	buf_reserve(&rs->body, strlen(content_html) + n.len + 8192);
	html_render(&rs->body, "layout.html", v, 4);
	if (n.failed)
		rs->body.failed = 1;
	buf_free(&n);
	if (rs->status == 0)
		rs->status = 200;
}

/* A page of one template inside the layout. */
static void
page(struct web_resp *rs, const struct wsess *s, const char *title, const char *flash_kind,
     const char *flash_text, const char *tpl, const struct html_var *vars, size_t n)
{
	struct buf content, flash;

	buf_init(&content);
	buf_init(&flash);
	pages_flash(&flash, flash_kind, flash_text);
	if (html_render(&content, tpl, vars, n) != 0)
		rs->body.failed = 1;
	else
		pages_layout(rs, s, "", title, flash.p, content.p);
	buf_free(&content);
	buf_free(&flash);
}

void
pages_message(struct web_resp *rs, const struct wsess *s, int status, const char *title,
	      const char *message, const char *link, const char *link_text)
{
	const struct html_var v[] = {html_text("message", message), html_text("link", link),
				     html_text("link_text", link_text)};

	rs->status = status;
	page(rs, s, title, NULL, NULL, "message.html", v, 3);
}

/* The session the cookie names, if live; 1 and s filled, else 0. */
static int
session(struct web_app *app, const struct web_req *rq, struct wsess *s)
{
	return rq->cookie != NULL && wsess_get(app->sessions, rq->cookie, idg_now(), s);
}

/* A POST's CSRF check; 0 when it passes, else the 403 is in rs. */
static int
csrf(const struct web_req *rq, const struct wsess *s, struct web_resp *rs)
{
	if (wsess_csrf_ok(s, form_get(&rq->body, "csrf")))
		return 0;
	pages_message(rs, NULL, 403, "Refused",
		      "This form is missing its security token or has an old one. Reload the page "
		      "and try again.",
		      "/", "Start again");
	return -1;
}

void
pages_signed_out(struct web_app *app, const struct wsess *s, struct web_resp *rs)
{
	wsess_drop(app->sessions, s->id);
	snprintf(rs->cookie, sizeof(rs->cookie), "-");
	redirect(rs, "/signin?ended=1");
}

int
pages_refusal_status(const char *code, int other)
{
	return strcmp(code, "denied") == 0        ? 403
	       : strcmp(code, "not_found") == 0   ? 404
	       : strcmp(code, "bad_request") == 0 ? 400
						  : other;
}

int
pages_call(struct web_app *app, const struct web_req *rq, const struct wsess *s,
	   struct web_resp *rs, const char *op, json_t *args, struct ctl_reply *r)
{
	ctl_call(&app->ctl, op, args, s->token, rq->addr, r);
	if (r->code == NULL || strcmp(r->code, "signed_out") != 0)
		return 0;
	ctl_reply_free(r);
	pages_signed_out(app, s, rs);
	return 1;
}

/* ---- sign-in ---- */

static void
signin_form(struct web_app *app, const struct web_req *rq, struct web_resp *rs, const char *name,
	    int status, const char *error)
{
	struct wsess s;
	const char *note = NULL;

	/*
	 * The form belongs to an anonymous session with its own CSRF token:
	 * the browser's, while it lives (another tab, a reload, a stray
	 * request for an icon must not replace the token of a form already
	 * shown), or a new one.
	 */
	if ((rq->cookie == NULL || !wsess_get(app->sessions, rq->cookie, idg_now(), &s) ||
	     s.step != WSESS_ANON) &&
	    wsess_new(app->sessions, idg_now(), &s) != 0) {
		pages_message(rs, NULL, 503, "Busy", "Too many sign-ins at once; try again.", "/",
			      "Try again");
		return;
	}
	snprintf(rs->cookie, sizeof(rs->cookie), "%s", s.id);
	if (error == NULL && form_get(&rq->query, "ended") != NULL)
		note = "Your session has ended. Sign in again.";
	{
		const struct html_var v[] = {html_text("csrf", s.csrf),
					     html_text("name", name != NULL ? name : "")};

		rs->status = status;
		page(rs, NULL, "Sign in", error != NULL ? "error" : "ok",
		     error != NULL ? error : note, "signin.html", v, 2);
	}
	sodium_memzero(&s, sizeof(s));
}

static enum wsess_step
step_of(const char *name)
{
	if (name == NULL)
		return WSESS_ANON;
	if (strcmp(name, "full") == 0)
		return WSESS_FULL;
	if (strcmp(name, "enrol") == 0)
		return WSESS_ENROL;
	return strcmp(name, "code") == 0 ? WSESS_CODE : WSESS_ANON;
}

static void
signin_post(struct web_app *app, const struct web_req *rq, struct web_resp *rs)
{
	const char *name = form_get(&rq->body, "name"), *password = form_get(&rq->body, "password");
	struct ctl_reply r;
	struct wsess s, next;
	enum wsess_step step;

	if (!session(app, rq, &s) || s.step != WSESS_ANON) {
		pages_message(rs, NULL, 403, "Refused",
			      "This sign-in form has expired or is missing its security token. "
			      "Reload it and try again.",
			      "/signin", "Sign in");
		return;
	}
	if (csrf(rq, &s, rs) != 0)
		return;
	if (name == NULL || password == NULL || name[0] == '\0' || password[0] == '\0' ||
	    strlen(name) > 64) {
		signin_form(app, rq, rs, name, 400, "Give your user name and password.");
		return;
	}
	ctl_call(&app->ctl, "web.signin",
		 json_pack("{s:s, s:s, s:s}", "name", name, "password", password, "addr", rq->addr),
		 NULL, rq->addr, &r);
	if (r.code != NULL) {
		log_msg(app->log, LOG_NOTICE, "sign-in of %s from %s refused: %s", name, rq->addr,
			r.message);
		wsess_drop(app->sessions, s.id);
		signin_form(app, rq, rs, name, strcmp(r.code, "unavailable") == 0 ? 503 : 401,
			    r.message);
		ctl_reply_free(&r);
		return;
	}
	step = step_of(json_string_value(json_object_get(r.result, "step")));
	if (step == WSESS_ANON ||
	    !wsess_advance(app->sessions, s.id, idg_now(),
			   json_string_value(json_object_get(r.result, "session")), name, step, 0,
			   &next)) {
		ctl_reply_free(&r);
		pages_message(rs, NULL, 500, "Error", "The sign-in could not be completed.",
			      "/signin", "Sign in");
		return;
	}
	ctl_reply_free(&r);
	snprintf(rs->cookie, sizeof(rs->cookie), "%s", next.id);
	redirect(rs, step == WSESS_ENROL ? "/enrol" : "/signin/code");
}

static void
code_form(const struct wsess *s, struct web_resp *rs, int status, const char *error)
{
	const struct html_var v[] = {html_text("csrf", s->csrf), html_text("user", s->user)};

	rs->status = status;
	page(rs, s, "Verification code", "error", error, "code.html", v, 2);
}

static void
code_post(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *code = form_get(&rq->body, "code");
	struct ctl_reply r;
	struct wsess next;

	if (code == NULL || code[0] == '\0' || strlen(code) > 32) {
		code_form(s, rs, 400, "Enter the code.");
		return;
	}
	if (pages_call(app, rq, s, rs, "web.verify", json_pack("{s:s}", "code", code), &r))
		return;
	if (r.code != NULL) {
		code_form(s, rs, strcmp(r.code, "unavailable") == 0 ? 503 : 401, r.message);
		ctl_reply_free(&r);
		return;
	}
	if (!wsess_advance(app->sessions, s->id, idg_now(),
			   json_string_value(json_object_get(r.result, "session")), s->user,
			   WSESS_FULL, json_is_true(json_object_get(r.result, "admin")), &next)) {
		ctl_reply_free(&r);
		pages_signed_out(app, s, rs);
		return;
	}
	ctl_reply_free(&r);
	log_msg(app->log, LOG_INFO, "%s signed in from %s", next.user, rq->addr);
	snprintf(rs->cookie, sizeof(rs->cookie), "%s", next.id);
	redirect(rs, "/reviews");
}

static void
signout_post(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	struct ctl_reply r;

	if (s->token[0] != '\0') {
		ctl_call(&app->ctl, "web.signout", NULL, s->token, rq->addr, &r);
		ctl_reply_free(&r);
	}
	wsess_drop(app->sessions, s->id);
	snprintf(rs->cookie, sizeof(rs->cookie), "-");
	redirect(rs, "/signin");
}

/* ---- first-time MFA enrolment ---- */

/* An SVG of the QR code of text: one path of unit squares, no script, no style attribute. */
static int
qr_svg(struct buf *b, const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int w;

	if (q == NULL)
		return -1;
	w = q->width;
	buf_printf(b,
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-4 -4 %d %d\" "
		   "shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code for your "
		   "authenticator app\"><rect x=\"-4\" y=\"-4\" width=\"%d\" height=\"%d\" "
		   "fill=\"#fff\"/><path fill=\"#000\" d=\"",
		   w + 8, w + 8, w + 8, w + 8);
	for (int y = 0; y < w; y++)
		for (int x = 0; x < w; x++)
			if (q->data[y * w + x] & 1)
				buf_printf(b, "M%d %dh1v1h-1z", x, y);
	buf_puts(b, "\"/></svg>");
	sodium_memzero(q->data, (size_t)w * (size_t)w);
	QRcode_free(q);
	return 0;
}

static void
enrol_get(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	struct ctl_reply r;
	struct buf qr;
	const char *uri, *secret;
	char key[128] = "";

	if (pages_call(app, rq, s, rs, "mfa.enroll.begin", NULL, &r))
		return;
	uri = json_string_value(json_object_get(r.result, "uri"));
	if (r.code != NULL || uri == NULL) {
		pages_message(rs, s, 409, "Enrolment", r.code != NULL ? r.message : "no URI",
			      "/signin", "Sign in");
		ctl_reply_free(&r);
		return;
	}
	if ((secret = strstr(uri, "secret=")) != NULL)
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(secret + 7, "&"), secret + 7);
	buf_init(&qr);
	if (qr_svg(&qr, uri) != 0 || qr.failed) {
		rs->body.failed = 1;
	} else {
		const struct html_var v[] = {html_text("user", s->user), html_raw("qr", qr.p),
					     html_text("secret", key), html_text("csrf", s->csrf)};

		page(rs, s, "Set up your authenticator", NULL, NULL, "enrol.html", v, 4);
	}
	if (qr.p != NULL)
		sodium_memzero(qr.p, qr.len);
	buf_free(&qr);
	sodium_memzero(key, sizeof(key));
	ctl_reply_free(&r);
}

static void
enrol_post(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *code = form_get(&rq->body, "code");
	struct ctl_reply r;
	struct buf codes;
	json_t *c;
	size_t i;

	if (code == NULL || code[0] == '\0' || strlen(code) > 16) {
		redirect(rs, "/enrol");
		return;
	}
	if (pages_call(app, rq, s, rs, "mfa.enroll.confirm", json_pack("{s:s}", "code", code), &r))
		return;
	if (r.code != NULL) {
		pages_message(rs, s, 401, "Set up your authenticator", r.message, "/enrol",
			      "Try again with a new code");
		ctl_reply_free(&r);
		return;
	}
	buf_init(&codes);
	json_array_foreach(json_object_get(r.result, "recovery_codes"), i, c)
	{
		buf_puts(&codes, "<li>");
		html_escape(&codes, json_string_value(c));
		buf_puts(&codes, "</li>");
	}
	{
		const struct html_var v[] = {html_raw("codes", codes.p != NULL ? codes.p : ""),
					     html_text("csrf", s->csrf)};

		page(rs, s, "Recovery codes", "ok", "Your authenticator is set up.",
		     "recovery.html", v, 2);
	}
	if (codes.p != NULL)
		sodium_memzero(codes.p, codes.len);
	buf_free(&codes);
	ctl_reply_free(&r);
}

/* ---- routing ---- */

static int
serve_asset(const char *path, struct web_resp *rs)
{
	static const struct {
		const char *path, *name, *type;
	} assets[] = {
		{"/static/style.css", "style.css", "text/css; charset=utf-8"},
		{"/static/app.js", "app.js", "text/javascript; charset=utf-8"},
	};

	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		const struct asset *a;

		if (strcmp(path, assets[i].path) != 0 || (a = asset_find(assets[i].name)) == NULL)
			continue;
		rs->status = 200;
		rs->content_type = assets[i].type;
		rs->data = a->data;
		rs->data_len = a->len;
		rs->cacheable = 1;
		return 1;
	}
	return 0;
}

int
pages_local(const struct web_req *rq)
{
	return strcmp(rq->method, "POST") != 0 &&
	       (strncmp(rq->path, "/static/", 8) == 0 || strcmp(rq->path, "/favicon.ico") == 0);
}

void
pages_handle(struct web_app *app, struct web_req *rq, struct web_resp *rs)
{
	int post = strcmp(rq->method, "POST") == 0;
	struct wsess s;
	int have = session(app, rq, &s);

	if (!post && serve_asset(rq->path, rs))
		return;
	if (strncmp(rq->path, "/static/", 8) == 0 || strcmp(rq->path, "/favicon.ico") == 0) {
		rs->status = 404;
		rs->content_type = "text/plain; charset=utf-8";
		buf_puts(&rs->body, "not found\n");
		return;
	}
	if (strcmp(rq->path, "/signin") == 0) {
		if (post)
			signin_post(app, rq, rs);
		else
			signin_form(app, rq, rs, NULL, 200, NULL);
		goto out;
	}
	if (!have || s.step == WSESS_ANON) {
		if (post)
			pages_message(rs, NULL, 403, "Refused",
				      "You are not signed in, or your session has ended.",
				      "/signin", "Sign in");
		else
			redirect(rs, "/signin");
		goto out;
	}
	if (post && csrf(rq, &s, rs) != 0)
		goto out;
	/*
	 * Only a signed-in person's pages say how long they took: before that
	 * (the password, the code) a precise server time would help someone
	 * tell, say, a known user name from an unknown one.
	 */
	rs->timed = s.step == WSESS_FULL;
	if (strcmp(rq->path, "/signout") == 0 && post) {
		signout_post(app, rq, &s, rs);
	} else if (strcmp(rq->path, "/signin/code") == 0 && s.step != WSESS_FULL) {
		if (post)
			code_post(app, rq, &s, rs);
		else
			code_form(&s, rs, 200, NULL);
	} else if (strcmp(rq->path, "/enrol") == 0 && s.step == WSESS_ENROL) {
		if (post)
			enrol_post(app, rq, &s, rs);
		else
			enrol_get(app, rq, &s, rs);
	} else if (s.step == WSESS_CODE) {
		redirect(rs, "/signin/code");
	} else if (s.step == WSESS_ENROL) {
		redirect(rs, "/enrol");
	} else if (strcmp(rq->path, "/") == 0) {
		redirect(rs, "/reviews");
	} else if (strcmp(rq->path, "/reviews") == 0 && !post) {
		pages_reviews(app, rq, &s, rs);
	} else if (strcmp(rq->path, "/reviews/decide") == 0 && post) {
		pages_reviews_decide(app, rq, &s, rs);
	} else if (strcmp(rq->path, "/requests") == 0) {
		if (post)
			pages_requests_post(app, rq, &s, rs);
		else
			pages_requests(app, rq, &s, rs);
	} else if ((strcmp(rq->path, "/campaigns") == 0 ||
		    strcmp(rq->path, "/campaigns/report") == 0) &&
		   !s.admin) {
		pages_message(rs, &s, 403, "Campaigns", "Only idgov admins see campaigns.",
			      "/reviews", "My reviews");
	} else if (strcmp(rq->path, "/campaigns") == 0 && !post) {
		pages_campaigns(app, rq, &s, rs);
	} else if (strcmp(rq->path, "/campaigns/report") == 0 && !post) {
		pages_campaign_report(app, rq, &s, rs);
	} else if ((strcmp(rq->path, "/approvals") == 0 ||
		    strcmp(rq->path, "/approvals/acknowledge") == 0) &&
		   !s.admin) {
		/* idgovd refuses a decision by someone who is no admin; the page says so first. */
		pages_message(rs, &s, 403, "Approvals", "Only idgov admins decide on grants.",
			      "/requests", "Your requests");
	} else if (strcmp(rq->path, "/approvals") == 0) {
		if (post)
			pages_approvals_post(app, rq, &s, rs);
		else
			pages_approvals(app, rq, &s, rs);
	} else if (strcmp(rq->path, "/approvals/acknowledge") == 0 && post) {
		pages_approvals_acknowledge(app, rq, &s, rs);
	} else {
		pages_message(rs, &s, 404, "Not found", "There is no such page.", "/", "Home");
	}
out:
	if (have)
		sodium_memzero(&s, sizeof(s));
}
