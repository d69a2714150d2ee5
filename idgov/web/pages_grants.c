/*
 * Requests and Approvals: a person asks for time-bound access to a group
 * (reason, ticket reference, duration within the configured maxima) and
 * sees their own requests and grants; admins see the requests waiting for
 * a decision and approve or deny each with a comment. idgovd decides who
 * may do what (the two-person rule, admins only for decisions); these
 * pages only show its answers.
 *
 * Approvals also lists the break-glass grants nobody has acknowledged yet
 * (grant.list "review": access someone gave themself in an emergency,
 * reviewed after the fact), and an admin other than the person who broke
 * the glass acknowledges each with a comment (grant.acknowledge, the
 * operation `idgov grant acknowledge` uses; idgovd audits it with the
 * admin, the comment and the address). The page asks for the comment
 * before idgovd is asked: an acknowledgement says what was checked.
 */
#include "pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static void
when(struct buf *b, json_t *t)
{
	char out[32];
	time_t v;
	struct tm tm;

	if (!json_is_integer(t) || json_integer_value(t) <= 0) {
		buf_puts(b, "—");
		return;
	}
	v = (time_t)json_integer_value(t);
	gmtime_r(&v, &tm);
	strftime(out, sizeof(out), "%Y-%m-%d %H:%M UTC", &tm);
	buf_puts(b, out);
}

static int
is_true(json_t *v)
{
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
}

/* The list op for this page; NULL with rs filled when there is nothing to show. */
static json_t *
list(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
     json_t *args, struct ctl_reply *r)
{
	if (pages_call(app, rq, s, rs, "grant.list", args, r))
		return NULL;
	if (r->code != NULL || !json_is_array(r->result)) {
		pages_message(rs, s,
			      strcmp(r->code != NULL ? r->code : "", "denied") == 0 ? 403 : 503,
			      "Grants", r->message, "/", "Home");
		ctl_reply_free(r);
		return NULL;
	}
	return r->result;
}

/* Renders tpl, a list page, with the session's CSRF token and the rows. */
static void
render(struct web_resp *rs, struct wsess *s, const char *path, const char *title, const char *tpl,
       struct buf *rows, int status, const char *kind, const char *flash_text)
{
	struct buf content, flash;
	const struct html_var v[] = {html_text("csrf", s->csrf),
				     html_raw("rows", rows->p != NULL ? rows->p : "")};

	buf_init(&content);
	buf_init(&flash);
	pages_flash(&flash, kind, flash_text);
	if (rows->failed || html_render(&content, tpl, v, sizeof(v) / sizeof(v[0])) != 0) {
		rs->body.failed = 1;
	} else {
		rs->status = status;
		pages_layout(rs, s, path, title, flash.p, content.p);
	}
	buf_free(&content);
	buf_free(&flash);
}

static void
requests_page(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
	      int status, const char *kind, const char *flash_text)
{
	struct ctl_reply r;
	struct buf rows;
	json_t *items, *g;
	size_t i;

	items = list(app, rq, s, rs, json_pack("{s:s, s:s}", "filter", "all", "user", s->user), &r);
	if (items == NULL)
		return;
	buf_init(&rows);
	json_array_foreach(items, i, g)
	{
		buf_printf(&rows, "<tr><td>%lld</td><td>",
			   (long long)json_integer_value(json_object_get(g, "id")));
		html_escape(&rows, str(g, "grp")[0] != '\0' ? str(g, "grp") : str(g, "account"));
		if (is_true(json_object_get(g, "privileged")))
			buf_puts(&rows, "<span class=\"badge\">privileged</span>");
		buf_puts(&rows, "</td><td>");
		html_escape(&rows, str(g, "state"));
		buf_printf(&rows, "<span class=\"sub\">%lld of %lld approvals</span></td><td>",
			   (long long)json_integer_value(json_object_get(g, "approvals")),
			   (long long)json_integer_value(json_object_get(g, "approvals_needed")));
		when(&rows, json_object_get(g, "end"));
		buf_puts(&rows, "</td><td>");
		html_escape(&rows, str(g, "reason"));
		buf_puts(&rows, "</td></tr>\n");
	}
	if (json_array_size(items) == 0)
		buf_puts(&rows, "<tr><td colspan=\"5\">No requests yet.</td></tr>");
	render(rs, s, "/requests", "Requests", "requests.html", &rows, status, kind, flash_text);
	buf_free(&rows);
	ctl_reply_free(&r);
}

