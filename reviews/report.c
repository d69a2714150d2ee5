/*
 * The evidence report of a campaign, for auditors: its definition and
 * dates, every item with its reviewer of record, who decided what and
 * when, the recommendation and the remediation; a summary (counts by
 * decision, on-time rate, per reviewer); and the audit chain position
 * and signature that cover the campaign's records, so that `idgov audit
 * verify` proves they were not altered. CSV (items only), JSON, or one
 * self-contained HTML file.
 *
 * Everything in it that came from people (comments, names, DNs) is
 * escaped for the format: CSV quoting with a leading quote before = + - @
 * (so a spreadsheet does not run a comment as a formula), HTML entities.
 */
#include "review_int.h"

#include "query.h"
#include "timeparse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const item_columns[] = {"item",
					   "user",
					   "user_status",
					   "group",
					   "privileged",
					   "held_as",
					   "via",
					   "source",
					   "since",
					   "last_login",
					   "recommendation",
					   "recommend_why",
					   "reviewer",
					   "reviewer_why",
					   "decided_by",
					   "decision",
					   "decision_source",
					   "decided_at",
					   "comment",
					   "remediation",
					   "remediation_why",
					   "verified_at",
					   NULL};

/* Columns holding times, printed as ISO 8601 in CSV and HTML. */
static int
is_time(const char *col)
{
	return strcmp(col, "since") == 0 || strcmp(col, "last_login") == 0 ||
	       strcmp(col, "decided_at") == 0 || strcmp(col, "verified_at") == 0;
}

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void printf_(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
printf_(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A value as text: times as ISO 8601, null as empty. */
static void
value_text(json_t *v, const char *col, char *out, size_t size, const char **text)
{
	*text = out;
	out[0] = '\0';
	if (json_is_string(v))
		*text = json_string_value(v);
	else if (json_is_integer(v) && is_time(col))
		time_format(json_integer_value(v), out);
	else if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(out, size, "%s", json_is_true(v) ? "yes" : "no");
}

static void
csv_field(struct buf *b, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ';

	if (strchr("=+-@", s[0]) != NULL && s[0] != '\0') {
		quote = 1;
		puts_(b, "\"'");
	} else if (quote) {
		puts_(b, "\"");
	}
	for (const char *p = s; *p != '\0'; p++)
		put(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
	if (quote)
		puts_(b, "\"");
}

static void
html_text(struct buf *b, const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			puts_(b, "&amp;");
			break;
		case '<':
			puts_(b, "&lt;");
			break;
		case '>':
			puts_(b, "&gt;");
			break;
		case '"':
			puts_(b, "&quot;");
			break;
		case '\'':
			puts_(b, "&#39;");
			break;
		default:
			put(b, p, 1);
		}
	}
}

/* ---- gathering ---- */

static json_t *
rows_for(struct store *st, const char *sql, int64_t id, int single, struct idg_err *err)
{
	sqlite3_stmt *s;

	if (store_prepare(st, sql, &s, err) != 0)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	return single ? query_row(st, s, "nothing found", err) : query_rows(st, s, err);
}

/* Everything the report says, as one JSON document. */
static json_t *
gather(struct store *st, int64_t id, struct idg_err *err)
{
	json_t *campaign = review_show(st, id, err), *items, *summary, *reviewers, *evidence;

	if (campaign == NULL)
		return NULL;
	json_object_del(campaign, "counts");
	json_object_del(campaign, "reviewers");
	items = rows_for(
		st,
		"SELECT i.id AS item, i.user_uid AS user, i.user_status, i.group_cn AS "
		"\"group\", i.privileged, i.held_as, i.via, i.source, i.since, "
		"i.last_login, " REVIEW_RECOMMENDATION_SQL ", i.recommend_why, i.reviewer, "
		"i.reviewer_why, i.decided_by, i.decision, i.decision_source, i.decided_at, "
		"i.comment, i.remediation, i.remediation_why, i.verified_at FROM "
		"review_items i WHERE i.campaign_id = ?1 ORDER BY i.id",
		id, 0, err);
	summary = rows_for(
		st,
		"SELECT count(*) AS items, count(*) FILTER (WHERE i.decision = 'approve') AS "
		"approved, count(*) FILTER (WHERE i.decision = 'revoke') AS revoked, count(*) "
		"FILTER (WHERE i.decision IS NULL) AS undecided, count(*) FILTER (WHERE "
		"i.decision_source = 'reviewer') AS decided_by_reviewers, count(*) FILTER (WHERE "
		"i.decision_source LIKE 'default%') AS decided_by_default, count(*) FILTER (WHERE "
		"i.decision_source = 'pre-decided') AS pre_decided, count(*) FILTER (WHERE "
		"i.remediation = 'verified') AS remediation_verified, count(*) FILTER (WHERE "
		"i.remediation = 'failed') AS remediation_failed, count(*) FILTER (WHERE "
		"i.remediation IN ('pending', 'remediated')) AS remediation_pending, "
		"round(100.0 * count(*) FILTER (WHERE i.decision_source = 'reviewer' AND "
		"i.decided_at <= c.deadline) / max(1, count(*) FILTER (WHERE i.decision_source IS "
		"NOT 'pre-decided')), 1) AS on_time_percent FROM review_items i JOIN campaigns c "
		"ON "
		"c.id = i.campaign_id WHERE i.campaign_id = ?1",
		id, 1, err);
	reviewers =
		rows_for(st,
			 "SELECT coalesce(i.reviewer, '(unassigned)') AS reviewer, count(*) AS "
			 "items, count(*) FILTER (WHERE i.decision_source = 'reviewer') AS "
			 "decided, count(*) FILTER (WHERE i.decision_source = 'reviewer' AND "
			 "i.decided_at <= c.deadline) AS on_time, count(*) FILTER (WHERE "
			 "i.decision = 'revoke') AS revoked FROM review_items i JOIN campaigns c "
			 "ON c.id = i.campaign_id WHERE i.campaign_id = ?1 GROUP BY i.reviewer "
			 "ORDER BY 1",
			 id, 0, err);
	evidence =
		rows_for(st,
			 "WITH e AS (SELECT count(*) AS n, min(seq) AS first, max(seq) AS last "
			 "FROM audit WHERE subject = 'campaign:' || ?1) "
			 "SELECT e.n AS audit_records, e.first AS first_seq, e.last AS last_seq, "
			 "(SELECT hex(hash) FROM audit WHERE seq = e.last) AS last_hash, "
			 "(SELECT s.seq FROM audit_signatures s WHERE s.seq >= e.last ORDER BY "
			 "s.seq LIMIT 1) AS signed_seq, (SELECT hex(s.signature) FROM "
			 "audit_signatures s WHERE s.seq >= e.last ORDER BY s.seq LIMIT 1) AS "
			 "signature FROM e",
			 id, 1, err);
	if (items == NULL || summary == NULL || reviewers == NULL || evidence == NULL) {
		json_decref(campaign);
		json_decref(items);
		json_decref(summary);
		json_decref(reviewers);
		json_decref(evidence);
		return NULL;
	}
	json_object_set_new(evidence, "verify",
			    json_string("idgov audit verify: the chain and its signatures must "
					"be intact through signed_seq"));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "campaign", campaign, "summary", summary,
			 "reviewers", reviewers, "items", items, "evidence", evidence,
			 "generated_at", (json_int_t)idg_now());
}

