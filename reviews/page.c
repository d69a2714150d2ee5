/*
 * One page of a reviewer's items, for a client that shows them a page at
 * a time (idgov-web's "My reviews"): the filters and the window are
 * applied in SQL, so a page costs the rows it shows, not the reviewer's
 * whole list, and the counts the page needs (all items, decided, those
 * the filters match) come with it.
 *
 * The filters are the page's: a person (a case-insensitive substring of
 * the uid or the display name), a group (a substring of its cn), only
 * undecided, only privileged. Substrings are matched with instr(), never
 * LIKE, so '%' and '_' in a filter are plain characters; lower() folds
 * ASCII only, as the page always did.
 *
 * Beside the name, the page shows the person's title and department and
 * the group's description as the mirror holds them now (016), not as
 * they were when the campaign opened: they are read, never decided on.
 *
 * The order is review_pending()'s: undecided first, then by item number,
 * so a page's window is stable while nothing is decided.
 *
 * What a view costs (schema 018): the progress (all items, decided) and,
 * without a person or group filter, the number the filters match come
 * from review_counts, one row per campaign that triggers keep exact; the
 * window is cut by a walk of the index review_items_page, which is in the
 * page's order, over offset + limit entries of review_items alone, and
 * only the rows it keeps are joined with the person and the group. So the
 * first page costs the same for 50 items or 50,000, and a deep page the
 * entries it skips. Only a person or group filter counts by a scan of the
 * reviewer's items, since a substring has no index.
 *
 * A pager that carries a cursor (review_cursor: the first or last item of
 * the page it drew) asks for the window just after or before it instead
 * of an offset: two index searches, one within the cursor's half of the
 * order (undecided or decided) from its item on, one in the halves past
 * it, each stopping at limit entries. So page 50 costs what page 1 does.
 * An offset still works, and walks the entries it skips, from whichever
 * end of the order is nearer: the pager's Last (by number) costs what
 * First does, and no page more than half the list.
 *
 * An item carries what the page draws and no more, and its empty columns
 * are left out (query_rows_sparse()): the reply's JSON, built here and
 * parsed by idgov-web for every view, was most of a view's cost once the
 * SQL was cut. The campaign's deadline is in the campaigns list. Asked
 * with "table", the items come as one list of column names and a list of
 * rows (query_table()): no name repeated per row, no object per row to
 * build, write and parse; idgov-web asks so.
 */
#include "review_int.h"

#include "query.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The campaigns of a page and their counts: ?1 reviewer, ?2 campaign (0 any). */
static const char counts_sql[] =
	"SELECT c.id AS campaign, c.name, c.deadline, k.items, k.decided, k.privileged, "
	"k.privileged_decided FROM review_counts k JOIN campaigns c ON c.id = k.campaign_id "
	"WHERE k.reviewer = ?1 AND c.state = 'open' AND (?2 = 0 OR c.id = ?2) AND k.items > 0 "
	"ORDER BY c.id";

/* The items the filters keep: ?1 reviewer, ?2 campaign (0 any), ?3 person, ?4 group,
 * ?5 undecided only, ?6 privileged only. The display name is read only when there is a
 * person filter (OR stops at the first true term). */
#define PAGE_WHERE                                                                                 \
	" FROM review_items i JOIN campaigns c ON c.id = i.campaign_id WHERE i.reviewer = ?1 AND " \
	"c.state = 'open' AND (?2 = 0 OR c.id = ?2) AND (?3 IS NULL OR "                           \
	"instr(lower(coalesce(i.user_uid, '')), lower(?3)) > 0 OR "                                \
	"instr(lower(coalesce((SELECT u.display_name FROM users u WHERE u.uuid = i.user_uuid), "   \
	"'')), lower(?3)) > 0) AND (?4 IS NULL OR instr(lower(coalesce(i.group_cn, '')), "         \
	"lower(?4)) > 0) AND (?5 = 0 OR i.decision IS NULL) AND (?6 = 0 OR i.privileged != 0)"