void
pages_requests(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *done = form_get(&rq->query, "requested");
	char msg[80] = "";

	if (done != NULL && strspn(done, "0123456789") == strlen(done) && strlen(done) < 12)
		snprintf(msg, sizeof(msg), "Request #%s sent for approval.", done);
	requests_page(app, rq, s, rs, 200, "ok", msg);
}

void
pages_requests_post(struct web_app *app, const struct web_req *rq, struct wsess *s,
		    struct web_resp *rs)
{
	const char *group = form_get(&rq->body, "group"), *dur = form_get(&rq->body, "for");
	const char *reason = form_get(&rq->body, "reason"), *ticket = form_get(&rq->body, "ticket");
	struct ctl_reply r;
	char text[2200];

	if (group == NULL || dur == NULL || reason == NULL || group[0] == '\0' || dur[0] == '\0' ||
	    reason[0] == '\0' || strlen(reason) > 2000 || (ticket != NULL && strlen(ticket) > 64)) {
		requests_page(app, rq, s, rs, 400, "error",
			      "Give the group, how long and the reason.");
		return;
	}
	/* The ticket reference travels in the reason, which is what the audit chain keeps. */
	if (ticket != NULL && ticket[0] != '\0')
		snprintf(text, sizeof(text), "[%s] %s", ticket, reason);
	else
		snprintf(text, sizeof(text), "%s", reason);
	if (pages_call(app, rq, s, rs, "grant.request",
		       json_pack("{s:s, s:s, s:s}", "group", group, "for", dur, "reason", text),
		       &r))
		return;
	if (r.code != NULL) {
		char why[600];

		snprintf(why, sizeof(why), "Not requested: %s", r.message);
		requests_page(app, rq, s, rs, strcmp(r.code, "denied") == 0 ? 403 : 400, "error",
			      why);
		ctl_reply_free(&r);
		return;
	}
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "/requests?requested=%lld",
		 (long long)json_integer_value(json_object_get(r.result, "id")));
	ctl_reply_free(&r);
}

/* The break-glass grants not yet acknowledged, as rows of their own form; -1 with rs filled. */
static int
breakglass_rows(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
		struct buf *b)
{
	struct ctl_reply r;
	json_t *items, *g;
	size_t i;

	items = list(app, rq, s, rs, json_pack("{s:s}", "filter", "review"), &r);
	if (items == NULL)
		return -1;
	json_array_foreach(items, i, g)
	{
		long long id = (long long)json_integer_value(json_object_get(g, "id"));

		if (!is_true(json_object_get(g, "needs_review")))
			continue;
		buf_printf(b, "<tr id=\"breakglass-%lld\"><td>%lld</td><td>", id, id);
		html_escape(b, str(g, "grantee"));
		buf_puts(b, " → ");
		html_escape(b, str(g, "grp"));
		buf_puts(b, "<span class=\"sub\">");
		html_escape(b, str(g, "state"));
		buf_puts(b, "</span></td><td>");
		when(b, json_object_get(g, "start"));
		buf_puts(b, "<span class=\"sub\">until ");
		when(b, json_object_get(g, "end"));
		buf_puts(b, "</span></td><td>");
		html_escape(b, str(g, "reason"));
		buf_printf(b,
			   "</td><td><input type=\"text\" name=\"a%lld\" maxlength=\"2000\" "
			   "placeholder=\"What you checked (required)\" aria-label=\"Comment on "
			   "break-glass grant %lld\"><button type=\"submit\" name=\"ack\" "
			   "value=\"%lld\" class=\"approve\">Acknowledge</button></td></tr>\n",
			   id, id, id);
	}
	if (b->len == 0)
		buf_puts(b, "<tr><td colspan=\"5\">No break-glass use is waiting for "
			    "review.</td></tr>");
	ctl_reply_free(&r);
	return 0;
}

