/* The journal of directory writes; see journal.h. */
#include "journal.h"

#include "dir.h"
#include "dirwrite.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define BATCH 256
/*
 * Rows applied per journal_run: between runs the daemon answers its socket
 * and reads its persistent sync, which slapd would otherwise buffer (a
 * change to a 50,000-member group is a 5 MB entry each time).
 */
#define RUN_LIMIT BATCH

struct row {
	int64_t id, grant_id, item_id, attempts;
	char *op, *dn, *attr, *value, *added;
	enum dirw_status status;
	char result[DIRW_RESULT_LEN];
	struct idg_err err;
};

int
journal_add(struct store *st, int64_t grant_id, const char *op, const char *dn, const char *attr,
	    const char *value, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st,
			  "INSERT INTO dir_journal (grant_id, op, dn, attr, value, created_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, grant_id);
	sqlite3_bind_text(s, 2, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, dn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, attr, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, idg_now());
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

static char *
column_dup(sqlite3_stmt *s, int i)
{
	return idg_strdup((const char *)sqlite3_column_text(s, i));
}

static void
rows_free(struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].op);
		free(rows[i].dn);
		free(rows[i].attr);
		free(rows[i].value);
		free(rows[i].added);
	}
}

/*
 * The next rows due, in order. For del_member, `added` is what the
 * grant's add_member really added (NULL: nothing, or not applied).
 */
