/*
 * One page of a reviewer's items, for a client that shows them a page at
 * a time (idgov-web's "My reviews"): the filters and the window are
 * applied in SQL, so a page costs the rows it shows, not the reviewer's
 * whole list, and the counts the page needs (all items, decided, those
 * the filters match) come from count queries over the same rows.
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
 */
#include "review_int.h"

#include "query.h"

#include <string.h>

/* The rows a page is cut from: ?1 reviewer, ?2 campaign (0 any), ?3 person, ?4 group,
 * ?5 undecided only, ?6 privileged only. */
#define PAGE_FROM                                                                                  \
	" FROM review_items i JOIN campaigns c ON c.id = i.campaign_id LEFT JOIN users u ON "      \
	"u.uuid = i.user_uuid WHERE i.reviewer = ?1 AND c.state = 'open' AND (?2 = 0 OR "          \
	"c.id = ?2)"
#define PAGE_FILTER                                                                                \
	" AND (?3 IS NULL OR instr(lower(coalesce(i.user_uid, '')), lower(?3)) > 0 OR "            \
	"instr(lower(coalesce(u.display_name, '')), lower(?3)) > 0) AND (?4 IS NULL OR "           \
	"instr(lower(coalesce(i.group_cn, '')), lower(?4)) > 0) AND (?5 = 0 OR i.decision IS "     \
	"NULL) AND (?6 = 0 OR i.privileged != 0)"

/* Binds the reviewer and campaign, and the filters when the statement has them. */
static void
bind_query(sqlite3_stmt *s, const char *reviewer, const struct review_page_query *q)
{
	sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, q->campaign);
	if (sqlite3_bind_parameter_count(s) < 6)
		return;
	if (q->person != NULL && q->person[0] != '\0')
		sqlite3_bind_text(s, 3, q->person, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 3);
	if (q->group != NULL && q->group[0] != '\0')
		sqlite3_bind_text(s, 4, q->group, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_int(s, 5, q->undecided != 0);
	sqlite3_bind_int(s, 6, q->privileged != 0);
}

/* Adds the one row of s (counts) to o under its column names; -1 with err. */
static int
add_counts(struct store *st, sqlite3_stmt *s, json_t *o, struct idg_err *err)
{
	json_t *row = query_row(st, s, "no counts", err);

	if (row == NULL)
		return -1;
	json_object_update(o, row);
	json_decref(row);
	return 0;
}

json_t *
review_page(struct store *st, const char *reviewer, const struct review_page_query *q,
	    struct idg_err *err)
{
	sqlite3_stmt *s;
	json_t *o = json_object(), *part;

	if (o == NULL) {
		idg_seterr(err, "out of memory");
		return NULL;
	}
	/* Every item of the reviewer's open campaigns, and how many are decided: the progress. */
	if (store_prepare(st, "SELECT count(*) AS total, count(i.decision) AS decided" PAGE_FROM,
			  &s, err) != 0)
		goto fail;
	bind_query(s, reviewer, q);
	if (add_counts(st, s, o, err) != 0)
		goto fail;
	/* How many the filters match: the number of pages. */
	if (store_prepare(st, "SELECT count(*) AS matched" PAGE_FROM PAGE_FILTER, &s, err) != 0)
		goto fail;
	bind_query(s, reviewer, q);
	if (add_counts(st, s, o, err) != 0)
		goto fail;
	/* The campaigns the items belong to, for the page's heading. */
	if (store_prepare(st,
			  "SELECT c.id AS campaign, c.name, c.deadline, count(*) AS items" PAGE_FROM
			  " GROUP BY c.id ORDER BY c.id",
			  &s, err) != 0)
		goto fail;
	bind_query(s, reviewer, q);
	if ((part = query_rows(st, s, err)) == NULL)
		goto fail;
	json_object_set_new(o, "campaigns", part);
	/* The window itself. */
	if (store_prepare(
		    st,
		    "SELECT i.id AS item, i.campaign_id AS campaign, c.name AS "
		    "campaign_name, c.deadline, i.user_uid AS user, u.display_name, u.title, "
		    "u.department, (SELECT g.description FROM groups g WHERE g.id = "
		    "i.group_id) AS group_description, "
		    "i.user_status, i.group_cn AS grp, i.privileged, i.held_as, i.via, "
		    "i.source, i.since, i.last_login, " REVIEW_RECOMMENDATION_SQL
		    ", i.recommend_why, i.reviewer_why, i.decision, i.comment" PAGE_FROM PAGE_FILTER
		    " ORDER BY i.decision IS NOT NULL, i.id LIMIT ?7 "
		    "OFFSET ?8",
		    &s, err) != 0)
		goto fail;
	bind_query(s, reviewer, q);
	sqlite3_bind_int64(s, 7, q->limit);
	sqlite3_bind_int64(s, 8, q->offset);
	if ((part = query_rows(st, s, err)) == NULL)
		goto fail;
	json_object_set_new(o, "items", part);
	json_object_set_new(o, "offset", json_integer((json_int_t)q->offset));
	json_object_set_new(o, "limit", json_integer((json_int_t)q->limit));
	return o;
fail:
	json_decref(o);
	return NULL;
}