/* Spelled as the index review_items_page spells it, so the planner walks the index. */
#define PAGE_ORDER " ORDER BY i.decision IS NOT NULL, i.id"

static const char matched_sql[] = "SELECT count(*)" PAGE_WHERE;

/* The window's rows, for the ids of w (the index walk) joined with the person and the group. */
#define WINDOW_COLUMNS                                                                             \
	"SELECT i.id AS item, i.campaign_id AS campaign, c.name AS campaign_name, "                \
	"i.user_uid AS user, u.display_name, u.title, u.department, (SELECT g.description FROM "   \
	"groups g WHERE g.id = i.group_id) AS group_description, i.user_status, i.group_cn AS "    \
	"grp, i.privileged, i.held_as, i.via, i.source, i.since, "                                 \
	"i.last_login, " REVIEW_RECOMMENDATION_SQL                                                 \
	", i.recommend_why, i.decision, i.comment FROM ("
#define WINDOW_JOIN                                                                                \
	") w JOIN review_items i ON i.id = w.id JOIN campaigns c ON c.id = i.campaign_id LEFT "    \
	"JOIN users u ON u.uuid = i.user_uuid" PAGE_ORDER

/* The window by offset: ?7 limit, ?8 offset. */
static const char window_sql[] =
	WINDOW_COLUMNS "SELECT i.id" PAGE_WHERE PAGE_ORDER " LIMIT ?7 OFFSET ?8" WINDOW_JOIN;

/* The same window walked from the end: ?7 its rows, ?8 the entries after it. */
static const char window_from_end_sql[] = WINDOW_COLUMNS
	"SELECT i.id" PAGE_WHERE " ORDER BY i.decision IS NOT NULL DESC, i.id DESC LIMIT ?7 OFFSET "
	"?8" WINDOW_JOIN;

/*
 * The window after a cursor (?9 decided, ?10 item): the rest of the
 * cursor's half, then the halves after it; each part an index search
 * (reviewer=? AND <expr>=? AND id>?, then <expr>>?) that stops at ?7.
 * The first part orders by id alone, the half being fixed, so that the
 * planner sees the index's order and sorts nothing.
 */
static const char after_sql[] = WINDOW_COLUMNS
	"SELECT id FROM (SELECT i.id" PAGE_WHERE
	" AND (i.decision IS NOT NULL) = ?9 AND i.id > ?10 ORDER BY i.id LIMIT ?7) UNION ALL "
	"SELECT id FROM (SELECT i.id" PAGE_WHERE " AND (i.decision IS NOT NULL) > ?9" PAGE_ORDER
	" LIMIT ?7) LIMIT ?7" WINDOW_JOIN;

/* The window before a cursor: the same, walked backwards; the rows come out in order. */
static const char before_sql[] = WINDOW_COLUMNS
	"SELECT id FROM (SELECT i.id" PAGE_WHERE
	" AND (i.decision IS NOT NULL) = ?9 AND i.id < ?10 ORDER BY i.id DESC LIMIT ?7) UNION "
	"ALL SELECT id FROM (SELECT i.id" PAGE_WHERE
	" AND (i.decision IS NOT NULL) < ?9 ORDER BY i.decision IS NOT NULL DESC, i.id DESC "
	"LIMIT ?7) LIMIT ?7" WINDOW_JOIN;

int
review_cursor_parse(const char *text, struct review_cursor *c)
{
	size_t n;
	int64_t id = 0;

	memset(c, 0, sizeof(*c));
	if (text == NULL || (text[0] != 'u' && text[0] != 'd'))
		return -1;
	n = strnlen(text + 1, REVIEW_CURSOR_MAX);
	/* 1..19 digits, no leading zero, no sign, nothing after them. */
	if (n < 1 || n > 19 || strspn(text + 1, "0123456789") != n || text[1] == '0')
		return -1;
	for (size_t i = 1; i <= n; i++) {
		int d = text[i] - '0';

		if (id > (INT64_MAX - d) / 10)
			return -1;
		id = id * 10 + d;
	}
	c->decided = text[0] == 'd';
	c->id = id;
	return 0;
}

