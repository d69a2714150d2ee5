/* Master key rotation; see rotate.h. */
#include "rotate.h"

#include "keyfile.h"
#include "keys.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int
rotate_master_recover_locked(const char *path, struct store *st, struct audit *audit,
			     const char *actor, const char **what, struct idg_err *err)
{
	char newp[PATH_MAX], oldp[PATH_MAX], id[SECRET_KEY_ID_LEN];
	struct secret_key *cur = NULL, *nk = NULL, *ok = NULL;
	struct idg_err ignored;
	int named, rc = -1;

	*what = "nothing to do";
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (secret_key_load_one(path, &cur, err) != 0)
		return -1;
	if ((named = secret_store_key_id(st, id, err)) < 0)
		goto out;
	if (keyfile_exists(newp))
		(void)secret_key_load_one(newp, &nk, &ignored);
	if (keyfile_exists(oldp))
		(void)secret_key_load_one(oldp, &ok, &ignored);
	if (named == 0 || strcmp(id, secret_key_id(cur)) == 0) {
		/* The store is under master.key: a .new is a rotation that never committed. */
		if (keyfile_exists(newp)) {
			if (keyfile_destroy(newp, err) != 0)
				goto out;
			*what = "removed a new master key the store never used";
		}
		rc = 0;
	} else if (nk != NULL && strcmp(id, secret_key_id(nk)) == 0) {
		/* Committed, files not swapped yet: finish steps 3 and 4. */
		if (keyfile_swap(path, newp, oldp, 0, err) != 0 ||
		    keyfile_audit_event(audit, actor, "master", "key rotate completed",
					secret_key_id(cur), id, err) != 0)
			goto out;
		*what = "completed an interrupted rotation";
		rc = 0;
	} else if (ok != NULL && strcmp(id, secret_key_id(ok)) == 0) {
		/* A store restored from before a rotation: it works, through .old. */
		*what = "the store is sealed under master.key.old (restored from before a "
			"rotation?): keep that file, and rotate to move the store to a new key";
		rc = 0;
	} else {
		idg_seterr(err, "the store names master key %s, which no key file holds", id);
	}
out:
	secret_key_free(cur);
	secret_key_free(nk);
	secret_key_free(ok);
	return rc;
}

/* The rotation's audit record, in the rotation's transaction, and the head signed. */
static int
audit_rotation(struct audit *audit, const char *actor, const struct rotate_result *res,
	       struct idg_err *err)
{
	json_t *d;
	char *text;
	int rc;

	if (audit == NULL)
		return 0;
	d = json_pack("{s:s,s:s,s:s,s:I}", "key", "master", "old_id", res->old_id, "new_id",
		      res->new_id, "resealed", (json_int_t)res->resealed);
	text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (text == NULL)
		return idg_seterr(err, "out of memory");
	rc = audit_append(audit, actor, "master", "key rotate", text, err);
	free(text);
	if (rc == 0)
		rc = audit_sign_head(audit, err);
	return rc;
}

