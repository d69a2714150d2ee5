/*
 * Opening the store and migrating it.
 *
 * Invariants:
 * - The database file is created by us with open(O_CREAT|O_EXCL, 0600)
 *   before SQLite touches it, so there is no window where it exists with
 *   a wider mode; SQLite gives the -wal and -shm files the same mode.
 * - Migrations run inside one BEGIN IMMEDIATE transaction together with
 *   the PRAGMA user_version update: a store is at version N or at its old
 *   version, never in between.
 * - A store written by a newer idgov (higher version than we know) is
 *   refused rather than guessed at.
 * - Every login is decided on what the store says, so a store (and its
 *   -wal and -shm files) that anyone but root could write, or whose
 *   directories anyone else could change, is refused before SQLite opens
 *   it (safepath.h).
 */
#include "store.h"

#include "safepath.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __clang_analyzer__
#undef store_err /* the function itself, not the analyzer's model */
#endif

int
store_err(struct store *st, struct idg_err *err, const char *doing)
{
	return idg_seterr(err, "store %s: %s: %s", st->path, doing, sqlite3_errmsg(st->db));
}

int
store_exec(struct store *st, const char *sql, struct idg_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		idg_seterr(err, "store %s: %s", st->path, msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, struct idg_err *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		*stmt = NULL;
		return store_err(st, err, "prepare");
	}
	return 0;
}

int
store_prepare_cached(struct store *st, const char *sql, sqlite3_stmt **stmt, struct idg_err *err)
{
	int busy = 0;

	for (size_t i = 0; i < st->n_cached; i++) {
		struct store_cached *c = &st->cached[i];

		if (strcmp(sqlite3_sql(c->stmt), sql) != 0)
			continue;
		if (!c->out) {
			c->out = 1;
			*stmt = c->stmt;
			return 0;
		}
		busy = 1;
	}
	if (store_prepare(st, sql, stmt, err) != 0)
		return -1;
	if (!busy && st->n_cached < STORE_CACHED_MAX)
		st->cached[st->n_cached++] = (struct store_cached){*stmt, 1};
	return 0;
}

void
store_release(struct store *st, sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return;
	for (size_t i = 0; i < st->n_cached; i++) {
		if (st->cached[i].stmt == stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			st->cached[i].out = 0;
			return;
		}
	}
	sqlite3_finalize(stmt);
}

int
store_step_done(struct store *st, sqlite3_stmt *stmt, struct idg_err *err)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_err(st, err, "write");
	return 0;
}

int
store_sync_wal(struct store *st, struct idg_err *err)
{
	sqlite3_file *wal = NULL;

	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK)
		return idg_seterr(err, "cannot reach the WAL of %s", st->path);
	if (wal == NULL || wal->pMethods == NULL) /* no WAL open: nothing unsynced */
		return 0;
	if (wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK)
		return idg_seterr(err, "cannot sync the WAL of %s", st->path);
	return 0;
}

int
store_copy_rows(struct store *from, const char *select, struct store *to, const char *insert,
		struct idg_err *err)
{
	sqlite3_stmt *s = NULL, *w = NULL;
	int rc = -1, step, n;

	if (store_prepare(from, select, &s, err) != 0 || store_prepare(to, insert, &w, err) != 0)
		goto out;
	n = sqlite3_column_count(s);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			sqlite3_bind_value(w, i + 1, sqlite3_column_value(s, i));
		if (store_step_done(to, w, err) != 0)
			goto out;
	}
	if (step != SQLITE_DONE) {
		store_err(from, err, "reading rows to copy");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_finalize(w);
	return rc;
}

/*
 * A transaction's BEGIN or COMMIT, kept prepared: sqlite3_exec() would
 * parse it again each time, and the auth service runs three transactions
 * a login. Errors read as store_exec()'s.
 */