void
review_cursor_format(const struct review_cursor *c, char out[REVIEW_CURSOR_MAX])
{
	snprintf(out, REVIEW_CURSOR_MAX, "%c%lld", c->decided ? 'd' : 'u', (long long)c->id);
}

static int
has_text(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Binds the reviewer and campaign, and the filters when the statement has them. */
static void
bind_query(sqlite3_stmt *s, const char *reviewer, const struct review_page_query *q)
{
	sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, q->campaign);
	if (sqlite3_bind_parameter_count(s) < 6)
		return;
	if (has_text(q->person))
		sqlite3_bind_text(s, 3, q->person, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 3);
	if (has_text(q->group))
		sqlite3_bind_text(s, 4, q->group, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_int(s, 5, q->undecided != 0);
	sqlite3_bind_int(s, 6, q->privileged != 0);
}

/*
 * The campaigns (for the heading), the progress (total, decided) and,
 * when no substring filter is set, the number matched, into o; the
 * number matched is left out otherwise. -1 with err.
 */
static int
add_counts(struct store *st, const char *reviewer, const struct review_page_query *q, json_t *o,
	   struct idg_err *err)
{
	int64_t total = 0, decided = 0, priv = 0, priv_decided = 0, matched;
	json_t *camps = json_array();
	sqlite3_stmt *s;
	int rc;

	if (camps == NULL)
		return idg_seterr(err, "out of memory");
	if (store_prepare_cached(st, counts_sql, &s, err) != 0) {
		json_decref(camps);
		return -1;
	}
	bind_query(s, reviewer, q);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *c = json_pack("{s:I, s:s, s:I, s:I}", "campaign",
				      (json_int_t)sqlite3_column_int64(s, 0), "name",
				      (const char *)sqlite3_column_text(s, 1), "deadline",
				      (json_int_t)sqlite3_column_int64(s, 2), "items",
				      (json_int_t)sqlite3_column_int64(s, 3));

		if (c == NULL || json_array_append_new(camps, c) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		total += sqlite3_column_int64(s, 3);
		decided += sqlite3_column_int64(s, 4);
		priv += sqlite3_column_int64(s, 5);
		priv_decided += sqlite3_column_int64(s, 6);
	}
	if (rc != SQLITE_DONE) {
		store_err(st, err, "counting the reviewer's items");
		store_release(st, s);
		json_decref(camps);
		return -1;
	}
	store_release(st, s);
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	json_object_set_new(o, "decided", json_integer((json_int_t)decided));
	json_object_set_new(o, "campaigns", camps);
	if (has_text(q->person) || has_text(q->group))
		return 0;
	matched = q->privileged ? priv : total;
	if (q->undecided)
		matched -= q->privileged ? priv_decided : decided;
	json_object_set_new(o, "matched", json_integer((json_int_t)matched));
	return 0;
}

/* The number of items a person or group filter keeps, by a scan; -1 with err. */
static int
add_matched(struct store *st, const char *reviewer, const struct review_page_query *q, json_t *o,
	    struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st, matched_sql, &s, err) != 0)
		return -1;
	bind_query(s, reviewer, q);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		store_err(st, err, "counting the items the filters keep");
		store_release(st, s);
		return -1;
	}
	json_object_set_new(o, "matched", json_integer((json_int_t)sqlite3_column_int64(s, 0)));
	store_release(st, s);
	return 0;
}

/* The index of column name in a table's "columns"; -1 when it has none. */
static int
column_at(json_t *table, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(table, "columns"), i, c)
	{
		if (json_is_string(c) && strcmp(json_string_value(c), name) == 0)
			return (int)i;
	}
	return -1;
}

/* An item's column: by name in an object, by index in a table's row. */
static json_t *
item_get(json_t *it, const char *name, int at)
{
	return json_is_array(it) ? json_array_get(it, (size_t)at) : json_object_get(it, name);
}

