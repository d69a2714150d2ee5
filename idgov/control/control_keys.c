/*
 * The control protocol's key operations (admins only): rotating the master
 * key (rotate.h) and the audit signing key (rotate_audit.h), destroying
 * the old ones, and listing the key files by id, never by content. A
 * rotation runs where the store is written: in idgovd when it runs, which
 * then reloads its master key (control_ctx.reload_key; its audit handle
 * picks the new audit key itself), or in the CLI's process for root.
 */
#include "control_int.h"

#include "keys.h"
#include "mfa.h"
#include "rotate.h"
#include "rotate_audit.h"
#include "rotate_backup.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Every kind of secret sealed under the master key. */
static const struct rotate_resealer resealers[] = {{"mfa", mfa_reseal, NULL}};

enum key_name { KEY_MASTER, KEY_AUDIT, KEY_BACKUP };

static int
key_name(json_t *args, enum key_name *k, struct reply_err *r)
{
	const char *name;

	if (control_arg_name(args, "name", 0, &name, r) != 0)
		return -1;
	if (strcmp(name, "master") == 0)
		*k = KEY_MASTER;
	else if (strcmp(name, "audit") == 0)
		*k = KEY_AUDIT;
	else if (strcmp(name, "backup") == 0)
		*k = KEY_BACKUP;
	else {
		control_fail(r, "bad_request", "no key named '%s' (master, audit, backup)", name);
		return -1;
	}
	return 0;
}

static json_t *
rotate_audit_key(struct control_ctx *ctx, const struct caller *who, struct reply_err *r)
{
	struct rotate_audit_result res;

	if (ctx->audit == NULL) {
		control_fail(r, "failed", "no audit chain open");
		return NULL;
	}
	if (rotate_audit(ctx->cfg->audit_key_file, ctx->audit, who->name, ROTATE_RUN_ALL, &res,
			 &r->e) != 0)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:I}", "key", "audit", "old_id", res.old_id, "new_id",
			 res.new_id, "seq", (json_int_t)res.seq);
}

json_t *
control_key_rotate(struct control_ctx *ctx, const struct caller *who, json_t *args,
		   struct reply_err *r)
{
	struct rotate_result res;
	struct idg_err rerr;
	enum key_name k;

	if (key_name(args, &k, r) != 0)
		return NULL;
	r->code = "failed";
	if (k == KEY_AUDIT)
		return rotate_audit_key(ctx, who, r);
	if (k == KEY_BACKUP) {
		struct rotate_backup_result b;

		if (rotate_backup(ctx->cfg, ctx->audit, who->name, ROTATE_RUN_ALL, &b, &r->e) != 0)
			return NULL;
		return json_pack("{s:s, s:s, s:s}", "key", "backup", "old_id", b.old_id, "new_id",
				 b.new_id);
	}
	if (rotate_master(ctx->cfg->master_key_file, ctx->st, ctx->audit, who->name, resealers,
			  sizeof(resealers) / sizeof(resealers[0]), ROTATE_RUN_ALL, &res,
			  &r->e) != 0)
		return NULL;
	/* The new key is in master.key now: a daemon drops the one it loaded at start. */
	if (ctx->reload_key != NULL && ctx->reload_key(ctx->arg, &rerr) != 0 && ctx->log != NULL)
		log_msg(ctx->log, LOG_ERR, "reloading the master key after its rotation: %s",
			rerr.msg);
	return json_pack("{s:s, s:s, s:s, s:I}", "key", "master", "old_id", res.old_id, "new_id",
			 res.new_id, "resealed", (json_int_t)res.resealed);
}

json_t *
control_key_destroy_old(struct control_ctx *ctx, const struct caller *who, json_t *args,
			struct reply_err *r)
{
	enum key_name k;

	if (key_name(args, &k, r) != 0)
		return NULL;
	r->code = "failed";
	if (k == KEY_AUDIT) {
		if (ctx->audit == NULL) {
			control_fail(r, "failed", "no audit chain open");
			return NULL;
		}
		if (rotate_audit_destroy_old(ctx->cfg->audit_key_file, ctx->audit, who->name,
					     &r->e) != 0)
			return NULL;
		return json_pack("{s:s}", "key", "audit");
	}
	if (k == KEY_BACKUP) {
		struct rotate_backup_result b;

		if (rotate_backup_destroy_old(ctx->cfg, ctx->audit, who->name, &b, &r->e) != 0)
			return NULL;
		return json_pack("{s:s, s:s, s:i}", "key", "backup", "old_id", b.old_id,
				 "old_backups", b.old_backups);
	}
	if (rotate_master_destroy_old(ctx->cfg->master_key_file, ctx->st, ctx->audit, who->name,
				      &r->e) != 0)
		return NULL;
	return json_pack("{s:s}", "key", "master");
}

/* One key file's row: its id, when written, mode and owner; NULL if it does not exist. */
static json_t *
file_row(const char *key, const char *role, const char *path, const char *id)
{
	struct stat sb;
	char mode[8];

	if (path == NULL || path[0] == '\0' || lstat(path, &sb) != 0)
		return NULL;
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(sb.st_mode & 07777));
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "key", key, "role", role, "file",
			 path, "id", id != NULL ? id : "", "written", (json_int_t)sb.st_mtime,
			 "mode", mode, "owner", (json_int_t)sb.st_uid);
}

