/* Backups: the encrypted container, the checks of its contents, pruning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "keys.h"
#include "mfastate.h"
#include "testutil.h"

static const char conf[] = "[directory]\nuri = ldap://localhost\nbase = dc=example,dc=org\n"
			   "[store]\npath = $DIR/idgov.db\nmaster_key = $DIR/master.key\n"
			   "audit_key = $DIR/audit.key\naudit_public_key = $DIR/audit.pub\n";

struct fx {
	struct test_env env;
	char conf_path[160];
	unsigned char key[BACKUP_KEY_LEN];
	struct backup_contents c;
	unsigned char *file;
	size_t len;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct idg_err err;
	FILE *fp;

	assert_non_null(f);
	assert_int_equal(test_env_open(&f->env, "backup", conf, NULL, NULL, TEST_ENV_AUDIT), 0);
	/* The snapshot reads the configuration file the cfg came from. */
	snprintf(f->conf_path, sizeof(f->conf_path), "%s/idgov.conf", f->env.dir);
	fp = fopen(f->conf_path, "w");
	assert_non_null(fp);
	fputs("[store]\n# the configuration\n", fp);
	fclose(fp);
	free(f->env.cfg->path);
	f->env.cfg->path = strdup(f->conf_path);
	for (int i = 0; i < 5; i++)
		assert_int_equal(audit_record(f->env.audit, "root", "alice", "test.event",
					      json_pack("{s:i}", "i", i), &err),
				 0);
	randombytes_buf(f->key, sizeof(f->key));
	assert_int_equal(backup_snapshot(f->env.cfg, f->env.st, &f->c, &err), 0);
	assert_int_equal(backup_seal(f->key, &f->c, &f->file, &f->len, &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	backup_contents_free(&f->c);
	free(f->file);
	test_env_close(&f->env);
	free(f);
	return 0;
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct backup_check chk;
	struct idg_err err;

	assert_int_equal(backup_unseal(f->key, f->file, f->len, &c, &err), 0);
	assert_int_equal(c.m.head_seq, f->c.m.head_seq);
	assert_true(c.m.head_seq >= 5);
	assert_int_equal(c.db_len, f->c.db_len);
	assert_memory_equal(c.db, f->c.db, c.db_len);
	assert_string_equal(c.config, "[store]\n# the configuration\n");
	assert_int_equal(backup_check(&c, f->c.pk, &chk, &err), 0);
	assert_int_equal(chk.pk_differs, 0);
	assert_true(chk.records >= 5);
	backup_contents_free(&c);
}

static void
test_every_flipped_byte_refused(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct idg_err err;

	/* Every byte of the header, then a stride through the parts. */
	for (size_t i = 0; i < f->len; i += i < 64 ? 1 : 997) {
		f->file[i] ^= 0x01;
		assert_int_not_equal(backup_unseal(f->key, f->file, f->len, &c, &err), 0);
		f->file[i] ^= 0x01;
	}
	f->file[f->len - 1] ^= 0x80;
	assert_int_not_equal(backup_unseal(f->key, f->file, f->len, &c, &err), 0);
	assert_non_null(strstr(err.msg, "fails authentication"));
	f->file[f->len - 1] ^= 0x80;
	assert_int_equal(backup_unseal(f->key, f->file, f->len, &c, &err), 0);
	backup_contents_free(&c);
}

static void
test_truncated_refused(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct idg_err err;
	size_t cuts[] = {0, 7, 20, 47, 48, 52, 70000, f->len - 1};

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= f->len)
			continue;
		assert_int_not_equal(backup_unseal(f->key, f->file, cuts[i], &c, &err), 0);
	}
	assert_non_null(strstr(err.msg, "truncated"));
	/* Cut exactly at a part boundary: the final part is missing. */
	assert_int_not_equal(backup_unseal(f->key, f->file, 48 + 4 + 65536 + 17, &c, &err), 0);
	assert_non_null(strstr(err.msg, "truncated"));
}

static void
test_wrong_key_refused(void **state)
{
	struct fx *f = *state;
	unsigned char other[BACKUP_KEY_LEN];
	struct backup_contents c;
	struct idg_err err;

	memcpy(other, f->key, sizeof(other));
	other[0] ^= 1;
	assert_int_not_equal(backup_unseal(other, f->file, f->len, &c, &err), 0);
	assert_non_null(strstr(err.msg, "another backup key"));
	assert_int_not_equal(
		backup_unseal(f->key, (const unsigned char *)"hello world", 11, &c, &err), 0);
	assert_non_null(strstr(err.msg, "not an idgov backup"));
}

