/*
 * What a worker keeps open between requests: the main store (read-only
 * for every decision; read-write too once a password change needs it),
 * the state file (authd.db: MFA state and sessions), the master key and the
 * audit spool handle. Opening them is most of what a request used to cost
 * (a SQLite open reads the schema; the key is read and checked by owner
 * and mode), so a worker opens each once, when it starts (or, if that
 * failed, when a request needs it), and keeps it. The master key is held
 * by every worker from its start, not only by those that served an
 * authentication: they are the one process that holds it either way,
 * and the first login a new worker serves should not pay for it.
 *
 * Kept is not stale. Before a request uses a file, what its path names
 * now is compared with what was opened: the store before every request
 * (authd_files_refresh), the state file and the keys when the request
 * first takes them, once per request; so an account decision, which
 * needs no key, does not stat the key files:
 *
 *   store, state   device and inode. SQLite sees every committed change to
 *                  the file it has open by itself; what it cannot see is a
 *                  new file put in its place (a restore renames the old
 *                  store aside and the backup in), so a new inode reopens.
 *   master key     device, inode, size, mtime and ctime of the key file and
 *                  of the .new and .old files a rotation leaves (secret.h):
 *                  any change, appearance or disappearance reloads the key,
 *                  so the request after `idgov key rotate master` holds the
 *                  key the store is now sealed under.
 *
 * A file that cannot be opened fails the request closed (AUTHINFO_UNAVAIL,
 * login.c) and is tried again by the next one. After each request
 * authd_files_end() rolls back a transaction a handler left open, so a
 * worker never holds a snapshot (or the write lock) while it waits for
 * the next login. The key lives in sodium_malloc() memory and is wiped
 * when freed: on a reload, when the worker retires and when it stops.
 */
#include "authd.h"

#include "fleetseal.h"
#include "mfastate.h"
#include "provider.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What a path names now; a missing file is all zeroes with present 0. */
static void
file_id_of(const char *path, struct authd_file_id *id)
{
	struct stat sb;

	memset(id, 0, sizeof(*id));
	if (stat(path, &sb) != 0)
		return;
	id->present = 1;
	id->dev = sb.st_dev;
	id->ino = sb.st_ino;
	id->size = sb.st_size;
	id->mtime = sb.st_mtim;
	id->ctime = sb.st_ctim;
}

static int
same_file(const struct authd_file_id *a, const struct authd_file_id *b)
{
	return a->present == b->present && a->dev == b->dev && a->ino == b->ino;
}

static int
same_content(const struct authd_file_id *a, const struct authd_file_id *b)
{
	return same_file(a, b) && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The key file and the two a rotation leaves beside it. */
static void
key_ids(const char *path, struct authd_file_id ids[3])
{
	static const char *const sfx[3] = {"", ".new", ".old"};
	char p[4096];

	for (int i = 0; i < 3; i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >= sizeof(p)) {
			memset(&ids[i], 0, sizeof(ids[i]));
			continue;
		}
		file_id_of(p, &ids[i]);
	}
}

static void
close_state(struct authd_files *f)
{
	store_close(f->state);
	f->state = NULL;
}

static void
close_store(struct authd_files *f)
{
	close_state(f); /* it was created from this store; reopen them together */
	store_close(f->st);
	f->st = NULL;
}

static void
close_key(struct authd_files *f)
{
	secret_key_free(f->key); /* wipes it */
	f->key = NULL;
}

static void
close_fleet(struct authd_files *f)
{
	secret_key_free(f->fleet_key); /* wipes it */
	f->fleet_key = NULL;
	providers_free(f->providers);
	f->providers = NULL;
}

void
authd_files_close(struct authd_files *f)
{
	close_store(f);
	close_key(f);
	close_fleet(f);
	audit_close(f->audit);
	f->audit = NULL;
}

enum { AUTHD_CHECK_STATE = 1, AUTHD_CHECK_KEY = 2, AUTHD_CHECK_FLEET = 4 };

void
authd_files_refresh(struct authd_files *f, const struct cfg *cfg)
{
	struct authd_file_id now;

	if (f->st != NULL) {
		file_id_of(cfg->store_path, &now);
		if (!same_file(&now, &f->st_id)) {
			log_msg(f->log, LOG_INFO, "%s was replaced: reopening it", cfg->store_path);
			close_store(f);
		}
	}
	f->unchecked = AUTHD_CHECK_STATE | AUTHD_CHECK_KEY | AUTHD_CHECK_FLEET;
}