static void
add(json_t *list, json_t *row)
{
	if (row != NULL)
		json_array_append_new(list, row);
}

static void
add_master(json_t *list, const char *path, const char *suffix, const char *role, const char *in_use)
{
	struct secret_key *k = NULL;
	struct idg_err ignored;
	char p[4096];
	json_t *row;

	if (snprintf(p, sizeof(p), "%s%s", path, suffix) >= (int)sizeof(p))
		return;
	(void)secret_key_load_one(p, &k, &ignored);
	row = file_row("master", role, p, k != NULL ? secret_key_id(k) : NULL);
	if (row != NULL)
		json_object_set_new(
			row, "in_use",
			json_boolean(k != NULL && strcmp(in_use, secret_key_id(k)) == 0));
	add(list, row);
	secret_key_free(k);
}

/* An audit secret key file's row: its id is its public key's. */
static void
add_audit(json_t *list, const char *path, const char *suffix, const char *role, const char *in_use)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], *sk = NULL;
	char p[4096], id[AUDIT_KEY_ID_LEN] = "";
	struct idg_err ignored;
	json_t *row;

	if (snprintf(p, sizeof(p), "%s%s", path, suffix) >= (int)sizeof(p))
		return;
	if (keys_load_audit_secret(p, &sk, &ignored) == 0) {
		crypto_sign_ed25519_sk_to_pk(pk, sk);
		audit_key_id(pk, id);
		keys_free_secret(sk);
	}
	row = file_row("audit", role, p, id[0] != '\0' ? id : NULL);
	if (row != NULL)
		json_object_set_new(row, "in_use",
				    json_boolean(id[0] != '\0' && strcmp(in_use, id) == 0));
	add(list, row);
}

/* A backup key file's row: its id is the one backup files carry in their header. */
static void
add_backup(json_t *list, const char *path, const char *suffix, const char *role)
{
	char p[4096], id[BACKUP_KEY_ID_HEX] = "";
	struct idg_err ignored;
	unsigned char *key;
	json_t *row;

	if (snprintf(p, sizeof(p), "%s%s", path, suffix) >= (int)sizeof(p))
		return;
	if (backup_key_load(p, &key, &ignored) == 0) {
		backup_key_id_hex(key, id);
		keys_free_secret(key);
	}
	row = file_row("backup", role, p, id[0] != '\0' ? id : NULL);
	if (row != NULL)
		json_object_set_new(row, "in_use", json_boolean(suffix[0] == '\0'));
	add(list, row);
}

json_t *
control_key_list(struct control_ctx *ctx, const struct caller *who, json_t *args,
		 struct reply_err *r)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char store_id[SECRET_KEY_ID_LEN], pub_id[AUDIT_KEY_ID_LEN], audit_id[AUDIT_KEY_ID_LEN];
	struct secret_key *cur = NULL;
	struct idg_err ignored;
	json_t *list;
	int named;

	(void)who;
	(void)args;
	r->code = "failed";
	if ((named = secret_store_key_id(ctx->st, store_id, &r->e)) < 0)
		return NULL;
	if (named == 0) {
		/* Never rotated: the store's secrets are under master.key itself. */
		store_id[0] = '\0';
		if (secret_key_load_one(ctx->cfg->master_key_file, &cur, &ignored) == 0)
			idg_strlcpy(store_id, secret_key_id(cur), sizeof(store_id));
		secret_key_free(cur);
	}
	if ((list = json_array()) == NULL)
		return NULL;
	add_master(list, ctx->cfg->master_key_file, "", "current", store_id);
	add_master(list, ctx->cfg->master_key_file, ".new", "new (rotation in progress)", store_id);
	add_master(list, ctx->cfg->master_key_file, ".old", "old (until destroy-old)", store_id);
	/* The audit key's id is its public key's fingerprint. */
	pub_id[0] = '\0';
	if (keys_load_audit_public(ctx->cfg->audit_pubkey_file, pk, &ignored) == 0)
		audit_key_id(pk, pub_id);
	if (audit_store_key_id(ctx->st, audit_id, &ignored) != 1)
		idg_strlcpy(audit_id, pub_id, sizeof(audit_id)); /* never rotated */
	add_audit(list, ctx->cfg->audit_key_file, "", "signing", audit_id);
	add_audit(list, ctx->cfg->audit_key_file, ".new", "new (rotation in progress)", audit_id);
	add_audit(list, ctx->cfg->audit_key_file, ".old", "old (until destroy-old)", audit_id);
	add(list,
	    file_row("audit", "public (first key, pinned)", ctx->cfg->audit_pubkey_file, pub_id));
	add_backup(list, ctx->cfg->backup_key_file, "", "current");
	add_backup(list, ctx->cfg->backup_key_file, ".new", "new (rotation in progress)");
	add_backup(list, ctx->cfg->backup_key_file, ".old", "old (reads older backups)");
	return json_pack("{s:o}", "keys", list);
}
