/*
 * The mirror's writes to the packed membership tables (schema 022): a
 * group's direct members are one sorted list per group (group_members),
 * and the groups of each member value one sorted list per value
 * (ref_groups), each the other's inverse.
 *
 * A group's list is read, changed and written at once; the per-value
 * lists are collected and written together by packed_flush(), so that a
 * sync that touches a million pairs writes each value's list once. Until
 * then ref_groups is stale for the values touched: the caller flushes
 * before anything reads it (including the triggers on member_refs) and
 * before commit. Within one store transaction; not thread-safe.
 */
#ifndef IDGOV_PACKED_H
#define IDGOV_PACKED_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

struct packed;

/* One member of a group: a member_refs id and when it became a member. */
struct packed_pair {
	int64_t ref;
	int64_t since;
};

int packed_open(struct store *st, struct packed **out, struct idg_err *err);
void packed_close(struct packed *p);
/* At the start of a transaction: nothing pending. */
int packed_begin(struct packed *p, struct idg_err *err);
/* After a rollback: what was pending is dropped. */
void packed_abort(struct packed *p);
/*
 * A group that has no list yet gets refs (ascending, no duplicates), all
 * members since `since`.
 */
int packed_group_create(struct packed *p, int64_t group, const int64_t *refs, size_t n,
			int64_t since, struct idg_err *err);
/*
 * Changes a group's list: the refs in del leave it, then each pair of add
 * joins it unless its ref is a member already (whose since is kept). Both
 * arrays are sorted in place; duplicates are harmless.
 */
int packed_group_edit(struct packed *p, int64_t group, int64_t *del, size_t n_del,
		      struct packed_pair *add, size_t n_add, struct idg_err *err);
/*
 * Every group that has ref `from` gets ref `to` instead, with from's since,
 * unless it has `to` already (whose since is kept).
 */
int packed_ref_merge(struct packed *p, int64_t from, int64_t to, struct idg_err *err);
/* Writes the pending per-value lists. */
int packed_flush(struct packed *p, struct idg_err *err);

/* The two list formats, exposed for tests: 0, or -1 if the text is not one. */
int packed_parse_pairs(const char *text, size_t len, int64_t since, struct packed_pair **out,
		       size_t *n);
int packed_parse_ids(const char *text, size_t len, int64_t **out, size_t *n);

#endif