/* ---- formats ---- */

static void
csv(struct buf *b, json_t *doc)
{
	size_t i;
	json_t *item;

	for (int c = 0; item_columns[c] != NULL; c++) {
		if (c > 0)
			puts_(b, ",");
		puts_(b, item_columns[c]);
	}
	puts_(b, "\r\n");
	json_array_foreach(json_object_get(doc, "items"), i, item)
	{
		for (int c = 0; item_columns[c] != NULL; c++) {
			char tmp[64];
			const char *text;

			value_text(json_object_get(item, item_columns[c]), item_columns[c], tmp,
				   sizeof(tmp), &text);
			if (c > 0)
				puts_(b, ",");
			csv_field(b, text);
		}
		puts_(b, "\r\n");
	}
}

static void
html_pairs(struct buf *b, json_t *o)
{
	const char *key;
	json_t *v;

	puts_(b, "<table class=kv>");
	json_object_foreach(o, key, v)
	{
		char tmp[64];
		const char *text;
		char *dumped = NULL;

		if (json_is_object(v) || json_is_array(v)) {
			dumped = json_dumps(v, JSON_COMPACT);
			text = dumped != NULL ? dumped : "";
		} else {
			value_text(v,
				   strstr(key, "_at") || strcmp(key, "deadline") == 0 ? "since"
										      : key,
				   tmp, sizeof(tmp), &text);
		}
		puts_(b, "<tr><th>");
		html_text(b, key);
		puts_(b, "</th><td>");
		html_text(b, text);
		puts_(b, "</td></tr>");
		free(dumped);
	}
	puts_(b, "</table>\n");
}