static void
test_manifest_mismatch_refused(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct backup_check chk;
	unsigned char *file;
	size_t len;
	struct idg_err err;

	/* A manifest that does not describe its image, sealed with the right key. */
	f->c.m.head_seq += 1;
	assert_int_equal(backup_seal(f->key, &f->c, &file, &len, &err), 0);
	f->c.m.head_seq -= 1;
	assert_int_equal(backup_unseal(f->key, file, len, &c, &err), 0);
	assert_int_not_equal(backup_check(&c, NULL, &chk, &err), 0);
	assert_non_null(strstr(err.msg, "audit head"));
	backup_contents_free(&c);
	free(file);

	/* An audit record edited in the image: the chain check finds it. */
	f->c.m.schema += 1000;
	assert_int_equal(backup_seal(f->key, &f->c, &file, &len, &err), 0);
	f->c.m.schema -= 1000;
	assert_int_equal(backup_unseal(f->key, file, len, &c, &err), 0);
	assert_int_not_equal(backup_check(&c, NULL, &chk, &err), 0);
	assert_non_null(strstr(err.msg, "schema version"));
	backup_contents_free(&c);
	free(file);
}

static void
test_chain_edit_refused(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct backup_check chk;
	struct idg_err err;

	assert_int_equal(
		store_exec(f->env.st, "UPDATE audit SET actor = 'mallory' WHERE seq = 2", &err), 0);
	backup_contents_free(&f->c);
	assert_int_equal(backup_snapshot(f->env.cfg, f->env.st, &f->c, &err), 0);
	free(f->file);
	f->file = NULL;
	assert_int_equal(backup_seal(f->key, &f->c, &f->file, &f->len, &err), 0);
	assert_non_null(f->file);
	assert_int_equal(backup_unseal(f->key, f->file, f->len, &c, &err), 0);
	assert_int_not_equal(backup_check(&c, NULL, &chk, &err), 0);
	assert_non_null(strstr(err.msg, "audit chain"));
	backup_contents_free(&c);
}

