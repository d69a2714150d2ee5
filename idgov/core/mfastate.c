/*
 * The auth service's MFA state file; see mfastate.h.
 *
 * Why a second file: SQLite has one writer per file. A full directory
 * refresh writes the main store in one long transaction (seconds for a
 * large directory), and a login that had to record its watermark there
 * waited behind it, then failed closed. Here the only writers are logins
 * and the admin's unlock/reset, each a short BEGIN IMMEDIATE, so parallel
 * logins of one user still serialise (one success, the others "already
 * used") and none waits on a refresh. The main store is only read, in
 * WAL mode, where a reader never waits on a writer.
 *
 * Schema versions of this file are its own (PRAGMA user_version), from
 * schema/authd/; each is below, copied from its file: version 1 from
 * 001_mfa_state.sql (the watermark, failures, lock and spent recovery
 * codes), version 2 from 002_fleet_pending.sql (what [fleet] mfa =
 * directory keeps: the last-login stamp's note and the offline logins
 * waiting to be written back), version 3 from 003_sessions.sql (the
 * login sessions, which opening an ssh session no longer writes into the
 * main store), version 4 from 004_password_history.sql (the password
 * history, so a password change writes nothing into the main store and
 * the service opens that store read-only). A file is brought up one
 * version at a time, each in the transaction that also sets its number.
 */
#include "mfastate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MFASTATE_VERSION 4

static const char schema_v1[] =
	"CREATE TABLE mfa_state (user_uuid TEXT PRIMARY KEY, "
	"last_step INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, "
	"failure_start INTEGER NOT NULL DEFAULT 0, locked_until INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE mfa_recovery_used (user_uuid TEXT NOT NULL, code_id TEXT NOT NULL, "
	"hash TEXT NOT NULL, used_at INTEGER NOT NULL, PRIMARY KEY (user_uuid, code_id, hash));";

static const char schema_v2[] =
	"ALTER TABLE mfa_state ADD COLUMN login_stamped_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE fleet_pending (id INTEGER PRIMARY KEY, user_uuid TEXT NOT NULL, "
	"step INTEGER NOT NULL DEFAULT 0, recovery TEXT, queued_at INTEGER NOT NULL);"
	"PRAGMA user_version = 2;";

static const char schema_v3[] =
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, "
	"service TEXT NOT NULL, rhost TEXT, tty TEXT, pid INTEGER NOT NULL, "
	"opened_at INTEGER NOT NULL, closed_at INTEGER);"
	"CREATE INDEX sessions_uid ON sessions (uid, opened_at);";

static const char schema_v4[] =
	"CREATE TABLE password_history (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, "
	"hash TEXT NOT NULL, changed_at INTEGER NOT NULL);"
	"CREATE INDEX password_history_uid ON password_history (uid, changed_at);";

int
mfastate_path(const struct cfg *cfg, const char *store_path, char *buf, size_t len,
	      struct idg_err *err)
{
	const char *slash;
	size_t dir;

	if (cfg->authd_state != NULL && cfg->authd_state[0] != '\0') {
		if (idg_strlcpy(buf, cfg->authd_state, len) >= len)
			return idg_seterr(err, "[authd] state is too long");
		return 0;
	}
	slash = strrchr(store_path, '/');
	dir = slash == NULL ? 0 : (size_t)(slash - store_path) + 1;
	if ((size_t)snprintf(buf, len, "%.*sauthd.db", (int)dir, store_path) >= len)
		return idg_seterr(err, "store path %s is too long", store_path);
	return 0;
}

/* Version 0 to 1: the tables, and the main store's state copied. */
static int
migrate_v1(struct store *st, struct store *main, struct idg_err *err)
{
	if (store_exec(st, schema_v1, err) != 0)
		return -1;
	if (main != NULL &&
	    (store_copy_rows(
		     main,
		     "SELECT user_uuid, last_step, failures, failure_start, locked_until "
		     "FROM mfa",
		     st,
		     "INSERT INTO mfa_state (user_uuid, last_step, failures, failure_start, "
		     "locked_until) VALUES (?1, ?2, ?3, ?4, ?5)",
		     err) != 0 ||
	     store_copy_rows(main,
			     "SELECT user_uuid, code_id, hash, used_at FROM mfa_recovery "
			     "WHERE used_at IS NOT NULL",
			     st,
			     "INSERT INTO mfa_recovery_used (user_uuid, code_id, hash, used_at) "
			     "VALUES (?1, ?2, ?3, ?4)",
			     err) != 0))
		return -1;
	return store_exec(st, "PRAGMA user_version = 1", err);
}

