/*
 * "My reviews": the signed-in reviewer's items in open campaigns, with
 * who, what, how it is held, since when, the last login and the
 * recommendation; filters; decisions one at a time, for the selected
 * items, or "approve all recommended", which never includes privileged
 * access (those are always decided one by one, or by selection).
 *
 * The items come from idgovd as the person: a reviewer sees and decides
 * only their own, whatever the page is sent. A privileged revocation
 * without a comment is refused by idgovd, and the page says so.
 *
 * The list is paged by idgovd (review.page): the filters and the window
 * are applied in its SQL, so a view costs one page of rows, whatever the
 * reviewer holds; the progress bar counts every item. The pager is plain
 * links that keep the filters. "Select" acts on the boxes ticked on this
 * page; "approve all recommended" acts on every undecided item recommended
 * for approval on every page, read whole (review.pending) when it is
 * pressed, and never on a privileged one.
 */
#include "pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SELECTED 10000
/* Items on one page of the list; idgovd cuts the page (review.page). */
#define REVIEWS_PAGE_SIZE 100

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

/*
 * The columns of review.page's table (asked with "table": an array of
 * column names and an array of rows, each an array of values) that a row
 * of the page draws. Reading a row by index, not an object per row by
 * key, is what made parsing idgovd's reply cheap (query_table()).
 */
enum col {
	COL_ITEM,
	COL_CAMPAIGN_NAME,
	COL_USER,
	COL_DISPLAY_NAME,
	COL_TITLE,
	COL_DEPARTMENT,
	COL_GROUP_DESCRIPTION,
	COL_USER_STATUS,
	COL_GRP,
	COL_PRIVILEGED,
	COL_HELD_AS,
	COL_VIA,
	COL_SOURCE,
	COL_SINCE,
	COL_LAST_LOGIN,
	COL_RECOMMENDATION,
	COL_RECOMMEND_WHY,
	COL_DECISION,
	COL_COMMENT,
	COL_COUNT
};

static const char *const col_names[COL_COUNT] = {
	[COL_ITEM] = "item",
	[COL_CAMPAIGN_NAME] = "campaign_name",
	[COL_USER] = "user",
	[COL_DISPLAY_NAME] = "display_name",
	[COL_TITLE] = "title",
	[COL_DEPARTMENT] = "department",
	[COL_GROUP_DESCRIPTION] = "group_description",
	[COL_USER_STATUS] = "user_status",
	[COL_GRP] = "grp",
	[COL_PRIVILEGED] = "privileged",
	[COL_HELD_AS] = "held_as",
	[COL_VIA] = "via",
	[COL_SOURCE] = "source",
	[COL_SINCE] = "since",
	[COL_LAST_LOGIN] = "last_login",
	[COL_RECOMMENDATION] = "recommendation",
	[COL_RECOMMEND_WHY] = "recommend_why",
	[COL_DECISION] = "decision",
	[COL_COMMENT] = "comment",
};

/* Where each column is in a row; -1 when idgovd sent no such column. */
struct cols {
	int at[COL_COUNT];
};

static void
cols_find(struct cols *c, json_t *columns)
{
	json_t *v;
	size_t i;

	for (int k = 0; k < COL_COUNT; k++)
		c->at[k] = -1;
	json_array_foreach(columns, i, v)
	{
		for (int k = 0; k < COL_COUNT && json_is_string(v); k++)
			if (c->at[k] < 0 && strcmp(json_string_value(v), col_names[k]) == 0)
				c->at[k] = (int)i;
	}
}

/* A row's value of column k; NULL when the row is not an array or too short. */
static json_t *
cell(json_t *row, const struct cols *c, enum col k)
{
	return c->at[k] < 0 ? NULL : json_array_get(row, (size_t)c->at[k]);
}

static const char *
cell_str(json_t *row, const struct cols *c, enum col k)
{
	const char *s = json_string_value(cell(row, c, k));

	return s != NULL ? s : "";
}