static int
load_due(struct store *st, int64_t now, struct row *rows, size_t *n, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	if (store_prepare(
		    st,
		    "SELECT j.id, j.grant_id, j.attempts, j.op, j.dn, j.attr, j.value, "
		    "(SELECT a.result FROM dir_journal a WHERE j.op = 'del_member' "
		    "  AND a.grant_id = j.grant_id AND a.op = 'add_member' AND a.dn = j.dn "
		    "  AND a.value = j.value AND a.state = 'done' ORDER BY a.id DESC LIMIT 1), "
		    "coalesce(j.item_id, 0) FROM dir_journal j WHERE j.state = 'pending' AND "
		    "j.next_attempt <= ?1 "
		    "ORDER BY j.id LIMIT ?2",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, BATCH);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct row *r = &rows[(*n)++];

		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(s, 0);
		r->grant_id = sqlite3_column_int64(s, 1);
		r->attempts = sqlite3_column_int64(s, 2);
		r->op = column_dup(s, 3);
		r->dn = column_dup(s, 4);
		r->attr = column_dup(s, 5);
		r->value = column_dup(s, 6);
		r->added = column_dup(s, 7);
		r->item_id = sqlite3_column_int64(s, 8);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_err(st, err, "reading the directory journal");
	return 0;
}

/* A del_member whose add_member is earlier in this same batch uses that result. */
static const char *
added_in_batch(struct row *rows, size_t upto, const struct row *del)
{
	for (size_t i = upto; i-- > 0;) {
		const struct row *a = &rows[i];

		if (a->grant_id == del->grant_id && strcmp(a->op, "add_member") == 0 &&
		    strcmp(a->dn, del->dn) == 0 && a->value != NULL && del->value != NULL &&
		    strcmp(a->value, del->value) == 0)
			return a->status == DIRW_OK ? a->result : NULL;
	}
	return del->added;
}

/*
 * Fault injection for the crash tests: IDGOV_FAULT=before-directory-write
 * kills the process after a decision is journaled and before the
 * directory is written, as a power cut would.
 */
static void
fault_point(const char *name)
{
	const char *f = getenv("IDGOV_FAULT");

	if (f != NULL && strcmp(f, name) == 0)
		raise(SIGKILL);
}

static void
apply(struct journal *j, struct row *rows, size_t i)
{
	struct row *r = &rows[i];

	fault_point("before-directory-write");
	if (r->op == NULL || r->dn == NULL) {
		r->status = DIRW_PERMANENT;
		idg_seterr(&r->err, "journal row %lld is incomplete", (long long)r->id);
	} else if (strcmp(r->op, "add_member") == 0) {
		r->status = dirw_add_member(j->cfg, j->ld, r->dn, r->value, r->attr, r->result,
					    &r->err);
	} else if (strcmp(r->op, "del_member") == 0) {
		r->status = dirw_del_member(j->cfg, j->ld, r->dn, r->value, r->attr,
					    added_in_batch(rows, i, r), r->result, &r->err);
	} else if (strcmp(r->op, "add_entry") == 0) {
		json_t *attrs = json_loads(r->value != NULL ? r->value : "", 0, NULL);

		r->status = dirw_add_entry(j->ld, r->dn, attrs, r->result, &r->err);
		json_decref(attrs);
	} else if (strcmp(r->op, "replace") == 0) {
		r->status = dirw_replace(j->ld, r->dn, r->attr, r->value, r->result, &r->err);
	} else if (strcmp(r->op, "del_value") == 0) {
		r->status = dirw_del_value(j->ld, r->dn, r->attr, r->value, r->result, &r->err);
	} else if (strcmp(r->op, "del_entry") == 0) {
		r->status = dirw_delete_entry(j->ld, r->dn, r->result, &r->err);
	} else {
		r->status = DIRW_PERMANENT;
		idg_seterr(&r->err, "unknown journal operation '%s'", r->op);
	}
}

static int
is_del_value(const struct row *r)
{
	return r->op != NULL && r->dn != NULL && r->attr != NULL && r->value != NULL &&
	       strcmp(r->op, "del_value") == 0;
}

/*
 * A run of value removals (an access review's revocations) goes out
 * pipelined: slapd works on them together instead of one round trip
 * each. Returns how many rows from first were handled.
 */
static size_t
apply_removals(struct journal *j, struct row *rows, size_t first, size_t n)
{
	struct dirw_del ops[64];
	size_t k = 0;

	fault_point("before-directory-write");
	while (first + k < n && k < sizeof(ops) / sizeof(ops[0]) &&
	       is_del_value(&rows[first + k])) {
		ops[k] = (struct dirw_del){.dn = rows[first + k].dn,
					   .attr = rows[first + k].attr,
					   .value = rows[first + k].value};
		k++;
	}
	dirw_del_values(j->ld, ops, k, j->cfg->dir_timeout);
	for (size_t i = 0; i < k; i++) {
		struct row *r = &rows[first + i];

		r->status = ops[i].status;
		idg_strlcpy(r->result, ops[i].result, sizeof(r->result));
		r->err = ops[i].err;
	}
	return k;
}

/* Records the outcome of rows[0..n) (none of them transient) in one transaction. */
static int
record(struct journal *j, struct row *rows, size_t n, struct idg_err *err)
{
	sqlite3_stmt *s = NULL;
	int64_t now = idg_now();

	if (n == 0)
		return 0;
	if (store_begin(j->st, err) != 0)
		return -1;
	if (store_prepare(j->st,
			  "UPDATE dir_journal SET state = ?2, result = ?3, last_error = ?4, "
			  "done_at = ?5, attempts = attempts + 1 WHERE id = ?1",
			  &s, err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		int ok = r->status == DIRW_OK;
		json_t *d = json_pack("{s:I, s:I, s:s?, s:s?, s:s?}", "journal", (json_int_t)r->id,
				      "grant", (json_int_t)r->grant_id, "op", r->op, "dn", r->dn,
				      "member", strcmp(r->op, "add_entry") == 0 ? NULL : r->value);
		char *text;

		sqlite3_bind_int64(s, 1, r->id);
		sqlite3_bind_text(s, 2, ok ? "done" : "failed", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, ok ? r->result : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, ok ? NULL : r->err.msg, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, now);
		if (store_step_done(j->st, s, err) != 0) {
			json_decref(d);
			goto fail;
		}
		if (d != NULL && r->item_id != 0)
			json_object_set_new(d, "item", json_integer(r->item_id));
		if (d != NULL)
			json_object_set_new(d, ok ? "result" : "error",
					    json_string(ok ? r->result : r->err.msg));
		text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
		if (text == NULL) {
			idg_seterr(err, "out of memory");
			goto fail;
		}
		if (audit_append(j->audit, j->actor, r->dn,
				 ok ? "directory.write" : "directory.write_failed", text,
				 err) != 0) {
			free(text);
			goto fail;
		}
		free(text);
		if (!ok)
			log_msg(j->log, LOG_ALERT,
				"directory change refused for good (journal %lld, grant %lld): %s",
				(long long)r->id, (long long)r->grant_id, r->err.msg);
	}
	sqlite3_finalize(s);
	if (audit_sign_head(j->audit, err) != 0 || store_commit(j->st, err) != 0) {
		store_rollback(j->st);
		return -1;
	}
	return 0;
fail:
	sqlite3_finalize(s);
	store_rollback(j->st);
	return -1;
}

/* The directory is unreachable: every row due now waits, longer each attempt. */
static int
defer(struct journal *j, int64_t now, const char *why, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(j->st,
			  "UPDATE dir_journal SET attempts = attempts + 1, last_error = ?2, "
			  "next_attempt = ?1 + min(?3, 1 << min(attempts + 1, 20)) "
			  "WHERE state = 'pending' AND next_attempt <= ?1",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_text(s, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, j->cfg->grant_retry_max);
	rc = store_step_done(j->st, s, err);
	sqlite3_finalize(s);
	if (now - j->alerted_at >= j->cfg->grant_retry_max) {
		j->alerted_at = now;
		log_msg(j->log, LOG_ALERT,
			"directory changes are waiting (grants or removals overdue): %s; retrying",
			why);
	}
	return rc;
}

static int
next_due(struct store *st, int64_t *next, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*next = 0;
	/* A row never deferred has next_attempt 0: due, which is not "none pending". */
	if (store_prepare(
		    st, "SELECT min(max(next_attempt, 1)) FROM dir_journal WHERE state = 'pending'",
		    &s, err) != 0)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*next = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_err(st, err, "reading the directory journal");
}

int
journal_run(struct journal *j, int64_t now, int64_t *next, struct idg_err *err)
{
	struct row *rows = calloc(BATCH, sizeof(*rows));
	int applied = 0, rc = 0;
	size_t n = 0;

	if (rows == NULL)
		return idg_seterr(err, "out of memory");
	while (applied < RUN_LIMIT) {
		size_t done = 0;
		struct idg_err why;

		rows_free(rows, n);
		if ((rc = load_due(j->st, now, rows, &n, err)) != 0 || n == 0)
			break;
		if (j->ld == NULL && dir_connect(j->cfg, &j->ld, &why) != 0) {
			rc = defer(j, now, why.msg, err);
			break;
		}
		while (done < n) {
			size_t k = is_del_value(&rows[done]) ? apply_removals(j, rows, done, n)
							     : (apply(j, rows, done), 1);

			while (k-- > 0 && rows[done].status != DIRW_TRANSIENT)
				done++;
			if (done < n && rows[done].status == DIRW_TRANSIENT)
				break;
		}
		if ((rc = record(j, rows, done, err)) != 0)
			break;
		applied += (int)done;
		if (done < n) {
			why = rows[done].err;
			journal_close(j);
			rc = defer(j, now, why.msg, err);
			break;
		}
	}
	rows_free(rows, n);
	free(rows);
	if (rc == 0)
		rc = next_due(j->st, next, err);
	/* Due rows left over for the next run are due now. */
	if (rc == 0 && *next != 0 && *next < now)
		*next = now;
	return rc != 0 ? -1 : applied;
}

int
journal_connection(struct journal *j, LDAP **ld, struct idg_err *err)
{
	if (j->ld == NULL && dir_connect(j->cfg, &j->ld, err) != 0)
		return -1;
	*ld = j->ld;
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j->ld != NULL)
		ldap_unbind_ext(j->ld, NULL, NULL);
	j->ld = NULL;
}