static void
approvals_page(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
	       int status, const char *kind, const char *flash_text)
{
	struct ctl_reply r;
	struct buf rows, bg, content, flash;
	json_t *items, *g;
	size_t i;

	items = list(app, rq, s, rs, json_pack("{s:s}", "filter", "pending"), &r);
	if (items == NULL)
		return;
	buf_init(&rows);
	buf_init(&bg);
	json_array_foreach(items, i, g)
	{
		long long id = (long long)json_integer_value(json_object_get(g, "id"));
		int priv = is_true(json_object_get(g, "privileged"));

		if (strcmp(str(g, "state"), "requested") != 0)
			continue;
		buf_printf(&rows, "<tr id=\"grant-%lld\"><td>%lld</td><td>", id, id);
		html_escape(&rows, str(g, "grantee"));
		buf_puts(&rows, " → ");
		html_escape(&rows, str(g, "grp")[0] != '\0' ? str(g, "grp") : str(g, "account"));
		if (priv) {
			buf_puts(&rows,
				 "<span class=\"badge\">privileged</span><span class=\"sub\">");
			html_escape(&rows, str(g, "privileged_reason"));
			buf_puts(&rows, "</span>");
		}
		buf_puts(&rows, "<span class=\"sub\">until ");
		when(&rows, json_object_get(g, "end"));
		buf_puts(&rows, "</span></td><td>");
		html_escape(&rows, str(g, "requester"));
		buf_puts(&rows, "</td><td>");
		html_escape(&rows, str(g, "reason"));
		buf_printf(&rows, "</td><td>%lld of %lld</td><td>",
			   (long long)json_integer_value(json_object_get(g, "approvals")),
			   (long long)json_integer_value(json_object_get(g, "approvals_needed")));
		buf_printf(&rows,
			   "<button type=\"submit\" name=\"one\" value=\"%lld:approve\" "
			   "class=\"approve\">Approve</button><button type=\"submit\" name=\"one\" "
			   "value=\"%lld:deny\" class=\"revoke\">Deny</button><input type=\"text\" "
			   "name=\"c%lld\" maxlength=\"2000\" placeholder=\"Comment\" "
			   "aria-label=\"Comment for grant %lld\"></td></tr>\n",
			   id, id, id, id);
	}
	ctl_reply_free(&r);
	if (rows.len == 0)
		buf_puts(&rows,
			 "<tr><td colspan=\"6\">Nothing is waiting for a decision.</td></tr>");
	if (breakglass_rows(app, rq, s, rs, &bg) != 0)
		goto out;
	buf_init(&content);
	buf_init(&flash);
	pages_flash(&flash, kind, flash_text);
	{
		const struct html_var v[] = {html_text("csrf", s->csrf),
					     html_raw("rows", rows.p != NULL ? rows.p : ""),
					     html_raw("breakglass", bg.p != NULL ? bg.p : "")};

		if (rows.failed || bg.failed ||
		    html_render(&content, "approvals.html", v, sizeof(v) / sizeof(v[0])) != 0) {
			rs->body.failed = 1;
		} else {
			rs->status = status;
			pages_layout(rs, s, "/approvals", "Approvals", flash.p, content.p);
		}
	}
	buf_free(&content);
	buf_free(&flash);
out:
	buf_free(&rows);
	buf_free(&bg);
}