static void
row(struct buf *b, const struct cols *c, json_t *it)
{
	json_int_t id = json_integer_value(cell(it, c, COL_ITEM));
	const char *rec = cell_str(it, c, COL_RECOMMENDATION),
		   *decision = cell_str(it, c, COL_DECISION);
	const char *held = cell_str(it, c, COL_HELD_AS), *via = cell_str(it, c, COL_VIA),
		   *source = cell_str(it, c, COL_SOURCE);
	int priv = json_is_true(cell(it, c, COL_PRIVILEGED)) ||
		   json_integer_value(cell(it, c, COL_PRIVILEGED)) != 0;
	char since[16], login[16], n[24];

	day(since, cell(it, c, COL_SINCE));
	day(login, cell(it, c, COL_LAST_LOGIN));
	snprintf(n, sizeof(n), "%lld", (long long)id);
	buf_puts(b, "<tr id=\"item-");
	buf_puts(b, n);
	buf_puts(b, "\"><td><input type=\"checkbox\" name=\"item\" value=\"");
	buf_puts(b, n);
	buf_puts(b, "\" aria-label=\"Select item ");
	buf_puts(b, n);
	buf_puts(b, "\"></td><td>");
	html_escape(b, cell_str(it, c, COL_DISPLAY_NAME)[0] != '\0'
			       ? cell_str(it, c, COL_DISPLAY_NAME)
			       : cell_str(it, c, COL_USER));
	buf_puts(b, "<span class=\"sub\">");
	html_escape(b, cell_str(it, c, COL_USER));
	if (strcmp(cell_str(it, c, COL_USER_STATUS), "active") != 0) {
		buf_puts(b, " · ");
		html_escape(b, cell_str(it, c, COL_USER_STATUS));
	}
	buf_puts(b, "</span>");
	if (cell_str(it, c, COL_TITLE)[0] != '\0' || cell_str(it, c, COL_DEPARTMENT)[0] != '\0') {
		buf_puts(b, "<span class=\"sub who\">");
		html_escape(b, cell_str(it, c, COL_TITLE));
		if (cell_str(it, c, COL_TITLE)[0] != '\0' &&
		    cell_str(it, c, COL_DEPARTMENT)[0] != '\0')
			buf_puts(b, " · ");
		html_escape(b, cell_str(it, c, COL_DEPARTMENT));
		buf_puts(b, "</span>");
	}
	buf_puts(b, "</td><td>");
	html_escape(b, cell_str(it, c, COL_GRP));
	if (priv)
		buf_puts(b, "<span class=\"badge\">privileged</span>");
	if (cell_str(it, c, COL_GROUP_DESCRIPTION)[0] != '\0') {
		buf_puts(b, "<span class=\"sub what\">");
		html_escape(b, cell_str(it, c, COL_GROUP_DESCRIPTION));
		buf_puts(b, "</span>");
	}
	buf_puts(b, "<span class=\"sub\">");
	html_escape(b, cell_str(it, c, COL_CAMPAIGN_NAME));
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
	buf_puts(b, "<span class=\"sub\">since ");
	buf_puts(b, since);
	buf_puts(b, "</span></td><td>");
	buf_puts(b, login);
	buf_puts(b, strcmp(rec, "revoke") == 0 ? "</td><td><span class=\"rec-revoke\">"
					       : "</td><td><span class=\"rec-approve\">");
	html_escape(b, rec);
	buf_puts(b, "</span><span class=\"sub\">");
	html_escape(b, cell_str(it, c, COL_RECOMMEND_WHY));
	buf_puts(b, "</span></td><td>");
	if (decision[0] != '\0') {
		buf_puts(b, "<span class=\"decided\">");
		html_escape(b, decision);
		buf_puts(b, "</span>");
		if (cell_str(it, c, COL_COMMENT)[0] != '\0') {
			buf_puts(b, "<span class=\"sub\">");
			html_escape(b, cell_str(it, c, COL_COMMENT));
			buf_puts(b, "</span>");
		}
	} else {
		/* Plain appends, not one long printf: a page has a hundred of these. */
		buf_puts(b, "<button type=\"submit\" name=\"one\" value=\"");
		buf_puts(b, n);
		buf_puts(b, ":approve\" class=\"approve\">Approve</button><button type=\"submit\" "
			    "name=\"one\" value=\"");
		buf_puts(b, n);
		buf_puts(b,
			 ":revoke\" class=\"revoke\">Revoke</button><input type=\"text\" name=\"c");
		buf_puts(b, n);
		buf_puts(
			b,
			priv ? "\" maxlength=\"4000\" placeholder=\"Comment (required to revoke)\" "
			       "aria-label=\"Comment for item "
			     : "\" maxlength=\"4000\" placeholder=\"Comment\" aria-label=\"Comment "
			       "for item ");
		buf_puts(b, n);
		buf_puts(b, "\">");
	}
	buf_puts(b, "</td></tr>\n");
}

