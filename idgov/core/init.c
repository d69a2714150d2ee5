/* `idgov init`; see init.h. */
#include "init.h"

#include "audit.h"
#include "keys.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Key files live in private directories; create the parent 0700 if it is missing. */
static int
ensure_parent(const char *path, struct idg_err *err)
{
	char *copy = strdup(path);
	int rc = 0;

	if (copy == NULL)
		return idg_seterr(err, "out of memory");
	if (mkdir(dirname(copy), 0700) != 0 && errno != EEXIST)
		rc = idg_seterr(err, "cannot create directory for %s: %s", path, strerror(errno));
	free(copy);
	return rc;
}

int
init_host(const struct cfg *cfg, struct init_report *rep, struct idg_err *err)
{
	struct store *st = NULL;
	struct audit *a = NULL;
	json_t *d;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	rep->store_created = !exists(cfg->store_path);
	if (store_open(cfg->store_path, STORE_OPEN_CREATE, &st, err) != 0)
		return -1;
	if (!exists(cfg->master_key_file)) {
		if (ensure_parent(cfg->master_key_file, err) != 0 ||
		    keys_create_master(cfg->master_key_file, err) != 0)
			goto out;
		rep->master_key_created = 1;
	}
	/* Separate from the master key; an install from before backups gets one here. */
	if (!exists(cfg->backup_key_file)) {
		if (ensure_parent(cfg->backup_key_file, err) != 0 ||
		    keys_create_backup(cfg->backup_key_file, err) != 0)
			goto out;
		rep->backup_key_created = 1;
	}
	/*
	 * The fleet key seals the TOTP secrets every host reads from the
	 * directory: made once, on the governor, and copied to the hosts by
	 * the admin. A host that made its own would seal enrolments no other
	 * host could open.
	 */
	if (cfg->fleet_role == CFG_ROLE_GOVERNOR && cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY &&
	    !exists(cfg->fleet_key_file)) {
		if (ensure_parent(cfg->fleet_key_file, err) != 0 ||
		    keys_create_master(cfg->fleet_key_file, err) != 0)
			goto out;
		rep->fleet_key_created = 1;
	}
	if (exists(cfg->audit_key_file) != exists(cfg->audit_pubkey_file)) {
		idg_seterr(err, "only one of %s and %s exists; restore the other or remove both",
			   cfg->audit_key_file, cfg->audit_pubkey_file);
		goto out;
	}
	if (!exists(cfg->audit_key_file)) {
		if (ensure_parent(cfg->audit_key_file, err) != 0 ||
		    ensure_parent(cfg->audit_pubkey_file, err) != 0 ||
		    keys_create_audit(cfg->audit_key_file, cfg->audit_pubkey_file, err) != 0)
			goto out;
		rep->audit_key_created = 1;
	}
	if (audit_open(st, cfg->audit_key_file, cfg->audit_anchor_file, cfg->audit_sign_every, NULL,
		       &a, err) != 0)
		goto out;
	/*
	 * The first anchor is made here and nowhere else: a signer that finds
	 * it missing warns instead of creating it, or removing the file would
	 * be a way to have it re-made at a cut chain's end.
	 */
	if (!exists(cfg->audit_anchor_file)) {
		if (ensure_parent(cfg->audit_anchor_file, err) != 0 ||
		    audit_anchor_create(a, err) != 0)
			goto out;
		rep->anchor_created = 1;
	}
	d = json_pack("{s:b, s:b, s:b, s:b, s:b}", "store_created", rep->store_created,
		      "master_key_created", rep->master_key_created, "audit_key_created",
		      rep->audit_key_created, "anchor_created", rep->anchor_created,
		      "backup_key_created", rep->backup_key_created);
	/* Only where a fleet key is made at all: the record of a lone host is unchanged. */
	if (d != NULL && rep->fleet_key_created &&
	    json_object_set_new(d, "fleet_key_created", json_true()) != 0) {
		json_decref(d);
		d = NULL;
	}
	if (d == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	if (audit_record(a, "root", cfg->store_path, "idgov.init", d, err) != 0)
		goto out;
	rc = 0;
out:
	audit_close(a);
	store_close(st);
	return rc;
}