/* Whether this request has yet to compare what check names with its path; now it has. */
static int
to_check(struct authd_files *f, unsigned check)
{
	int due = (f->unchecked & check) != 0;

	f->unchecked &= ~check;
	return due;
}

static void
check_state(struct authd_files *f)
{
	struct authd_file_id now;

	if (!to_check(f, AUTHD_CHECK_STATE) || f->state == NULL)
		return;
	file_id_of(f->state_path, &now);
	if (!same_file(&now, &f->state_id)) {
		log_msg(f->log, LOG_INFO, "%s was replaced: reopening it", f->state_path);
		close_state(f);
	}
}

static void
check_key(struct authd_files *f, const struct cfg *cfg)
{
	struct authd_file_id keys[3];

	if (!to_check(f, AUTHD_CHECK_KEY) || f->key == NULL)
		return;
	key_ids(cfg->master_key_file, keys);
	for (int i = 0; i < 3; i++) {
		if (!same_content(&keys[i], &f->key_id[i])) {
			log_msg(f->log, LOG_INFO, "the master key changed: reloading it");
			close_key(f);
			return;
		}
	}
}

static void
check_fleet_key(struct authd_files *f, const struct cfg *cfg)
{
	struct authd_file_id now;

	if (!to_check(f, AUTHD_CHECK_FLEET) || f->fleet_key == NULL)
		return;
	file_id_of(cfg->fleet_key_file, &now);
	if (!same_content(&now, &f->fleet_key_id)) {
		log_msg(f->log, LOG_INFO, "the fleet key changed: reloading it");
		secret_key_free(f->fleet_key);
		f->fleet_key = NULL;
	}
}

int
authd_files_store(struct authd_files *f, const struct cfg *cfg, struct store **out,
		  struct idg_err *err)
{
	if (f->st == NULL) {
		/* Identified before it is opened: a file swapped in between is reopened once more.
		 */
		file_id_of(cfg->store_path, &f->st_id);
		if (store_open(cfg->store_path, STORE_OPEN_READONLY, &f->st, err) != 0)
			return -1;
	}
	*out = f->st;
	return 0;
}

int
authd_files_state(struct authd_files *f, const struct cfg *cfg, struct store **out,
		  struct idg_err *err)
{
	struct store *st;

	check_state(f);
	if (f->state == NULL) {
		if (authd_files_store(f, cfg, &st, err) != 0 ||
		    mfastate_path(cfg, st->path, f->state_path, sizeof(f->state_path), err) != 0)
			return -1;
		file_id_of(f->state_path, &f->state_id);
		if (mfastate_open(f->state_path, st, &f->state, err) != 0)
			return -1;
		if (!f->state_id.present) /* created just now */
			file_id_of(f->state_path, &f->state_id);
	}
	*out = f->state;
	return 0;
}

int
authd_files_key(struct authd_files *f, const struct cfg *cfg, struct secret_key **out,
		struct idg_err *err)
{
	check_key(f, cfg);
	if (f->key == NULL) {
		key_ids(cfg->master_key_file, f->key_id);
		if (secret_key_load(cfg->master_key_file, &f->key, err) != 0)
			return -1;
	}
	*out = f->key;
	return 0;
}

int
authd_files_fleet(struct authd_files *f, const struct cfg *cfg, struct secret_key **key,
		  struct providers **p, struct idg_err *err)
{
	check_fleet_key(f, cfg);
	if (f->fleet_key == NULL) {
		file_id_of(cfg->fleet_key_file, &f->fleet_key_id);
		if (fleet_key_load(cfg, &f->fleet_key, err) != 0)
			return -1;
	}
	/* One connection per worker, kept between logins (provider.h). */
	if (f->providers == NULL && providers_new(cfg, &f->providers, err) != 0)
		return -1;
	*key = f->fleet_key;
	*p = f->providers;
	return 0;
}

int
authd_files_audit(struct authd_files *f, const struct cfg *cfg, struct audit **out,
		  struct idg_err *err)
{
	if (f->audit == NULL && audit_open_spool(cfg->audit_spool_dir, f->log, &f->audit, err) != 0)
		return -1;
	*out = f->audit;
	return 0;
}

/* A transaction left open by a request that failed half-way is rolled back, never kept. */
static void
end_transaction(struct authd_files *f, struct store *st)
{
	if (st == NULL || sqlite3_get_autocommit(st->db))
		return;
	log_msg(f->log, LOG_WARNING, "%s: a request left a transaction open; rolled back",
		st->path);
	store_rollback(st);
}

void
authd_files_end(struct authd_files *f)
{
	end_transaction(f, f->st);
	end_transaction(f, f->state);
}