/* Fetches the reviewer's items; NULL with rs filled (signed out, or an error page). */
static json_t *
pending(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
	struct ctl_reply *r)
{
	if (pages_call(app, rq, s, rs, "review.pending", NULL, r))
		return NULL;
	if (r->code != NULL || !json_is_array(r->result)) {
		pages_message(rs, s, 503, "My reviews", r->message, "/reviews", "Try again");
		ctl_reply_free(r);
		return NULL;
	}
	return r->result;
}

/* Appends s percent-encoded for a query string: only unreserved bytes stay as they are. */
static void
url_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			buf_add(b, (const char *)&c, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* The page's filters as a query string (written for an attribute: & as &amp;). */
static void
filter_query(struct buf *b, const char *person, const char *group, int undecided, int priv)
{
	buf_puts(b, "/reviews?");
	if (person != NULL && person[0] != '\0') {
		buf_puts(b, "person=");
		url_escape(b, person);
		buf_puts(b, "&amp;");
	}
	if (group != NULL && group[0] != '\0') {
		buf_puts(b, "group=");
		url_escape(b, group);
		buf_puts(b, "&amp;");
	}
	if (undecided)
		buf_puts(b, "undecided=1&amp;");
	if (priv)
		buf_puts(b, "privileged=1&amp;");
}

/*
 * An item cursor as review.page takes and gives it ("u4900", "d17": the
 * item's half of the list and its id), checked here too so that nothing
 * else reaches idgovd or a link: 'u' or 'd', 1 to 19 digits, no leading 0.
 */
static int
cursor_valid(const char *s)
{
	size_t n;

	if (s == NULL || (s[0] != 'u' && s[0] != 'd'))
		return 0;
	n = strlen(s + 1);
	return n >= 1 && n <= 19 && strspn(s + 1, "0123456789") == n && s[1] != '0';
}

/*
 * Links to the first, previous, next and last pages, keeping the filters;
 * plain links. Previous and next carry the cursor of this page's first or
 * last item (idgovd then finds the window with an index search instead of
 * walking an offset); first and last are by number.
 */
static void
pager(struct buf *b, const char *person, const char *group, int undecided, int priv, long long page,
      long long pages, const char *first, const char *last)
{
	static const char *const names[] = {"First", "Previous", "Next", "Last"};
	long long to[4] = {1, page - 1, page + 1, pages};
	int on[4] = {page > 1, page > 1, page < pages, page < pages};
	const char *cur[4] = {NULL, cursor_valid(first) ? first : NULL,
			      cursor_valid(last) ? last : NULL, NULL};
	const char *dir[4] = {NULL, "before", "after", NULL};

	buf_printf(b, "<nav class=\"pager\" aria-label=\"Pages\">Page %lld of %lld", page, pages);
	for (int i = 0; i < 4; i++) {
		if (!on[i]) {
			buf_printf(b, " <span class=\"off\">%s</span>", names[i]);
			continue;
		}
		buf_printf(b, " <a class=\"page-%s\" href=\"",
			   i == 0   ? "first"
			   : i == 1 ? "prev"
			   : i == 2 ? "next"
				    : "last");
		filter_query(b, person, group, undecided, priv);
		if (cur[i] != NULL)
			buf_printf(b, "%s=%s&amp;", dir[i], cur[i]);
		buf_printf(b, "page=%lld\">%s</a>", to[i], names[i]);
	}
	buf_puts(b, "</nav>");
}

/* The page number asked for: digits, 1..999999; 0 when it is not one. */
static long long
page_number(const char *s)
{
	if (s == NULL)
		return 1;
	if (s[0] == '\0' || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
		return 0;
	return strtoll(s, NULL, 10);
}

static void
render(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs,
       int status, const char *flash_kind, const char *flash_text)
{
	const char *f_person = form_get(&rq->query, "person"),
		   *f_group = form_get(&rq->query, "group");
	int f_undecided = form_get(&rq->query, "undecided") != NULL;
	int f_priv = form_get(&rq->query, "privileged") != NULL;
	const char *after = form_get(&rq->query, "after"), *before = form_get(&rq->query, "before");
	long long page = page_number(form_get(&rq->query, "page")), pages, matched;
	struct buf rows, content, flash, camps, nav;
	struct ctl_reply r;
	size_t i;
	char n_total[24], n_decided[24], n_shown[48];
	json_t *args, *items, *it;
	struct cols cols;

	if (page == 0 || (after != NULL && !cursor_valid(after)) ||
	    (before != NULL && !cursor_valid(before)) || (after != NULL && before != NULL)) {
		/* A page number or cursor that is not one: say so, and show the first page. */
		page = 1;
		after = before = NULL;
		status = 400;
		flash_kind = "error";
		flash_text = "That page number could not be read.";
	}
	args = json_pack("{s:b, s:b, s:I, s:b}", "undecided", f_undecided, "privileged", f_priv,
			 "limit", (json_int_t)REVIEWS_PAGE_SIZE, "table", 1);
	if (args != NULL)
		json_object_set_new(
			args,
			after != NULL    ? "after"
			: before != NULL ? "before"
					 : "offset",
			after != NULL ? json_string(after)
			: before != NULL
				? json_string(before)
				: json_integer((json_int_t)((page - 1) * REVIEWS_PAGE_SIZE)));
	if (args != NULL && f_person != NULL && f_person[0] != '\0')
		json_object_set_new(args, "person", json_string(f_person));
	if (args != NULL && f_group != NULL && f_group[0] != '\0')
		json_object_set_new(args, "group", json_string(f_group));
	if (pages_call(app, rq, s, rs, "review.page", args, &r))
		return;
	if (r.code != NULL && strcmp(r.code, "bad_request") == 0) {
		/* A filter idgovd will not take (too long, a control character): no items. */
		pages_message(rs, s, 400, "My reviews", r.message, "/reviews", "Clear the filters");
		ctl_reply_free(&r);
		return;
	}
	if (r.code != NULL || !json_is_object(r.result) ||
	    !json_is_array(items = json_object_get(r.result, "rows"))) {
		pages_message(rs, s, 503, "My reviews", r.message, "/reviews", "Try again");
		ctl_reply_free(&r);
		return;
	}
	buf_init(&rows);
	buf_init(&content);
	buf_init(&flash);
	buf_init(&camps);
	buf_init(&nav);
	json_array_foreach(json_object_get(r.result, "campaigns"), i, it)
	{
		char dl[16];

		day(dl, json_object_get(it, "deadline"));
		buf_puts(&camps, camps.len > 0 ? "; " : "Campaign ");
		html_escape(&camps, str(it, "name"));
		buf_printf(&camps, ", deadline %s", dl);
	}
	/* A row is about 600 bytes: room for the page's rows at once, not by doubling. */
	buf_reserve(&rows, json_array_size(items) * 1024);
	cols_find(&cols, json_object_get(r.result, "columns"));
	json_array_foreach(items, i, it) row(&rows, &cols, it);
	matched = (long long)json_integer_value(json_object_get(r.result, "matched"));
	pages = matched > 0 ? (matched + REVIEWS_PAGE_SIZE - 1) / REVIEWS_PAGE_SIZE : 1;
	if (json_integer_value(json_object_get(r.result, "total")) == 0)
		buf_puts(&camps, "Nothing to review: no open campaign has items for you.");
	snprintf(n_total, sizeof(n_total), "%lld",
		 (long long)json_integer_value(json_object_get(r.result, "total")));
	snprintf(n_decided, sizeof(n_decided), "%lld",
		 (long long)json_integer_value(json_object_get(r.result, "decided")));
	snprintf(n_shown, sizeof(n_shown), "%zu of %lld", json_array_size(items), matched);
	pager(&nav, f_person, f_group, f_undecided, f_priv, page, pages, str(r.result, "first"),
	      str(r.result, "last"));
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
			html_raw("pager", nav.p != NULL ? nav.p : ""),
			html_raw("rows", rows.p != NULL ? rows.p : ""),
		};

		buf_reserve(&content, rows.len + camps.len + nav.len + 8192);
		if (html_render(&content, "reviews.html", v, sizeof(v) / sizeof(v[0])) != 0 ||
		    rows.failed || camps.failed || nav.failed)
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
	buf_free(&nav);
	ctl_reply_free(&r);
}

void
pages_reviews(struct web_app *app, const struct web_req *rq, struct wsess *s, struct web_resp *rs)
{
	const char *done = form_get(&rq->query, "decided");
	const char *moved = form_get(&rq->query, "delegated");
	char msg[64] = "";

	if (done != NULL && strspn(done, "0123456789") == strlen(done) && strlen(done) < 8)
		snprintf(msg, sizeof(msg), "%s decision%s recorded.", done,
			 strcmp(done, "1") == 0 ? "" : "s");
	else if (moved != NULL && strspn(moved, "0123456789") == strlen(moved) && strlen(moved) < 8)
		snprintf(msg, sizeof(msg), "%s item%s delegated.", moved,
			 strcmp(moved, "1") == 0 ? "" : "s");
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

/*
 * "Delegate selected": each ticked item to the named person, through
 * review.delegate, the operation `idgov review delegate` uses (idgovd
 * checks the reviewer, that the person is active, and that nobody gets an
 * item about themself). One call per item: when one is refused, those
 * before it stay delegated and the page says how many and why it stopped.
 */
static void
delegate_selected(struct web_app *app, const struct web_req *rq, struct wsess *s,
		  struct web_resp *rs)
{
	const char *to = form_get(&rq->body, "to");
	const char **ids = calloc(MAX_SELECTED, sizeof(*ids));
	size_t n = ids != NULL ? form_get_all(&rq->body, "item", ids, MAX_SELECTED) : 0, done = 0;
	char why[700];

	if (ids == NULL || n == 0 || n > MAX_SELECTED || to == NULL || to[0] == '\0') {
		free(ids);
		render(app, rq, s, rs, 400, "error",
		       "Select the items to delegate, and name the person to delegate them to.");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (item_id(ids[i]) == 0) {
			free(ids);
			render(app, rq, s, rs, 400, "error", "An item number is malformed.");
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ctl_reply r;

		if (pages_call(app, rq, s, rs, "review.delegate",
			       json_pack("{s:I, s:s}", "item", item_id(ids[i]), "to", to), &r)) {
			free(ids);
			return;
		}
		if (r.code != NULL) {
			snprintf(why, sizeof(why), "%zu of %zu delegated; item #%.15s was not: %s",
				 done, n, ids[i], r.message);
			free(ids);
			render(app, rq, s, rs, pages_refusal_status(r.code, 400), "error", why);
			ctl_reply_free(&r);
			return;
		}
		done++;
		ctl_reply_free(&r);
	}
	free(ids);
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "/reviews?delegated=%zu", done);
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
	} else if (form_get(&rq->body, "delegate") != NULL) {
		delegate_selected(app, rq, s, rs);
		return;
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
	if (pages_call(app, rq, s, rs, "review.decide_many", json_pack("{s:o}", "decisions", list),
		       &r))
		return;
	if (r.code != NULL) {
		/* Nothing was recorded (decide_many is all or nothing): say why, show the list. */
		char why[600];

		snprintf(why, sizeof(why), "Nothing was recorded: %s", r.message);
		render(app, rq, s, rs, pages_refusal_status(r.code, 400), "error", why);
		ctl_reply_free(&r);
		return;
	}
	snprintf(where, sizeof(where), "/reviews?decided=%lld",
		 (long long)json_integer_value(json_object_get(r.result, "decided")));
	ctl_reply_free(&r);
	rs->status = 303;
	snprintf(rs->location, sizeof(rs->location), "%s", where);
}