/*
 * Sets "first" and "last" of o to the cursors of the page's first and
 * last items: items is an array of objects (NULL decision left out) or
 * a table's rows (NULL decision as null).
 */
static void
add_cursors(json_t *o, json_t *items, json_t *table)
{
	size_t n = json_array_size(items);
	const char *key[2] = {"first", "last"};
	json_t *it[2] = {json_array_get(items, 0), json_array_get(items, n - 1)};
	int item_at = column_at(table, "item"), decision_at = column_at(table, "decision");

	for (int i = 0; n > 0 && i < 2; i++) {
		json_t *d = item_get(it[i], "decision", decision_at);
		struct review_cursor c = {
			.decided = d != NULL && !json_is_null(d),
			.id = (int64_t)json_integer_value(item_get(it[i], "item", item_at))};
		char text[REVIEW_CURSOR_MAX];

		review_cursor_format(&c, text);
		json_object_set_new(o, key[i], json_string(text));
	}
}

/*
 * Prepares the window's statement and binds what its kind reads beyond
 * the filters: a cursor's, or an offset's from the nearer end of the
 * matched entries.
 */
static int
prepare_window(struct store *st, const struct review_page_query *q, int64_t matched,
	       sqlite3_stmt **s, struct idg_err *err)
{
	const struct review_cursor *cur = q->after.id > 0 ? &q->after : &q->before;
	int64_t rows = matched - q->offset < q->limit ? matched - q->offset : q->limit;
	int from_end = cur->id == 0 && q->offset > matched / 2 && rows > 0;

	if (store_prepare_cached(st,
				 q->after.id > 0    ? after_sql
				 : q->before.id > 0 ? before_sql
				 : from_end         ? window_from_end_sql
						    : window_sql,
				 s, err) != 0)
		return -1;
	if (cur->id > 0) {
		sqlite3_bind_int64(*s, 7, q->limit);
		sqlite3_bind_int(*s, 9, cur->decided != 0);
		sqlite3_bind_int64(*s, 10, cur->id);
	} else if (from_end) {
		sqlite3_bind_int64(*s, 7, rows);
		sqlite3_bind_int64(*s, 8, matched - q->offset - rows);
	} else {
		sqlite3_bind_int64(*s, 7, q->limit);
		sqlite3_bind_int64(*s, 8, q->offset);
	}
	return 0;
}

json_t *
review_page(struct store *st, const char *reviewer, const struct review_page_query *q,
	    struct idg_err *err)
{
	sqlite3_stmt *s = NULL;
	json_t *o = json_object(), *part;

	if (o == NULL) {
		idg_seterr(err, "out of memory");
		return NULL;
	}
	if (q->after.id > 0 && q->before.id > 0) {
		idg_seterr(err, "a page is asked after or before an item, not both");
		goto fail;
	}
	if (add_counts(st, reviewer, q, o, err) != 0)
		goto fail;
	if (json_object_get(o, "matched") == NULL && add_matched(st, reviewer, q, o, err) != 0)
		goto fail;
	if (prepare_window(st, q, json_integer_value(json_object_get(o, "matched")), &s, err) != 0)
		goto fail;
	bind_query(s, reviewer, q);
	if (q->table) {
		if ((part = query_table(st, s, err)) == NULL)
			goto fail;
		json_object_set(o, "columns", json_object_get(part, "columns"));
		json_object_set(o, "rows", json_object_get(part, "rows"));
		add_cursors(o, json_object_get(part, "rows"), part);
		json_decref(part);
	} else {
		if ((part = query_rows_sparse(st, s, err)) == NULL)
			goto fail;
		json_object_set_new(o, "items", part);
		add_cursors(o, part, NULL);
	}
	json_object_set_new(o, "offset", json_integer((json_int_t)q->offset));
	json_object_set_new(o, "limit", json_integer((json_int_t)q->limit));
	return o;
fail:
	json_decref(o);
	return NULL;
}