static int
set_store_key_id(struct store *st, const char *id, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(
		    st,
		    "INSERT INTO key_ids (name, key_id, created_at) VALUES ('master', ?1, ?2) "
		    "ON CONFLICT (name) DO UPDATE SET key_id = ?1, created_at = ?2",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, idg_now());
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

static int
rotate_master_locked(const char *path, struct store *st, struct audit *audit, const char *actor,
		     const struct rotate_resealer *rs, size_t nrs, enum rotate_stop stop,
		     struct rotate_result *res, struct idg_err *err)
{
	char newp[PATH_MAX], oldp[PATH_MAX];
	struct secret_key *all = NULL, *to = NULL;
	const struct secret_key *from;
	const char *what;
	int rc = -1, in_tx = 0;

	memset(res, 0, sizeof(*res));
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_master_recover_locked(path, st, audit, actor, &what, err) != 0)
		return -1;
	if (keyfile_exists(oldp))
		return idg_seterr(err,
				  "%s exists: destroy the previous key first (idgov key "
				  "destroy-old master)",
				  oldp);
	if (secret_key_load_one(path, &all, err) != 0)
		return -1;
	/* Step 1. */
	if (keys_create_master(newp, err) != 0 || keyfile_fsync_dir(newp, err) != 0 ||
	    secret_key_load_one(newp, &to, err) != 0)
		goto out;
	keyfile_fault_point("key-rotate-after-new-file");
	if (stop == ROTATE_STOP_AFTER_NEW_FILE) {
		rc = 0;
		goto out;
	}
	/* Step 2. */
	if (store_begin(st, err) != 0)
		goto out;
	in_tx = 1;
	if (secret_key_for_store(all, st, &from, err) != 0)
		goto out;
	idg_strlcpy(res->old_id, secret_key_id(from), sizeof(res->old_id));
	idg_strlcpy(res->new_id, secret_key_id(to), sizeof(res->new_id));
	for (size_t i = 0; i < nrs; i++) {
		size_t n = 0;

		if (rs[i].reseal(rs[i].arg, st, from, to, &n, err) != 0)
			goto out;
		res->resealed += n;
	}
	if (set_store_key_id(st, res->new_id, err) != 0)
		goto out;
	if (audit_rotation(audit, actor, res, err) != 0)
		goto out;
	if (stop == ROTATE_STOP_BEFORE_COMMIT) {
		store_rollback(st); /* as a kill before the commit would */
		in_tx = 0;
		rc = 0;
		goto out;
	}
	if (store_commit(st, err) != 0)
		goto out;
	in_tx = 0;
	keyfile_fault_point("key-rotate-after-commit");
	if (stop == ROTATE_STOP_AFTER_COMMIT) {
		rc = 0;
		goto out;
	}
	/* Steps 3 and 4. */
	if (keyfile_swap(path, newp, oldp, stop == ROTATE_STOP_AFTER_LINK, err) != 0)
		goto out;
	rc = 0;
out:
	if (in_tx) {
		struct idg_err ignored;

		/* Nothing was committed: the new key sealed nothing anyone keeps. */
		store_rollback(st);
		if (rc != 0)
			(void)keyfile_destroy(newp, &ignored);
	}
	secret_key_free(all);
	secret_key_free(to);
	return rc;
}

static int
rotate_master_destroy_old_locked(const char *path, struct store *st, struct audit *audit,
				 const char *actor, struct idg_err *err)
{
	char oldp[PATH_MAX], id[SECRET_KEY_ID_LEN], old_id[SECRET_KEY_ID_LEN];
	struct secret_key *ok = NULL;
	const char *what;
	int named;

	if (keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_master_recover_locked(path, st, audit, actor, &what, err) != 0)
		return -1;
	if (!keyfile_exists(oldp))
		return idg_seterr(err, "%s does not exist: nothing to destroy", oldp);
	if (keyfile_same(path, oldp))
		return idg_seterr(err, "%s is still %s: refusing to destroy it", oldp, path);
	if (secret_key_load_one(oldp, &ok, err) != 0)
		return -1;
	idg_strlcpy(old_id, secret_key_id(ok), sizeof(old_id));
	secret_key_free(ok);
	if ((named = secret_store_key_id(st, id, err)) < 0)
		return -1;
	if (named == 1 && strcmp(id, old_id) == 0)
		return idg_seterr(err,
				  "the store's secrets are still sealed under %s (key %s): "
				  "rotate first",
				  oldp, old_id);
	if (keyfile_destroy(oldp, err) != 0)
		return -1;
	return keyfile_audit_event(audit, actor, "master", "key destroy-old", old_id, NULL, err);
}

/* The entry points: each holds the key directory's lock throughout (keyfile_lock()). */
int
rotate_master_recover(const char *path, struct store *st, struct audit *audit, const char *actor,
		      const char **what, struct idg_err *err)
{
	int fd, rc;

	*what = "nothing to do";
	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_master_recover_locked(path, st, audit, actor, what, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_master(const char *path, struct store *st, struct audit *audit, const char *actor,
	      const struct rotate_resealer *rs, size_t nrs, enum rotate_stop stop,
	      struct rotate_result *res, struct idg_err *err)
{
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_master_locked(path, st, audit, actor, rs, nrs, stop, res, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_master_destroy_old(const char *path, struct store *st, struct audit *audit,
			  const char *actor, struct idg_err *err)
{
	int fd, rc;

	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_master_destroy_old_locked(path, st, audit, actor, err);
	keyfile_unlock(fd);
	return rc;
}