static void
touch(const char *dir, const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int
present(const char *dir, const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void
test_prune(void **state)
{
	struct fx *f = *state;
	char dir[160], name[PATH_MAX];
	int64_t now = 1796166000; /* 2026-12-01T23:00:00Z */
	int64_t newest;
	int removed;
	struct idg_err err;

	snprintf(dir, sizeof(dir), "%s/backups", f->env.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (int i = 0; i < 5; i++) {
		static const int days[] = {0, 10, 20, 30, 31};

		assert_int_equal(backup_file_name(dir, "h1", now - (int64_t)days[i] * 86400, name,
						  sizeof(name)),
				 0);
		touch(dir, strrchr(name, '/') + 1);
	}
	touch(dir, "idgov-h1-20261001T000000Z.backup.0badc0de.tmp"); /* stale temporary */
	touch(dir, "idgov-h1-20261201T225959Z.backup.0badc0de.tmp"); /* one being written */
	touch(dir, "notes-20261001T000000Z.backup");                 /* not ours */
	idg_set_now(now);
	assert_int_equal(backup_prune(dir, 30 * 86400, idg_now(), &removed, &newest, &err), 0);
	idg_set_now(-1);
	assert_int_equal(removed,
			 2); /* 30 days exactly stays; 31 days and the stale temporary go */
	assert_int_equal(newest, now);
	assert_true(present(dir, "idgov-h1-20261201T230000Z.backup"));
	assert_true(present(dir, "idgov-h1-20261121T230000Z.backup"));
	assert_true(present(dir, "idgov-h1-20261111T230000Z.backup"));
	assert_true(present(dir, "idgov-h1-20261101T230000Z.backup"));
	assert_false(present(dir, "idgov-h1-20261031T230000Z.backup"));
	assert_false(present(dir, "idgov-h1-20261001T000000Z.backup.0badc0de.tmp"));
	assert_true(present(dir, "idgov-h1-20261201T225959Z.backup.0badc0de.tmp"));
	assert_true(present(dir, "notes-20261001T000000Z.backup"));

	/* Far in the future: everything is old, but the newest backup is never removed. */
	assert_int_equal(backup_prune(dir, 86400, now + 400 * 86400, &removed, &newest, &err), 0);
	assert_true(present(dir, "idgov-h1-20261201T230000Z.backup"));
	assert_false(present(dir, "idgov-h1-20261121T230000Z.backup"));
}

/*
 * A FIFO (or device) named as the backup to verify or restore is refused
 * at once with a clear message: opening it must not wait for a writer.
 * The alarm turns the hang this guards against into a failure.
 */
static void
test_fifo_refused_without_waiting(void **state)
{
	struct fx *f = *state;
	struct backup_contents c;
	struct backup_check rep;
	struct idg_err err;
	char fifo[PATH_MAX];

	snprintf(fifo, sizeof(fifo), "%s/fifo.backup", f->env.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10);
	assert_int_not_equal(backup_verify_file(fifo, f->env.master_key, NULL, &c, &rep, &err), 0);
	alarm(0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	unlink(fifo);
}

/*
 * The store kept aside by a restore is whole in its own file: the store,
 * its -wal and -shm are renamed one by one, and a kill -9 between the
 * first two renames must not leave the kept store without its newest
 * transactions (connections keep them in the WAL, store.c). Copying the
 * kept file alone, without its -wal, is the state such a kill leaves.
 */
static void
test_restore_keeps_a_whole_store_aside(void **state)
{
	struct fx *f = *state;
	struct backup_restore_report rep;
	struct idg_err err;
	char alone[PATH_MAX], cmd[PATH_MAX * 2 + 16];
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t head;

	assert_int_equal(audit_record(f->env.audit, "root", "alice", "test.after_backup",
				      json_pack("{s:i}", "i", 9), &err),
			 0);
	head = f->c.m.head_seq + 1;
	if (backup_restore(f->env.cfg, "test.backup", &f->c, "root", &rep, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.previous_head, head);
	snprintf(alone, sizeof(alone), "%s/alone.db", f->env.dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", rep.aside, alone);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sqlite3_open_v2(alone, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT max(seq) FROM audit", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(s, 0), head);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/*
 * Pruning deletes files: in a directory others may write (group-writable
 * here), where backup_run() refuses to write, it refuses to delete too.
 */
static void
test_prune_refuses_an_untrusted_directory(void **state)
{
	struct fx *f = *state;
	char dir[160], name[PATH_MAX];
	int64_t now = 1796166000, newest;
	int removed;
	struct idg_err err;

	snprintf(dir, sizeof(dir), "%s/shared", f->env.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(backup_file_name(dir, "h1", now - 40 * 86400, name, sizeof(name)), 0);
	touch(dir, strrchr(name, '/') + 1);
	assert_int_equal(backup_file_name(dir, "h1", now, name, sizeof(name)), 0);
	touch(dir, strrchr(name, '/') + 1);
	assert_int_not_equal(backup_prune(dir, 30 * 86400, now, &removed, &newest, &err), 0);
	assert_non_null(strstr(err.msg, "writable by group"));
	assert_true(present(dir, "idgov-h1-20261022T230000Z.backup"));
}

/*
 * A backup named in the future (made while the clock was ahead) is not the
 * newest: counted as such, it would silence the max_age alarm and put the
 * next scheduled backup off until that time.
 */
static void
test_backup_from_the_future_is_not_the_newest(void **state)
{
	struct fx *f = *state;
	char dir[160], name[PATH_MAX];
	int64_t now = 1796166000, newest;
	int removed;
	struct idg_err err;

	snprintf(dir, sizeof(dir), "%s/ahead", f->env.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(backup_file_name(dir, "h1", now - 2 * 86400, name, sizeof(name)), 0);
	touch(dir, strrchr(name, '/') + 1);
	assert_int_equal(backup_file_name(dir, "h1", now + 365 * 86400, name, sizeof(name)), 0);
	touch(dir, strrchr(name, '/') + 1);
	assert_int_equal(backup_prune(dir, 30 * 86400, now, &removed, &newest, &err), 0);
	assert_int_equal(newest, now - 2 * 86400);
	assert_int_equal(removed, 0);
	assert_true(present(dir, "idgov-h1-20271201T230000Z.backup")); /* kept, not trusted */
}

/* The plaintext's length in a file sealed in nparts parts. */
static size_t
plain_len(size_t file_len, size_t nparts)
{
	return file_len - 48 - nparts * (4 + crypto_secretstream_xchacha20poly1305_ABYTES);
}

/*
 * The streamed sealer cuts 64 KiB parts as the whole-buffer one did: a
 * plaintext of exactly two parts is two parts, the second one final (no
 * empty third), one byte more is a third part of one byte.
 */
static void
test_part_boundaries(void **state)
{
	struct fx *f = *state;
	const size_t part = 65536, ab = crypto_secretstream_xchacha20poly1305_ABYTES;
	struct backup_contents c = f->c, back;
	struct idg_err err;
	unsigned char *file = NULL, *db;
	size_t len = 0, base, nparts = (f->len - 48 + part + 4 + ab - 1) / (part + 4 + ab);

	/* The plaintext around the image: what the fixture's file holds beyond db_len. */
	base = plain_len(f->len, nparts) - f->c.db_len;
	for (size_t extra = 0; extra < 2; extra++) {
		size_t n = 2 * part + extra - base;

		db = sqlite3_malloc64(n);
		assert_non_null(db);
		for (size_t k = 0; k < n; k++)
			db[k] = (unsigned char)(k * 7 + extra);
		c.db = db;
		c.db_len = n;
		assert_int_equal(backup_seal(f->key, &c, &file, &len, &err), 0);
		assert_int_equal(len, 48 + 2 * (4 + part + ab) + (extra ? 4 + 1 + ab : 0));
		assert_int_equal(backup_unseal(f->key, file, len, &back, &err), 0);
		assert_int_equal(back.db_len, n);
		assert_memory_equal(back.db, db, n);
		assert_string_equal(back.config, f->c.config);
		backup_contents_free(&back);
		free(file);
		sqlite3_free(db);
	}
}

static void
flip_byte(const char *path, off_t at)
{
	unsigned char b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

/*
 * backup_run end to end: the file is sealed straight to disk and read back
 * part by part; backup_verify_file reads it the same way and refuses it
 * once a byte on disk changed or its end is cut.
 */
static void
test_run_then_verify_file(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX], path[PATH_MAX];
	struct backup_manifest m;
	struct backup_contents c;
	struct backup_check chk;
	struct idg_err err;
	struct stat sb;

	snprintf(out, sizeof(out), "%s/out", f->env.dir);
	assert_int_equal(mkdir(out, 0700), 0);
	snprintf(path, sizeof(path), "%s/backup.key", f->env.dir);
	free(f->env.cfg->backup_key_file);
	f->env.cfg->backup_key_file = strdup(path);
	assert_non_null(f->env.cfg->backup_key_file);
	assert_int_equal(backup_key_create(f->env.cfg->backup_key_file, &err), 0);
	assert_int_equal(backup_run(f->env.cfg, f->env.st, out, path, sizeof(path), &m, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(m.head_seq, f->c.m.head_seq);

	assert_int_equal(
		backup_verify_file(path, f->env.cfg->backup_key_file, f->c.pk, &c, &chk, &err), 0);
	assert_int_equal(c.m.head_seq, m.head_seq);
	assert_int_equal((int64_t)c.db_len, m.store_bytes);
	assert_true(chk.records >= 5);
	assert_int_equal(chk.pk_differs, 0);
	backup_contents_free(&c);

	/* One byte changed inside the second part, on disk. */
	flip_byte(path, 48 + 4 + 65536 + 17 + 4 + 100);
	assert_int_not_equal(
		backup_verify_file(path, f->env.cfg->backup_key_file, f->c.pk, &c, &chk, &err), 0);
	assert_non_null(strstr(err.msg, "part 2"));
	assert_non_null(strstr(err.msg, "fails authentication"));
	flip_byte(path, 48 + 4 + 65536 + 17 + 4 + 100);
	assert_int_equal(truncate(path, sb.st_size - 1), 0);
	assert_int_not_equal(
		backup_verify_file(path, f->env.cfg->backup_key_file, f->c.pk, &c, &chk, &err), 0);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_null(c.db);
}

/* Whether dir holds a name ending in suffix (a temporary file left behind). */
static int
holds_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	size_t sl = strlen(suffix);

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n >= sl && strcmp(e->d_name + n - sl, suffix) == 0)
			found = 1;
	}
	closedir(d);
	return found;
}

/* BLAKE2b of every filler blob of the store at path, in rowid order. */
static void
filler_hash(const char *path, unsigned char out[32])
{
	crypto_generichash_state h;
	sqlite3_stmt *s;
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db, "SELECT b FROM filler ORDER BY rowid", -1, &s, NULL),
		SQLITE_OK);
	crypto_generichash_init(&h, NULL, 0, 32);
	while (sqlite3_step(s) == SQLITE_ROW)
		crypto_generichash_update(&h, sqlite3_column_blob(s, 0),
					  (size_t)sqlite3_column_bytes(s, 0));
	crypto_generichash_final(&h, out, 32);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void
use_backup_key(struct fx *f)
{
	char path[PATH_MAX];
	struct idg_err err;

	snprintf(path, sizeof(path), "%s/backup.key", f->env.dir);
	free(f->env.cfg->backup_key_file);
	f->env.cfg->backup_key_file = strdup(path);
	assert_non_null(f->env.cfg->backup_key_file);
	assert_int_equal(backup_key_create(f->env.cfg->backup_key_file, &err), 0);
}

/*
 * idgov restore's path, backup_restore_file(): the image is written to a
 * temporary file beside the store while it is checked. A changed byte on
 * disk replaces nothing and leaves no temporary file; a good file
 * replaces the store with the backup's bytes (a 20 MiB filler: the image
 * spans several of the writer's 8 MiB write-behind chunks), keeps the old
 * one aside, re-anchors with the chain it checked and records the restore,
 * and the restored chain verifies, anchor included.
 */
static void
test_restore_file_replaces_only_after_the_check(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX], path[PATH_MAX], bad[PATH_MAX + 8], cmd[3 * PATH_MAX];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], before[32], after[32];
	struct backup_restore_report rep;
	struct backup_manifest m;
	struct backup_contents c;
	struct backup_check chk;
	struct audit_report ar;
	struct store *st;
	struct idg_err err;
	struct stat sb;

	use_backup_key(f);
	assert_int_equal(
		store_exec(f->env.st,
			   "CREATE TABLE filler(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 "
			   "UNION ALL SELECT i + 1 FROM n WHERE i < 20) INSERT INTO filler "
			   "SELECT randomblob(1048576) FROM n",
			   &err),
		0);
	snprintf(out, sizeof(out), "%s/out", f->env.dir);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(backup_run(f->env.cfg, f->env.st, out, path, sizeof(path), &m, &err), 0);
	assert_false(holds_suffix(out, ".tmp"));
	filler_hash(f->env.db, before);
	assert_int_equal(audit_record(f->env.audit, "root", "alice", "test.after_backup",
				      json_pack("{s:i}", "i", 9), &err),
			 0);

	/* One byte changed in the middle of the file: refused, nothing replaced. */
	assert_int_equal(stat(path, &sb), 0);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, bad);
	assert_int_equal(system(cmd), 0);
	flip_byte(bad, sb.st_size / 2);
	assert_int_not_equal(backup_restore_file(f->env.cfg, bad, "root", &c, &chk, &rep, &err), 0);
	assert_non_null(strstr(err.msg, "fails authentication"));
	assert_int_equal(rep.unchanged, 1);
	assert_null(c.db);
	assert_false(holds_suffix(f->env.dir, ".tmp"));
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM audit WHERE action = "
					     "'test.after_backup'"),
			 1);

	/* The good file. */
	if (backup_restore_file(f->env.cfg, path, "root", &c, &chk, &rep, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.m.head_seq, m.head_seq);
	assert_int_equal(rep.restored_head, m.head_seq);
	assert_int_equal(rep.previous_head, m.head_seq + 1);
	assert_true(chk.records >= 5);
	assert_int_equal(access(rep.aside, F_OK), 0);
	assert_false(holds_suffix(f->env.dir, ".tmp"));
	backup_contents_free(&c);
	assert_int_equal(stat(f->env.db, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	filler_hash(f->env.db, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(keys_load_audit_public(f->env.cfg->audit_pubkey_file, pk, &err), 0);
	assert_int_equal(store_open(f->env.db, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(audit_verify(st, pk, f->env.cfg->audit_anchor_file, &ar, &err), 0);
	if (!ar.ok)
		fail_msg("%s", ar.reason);
	assert_int_equal(ar.records, m.head_seq + 2); /* audit.anchor_reset, backup.restore */
	store_close(st);
}

/*
 * A snapshot that fails its check (an audit record edited in the store)
 * is never written: backup_run() refuses it and leaves neither a file
 * under its name nor the temporary file the second thread was sealing
 * into. Sealed with the backup key by hand, the same image is refused by
 * backup_restore_file() without replacing the store.
 */
static void
test_failed_check_leaves_no_file(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX], path[PATH_MAX];
	unsigned char *key = NULL, *file = NULL;
	struct backup_restore_report rep;
	struct backup_contents c, bad;
	struct backup_check chk;
	struct idg_err err;
	size_t len;
	FILE *fp;

	use_backup_key(f);
	assert_int_equal(
		store_exec(f->env.st, "UPDATE audit SET actor = 'mallory' WHERE seq = 2", &err), 0);
	snprintf(out, sizeof(out), "%s/out", f->env.dir);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_not_equal(backup_run(f->env.cfg, f->env.st, out, path, sizeof(path), NULL, &err),
			     0);
	assert_non_null(strstr(err.msg, "fails its check"));
	assert_non_null(strstr(err.msg, "audit chain"));
	assert_false(holds_suffix(out, ".tmp"));
	assert_false(holds_suffix(out, ".backup"));

	assert_int_equal(backup_snapshot(f->env.cfg, f->env.st, &bad, &err), 0);
	assert_int_equal(backup_key_load(f->env.cfg->backup_key_file, &key, &err), 0);
	assert_int_equal(backup_seal(key, &bad, &file, &len, &err), 0);
	snprintf(path, sizeof(path), "%s/edited.backup", f->env.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(file, 1, len, fp), len);
	fclose(fp);
	assert_int_not_equal(backup_restore_file(f->env.cfg, path, "root", &c, &chk, &rep, &err),
			     0);
	assert_non_null(strstr(err.msg, "audit chain"));
	assert_int_equal(rep.unchanged, 1);
	assert_false(holds_suffix(f->env.dir, ".tmp"));
	assert_int_equal(test_count(&f->env, "SELECT count(*) FROM audit WHERE actor = 'mallory'"),
			 1);
	free(file);
	keys_free_secret(key);
	backup_contents_free(&bad);
}

/* A file of format 1 (before the MFA state was carried) is still read and checked. */
static void
test_format_1_is_still_read(void **state)
{
	struct fx *f = *state;
	struct backup_contents one = f->c, c;
	struct backup_check chk;
	unsigned char *file = NULL;
	size_t len = 0;
	struct idg_err err;

	one.m.format = 1;
	one.authd = NULL;
	one.authd_len = 0;
	one.m.authd_bytes = 0;
	assert_int_equal(backup_seal(f->key, &one, &file, &len, &err), 0);
	assert_int_equal(backup_unseal(f->key, file, len, &c, &err), 0);
	assert_int_equal(c.m.format, 1);
	assert_null(c.authd);
	assert_int_equal(backup_check(&c, NULL, &chk, &err), 0);
	backup_contents_free(&c);
	free(file);
}

/* Runs sql on the state file at path, made (0600, schema) if it is not there. */
static void
state_exec(struct fx *f, const char *path, const char *sql)
{
	struct store *st;
	struct idg_err err;

	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), 0);
	assert_int_equal(store_exec(st, sql, &err), 0);
	store_close(st);
}

static int64_t
state_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	struct idg_err err;
	int64_t v;

	assert_int_equal(store_prepare(st, sql, &s, &err), 0);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * The backup's MFA state is merged into the host's, the more restrictive
 * side winning: higher watermarks and locks, every spent code; and it
 * travels in the backup, checked.
 */
static void
test_mfa_state_is_merged_never_rolled_back(void **state)
{
	struct fx *f = *state;
	char host[192], old[192];
	unsigned char *img = NULL;
	size_t len = 0;
	struct store *st;
	struct backup_contents c, c2;
	unsigned char *file = NULL;
	size_t flen = 0;
	int64_t users, spent;
	struct idg_err err;

	snprintf(host, sizeof(host), "%s/authd.db", f->env.dir);
	snprintf(old, sizeof(old), "%s/old-authd.db", f->env.dir);
	assert_int_equal(mfastate_image(old, &img, &len, &err), 0); /* none: nothing */
	assert_null(img);
	state_exec(f, old,
		   "INSERT INTO mfa_state (user_uuid, last_step, locked_until) VALUES "
		   "('a', 50, 9), ('b', 70, 0);"
		   "INSERT INTO mfa_recovery_used VALUES ('a', 'x', 'hx', 1), ('b', 'y', 'hy', 1);"
		   "INSERT INTO sessions (uid, service, pid, opened_at) VALUES ('ann', 'sshd', "
		   "1, 10), ('bob', 'sshd', 2, 20);"
		   "INSERT INTO password_history (uid, hash, changed_at) VALUES "
		   "('ann', 'h-old', 5), ('ann', 'h-both', 6)");
	state_exec(f, host,
		   "INSERT INTO mfa_state (user_uuid, last_step, locked_until) VALUES "
		   "('a', 100, 5);"
		   "INSERT INTO mfa_recovery_used VALUES ('a', 'x', 'hx', 2);"
		   "INSERT INTO sessions (uid, service, pid, opened_at) VALUES ('ann', 'sshd', "
		   "1, 10), ('ann', 'su', 3, 30);"
		   "INSERT INTO password_history (uid, hash, changed_at) VALUES "
		   "('ann', 'h-both', 6), ('ann', 'h-new', 7)");
	assert_int_equal(mfastate_image(old, &img, &len, &err), 0);
	assert_non_null(img);
	assert_int_equal(mfastate_image_check(img, len, &err), 0);
	assert_int_equal(mfastate_open(host, f->env.st, &st, &err), 0);
	assert_int_equal(mfastate_merge_image(st, img, len, &users, &spent, &err), 0);
	assert_int_equal(users, 2); /* b added; a's lock raised to 9, its step kept at 100 */
	assert_int_equal(spent, 1); /* b's y; a's x was spent already */
	assert_int_equal(state_int(st, "SELECT last_step FROM mfa_state WHERE user_uuid = 'a'"),
			 100);
	assert_int_equal(state_int(st, "SELECT locked_until FROM mfa_state WHERE user_uuid = 'a'"),
			 9);
	assert_int_equal(state_int(st, "SELECT last_step FROM mfa_state WHERE user_uuid = 'b'"),
			 70);
	assert_int_equal(state_int(st, "SELECT count(*) FROM mfa_recovery_used"), 2);
	/* bob's session added, ann's sshd session not twice, ann's su kept. */
	assert_int_equal(state_int(st, "SELECT count(*) FROM sessions"), 3);
	assert_int_equal(state_int(st, "SELECT count(*) FROM sessions WHERE (uid, service, "
				       "opened_at) IN (VALUES ('ann', 'sshd', 10), ('ann', 'su', "
				       "30), ('bob', 'sshd', 20))"),
			 3);
	/* A password remembered in either is remembered, once: it stays refused for reuse. */
	assert_int_equal(state_int(st, "SELECT count(*) FROM password_history WHERE uid = 'ann' "
				       "AND hash IN ('h-old', 'h-both', 'h-new')"),
			 3);
	assert_int_equal(state_int(st, "SELECT count(*) FROM password_history"), 3);
	/* Merging again changes nothing. */
	assert_int_equal(mfastate_merge_image(st, img, len, &users, &spent, &err), 0);
	assert_int_equal(users + spent, 0);
	assert_int_equal(state_int(st, "SELECT count(*) FROM sessions"), 3);
	assert_int_equal(state_int(st, "SELECT count(*) FROM password_history"), 3);
	store_close(st);
	/* A damaged image is refused, changing nothing. */
	img[len / 2] ^= 0xff;
	img[100] ^= 0xff;
	assert_int_equal(mfastate_image_check(img, len, &err), -1);
	free(img);
	/* The host's state file travels in a backup, and its size is checked. */
	assert_int_equal(backup_snapshot(f->env.cfg, f->env.st, &c, &err), 0);
	assert_non_null(c.authd);
	assert_int_equal(c.m.authd_bytes, (int64_t)c.authd_len);
	assert_int_equal(backup_seal(f->key, &c, &file, &flen, &err), 0);
	assert_int_equal(backup_unseal(f->key, file, flen, &c2, &err), 0);
	assert_int_equal(c2.authd_len, c.authd_len);
	assert_memory_equal(c2.authd, c.authd, c.authd_len);
	c2.m.authd_bytes++;
	assert_int_equal(backup_check(&c2, NULL, &(struct backup_check){0}, &err), -1);
	assert_non_null(strstr(err.msg, "MFA state image"));
	backup_contents_free(&c2);
	backup_contents_free(&c);
	free(file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_1_is_still_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mfa_state_is_merged_never_rolled_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_flipped_byte_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_mismatch_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_edit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_refuses_an_untrusted_directory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backup_from_the_future_is_not_the_newest,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused_without_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_keeps_a_whole_store_aside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_part_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_then_verify_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_file_replaces_only_after_the_check,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_check_leaves_no_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
