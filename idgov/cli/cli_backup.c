/*
 * idgov backup [--to DIR], idgov backup verify FILE, idgov restore FILE.
 *
 * A backup is a control request (idgovd takes it when it runs, root's
 * idgov in-process otherwise). Verifying and restoring read the backup key
 * and the file here: a restore replaces the store under idgovd's feet, so
 * it is refused while idgovd answers on its socket.
 */
#include "backup.h"
#include "cli_int.h"
#include "client.h"
#include "keys.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char backup_text[] =
	"usage: idgov backup [--to DIR]\n"
	"       idgov backup verify FILE\n"
	"  backup: an encrypted, verified snapshot of the store, the configuration and the\n"
	"    audit public key, written to DIR (default: the first of [backup] targets) as\n"
	"    idgov-HOST-YYYYMMDDTHHMMSSZ.backup (admin)\n"
	"  verify: decrypt FILE with [store] backup_key and check the store image, its\n"
	"    audit chain and the manifest (root)\n";

static const char restore_text[] =
	"usage: idgov restore FILE\n"
	"  Verifies FILE, keeps the current store aside (STORE.before-restore-STAMP),\n"
	"  restores the backup's store, re-anchors the audit chain at the restored head\n"
	"  and records the restore. Root only, and only while idgovd is stopped.\n";

static void
print_backup(json_t *r)
{
	printf("backup written: %s\n", json_string_value(json_object_get(r, "file")));
	printf("  audit head %lld, store %lld bytes, schema %lld; verified after writing\n",
	       (long long)json_integer_value(json_object_get(r, "audit_head_seq")),
	       (long long)json_integer_value(json_object_get(r, "store_bytes")),
	       (long long)json_integer_value(json_object_get(r, "schema")));
}

static void
print_manifest(const struct backup_contents *bc, const struct backup_check *chk)
{
	char when[32];
	time_t t = (time_t)bc->m.time;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("host        %s\n", bc->m.host);
	printf("made        %s by idgov %s\n", when, bc->m.version);
	printf("schema      %d\n", bc->m.schema);
	printf("audit head  %lld (%lld records, %lld signatures, chain verified)\n",
	       (long long)bc->m.head_seq, (long long)chk->records, (long long)chk->signatures);
	printf("store       %lld bytes, integrity_check ok\n", (long long)bc->m.store_bytes);
	if (chk->pk_differs)
		printf("note        its audit public key is not this host's\n");
	if (chk->old_key)
		printf("note        made with the previous backup key (kept as .old since a "
		       "rotation)\n");
}

static int
backup_verify(struct cli *c, const char *file)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct backup_contents bc;
	struct backup_check chk;
	struct idg_err err;
	int have_pk;

	if (cli_load_config(c) != 0)
		return EXIT_FAIL;
	have_pk = keys_load_audit_public(c->cfg->audit_pubkey_file, pk, &err) == 0;
	if (backup_verify_file(file, c->cfg->backup_key_file, have_pk ? pk : NULL, &bc, &chk,
			       &err) != 0) {
		fprintf(stderr, "idgov: backup refused: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (c->json)
		printf("{\"ok\": true, \"file\": \"%s\", \"audit_head_seq\": %lld}\n", file,
		       (long long)bc.m.head_seq);
	else
		print_manifest(&bc, &chk);
	backup_contents_free(&bc);
	return EXIT_OK;
}

static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int
cmd_backup(struct cli *c, int argc, char **argv)
{
	const char *to = NULL;
	int i;

	if (wants_help(argc, argv))
		return help(backup_text);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		if (argc != 3 || argv[2][0] == '-')
			return usage_error("'backup verify' takes one FILE");
		return backup_verify(c, argv[2]);
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = 1;
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strncmp(argv[i], "--to=", 5) == 0)
			to = argv[i] + 5;
		else
			return usage_error("unknown 'backup' argument '%s'", argv[i]);
	}
	if (to != NULL && to[0] != '/')
		return usage_error("--to needs an absolute directory, not '%s'", to);
	return run(c, "backup.run", to ? json_pack("{s:s}", "to", to) : json_object(),
		   print_backup);
}

/* 1 when idgovd answers on its socket (or something we cannot rule out does). */
static int
daemon_answers(struct cli *c)
{
	struct idg_err err;
	char *reply = NULL;
	int unavailable = 0;
	int rc = client_call(c->cfg->socket_path, c->cfg->daemon_user,
			     "{\"v\":1,\"op\":\"status\",\"args\":{}}", &reply, &unavailable, &err);

	free(reply);
	return rc == 0 || !unavailable;
}

int
cmd_restore(struct cli *c, int argc, char **argv)
{
	struct backup_restore_report rep;
	struct backup_contents bc;
	struct backup_check chk;
	struct idg_err err;

	if (wants_help(argc, argv))
		return help(restore_text);
	if (argc != 2 || argv[1][0] == '-')
		return usage_error("'restore' takes one FILE");
	if (geteuid() != 0) {
		fprintf(stderr, "idgov: restore is for root\n");
		return EXIT_FAIL;
	}
	if (cli_load_config(c) != 0)
		return EXIT_FAIL;
	if (daemon_answers(c)) {
		fprintf(stderr,
			"idgov: idgovd is running (it answers on %s): stop it before restoring; "
			"nothing was changed\n",
			c->cfg->socket_path);
		return EXIT_FAIL;
	}
	if (backup_restore_file(c->cfg, argv[1], "root", &bc, &chk, &rep, &err) != 0) {
		if (rep.unchanged)
			fprintf(stderr, "idgov: backup refused, nothing was changed: %s\n",
				err.msg);
		else
			fprintf(stderr, "idgov: restore failed: %s\n", err.msg);
		return EXIT_FAIL;
	}
	printf("restored %s (made %lld on %s, audit head %lld)\n", argv[1], (long long)bc.m.time,
	       bc.m.host, (long long)rep.restored_head);
	printf("previous store kept as %s (audit head %lld)\n", rep.aside,
	       (long long)rep.previous_head);
	printf("audit anchor reset to record %lld; the restore is recorded as backup.restore\n",
	       (long long)rep.anchored);
	printf("next: start idgovd. It resyncs people and groups from the directory at start;\n"
	       "governance state (grants, reviews, MFA, accounts) is the backup's, and the\n"
	       "journal re-applies its pending directory writes (they are idempotent).\n"
	       "Changes made after the backup and before the restore are not in the store:\n"
	       "grants and reviews decided, MFA enrolments, audit records (they stay in the\n"
	       "store kept aside and in syslog).\n");
	if (c->cfg->audit_anchor_dn[0] != '\0')
		printf("the directory's copy of the audit head ([store] audit_anchor_dn) is still "
		       "the\n"
		       "old one: once idgovd runs, 'idgov audit anchor --reset --confirm SEQ' "
		       "lowers "
		       "it.\n");
	backup_contents_free(&bc);
	return EXIT_OK;
}
