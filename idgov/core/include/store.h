/*
 * The SQLite store: the host's mirror of the directory plus governance
 * state. This module opens it safely (file 0600 in a 0700 directory, WAL,
 * foreign keys, busy timeout), applies the embedded migrations from
 * schema/ in one transaction, and offers thin transaction helpers.
 * Tables are read and written by the modules that own them (mirror.c,
 * audit.c, ...), always through bound parameters.
 */
#ifndef IDGOV_STORE_H
#define IDGOV_STORE_H

#include "util.h"

#include <sqlite3.h>

/* Statements a store keeps for store_prepare_cached(), at most. */
#define STORE_CACHED_MAX 48

struct store {
	sqlite3 *db;
	char *path;
	/* store_prepare_cached()'s statements; out: handed out, not yet released. */
	struct store_cached {
		sqlite3_stmt *stmt;
		int out;
	} cached[STORE_CACHED_MAX];
	size_t n_cached;
	/* Run after each successful store_commit(); see store_set_after_commit(). */
	void (*after_commit)(void *arg);
	void *after_commit_arg;
};

enum store_mode {
	STORE_OPEN_EXISTING, /* fail if the file does not exist */
	STORE_OPEN_CREATE,   /* create the file (0600) and its directory (0700) */
	STORE_OPEN_READONLY,
	STORE_OPEN_STATE, /* an existing file of another schema (mfastate.c migrates it) */
};

/* How long a statement waits for another connection's lock. */
#define STORE_BUSY_MS 5000
/*
 * STORE_OPEN_STATE files: once the WAL holds this many frames, a commit
 * checkpoints it and truncates it (store.c says why).
 */
#define STORE_STATE_WAL_FRAMES 1000

/* The page size of a store created by store_open() (store.c says why). */
#define STORE_PAGE_SIZE 16384

/*
 * Called by the main() of each program that opens a store, first: turns off
 * SQLite's allocation statistics, which idgov never reads and which take
 * a process-wide mutex around every allocation SQLite makes (5% of a full
 * sync's CPU). Later calls, and calls after SQLite has started, do
 * nothing. Not for a library loaded into another program (pam_idgov.so):
 * the setting is the whole process's.
 */
void store_library_init(void);

int store_open(const char *path, enum store_mode mode, struct store **out, struct idg_err *err);
void store_close(struct store *st);

/* The schema version of an open store (PRAGMA user_version). */
int store_schema_version(struct store *st);

/* BEGIN IMMEDIATE: take the write lock now, so a transaction never fails half-way to upgrade. */
int store_begin(struct store *st, struct idg_err *err);
int store_commit(struct store *st, struct idg_err *err);
void store_rollback(struct store *st);

/*
 * A read snapshot: every query until store_read_end() sees the store as it
 * was at the first, and the file's locks are taken once instead of once a
 * statement. Hold it only for work, never while waiting for a person: an
 * open snapshot keeps the WAL from being checkpointed past it.
 * store_read_end() is safe when no snapshot is open.
 */
int store_read_begin(struct store *st, struct idg_err *err);
void store_read_end(struct store *st);

/*
 * Sets the function run after each successful store_commit() (NULL: none),
 * for what must follow a commit and never precede it: the audit anchor
 * outside the store may only name heads that are durably in it. One per
 * store; it cannot fail the commit, which has happened.
 */
void store_set_after_commit(struct store *st, void (*fn)(void *arg), void *arg);

/* Runs SQL without results; for fixed statements only (no user data). */
int store_exec(struct store *st, const char *sql, struct idg_err *err);

/* Prepares a statement or fills err with SQLite's reason. */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, struct idg_err *err);

/*
 * store_prepare() for a statement a long-lived process runs again and
 * again (the auth service's workers at every login): compiling SQL is
 * most of what a short query costs, so the statement is kept in st, found
 * again by its text, and handed out reset with no bindings. Give it back
 * with store_release(), never sqlite3_finalize(). The same text asked
 * for while its statement is out (a nested use) gets a fresh one, which
 * store_release() finalizes; so does any text past STORE_CACHED_MAX.
 */
int store_prepare_cached(struct store *st, const char *sql, sqlite3_stmt **stmt,
			 struct idg_err *err);
/*
 * Gives back a statement: a kept one is reset (ending its read, so no
 * snapshot outlives the query) and its bindings cleared; any other is
 * finalized. NULL does nothing.
 */
void store_release(struct store *st, sqlite3_stmt *stmt);

/*
 * Prepares sql (fixed text), binds its integer parameters ?1, ?2, ?3 (as
 * many as it has) to a, b, c, runs it to completion and finalizes it.
 */
int store_exec_int64(struct store *st, const char *sql, int64_t a, int64_t b, int64_t c,
		     struct idg_err *err);

/* Runs a prepared statement that returns no rows, and resets it. */
int store_step_done(struct store *st, sqlite3_stmt *stmt, struct idg_err *err);

/*
 * Makes what st has committed durable now: syncs its WAL, for the state
 * file, whose commits do not wait for the disk (synchronous = NORMAL).
 */
int store_sync_wal(struct store *st, struct idg_err *err);

/*
 * Runs insert on to once per row that select returns on from, binding the
 * row's columns to its parameters ?1, ?2, ... in order (another file's
 * rows taken over, without ATTACH, which a transaction forbids).
 */
int store_copy_rows(struct store *from, const char *select, struct store *to, const char *insert,
		    struct idg_err *err);

/* Sets err from the connection's last error, prefixed by what we were doing. */
int store_err(struct store *st, struct idg_err *err, const char *doing);
#ifdef __clang_analyzer__
/* Like idg_seterr (util.h): tell scan-build that this always returns -1. */
#define store_err(st, err, doing) (store_err((st), (err), (doing)), -1)
#endif

#endif