void
pages_approvals(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *done = form_get(&rq->query, "decided");
	char msg[80] = "";

	const char *acked = form_get(&rq->query, "acknowledged");

	if (done != NULL && strspn(done, "0123456789") == strlen(done) && strlen(done) < 12)
		snprintf(msg, sizeof(msg), "Decision on grant #%s recorded.", done);
	else if (acked != NULL && strspn(acked, "0123456789") == strlen(acked) &&
		 strlen(acked) < 12)
		snprintf(msg, sizeof(msg), "Break-glass grant #%s acknowledged.", acked);
	approvals_page(app, rq, s, rs, 200, "ok", msg);
}

void
pages_approvals_post(struct web_app *app, const struct web_req *rq, struct wsess *s,
		     struct web_resp *rs)
{
	const char *one = form_get(&rq->body, "one"), *what, *comment;
	char idtext[16], key[24];
	const char *colon = one != NULL ? strchr(one, ':') : NULL;
	struct ctl_reply r;
	long long id;

	if (colon == NULL || colon == one || (size_t)(colon - one) >= sizeof(idtext) ||
	    strspn(one, "0123456789") != (size_t)(colon - one)) {
		approvals_page(app, rq, s, rs, 400, "error", "That decision could not be read.");
		return;
	}
	snprintf(idtext, sizeof(idtext), "%.*s", (int)(colon - one), one);
	id = strtoll(idtext, NULL, 10);
	what = colon + 1;
	snprintf(key, sizeof(key), "c%s", idtext);
	comment = form_get(&rq->body, key);
	if (id < 1 || (strcmp(what, "approve") != 0 && strcmp(what, "deny") != 0)) {
		approvals_page(app, rq, s, rs, 400, "error", "That decision could not be read.");
		return;
	}
	if (pages_call(app, rq, s, rs,
		       strcmp(what, "approve") == 0 ? "grant.approve" : "grant.deny",
		       comment != NULL && comment[0] != '\0'
			       ? json_pack("{s:I, s:s}", "id", (json_int_t)id, "comment", comment)
			       : json_pack("{s:I}", "id", (json_int_t)id),
		       &r))
		return;
	if (r.code != NULL) {
		char why[600];

		snprintf(why, sizeof(why), "Not recorded: %s", r.message);
		approvals_page(app, rq, s, rs, strcmp(r.code, "denied") == 0 ? 403 : 409, "error",
			       why);
		ctl_reply_free(&r);
		return;
	}
	ctl_reply_free(&r);
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "/approvals?decided=%lld", id);
}

void
pages_approvals_acknowledge(struct web_app *app, const struct web_req *rq, struct wsess *s,
			    struct web_resp *rs)
{
	const char *ack = form_get(&rq->body, "ack"), *comment;
	char key[24];
	struct ctl_reply r;
	long long id;

	if (ack == NULL || ack[0] == '\0' || strlen(ack) > 12 ||
	    strspn(ack, "0123456789") != strlen(ack) || (id = strtoll(ack, NULL, 10)) < 1) {
		approvals_page(app, rq, s, rs, 400, "error",
			       "That acknowledgement could not be read.");
		return;
	}
	snprintf(key, sizeof(key), "a%lld", id);
	comment = form_get(&rq->body, key);
	if (comment == NULL || comment[strspn(comment, " \t")] == '\0') {
		approvals_page(app, rq, s, rs, 400, "error",
			       "Say what you checked: a break-glass use is acknowledged with a "
			       "comment.");
		return;
	}
	if (pages_call(app, rq, s, rs, "grant.acknowledge",
		       json_pack("{s:I, s:s}", "id", (json_int_t)id, "comment", comment), &r))
		return;
	if (r.code != NULL) {
		char why[600];

		snprintf(why, sizeof(why), "Not acknowledged: %s", r.message);
		approvals_page(app, rq, s, rs, pages_refusal_status(r.code, 409), "error", why);
		ctl_reply_free(&r);
		return;
	}
	ctl_reply_free(&r);
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "/approvals?acknowledged=%lld", id);
}
