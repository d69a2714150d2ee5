/* Backup key rotation; see rotate_backup.h. */
#include "rotate_backup.h"

#include "keyfile.h"
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The id of the backup key in path; -1 (err) if it cannot be read or is not trusted. */
static int
file_key_id(const char *path, char id[BACKUP_KEY_ID_HEX], struct idg_err *err)
{
	unsigned char *key;

	if (backup_key_load(path, &key, err) != 0)
		return -1;
	backup_key_id_hex(key, id);
	keys_free_secret(key);
	return 0;
}

static int
rotate_backup_recover_locked(const struct cfg *cfg, struct audit *audit, const char *actor,
			     const char **what, struct idg_err *err)
{
	const char *path = cfg->backup_key_file;
	char newp[PATH_MAX], oldp[PATH_MAX], cur[BACKUP_KEY_ID_HEX], nid[BACKUP_KEY_ID_HEX];

	*what = "nothing to do";
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (!keyfile_exists(newp))
		return 0;
	if (!keyfile_same(path, oldp)) {
		/* Cut before the link: the new key was never decided, nor used. */
		if (keyfile_destroy(newp, err) != 0)
			return -1;
		*what = "removed a new backup key that was never put in place";
		return 0;
	}
	/* Cut after the link: finish it, and record it (again, if it was recorded already). */
	if (file_key_id(path, cur, err) != 0 || file_key_id(newp, nid, err) != 0 ||
	    keyfile_swap(path, newp, oldp, 0, err) != 0 ||
	    keyfile_audit_event(audit, actor, "backup", "key rotate completed", cur, nid, err) != 0)
		return -1;
	*what = "completed an interrupted rotation";
	return 0;
}

static int
rotate_backup_locked(const struct cfg *cfg, struct audit *audit, const char *actor,
		     enum rotate_stop stop, struct rotate_backup_result *res, struct idg_err *err)
{
	const char *path = cfg->backup_key_file, *what;
	char newp[PATH_MAX], oldp[PATH_MAX];
	int made = 0, rc = -1;

	memset(res, 0, sizeof(*res));
	if (keyfile_sibling(newp, path, ".new", err) != 0 ||
	    keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_backup_recover_locked(cfg, audit, actor, &what, err) != 0)
		return -1;
	if (keyfile_exists(oldp))
		return idg_seterr(err,
				  "%s exists: destroy the previous key first (idgov key "
				  "destroy-old backup), once no backup made with it is needed",
				  oldp);
	if (file_key_id(path, res->old_id, err) != 0)
		return -1;
	/* Step 1. */
	if (keys_create_backup(newp, err) != 0)
		return -1;
	made = 1;
	if (keyfile_fsync_dir(newp, err) != 0 || file_key_id(newp, res->new_id, err) != 0)
		goto out;
	keyfile_fault_point("key-rotate-after-new-file");
	if (stop == ROTATE_STOP_AFTER_NEW_FILE) {
		made = 0;
		rc = 0;
		goto out;
	}
	/* Step 2, then 3: the rotation is decided by its record. */
	if (keyfile_swap(path, newp, oldp, 1, err) != 0)
		goto out;
	made = 0;
	if (stop == ROTATE_STOP_AFTER_LINK || stop == ROTATE_STOP_BEFORE_COMMIT) {
		rc = 0;
		goto out;
	}
	if (keyfile_audit_event(audit, actor, "backup", "key rotate", res->old_id, res->new_id,
				err) != 0)
		goto out;
	keyfile_fault_point("key-rotate-after-commit");
	if (stop == ROTATE_STOP_AFTER_COMMIT) {
		rc = 0;
		goto out;
	}
	/* Step 4. */
	if (rename(newp, path) != 0) {
		idg_seterr(err, "cannot rename %s to %s: %s", newp, path, strerror(errno));
		goto out;
	}
	rc = keyfile_fsync_dir(path, err);
out:
	if (made) {
		struct idg_err ignored;

		(void)keyfile_destroy(newp, &ignored);
	}
	return rc;
}

/* Backups in [backup] targets whose header names key. */
static int
count_backups_with(const struct cfg *cfg, const unsigned char *key)
{
	const char *cursor = cfg->backup_targets, *item;
	size_t len;
	int n = 0;

	while (cursor != NULL && idg_list_next(&cursor, &item, &len)) {
		char dir[PATH_MAX], p[PATH_MAX];
		struct dirent *e;
		DIR *d;

		if (len == 0 || len >= sizeof(dir))
			continue;
		memcpy(dir, item, len);
		dir[len] = '\0';
		if ((d = opendir(dir)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			size_t l = strlen(e->d_name);

			if (strncmp(e->d_name, "idgov-", 6) != 0 || l < sizeof(BACKUP_SUFFIX) ||
			    strcmp(e->d_name + l - (sizeof(BACKUP_SUFFIX) - 1), BACKUP_SUFFIX) != 0)
				continue;
			if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < sizeof(p) &&
			    backup_file_uses_key(p, key))
				n++;
		}
		closedir(d);
	}
	return n;
}

static int
rotate_backup_destroy_old_locked(const struct cfg *cfg, struct audit *audit, const char *actor,
				 struct rotate_backup_result *res, struct idg_err *err)
{
	const char *path = cfg->backup_key_file, *what;
	unsigned char *key;
	char oldp[PATH_MAX];

	memset(res, 0, sizeof(*res));
	if (keyfile_sibling(oldp, path, ".old", err) != 0)
		return -1;
	if (rotate_backup_recover_locked(cfg, audit, actor, &what, err) != 0)
		return -1;
	if (!keyfile_exists(oldp))
		return idg_seterr(err, "%s does not exist: nothing to destroy", oldp);
	if (keyfile_same(path, oldp))
		return idg_seterr(err, "%s is still %s: refusing to destroy it", oldp, path);
	if (backup_key_load(oldp, &key, err) != 0)
		return -1;
	backup_key_id_hex(key, res->old_id);
	res->old_backups = count_backups_with(cfg, key);
	keys_free_secret(key);
	if (keyfile_destroy(oldp, err) != 0)
		return -1;
	return keyfile_audit_event(audit, actor, "backup", "key destroy-old", res->old_id, NULL,
				   err);
}

/* The entry points: each holds the key directory's lock throughout (keyfile_lock()). */
int
rotate_backup_recover(const struct cfg *cfg, struct audit *audit, const char *actor,
		      const char **what, struct idg_err *err)
{
	int fd, rc;

	*what = "nothing to do";
	if (keyfile_lock(cfg->backup_key_file, &fd, err) != 0)
		return -1;
	rc = rotate_backup_recover_locked(cfg, audit, actor, what, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_backup(const struct cfg *cfg, struct audit *audit, const char *actor, enum rotate_stop stop,
	      struct rotate_backup_result *res, struct idg_err *err)
{
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (keyfile_lock(cfg->backup_key_file, &fd, err) != 0)
		return -1;
	rc = rotate_backup_locked(cfg, audit, actor, stop, res, err);
	keyfile_unlock(fd);
	return rc;
}

int
rotate_backup_destroy_old(const struct cfg *cfg, struct audit *audit, const char *actor,
			  struct rotate_backup_result *res, struct idg_err *err)
{
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (keyfile_lock(cfg->backup_key_file, &fd, err) != 0)
		return -1;
	rc = rotate_backup_destroy_old_locked(cfg, audit, actor, res, err);
	keyfile_unlock(fd);
	return rc;
}