/*
 * Version 2 to 3: the sessions table, with the rows the main store has
 * (the earlier idgov wrote them there; it is not written any more).
 */
static int
migrate_v3(struct store *st, struct store *main, struct idg_err *err)
{
	if (store_exec(st, schema_v3, err) != 0)
		return -1;
	if (main != NULL &&
	    store_copy_rows(main,
			    "SELECT id, uid, service, rhost, tty, pid, opened_at, closed_at "
			    "FROM sessions ORDER BY id",
			    st,
			    "INSERT INTO sessions (id, uid, service, rhost, tty, pid, opened_at, "
			    "closed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			    err) != 0)
		return -1;
	return store_exec(st, "PRAGMA user_version = 3", err);
}

/*
 * Version 3 to 4: the password history, with the rows the main store has
 * (the earlier idgov wrote them there; it is not written any more).
 */
static int
migrate_v4(struct store *st, struct store *main, struct idg_err *err)
{
	if (store_exec(st, schema_v4, err) != 0)
		return -1;
	if (main != NULL &&
	    store_copy_rows(
		    main, "SELECT id, uid, hash, changed_at FROM password_history ORDER BY id", st,
		    "INSERT INTO password_history (id, uid, hash, changed_at) "
		    "VALUES (?1, ?2, ?3, ?4)",
		    err) != 0)
		return -1;
	return store_exec(st, "PRAGMA user_version = 4", err);
}

/*
 * Under the state file's write lock: brings it from the version it has
 * to MFASTATE_VERSION, one step after the other, all in one transaction
 * (a file is never left between two versions). Version 0 is a new file,
 * filled from the main store's state.
 */
static int
migrate(struct store *st, struct store *main, struct idg_err *err)
{
	int v;

	v = store_schema_version(st);
	if (v == MFASTATE_VERSION)
		return 0;
	if (v > MFASTATE_VERSION)
		return idg_seterr(err,
				  "MFA state %s has schema version %d, newer than this idgov (%d)",
				  st->path, v, MFASTATE_VERSION);
	if (store_begin(st, err) != 0)
		return -1;
	v = store_schema_version(st); /* again, under the lock: another opener may have done it */
	if (v > MFASTATE_VERSION) {
		store_rollback(st);
		return idg_seterr(err,
				  "MFA state %s has schema version %d, newer than this idgov (%d)",
				  st->path, v, MFASTATE_VERSION);
	}
	if ((v < 1 && migrate_v1(st, main, err) != 0) ||
	    (v < 2 && store_exec(st, schema_v2, err) != 0) ||
	    (v < 3 && migrate_v3(st, main, err) != 0) ||
	    (v < 4 && migrate_v4(st, main, err) != 0)) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err);
}

int
mfastate_open(const char *path, struct store *main, struct store **out, struct idg_err *err)
{
	struct store *st = NULL;
	int fd;

	*out = NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return idg_seterr(err, "cannot create MFA state %s: %s", path, strerror(errno));
	close(fd);
	if (store_open(path, STORE_OPEN_STATE, &st, err) != 0)
		return -1;
	if (migrate(st, main, err) != 0) {
		store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int
mfastate_image(const char *path, unsigned char **img, size_t *len, struct idg_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_int64 size = 0;
	unsigned char *p;
	int rc = -1;

	*img = NULL;
	*len = 0;
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? 0 : idg_seterr(err, "%s: %s", path, strerror(errno));
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		idg_seterr(err, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_MS);
	/* One read transaction: logins go on writing the file meanwhile. */
	p = sqlite3_serialize(db, "main", &size, 0);
	if (p == NULL || size <= 100) {
		sqlite3_free(p);
		idg_seterr(err, "cannot copy %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if ((*img = malloc((size_t)size)) == NULL) {
		sqlite3_free(p);
		idg_seterr(err, "out of memory");
		goto out;
	}
	memcpy(*img, p, (size_t)size);
	sqlite3_free(p);
	/* Bytes 18-19: a rollback-journal file; store_open() turns WAL on again. */
	(*img)[18] = 1;
	(*img)[19] = 1;
	*len = (size_t)size;
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

/* img read-only as schema name in db (the buffer must outlive its use). */
static int
attach_image(sqlite3 *db, const char *name, const unsigned char *img, size_t len,
	     struct idg_err *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "ATTACH ':memory:' AS %s", name);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_deserialize(db, name, (unsigned char *)(uintptr_t)img, (sqlite3_int64)len,
				(sqlite3_int64)len, SQLITE_DESERIALIZE_READONLY) != SQLITE_OK)
		return idg_seterr(err, "the MFA state image cannot be opened: %s",
				  sqlite3_errmsg(db));
	return 0;
}

static int
image_version(sqlite3 *db, const char *name)
{
	char sql[64];
	sqlite3_stmt *s = NULL;
	int v = -1;

	snprintf(sql, sizeof(sql), "PRAGMA %s.user_version", name);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

int
mfastate_image_check(const unsigned char *img, size_t len, struct idg_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int v, rc = -1;

	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	if (attach_image(db, "img", img, len, err) != 0)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA img.integrity_check", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		idg_seterr(err, "the MFA state image fails PRAGMA integrity_check");
		goto out;
	}
	v = image_version(db, "img");
	if (v < 1 || v > MFASTATE_VERSION) {
		idg_seterr(err, "the MFA state image has version %d; this idgov knows 1 to %d", v,
			   MFASTATE_VERSION);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}

int
mfastate_merge_image(struct store *state, const unsigned char *img, size_t len, int64_t *users,
		     int64_t *spent, struct idg_err *err)
{
	int rc = -1;

	*users = 0;
	*spent = 0;
	if (mfastate_image_check(img, len, err) != 0 ||
	    attach_image(state->db, "restored", img, len, err) != 0)
		goto detach;
	/*
	 * Not BEGIN IMMEDIATE, which would ask the read-only image for a write
	 * lock too: the first statement writes main, so its lock is taken at
	 * once, never upgraded from a read.
	 */
	if (store_exec(state, "BEGIN", err) != 0)
		goto detach;
	/* "WHERE 1": an upsert after a SELECT needs it to parse. */
	if (store_exec(
		    state,
		    "INSERT INTO mfa_state (user_uuid, last_step, failures, failure_start, "
		    "locked_until) SELECT user_uuid, last_step, 0, 0, locked_until "
		    "FROM restored.mfa_state r WHERE 1 ON CONFLICT (user_uuid) DO UPDATE SET "
		    "last_step = max(last_step, excluded.last_step), "
		    "locked_until = max(locked_until, excluded.locked_until) "
		    "WHERE excluded.last_step > last_step OR excluded.locked_until > locked_until",
		    err) != 0)
		goto rollback;
	*users = sqlite3_changes(state->db);
	if (store_exec(
		    state,
		    "INSERT OR IGNORE INTO mfa_recovery_used (user_uuid, code_id, hash, used_at) "
		    "SELECT user_uuid, code_id, hash, used_at FROM restored.mfa_recovery_used",
		    err) != 0)
		goto rollback;
	*spent = sqlite3_changes(state->db);
	/* The sessions this file lacks: the "last login" that reviews show (image version 3). */
	if (image_version(state->db, "restored") >= 3 &&
	    store_exec(state,
		       "INSERT INTO sessions (uid, service, rhost, tty, pid, opened_at, closed_at) "
		       "SELECT uid, service, rhost, tty, pid, opened_at, closed_at "
		       "FROM restored.sessions r WHERE NOT EXISTS (SELECT 1 FROM sessions s "
		       "WHERE s.uid = r.uid AND s.opened_at = r.opened_at AND "
		       "s.service = r.service AND s.pid = r.pid) ORDER BY r.id",
		       err) != 0)
		goto rollback;
	/* The password history this file lacks (image version 4): reuse stays refused. */
	if (image_version(state->db, "restored") >= 4 &&
	    store_exec(state,
		       "INSERT INTO password_history (uid, hash, changed_at) "
		       "SELECT uid, hash, changed_at FROM restored.password_history r "
		       "WHERE NOT EXISTS (SELECT 1 FROM password_history p "
		       "WHERE p.uid = r.uid AND p.hash = r.hash) ORDER BY r.id",
		       err) != 0)
		goto rollback;
	if (store_commit(state, err) != 0)
		goto rollback;
	rc = 0;
	goto detach;
rollback:
	store_rollback(state);
detach:
	(void)sqlite3_exec(state->db, "DETACH restored", NULL, NULL, NULL);
	return rc;
}
