/*
 * Bulk decisions larger than one control request (schema/009).
 *
 * A reviewer's decision file can hold tens of thousands of lines, far more
 * than [control] max_request lets one request carry. The client sends them
 * in chunks: review_batch_add() checks each chunk's shape and keeps it,
 * and review_batch_commit() applies the whole batch through
 * review_decide_many(), in one transaction, so a file is recorded whole or
 * not at all, exactly as if it had fitted one request. A batch belongs to
 * the reviewer who opened it, lives at most BATCH_TTL seconds, and is
 * deleted when it is committed, whatever the outcome: a failed file is
 * sent again, never half-applied.
 */
#include "review_int.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_TTL 3600              /* seconds an uncommitted batch is kept */
#define BATCH_MAX_DECISIONS 1000000 /* decisions in one batch */
#define BATCH_MAX_OPEN 4            /* uncommitted batches per reviewer */

/* Forgets batches nobody committed in time. */
static int
purge_expired(struct review_ctx *r, int64_t now, struct idg_err *err)
{
	return store_exec_int64(r->st, "DELETE FROM review_batches WHERE created_at < ?1",
				now - BATCH_TTL, 0, 0, err);
}

/*
 * The batch id's reviewer and decision count, if it is the caller's. 0, or
 * REVIEW_NOT_FOUND (another reviewer's batch is not found either), or -1.
 */
static int
batch_of_caller(struct review_ctx *r, int64_t id, int64_t *count, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(r->st,
			  "SELECT decisions FROM review_batches WHERE id = ?1 AND reviewer = ?2",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, r->actor, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return store_err(r->st, err, "reading review batches");
	idg_seterr(err, "no batch %lld of yours (batches last %d minutes)", (long long)id,
		   BATCH_TTL / 60);
	return REVIEW_NOT_FOUND;
}

/* Opens a batch for the caller: *id. 0, REVIEW_CONFLICT (too many open), or -1. */
static int
batch_open(struct review_ctx *r, int64_t now, int64_t *id, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc, open = 0;

	if (store_prepare(r->st, "SELECT count(*) FROM review_batches WHERE reviewer = ?1", &s,
			  err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, r->actor, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		open = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (open >= BATCH_MAX_OPEN) {
		idg_seterr(err,
			   "%s has %d uncommitted decision batches; commit them or wait %d "
			   "minutes",
			   r->actor, open, BATCH_TTL / 60);
		return REVIEW_CONFLICT;
	}
	if (store_prepare(r->st,
			  "INSERT INTO review_batches (reviewer, created_at) VALUES (?1, ?2) "
			  "RETURNING id",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_err(r->st, err, "opening a review batch");
}

/* Keeps one checked chunk as the batch's next and counts its decisions. */
static int
batch_append(struct review_ctx *r, int64_t id, json_t *decisions, struct idg_err *err)
{
	char *text = json_dumps(decisions, JSON_COMPACT);
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (text == NULL)
		return idg_seterr(err, "out of memory");
	if (store_prepare(r->st,
			  "INSERT INTO review_batch_chunks (batch_id, seq, decisions) VALUES (?1, "
			  "(SELECT coalesce(max(seq), 0) + 1 FROM review_batch_chunks WHERE "
			  "batch_id = ?1), ?2)",
			  &s, err) != 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	if (store_step_done(r->st, s, err) != 0 ||
	    store_exec_int64(r->st,
			     "UPDATE review_batches SET decisions = decisions + ?2 WHERE id = ?1",
			     id, (int64_t)json_array_size(decisions), 0, err) != 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(s);
	free(text);
	return rc;
}

int
review_batch_add(struct review_ctx *r, int64_t batch, json_t *decisions, int64_t now, int64_t *id,
		 int64_t *total, struct idg_err *err)
{
	size_t i;
	json_t *d;
	int64_t had = 0;
	int rc;

	if (!json_is_array(decisions) || json_array_size(decisions) == 0) {
		idg_seterr(err, "no decisions given");
		return REVIEW_INVALID;
	}
	json_array_foreach(decisions, i, d)
	{
		if ((rc = review_decision_shape(d, i, err)) != 0)
			return rc;
	}
	if (store_begin(r->st, err) != 0)
		return -1;
	rc = purge_expired(r, now, err);
	if (rc == 0 && batch == 0)
		rc = batch_open(r, now, &batch, err);
	else if (rc == 0)
		rc = batch_of_caller(r, batch, &had, err);
	if (rc == 0 && had + (int64_t)json_array_size(decisions) > BATCH_MAX_DECISIONS) {
		idg_seterr(err, "a batch holds at most %d decisions", BATCH_MAX_DECISIONS);
		rc = REVIEW_INVALID;
	}
	if (rc == 0)
		rc = batch_append(r, batch, decisions, err);
	if (rc != 0 || store_commit(r->st, err) != 0) {
		store_rollback(r->st);
		return rc != 0 ? rc : -1;
	}
	*id = batch;
	*total = had + (int64_t)json_array_size(decisions);
	return 0;
}

/* The batch's chunks joined into one array, in the order they came. */
static json_t *
batch_decisions(struct review_ctx *r, int64_t id, struct idg_err *err)
{
	json_t *all = json_array();
	sqlite3_stmt *s;
	int rc;

	if (all == NULL ||
	    store_prepare(
		    r->st,
		    "SELECT decisions FROM review_batch_chunks WHERE batch_id = ?1 ORDER BY seq",
		    &s, err) != 0) {
		json_decref(all);
		return NULL;
	}
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *chunk = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);

		if (chunk == NULL || json_array_extend(all, chunk) != 0) {
			json_decref(chunk);
			rc = SQLITE_NOMEM;
			break;
		}
		json_decref(chunk);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(all);
		store_err(r->st, err, "reading a review batch");
		return NULL;
	}
	return all;
}

int
review_batch_commit(struct review_ctx *r, int64_t batch, int64_t now, int64_t *n,
		    struct idg_err *err)
{
	struct idg_err ignored;
	int64_t count;
	json_t *all;
	int rc;

	*n = 0;
	if (purge_expired(r, now, err) != 0)
		return -1;
	if ((rc = batch_of_caller(r, batch, &count, err)) != 0)
		return rc;
	if ((all = batch_decisions(r, batch, err)) == NULL)
		return -1;
	/* All or none, in one transaction, as one request would have been. */
	rc = review_decide_many(r, all, n, err);
	json_decref(all);
	/* Committed or refused, the batch is done: a failed file is sent again whole. */
	store_exec_int64(r->st, "DELETE FROM review_batches WHERE id = ?1", batch, 0, 0, &ignored);
	return rc;
}
