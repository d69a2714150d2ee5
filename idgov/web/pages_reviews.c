/*
 * "My reviews": the signed-in reviewer's items in open campaigns, with
 * who, what, how it is held, since when, the last login and the
 * recommendation; filters; decisions one at a time, for the selected
 * items, or "approve all recommended", which never includes privileged
 * access (those are always decided one by one, or by selection).
 *
 * The items come from idgovd (review.pending) as the person: a reviewer
 * sees and decides only their own, whatever the page is sent. A privileged
 * revocation without a comment is refused by idgovd, and the page says so.
 */
#include "pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SELECTED 10000

static void
day(char out[16], json_t *t)
{
	time_t v;
	struct tm tm;

	if (!json_is_integer(t) || json_integer_value(t) <= 0) {
		snprintf(out, 16, "never");
		return;
	}
	v = (time_t)json_integer_value(t);
	gmtime_r(&v, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Case-insensitive "contains", for the filters. */
static int
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 1;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

static void
row(struct buf *b, json_t *it)
{
	json_int_t id = json_integer_value(json_object_get(it, "item"));
	const char *rec = str(it, "recommendation"), *decision = str(it, "decision");
	const char *held = str(it, "held_as"), *via = str(it, "via"), *source = str(it, "source");
	int priv = json_is_true(json_object_get(it, "privileged")) ||
		   json_integer_value(json_object_get(it, "privileged")) != 0;
	char since[16], login[16];

	day(since, json_object_get(it, "since"));
	day(login, json_object_get(it, "last_login"));
	buf_printf(b,
		   "<tr id=\"item-%lld\"><td><input type=\"checkbox\" name=\"item\" value=\"%lld\" "
		   "aria-label=\"Select item %lld\"></td><td>",
		   (long long)id, (long long)id, (long long)id);
	html_escape(b,
		    str(it, "display_name")[0] != '\0' ? str(it, "display_name") : str(it, "user"));
	buf_puts(b, "<span class=\"sub\">");
	html_escape(b, str(it, "user"));
	if (strcmp(str(it, "user_status"), "active") != 0) {
		buf_puts(b, " · ");
		html_escape(b, str(it, "user_status"));
	}
	buf_puts(b, "</span></td><td>");
	html_escape(b, str(it, "grp"));
	if (priv)
		buf_puts(b, "<span class=\"badge\">privileged</span>");
	buf_puts(b, "<span class=\"sub\">");
	html_escape(b, str(it, "campaign_name"));
	buf_puts(b, "</span></td><td>");
	html_escape(b, held);
	if (via[0] != '\0') {
		buf_puts(b, " via ");
		html_escape(b, via);
	}
	if (source[0] != '\0' && strcmp(source, held) != 0) {
		buf_puts(b, " (");
		html_escape(b, source);
		buf_puts(b, ")");
	}
	buf_printf(b, "<span class=\"sub\">since %s</span></td><td>%s</td>", since, login);
	buf_printf(b, "<td><span class=\"rec-%s\">",
		   strcmp(rec, "revoke") == 0 ? "revoke" : "approve");
	html_escape(b, rec);
	buf_puts(b, "</span><span class=\"sub\">");
	html_escape(b, str(it, "recommend_why"));
	buf_puts(b, "</span></td><td>");
	if (decision[0] != '\0') {
		buf_puts(b, "<span class=\"decided\">");
		html_escape(b, decision);
		buf_puts(b, "</span>");
		if (str(it, "comment")[0] != '\0') {
			buf_puts(b, "<span class=\"sub\">");
			html_escape(b, str(it, "comment"));
			buf_puts(b, "</span>");
		}
	} else {
		buf_printf(
			b,
			"<button type=\"submit\" name=\"one\" value=\"%lld:approve\" "
			"class=\"approve\">Approve</button><button type=\"submit\" name=\"one\" "
			"value=\"%lld:revoke\" class=\"revoke\">Revoke</button><input "
			"type=\"text\" "
			"name=\"c%lld\" maxlength=\"4000\" placeholder=\"%s\" aria-label=\"Comment "
			"for item %lld\">",
			(long long)id, (long long)id, (long long)id,
			priv ? "Comment (required to revoke)" : "Comment", (long long)id);
	}
	buf_puts(b, "</td></tr>\n");
}

/* Fetches the reviewer's items; NULL with rs filled (signed out, or an error page). */
static json_t *
pending(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
	struct ctl_reply *r)
{
	ctl_call(&app->ctl, "review.pending", NULL, s->token, rq->addr, r);
	if (r->code != NULL && strcmp(r->code, "signed_out") == 0) {
		ctl_reply_free(r);
		pages_signed_out(app, s, rs);
		return NULL;
	}
	if (r->code != NULL || !json_is_array(r->result)) {
		pages_message(rs, s, 503, "My reviews", r->message, "/reviews", "Try again");
		ctl_reply_free(r);
		return NULL;
	}
	return r->result;
}

static void
render(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
       int status, const char *flash_kind, const char *flash_text)
{
	const char *f_person = form_get(&rq->query, "person"),
		   *f_group = form_get(&rq->query, "group");
	int f_undecided = form_get(&rq->query, "undecided") != NULL;
	int f_priv = form_get(&rq->query, "privileged") != NULL;
	struct buf rows, content, flash, camps;
	struct ctl_reply r;
	size_t i, total = 0, decided = 0, shown = 0;
	char n_total[24], n_decided[24], n_shown[24];
	json_t *items, *it, *seen = json_object();

	if ((items = pending(app, rq, s, rs, &r)) == NULL) {
		json_decref(seen);
		return;
	}
	buf_init(&rows);
	buf_init(&content);
	buf_init(&flash);
	buf_init(&camps);
	json_array_foreach(items, i, it)
	{
		int priv = json_is_true(json_object_get(it, "privileged")) ||
			   json_integer_value(json_object_get(it, "privileged")) != 0;
		int is_decided = json_object_get(it, "decision") != NULL &&
				 !json_is_null(json_object_get(it, "decision"));
		const char *cname = str(it, "campaign_name");

		total++;
		decided += is_decided ? 1u : 0u;
		if (json_object_get(seen, cname) == NULL) {
			char dl[16];

			json_object_set_new(seen, cname, json_true());
			day(dl, json_object_get(it, "deadline"));
			buf_puts(&camps, camps.len > 0 ? "; " : "Campaign ");
			html_escape(&camps, cname);
			buf_printf(&camps, ", deadline %s", dl);
		}
		if ((f_person != NULL && !contains(str(it, "user"), f_person) &&
		     !contains(str(it, "display_name"), f_person)) ||
		    (f_group != NULL && !contains(str(it, "grp"), f_group)) ||
		    (f_undecided && is_decided) || (f_priv && !priv))
			continue;
		shown++;
		row(&rows, it);
	}
	if (total == 0)
		buf_puts(&camps, "Nothing to review: no open campaign has items for you.");
	snprintf(n_total, sizeof(n_total), "%zu", total);
	snprintf(n_decided, sizeof(n_decided), "%zu", decided);
	snprintf(n_shown, sizeof(n_shown), "%zu", shown);
	pages_flash(&flash, flash_kind, flash_text);
	{
		const struct html_var v[] = {
			html_raw("campaigns", camps.p != NULL ? camps.p : ""),
			html_text("total", n_total),
			html_text("decided", n_decided),
			html_text("f_person", f_person != NULL ? f_person : ""),
			html_text("f_group", f_group != NULL ? f_group : ""),
			html_raw("f_undecided", f_undecided ? " checked" : ""),
			html_raw("f_privileged", f_priv ? " checked" : ""),
			html_text("csrf", s->csrf),
			html_text("shown", n_shown),
			html_raw("rows", rows.p != NULL ? rows.p : ""),
		};

		if (html_render(&content, "reviews.html", v, sizeof(v) / sizeof(v[0])) != 0 ||
		    rows.failed || camps.failed)
			rs->body.failed = 1;
		else {
			rs->status = status;
			pages_layout(rs, s, "/reviews", "My reviews", flash.p, content.p);
		}
	}
	buf_free(&rows);
	buf_free(&content);
	buf_free(&flash);
	buf_free(&camps);
	json_decref(seen);
	ctl_reply_free(&r);
}

void
pages_reviews(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *done = form_get(&rq->query, "decided");
	char msg[64] = "";

	if (done != NULL && strspn(done, "0123456789") == strlen(done) && strlen(done) < 8)
		snprintf(msg, sizeof(msg), "%s decision%s recorded.", done,
			 strcmp(done, "1") == 0 ? "" : "s");
	render(app, rq, s, rs, 200, "ok", msg);
}

/* An item number from the page: digits only, 1..2^53. 0 when it is not one. */
static json_int_t
item_id(const char *s)
{
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0' || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? (json_int_t)v : 0;
}

static json_t *
decision(json_int_t id, const char *what, const char *comment)
{
	json_t *d = json_pack("{s:I, s:s}", "item", id, "decision", what);

	if (d != NULL && comment != NULL && comment[0] != '\0')
		json_object_set_new(d, "comment", json_string(comment));
	return d;
}

/* The "approve all recommended" list: undecided, recommended approve, never privileged. */
static json_t *
recommended(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	struct ctl_reply r;
	json_t *items, *it, *out;
	size_t i;

	if ((items = pending(app, rq, s, rs, &r)) == NULL)
		return NULL;
	out = json_array();
	json_array_foreach(items, i, it)
	{
		int priv = json_is_true(json_object_get(it, "privileged")) ||
			   json_integer_value(json_object_get(it, "privileged")) != 0;
		json_t *dec = json_object_get(it, "decision");
		char why[600];

		if (priv || (dec != NULL && !json_is_null(dec)) ||
		    strcmp(str(it, "recommendation"), "approve") != 0)
			continue;
		snprintf(why, sizeof(why), "as recommended: %.500s", str(it, "recommend_why"));
		json_array_append_new(out, decision(json_integer_value(json_object_get(it, "item")),
						    "approve", why));
	}
	ctl_reply_free(&r);
	return out;
}

void
pages_reviews_decide(struct web_app *app, const struct web_req *rq, struct wsess *s,
		     struct web_resp *rs)
{
	const char *one = form_get(&rq->body, "one"), *what = form_get(&rq->body, "decision");
	const char *comment = form_get(&rq->body, "comment");
	json_t *list = NULL;
	struct ctl_reply r;
	char where[64];

	if (one != NULL) {
		/* "ID:approve" or "ID:revoke", with the row's own comment field "cID". */
		char idtext[24], key[32];
		const char *colon = strchr(one, ':');
		json_int_t id;

		if (colon == NULL || (size_t)(colon - one) >= sizeof(idtext)) {
			render(app, rq, s, rs, 400, "error", "That decision could not be read.");
			return;
		}
		snprintf(idtext, sizeof(idtext), "%.*s", (int)(colon - one), one);
		id = item_id(idtext);
		what = colon + 1;
		snprintf(key, sizeof(key), "c%s", idtext);
		comment = form_get(&rq->body, key);
		if (id == 0 || (strcmp(what, "approve") != 0 && strcmp(what, "revoke") != 0)) {
			render(app, rq, s, rs, 400, "error", "That decision could not be read.");
			return;
		}
		list = json_array();
		json_array_append_new(list, decision(id, what, comment));
	} else if (form_get(&rq->body, "recommended") != NULL) {
		if ((list = recommended(app, rq, s, rs)) == NULL)
			return;
		if (json_array_size(list) == 0) {
			json_decref(list);
			render(app, rq, s, rs, 200, "ok",
			       "No undecided item is recommended for approval (privileged items "
			       "are "
			       "never approved in bulk).");
			return;
		}
	} else {
		const char **ids = calloc(MAX_SELECTED, sizeof(*ids));
		size_t n = ids != NULL ? form_get_all(&rq->body, "item", ids, MAX_SELECTED) : 0;

		if (ids == NULL || n == 0 || n > MAX_SELECTED || what == NULL ||
		    (strcmp(what, "approve") != 0 && strcmp(what, "revoke") != 0)) {
			free(ids);
			render(app, rq, s, rs, 400, "error",
			       "Select the items to decide, and approve or revoke.");
			return;
		}
		list = json_array();
		for (size_t i = 0; i < n; i++) {
			json_int_t id = item_id(ids[i]);

			if (id == 0) {
				free(ids);
				json_decref(list);
				render(app, rq, s, rs, 400, "error",
				       "An item number is malformed.");
				return;
			}
			json_array_append_new(list, decision(id, what, comment));
		}
		free(ids);
	}
	ctl_call(&app->ctl, "review.decide_many", json_pack("{s:o}", "decisions", list), s->token,
		 rq->addr, &r);
	if (r.code != NULL && strcmp(r.code, "signed_out") == 0) {
		ctl_reply_free(&r);
		pages_signed_out(app, s, rs);
		return;
	}
	if (r.code != NULL) {
		/* Nothing was recorded (decide_many is all or nothing): say why, show the list. */
		char why[600];

		snprintf(why, sizeof(why), "Nothing was recorded: %s", r.message);
		render(app, rq, s, rs,
		       strcmp(r.code, "denied") == 0      ? 403
		       : strcmp(r.code, "not_found") == 0 ? 404
							  : 400,
		       "error", why);
		ctl_reply_free(&r);
		return;
	}
	snprintf(where, sizeof(where), "/reviews?decided=%lld",
		 (long long)json_integer_value(json_object_get(r.result, "decided")));
	ctl_reply_free(&r);
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "%s", where);
}
