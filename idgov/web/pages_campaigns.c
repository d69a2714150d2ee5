/*
 * Campaigns (admins): every campaign with its state, deadline and
 * progress; for one campaign, the progress of each reviewer, those
 * overdue marked; and its evidence report (CSV, JSON or HTML) as a
 * download. The report is made and audited by idgovd (review.report); it
 * is sent as an attachment, never shown in this origin.
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

static long long
num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void
day(struct buf *b, json_t *t)
{
	char out[32];
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;

	gmtime_r(&v, &tm);
	strftime(out, sizeof(out), "%Y-%m-%d %H:%M UTC", &tm);
	buf_puts(b, out);
}

/* A campaign number from the query: digits, 1..10^12; 0 when absent or malformed. */
static long long
campaign_id(const struct web_req *rq)
{
	const char *s = form_get(&rq->query, "id");

	if (s == NULL || s[0] == '\0' || strlen(s) > 12 || strspn(s, "0123456789") != strlen(s))
		return 0;
	return strtoll(s, NULL, 10);
}

static int
signed_out_or_error(struct web_app *app, struct wsess *s, struct web_resp *rs, struct ctl_reply *r)
{
	if (r->code == NULL)
		return 0;
	if (strcmp(r->code, "signed_out") == 0)
		pages_signed_out(app, s, rs);
	else
		pages_message(rs, s, pages_refusal_status(r->code, 503), "Campaigns", r->message,
			      "/campaigns", "Campaigns");
	ctl_reply_free(r);
	return -1;
}

/* One campaign's reviewers, with their progress; overdue when past the deadline and undecided. */
static int
detail(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
       long long id, struct buf *b)
{
	struct ctl_reply r;
	json_t *rev;
	size_t i;
	int64_t deadline;
	int open;

	ctl_call(&app->ctl, "review.show", json_pack("{s:I}", "campaign", (json_int_t)id), s->token,
		 rq->addr, &r);
	if (signed_out_or_error(app, s, rs, &r) != 0)
		return -1;
	deadline = json_integer_value(json_object_get(r.result, "deadline"));
	open = strcmp(str(r.result, "state"), "open") == 0;
	buf_puts(b, "<h2>Reviewers of ");
	html_escape(b, str(r.result, "name"));
	buf_puts(b, "</h2><table class=\"items\" id=\"reviewers\"><thead><tr><th>Reviewer</th>"
		    "<th>Progress</th><th>Revoked</th><th></th></tr></thead><tbody>");
	json_array_foreach(json_object_get(r.result, "reviewers"), i, rev)
	{
		long long items = num(rev, "items"), decided = num(rev, "decided");

		buf_puts(b, "<tr><td>");
		html_escape(b, str(rev, "reviewer"));
		buf_printf(b,
			   "</td><td><progress max=\"%lld\" value=\"%lld\"></progress> %lld of "
			   "%lld</td><td>%lld</td><td>%s</td></tr>\n",
			   items, decided, decided, items, num(rev, "revoked"),
			   open && decided < items && idg_now() > deadline
				   ? "<span class=\"badge\">overdue</span>"
				   : "");
	}
	buf_puts(b, "</tbody></table>");
	ctl_reply_free(&r);
	return 0;
}

void
pages_campaigns(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	long long want = campaign_id(rq);
	struct buf rows, more, content;
	struct ctl_reply r;
	json_t *c;
	size_t i;

	ctl_call(&app->ctl, "review.list", NULL, s->token, rq->addr, &r);
	if (signed_out_or_error(app, s, rs, &r) != 0)
		return;
	buf_init(&rows);
	buf_init(&more);
	buf_init(&content);
	json_array_foreach(r.result, i, c)
	{
		long long id = num(c, "id"), items = num(c, "items");
		long long decided = items - num(c, "undecided");

		buf_printf(
			&rows,
			"<tr id=\"campaign-%lld\"><td>%lld</td><td><a href=\"/campaigns?id=%lld\">",
			id, id, id);
		html_escape(&rows, str(c, "name"));
		buf_puts(&rows, "</a></td><td>");
		html_escape(&rows, str(c, "state"));
		buf_puts(&rows, "</td><td>");
		day(&rows, json_object_get(c, "deadline"));
		buf_printf(&rows,
			   "</td><td><progress max=\"%lld\" value=\"%lld\"></progress> %lld of "
			   "%lld</td><td>",
			   items, decided, decided, items);
		for (const char *const *f = (const char *const[]){"csv", "json", "html", NULL};
		     *f != NULL; f++)
			buf_printf(&rows,
				   "<a href=\"/campaigns/report?id=%lld&amp;format=%s\" "
				   "download>%s</a> ",
				   id, *f, *f);
		buf_puts(&rows, "</td></tr>\n");
	}
	if (json_array_size(r.result) == 0)
		buf_puts(&rows, "<tr><td colspan=\"6\">No campaign yet.</td></tr>");
	ctl_reply_free(&r);
	if (want > 0 && detail(app, rq, s, rs, want, &more) != 0)
		goto out;
	{
		const struct html_var v[] = {html_raw("rows", rows.p != NULL ? rows.p : ""),
					     html_raw("detail", more.p != NULL ? more.p : "")};

		if (rows.failed || more.failed ||
		    html_render(&content, "campaigns.html", v, 2) != 0)
			rs->body.failed = 1;
		else
			pages_layout(rs, s, "/campaigns", "Campaigns", NULL, content.p);
	}
out:
	buf_free(&rows);
	buf_free(&more);
	buf_free(&content);
}

void
pages_campaign_report(struct web_app *app, const struct web_req *rq, struct wsess *s,
		      struct web_resp *rs)
{
	static const struct {
		const char *format, *type;
	} formats[] = {
		{"csv", "text/csv; charset=utf-8"},
		{"json", "application/json"},
		{"html", "text/html; charset=utf-8"},
	};
	const char *format = form_get(&rq->query, "format"), *content;
	long long id = campaign_id(rq);
	struct ctl_reply r;
	size_t f;

	for (f = 0; format != NULL && f < sizeof(formats) / sizeof(formats[0]); f++)
		if (strcmp(formats[f].format, format) == 0)
			break;
	if (id == 0 || format == NULL || f == sizeof(formats) / sizeof(formats[0])) {
		pages_message(rs, s, 400, "Evidence",
			      "Give a campaign and a format (csv, json, html).", "/campaigns",
			      "Campaigns");
		return;
	}
	ctl_call(&app->ctl, "review.report",
		 json_pack("{s:I, s:s}", "campaign", (json_int_t)id, "format", format), s->token,
		 rq->addr, &r);
	if (signed_out_or_error(app, s, rs, &r) != 0)
		return;
	content = json_string_value(json_object_get(r.result, "content"));
	rs->status = 200;
	rs->content_type = formats[f].type;
	buf_puts(&rs->body, content != NULL ? content : "");
	snprintf(rs->disposition, sizeof(rs->disposition),
		 "attachment; filename=\"idgov-campaign-%lld.%s\"", id, formats[f].format);
	rs->extra_header = "Content-Disposition";
	rs->extra_value = rs->disposition;
	ctl_reply_free(&r);
}