static int
exec_kept(struct store *st, const char *sql, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st, sql, &s, err) != 0)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		idg_seterr(err, "store %s: %s", st->path, sqlite3_errmsg(st->db));
	store_release(st, s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int
store_begin(struct store *st, struct idg_err *err)
{
	return exec_kept(st, "BEGIN IMMEDIATE", err);
}

int
store_read_begin(struct store *st, struct idg_err *err)
{
	return exec_kept(st, "BEGIN DEFERRED", err);
}

void
store_read_end(struct store *st)
{
	struct idg_err err;

	if (!sqlite3_get_autocommit(st->db))
		(void)exec_kept(st, "COMMIT", &err);
}

int
store_commit(struct store *st, struct idg_err *err)
{
	if (exec_kept(st, "COMMIT", err) != 0)
		return -1;
	if (st->after_commit != NULL)
		st->after_commit(st->after_commit_arg);
	return 0;
}

void
store_set_after_commit(struct store *st, void (*fn)(void *arg), void *arg)
{
	st->after_commit = fn;
	st->after_commit_arg = arg;
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int
store_schema_version(struct store *st)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static int
make_private_dir(const char *path, struct idg_err *err)
{
	char *copy = strdup(path);
	const char *dir;
	struct stat sb;
	int rc = 0;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	dir = dirname(copy);
	if (mkdir(dir, 0700) == 0)
		goto out;
	if (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		rc = idg_seterr(err, "cannot create store directory %s: %s", dir,
				strerror(errno == EEXIST ? ENOTDIR : errno));
out:
	free(copy);
	return rc;
}

static int
create_file(const char *path, struct idg_err *err)
{
	int fd;

	if (make_private_dir(path, err) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno != EEXIST)
		return idg_seterr(err, "cannot create store %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

/* The store and, when present, the WAL and shared-memory files beside it. */
static int
check_trusted(const char *path, struct idg_err *err)
{
	static const char *const suffixes[] = {"-wal", "-shm"};
	char side[4096];
	struct stat sb;

	if (safepath_check(path, SAFEPATH_FILE, 0, err) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if ((size_t)snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= sizeof(side))
			return idg_seterr(err, "store path %s is too long", path);
		if (lstat(side, &sb) != 0 && errno == ENOENT)
			continue;
		if (safepath_check(side, SAFEPATH_FILE, 0, err) != 0)
			return -1;
	}
	return 0;
}

static int
migrate(struct store *st, struct idg_err *err)
{
	const struct schema_migration *last = &schema_migrations[schema_migration_count - 1];
	char pragma[64];
	int current;
	unsigned i;

	current = store_schema_version(st);
	if (current < 0)
		return store_err(st, err, "reading schema version");
	if (current == last->version)
		return 0;
	if (current > last->version)
		return idg_seterr(err,
				  "store %s has schema version %d, newer than this idgov (%d); "
				  "refusing to use it",
				  st->path, current, last->version);
	if (store_begin(st, err) != 0)
		return -1;
	/* Re-read under the write lock: another process may have migrated meanwhile. */
	current = store_schema_version(st);
	for (i = 0; i < schema_migration_count; i++) {
		const struct schema_migration *m = &schema_migrations[i];
		struct idg_err why;

		if (m->version <= current)
			continue;
		if (store_exec(st, m->sql, &why) != 0) {
			store_rollback(st);
			return idg_seterr(err, "migration %s failed: %s", m->name, why.msg);
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
		if (store_exec(st, pragma, err) != 0) {
			store_rollback(st);
			return -1;
		}
	}
	return store_commit(st, err);
}

/*
 * The auth service's state file. When each login was a process of its
 * own, the first connection to the WAL rebuilt its index by reading, and
 * checksumming, every valid frame of the kept WAL, and that rebuilt index
 * forgot what was checkpointed: the WAL only grew, and every login read
 * all of it before its first query. So, once the WAL holds
 * STORE_STATE_WAL_FRAMES frames, the writer checkpoints it and truncates it to
 * nothing. It never waits: when another login is reading, the checkpoint
 * gives up at once (busy) and a later commit does it.
 *
 * The workers of idgov-authd now keep the file open, so the index is
 * rebuilt only when the first of them opens it. The threshold is SQLite's
 * own autocheckpoint (1,000 frames, about 4 MiB): a login writes one or
 * two frames, and a checkpoint (two fdatasyncs, every page written back)
 * once every 32 frames was a twentieth of the workers' CPU time in
 * bench/pam; the pages a checkpoint writes are the distinct ones, a few
 * dozen for hundreds of logins.
 */
static int
state_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)arg;
	if (frames < STORE_STATE_WAL_FRAMES)
		return SQLITE_OK;
	sqlite3_busy_timeout(db, 0);
	(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(db, STORE_BUSY_MS);
	return SQLITE_OK;
}

/*
 * A new store's pages are STORE_PAGE_SIZE bytes, not SQLite's 4 KiB. A full
 * sync writes the whole mirror (about 75 MiB for 100,000 users) in one
 * transaction: with 4 KiB pages that was 18,000 pages, written to the WAL
 * as two pwrite()s each and again by the checkpoint, and deeper b-trees to
 * insert into. bench/sync measured 16 KiB pages 10% faster in wall time
 * and CPU; a login's lookups touch fewer pages of the mapping. The size is
 * fixed once the first table exists, so it applies to an empty file only
 * and an existing store keeps its own (a no-op there).
 */
static int
set_new_page_size(struct store *st, struct idg_err *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA page_size = %d", STORE_PAGE_SIZE);
	return store_exec(st, sql, err);
}

void
store_library_init(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
store_open(const char *path, enum store_mode mode, struct store **out, struct idg_err *err)
{
	struct store *st;
	struct idg_err why;
	int flags;

	*out = NULL;
	if (mode == STORE_OPEN_CREATE && create_file(path, err) != 0)
		return -1;
	if (mode != STORE_OPEN_CREATE && access(path, F_OK) != 0)
		return idg_seterr(err, "store %s does not exist (run 'idgov init' first)", path);
	if (check_trusted(path, &why) != 0)
		return idg_seterr(err, "refusing store %s", why.msg);
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(path)) == NULL) {
		free(st);
		return idg_seterr(err, "out of memory");
	}
	flags = mode == STORE_OPEN_READONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		idg_seterr(err, "cannot open store %s: %s", path,
			   st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	/*
	 * The PAM module opens and closes the store on every login. By default
	 * the last connection to close checkpoints the WAL (with fsyncs) and
	 * deletes it, and the next open creates it again: that was most of a
	 * login's cost. Keep the WAL and leave checkpoints to SQLite's
	 * automatic ones, taken as the WAL grows.
	 */
	{
		int one = 1;

		sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	/*
	 * Reads through a mapping instead of one pread() per page of a fresh
	 * connection. Not the auth service's state file: it is small, written
	 * by every worker in turn, and a mapping of it was torn down and made
	 * again (munmap, mmap, a TLB flush) by most logins.
	 */
	if (store_exec(st,
		       mode == STORE_OPEN_STATE ? "PRAGMA mmap_size = 0"
						: "PRAGMA mmap_size = 268435456",
		       err) != 0)
		goto fail;
	if (store_exec(st, "PRAGMA foreign_keys = ON", err) != 0)
		goto fail;
	if (mode != STORE_OPEN_READONLY) {
		/*
		 * A full sync writes a million rows in one transaction; with the
		 * default 2 MiB page cache SQLite spills and re-reads pages all
		 * the way. The cache grows only as it is used.
		 */
		/*
		 * The store's commits are durable when they return (FULL: the WAL
		 * is synced at each commit): the audit anchor written after a
		 * commit names the chain's head, and were that commit lost to a
		 * power cut, the next check would report a cut chain. The state
		 * file keeps NORMAL: a login's write must not wait for the disk.
		 */
		if (mode == STORE_OPEN_CREATE && set_new_page_size(st, err) != 0)
			goto fail;
		if (store_exec(st, "PRAGMA journal_mode = WAL", err) != 0 ||
		    store_exec(st,
			       mode == STORE_OPEN_STATE ? "PRAGMA synchronous = NORMAL"
							: "PRAGMA synchronous = FULL",
			       err) != 0 ||
		    store_exec(st, "PRAGMA cache_size = -262144", err) != 0 ||
		    (mode != STORE_OPEN_STATE && migrate(st, err) != 0))
			goto fail;
		if (mode == STORE_OPEN_STATE)
			sqlite3_wal_hook(st->db, state_wal_hook, NULL);
	} else if (store_schema_version(st) !=
		   schema_migrations[schema_migration_count - 1].version) {
		idg_seterr(err, "store %s is at schema version %d, expected %d", path,
			   store_schema_version(st),
			   schema_migrations[schema_migration_count - 1].version);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_cached; i++)
		sqlite3_finalize(st->cached[i].stmt);
	sqlite3_close_v2(st->db);
	free(st->path);
	free(st);
}

int
store_exec_int64(struct store *st, const char *sql, int64_t a, int64_t b, int64_t c,
		 struct idg_err *err)
{
	const int64_t v[3] = {a, b, c};
	sqlite3_stmt *s;
	int rc, n;

	if (store_prepare(st, sql, &s, err) != 0)
		return -1;
	n = sqlite3_bind_parameter_count(s);
	for (int i = 0; i < n && i < 3; i++)
		sqlite3_bind_int64(s, i + 1, v[i]);
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}
