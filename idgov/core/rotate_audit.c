/* Audit key rotation; see rotate_audit.h. */
#include "rotate_audit.h"

#include "keyfile.h"
#include "keys.h"

#include <limits.h>
#include <string.h>

/* The id of the audit secret key in path; -1 (err) if it cannot be read or is not trusted. */
static int
file_key_id(const char *path, char id[AUDIT_KEY_ID_LEN], struct idg_err *err)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], *sk;

	if (keys_load_audit_secret(path, &sk, err) != 0)
		return -1;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	keys_free_secret(sk);
	audit_key_id(pk, id);
	return 0;
}

static int
rotate_audit_recover_locked(const char *path, struct audit *audit, const char *actor,
			    const char **what, struct idg_err *err)
{
	char newp[PATH_MAX], oldp[PATH_MAX], id[AUDIT_KEY_ID_LEN], cur[AUDIT_KEY_ID_LEN];
	char nid[AUDIT_KEY_ID_LEN] = "", oid[AUDIT_KEY_ID_LEN] = "";
	struct idg_err ignored;
	int named;

	*what = "nothing to do";
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (file_key_id(path, cur, err) != 0)
		return -1;
	if ((named = audit_store_key_id(audit->st, id, err)) < 0)
		return -1;
	if (keyfile_exists(newp))
		(void)file_key_id(newp, nid, &ignored);
	if (keyfile_exists(oldp))
		(void)file_key_id(oldp, oid, &ignored);
	if (named == 0 || strcmp(id, cur) == 0) {
		/* The chain is signed with audit.key: a .new is a rotation that never committed. */
		if (keyfile_exists(newp)) {
			if (keyfile_destroy(newp, err) != 0)
				return -1;
			*what = "removed a new audit key the chain never used";
		}
		return 0;
	}
	if (nid[0] != '\0' && strcmp(id, nid) == 0) {
		/* Committed, files not swapped yet: finish steps 3 and 4. */
		if (keyfile_swap(path, newp, oldp, 0, err) != 0 ||
		    keyfile_audit_event(audit, actor, "audit", "key rotate completed", cur, id,
					err) != 0)
			return -1;
		*what = "completed an interrupted rotation";
		return 0;
	}
	if (oid[0] != '\0' && strcmp(id, oid) == 0) {
		*what = "the chain is signed with audit.key.old (restored from before a "
			"rotation?): keep that file, and rotate to move to a new key";
		return 0;
	}
	return idg_seterr(err, "the store names audit key %s, which no key file holds", id);
}

static int
rotate_audit_locked(const char *path, struct audit *audit, const char *actor, enum rotate_stop stop,
		    struct rotate_audit_result *res, struct idg_err *err)
{
	char newp[PATH_MAX], oldp[PATH_MAX];
	unsigned char *new_sk = NULL;
	const char *what;
	int rc = -1, in_tx = 0, made = 0;

	memset(res, 0, sizeof(*res));
	if (audit == NULL || audit->secret == NULL)
		return idg_seterr(err, "the audit signing key is not loaded");
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_audit_recover_locked(path, audit, actor, &what, err) != 0)
		return -1;
	if (keyfile_exists(oldp))
		return idg_seterr(err,
				  "%s exists: destroy the previous key first (idgov key "
				  "destroy-old audit)",
				  oldp);
	/* Step 1. */
	if (keys_create_audit_secret(newp, err) != 0)
		return -1;
	made = 1;
	if (keyfile_fsync_dir(newp, err) != 0 || keys_load_audit_secret(newp, &new_sk, err) != 0)
		goto out;
	keyfile_fault_point("key-rotate-after-new-file");
	if (stop == ROTATE_STOP_AFTER_NEW_FILE) {
		made = 0;
		rc = 0;
		goto out;
	}
	/* Step 2. */
	if (store_begin(audit->st, err) != 0)
		goto out;
	in_tx = 1;
	if (audit_append_key_rotation(audit, actor, new_sk, res->old_id, res->new_id, &res->seq,
				      err) != 0)
		goto out;
	if (stop == ROTATE_STOP_BEFORE_COMMIT) {
		store_rollback(audit->st); /* as a kill before the commit would */
		in_tx = 0;
		made = 0;
		rc = 0;
		goto out;
	}
	if (store_commit(audit->st, err) != 0)
		goto out;
	in_tx = 0;
	made = 0; /* the chain names it now: never remove it */
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
	if (in_tx)
		store_rollback(audit->st);
	if (made) {
		struct idg_err ignored;

		/* Nothing was committed: the new key signed nothing anyone keeps. */
		(void)keyfile_destroy(newp, &ignored);
	}
	keys_free_secret(new_sk);
	return rc;
}

static int
rotate_audit_destroy_old_locked(const char *path, struct audit *audit, const char *actor,
				struct idg_err *err)
{
	char oldp[PATH_MAX], id[AUDIT_KEY_ID_LEN], old_id[AUDIT_KEY_ID_LEN];
	const char *what;
	int named;

	if (keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_audit_recover_locked(path, audit, actor, &what, err) != 0)
		return -1;
	if (!keyfile_exists(oldp))
		return idg_seterr(err, "%s does not exist: nothing to destroy", oldp);
	if (keyfile_same(path, oldp))
		return idg_seterr(err, "%s is still %s: refusing to destroy it", oldp, path);
	if (file_key_id(oldp, old_id, err) != 0)
		return -1;
	if ((named = audit_store_key_id(audit->st, id, err)) < 0)
		return -1;
	if (named == 0 || strcmp(id, old_id) == 0)
		return idg_seterr(err,
				  "the audit chain is still signed with %s (key %s): rotate first",
				  oldp, old_id);
	if (keyfile_destroy(oldp, err) != 0)
		return -1;
	return keyfile_audit_event(audit, actor, "audit", "key destroy-old", old_id, NULL, err);
}

/* The entry points: each holds the key directory's lock throughout (keyfile_lock()). */
int
rotate_audit_recover(const char *path, struct audit *audit, const char *actor, const char **what,
		     struct idg_err *err)
{
	int fd, rc;

	*what = "nothing to do";
	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_audit_recover_locked(path, audit, actor, what, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_audit(const char *path, struct audit *audit, const char *actor, enum rotate_stop stop,
	     struct rotate_audit_result *res, struct idg_err *err)
{
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_audit_locked(path, audit, actor, stop, res, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_audit_destroy_old(const char *path, struct audit *audit, const char *actor,
			 struct idg_err *err)
{
	int fd, rc;

	if (keyfile_lock(path, &fd, err) != 0)
		return -1;
	rc = rotate_audit_destroy_old_locked(path, audit, actor, err);
	keyfile_unlock(fd);
	return rc;
}