static void
html_rows(struct buf *b, json_t *rows, const char *const *columns)
{
	size_t i;
	json_t *row;

	puts_(b, "<table><tr>");
	for (int c = 0; columns[c] != NULL; c++) {
		puts_(b, "<th>");
		html_text(b, columns[c]);
		puts_(b, "</th>");
	}
	puts_(b, "</tr>\n");
	json_array_foreach(rows, i, row)
	{
		puts_(b, "<tr>");
		for (int c = 0; columns[c] != NULL; c++) {
			char tmp[64];
			const char *text;

			value_text(json_object_get(row, columns[c]), columns[c], tmp, sizeof(tmp),
				   &text);
			puts_(b, "<td>");
			html_text(b, text);
			puts_(b, "</td>");
		}
		puts_(b, "</tr>\n");
	}
	puts_(b, "</table>\n");
}

static void
html(struct buf *b, json_t *doc)
{
	static const char *const reviewer_columns[] = {"reviewer", "items",   "decided",
						       "on_time",  "revoked", NULL};
	json_t *c = json_object_get(doc, "campaign");
	char generated[32];

	time_format(json_integer_value(json_object_get(doc, "generated_at")), generated);
	puts_(b, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>Access review ");
	html_text(b, json_string_value(json_object_get(c, "name")));
	puts_(b, "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
		 "collapse;margin:1em 0}td,th{border:1px solid #999;padding:2px 6px;font-size:"
		 "small;text-align:left;vertical-align:top}th{background:#eee}</style></head>"
		 "<body>\n<h1>Access review campaign #");
	printf_(b, "%lld: ", (long long)json_integer_value(json_object_get(c, "id")));
	html_text(b, json_string_value(json_object_get(c, "name")));
	puts_(b, "</h1>\n<p>Generated ");
	html_text(b, generated);
	puts_(b, ".</p>\n<h2>Campaign</h2>\n");
	html_pairs(b, c);
	puts_(b, "<h2>Summary</h2>\n");
	html_pairs(b, json_object_get(doc, "summary"));
	puts_(b, "<h2>Reviewers</h2>\n");
	html_rows(b, json_object_get(doc, "reviewers"), reviewer_columns);
	puts_(b, "<h2>Audit evidence</h2>\n");
	html_pairs(b, json_object_get(doc, "evidence"));
	puts_(b, "<h2>Items</h2>\n");
	html_rows(b, json_object_get(doc, "items"), item_columns);
	puts_(b, "</body></html>\n");
}

char *
review_report(struct store *st, int64_t id, const char *format, struct idg_err *err)
{
	struct buf b = {0};
	json_t *doc;

	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0 &&
	    strcmp(format, "html") != 0) {
		idg_seterr(err, "a report is csv, json or html, not '%.20s'", format);
		return NULL;
	}
	if ((doc = gather(st, id, err)) == NULL)
		return NULL;
	if (strcmp(format, "json") == 0) {
		b.p = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		b.failed = b.p == NULL;
	} else if (strcmp(format, "csv") == 0) {
		csv(&b, doc);
	} else {
		html(&b, doc);
	}
	json_decref(doc);
	if (b.failed || b.p == NULL) {
		free(b.p);
		idg_seterr(err, "out of memory writing the report");
		return NULL;
	}
	return b.p;
}
