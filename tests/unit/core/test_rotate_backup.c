/*
 * Backup key rotation (rotate_backup.c): backups made before a rotation
 * are still verified and restorable with the kept old key, new ones use
 * the new key, destroy-old counts the backups it orphans and makes them
 * unreadable, a second rotation waits for destroy-old, every kill point
 * is completed or undone by recovery, and each step is audited by key id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "rotate_backup.h"
#include "testutil.h"

static const char conf[] = "[directory]\nuri = ldap://localhost\nbase = dc=example,dc=org\n"
			   "[store]\npath = $DIR/idgov.db\nmaster_key = $DIR/master.key\n"
			   "audit_key = $DIR/audit.key\naudit_public_key = $DIR/audit.pub\n"
			   "backup_key = $DIR/backup.key\n[backup]\ntargets = $DIR/bk\n";

struct fx {
	struct test_env env;
	char conf_path[160], key[160], bk[160];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct idg_err err;
	FILE *fp;

	assert_non_null(f);
	assert_int_equal(test_env_open(&f->env, "rotbackup", conf, NULL, NULL, TEST_ENV_AUDIT), 0);
	snprintf(f->conf_path, sizeof(f->conf_path), "%s/idgov.conf", f->env.dir);
	snprintf(f->key, sizeof(f->key), "%s/backup.key", f->env.dir);
	snprintf(f->bk, sizeof(f->bk), "%s/bk", f->env.dir);
	fp = fopen(f->conf_path, "w");
	assert_non_null(fp);
	fputs("[store]\n", fp);
	fclose(fp);
	free(f->env.cfg->path);
	f->env.cfg->path = strdup(f->conf_path);
	assert_int_equal(mkdir(f->bk, 0700), 0);
	assert_int_equal(backup_key_create(f->key, &err), 0);
	assert_int_equal(
		audit_record(f->env.audit, "root", "alice", "test.event", json_object(), &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	test_env_close(&f->env);
	free(f);
	return 0;
}

static void
make_backup(struct fx *f, char path[PATH_MAX])
{
	struct backup_manifest m;
	struct idg_err err;

	/* Names carry the second: one backup per second. */
	idg_set_now(idg_now() + 1);
	if (backup_run(f->env.cfg, f->env.st, f->bk, path, PATH_MAX, &m, &err) != 0)
		fail_msg("backup_run: %s", err.msg);
}

/* 0 and *old_key if the backup verifies with the configured key (and its .old), else -1. */
static int
verify(struct fx *f, const char *path, int *old_key, struct idg_err *err)
{
	struct backup_contents c;
	struct backup_check chk;

	if (backup_verify_file(path, f->key, NULL, &c, &chk, err) != 0)
		return -1;
	*old_key = chk.old_key;
	backup_contents_free(&c);
	return 0;
}

static long long
count(struct fx *f, const char *sql)
{
	return test_count(&f->env, sql);
}

static int
exists(struct fx *f, const char *suffix)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s", f->key, suffix);
	return access(p, F_OK) == 0;
}

static void
test_old_backups_restorable_until_destroy_old(void **state)
{
	struct fx *f = *state;
	char before[PATH_MAX], after[PATH_MAX];
	struct rotate_backup_result res;
	struct idg_err err;
	struct stat sb;
	char p[PATH_MAX];
	int old = -1;

	make_backup(f, before);
	assert_int_equal(verify(f, before, &old, &err), 0);
	assert_int_equal(old, 0);
	assert_int_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), 0);
	assert_string_not_equal(res.old_id, res.new_id);
	snprintf(p, sizeof(p), "%s.old", f->key);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0400);
	assert_false(exists(f, ".new"));
	/* The backup from before is read with the old key; a new one uses the new key. */
	assert_int_equal(verify(f, before, &old, &err), 0);
	assert_int_equal(old, 1);
	make_backup(f, after);
	assert_int_equal(verify(f, after, &old, &err), 0);
	assert_int_equal(old, 0);
	/* destroy-old says what it orphans, and then the old backup is refused. */
	assert_int_equal(rotate_backup_destroy_old(f->env.cfg, f->env.audit, "root", &res, &err),
			 0);
	assert_int_equal(res.old_backups, 1);
	assert_false(exists(f, ".old"));
	assert_int_equal(verify(f, before, &old, &err), -1);
	assert_non_null(strstr(err.msg, "another backup key"));
	assert_int_equal(verify(f, after, &old, &err), 0);
	assert_int_equal(count(f,
			       "SELECT count(*) FROM audit WHERE subject = 'backup' AND action "
			       "IN ('key rotate', 'key destroy-old') AND details LIKE '%old_id%'"),
			 2);
	idg_set_now(-1);
}

static void
test_second_rotation_waits_for_destroy_old(void **state)
{
	struct fx *f = *state;
	struct rotate_backup_result res;
	struct idg_err err;

	assert_int_equal(rotate_backup_destroy_old(f->env.cfg, f->env.audit, "root", &res, &err),
			 -1);
	assert_non_null(strstr(err.msg, "nothing to destroy"));
	assert_int_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), 0);
	assert_int_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), -1);
	assert_non_null(strstr(err.msg, "destroy-old backup"));
}

static void
test_kill_after_new_file_is_undone(void **state)
{
	struct fx *f = *state;
	struct rotate_backup_result res;
	const char *what = NULL;
	struct idg_err err;

	assert_int_equal(rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_STOP_AFTER_NEW_FILE,
				       &res, &err),
			 0);
	assert_true(exists(f, ".new"));
	assert_int_equal(rotate_backup_recover(f->env.cfg, f->env.audit, "idgovd", &what, &err), 0);
	assert_non_null(strstr(what, "removed"));
	assert_false(exists(f, ".new"));
	assert_false(exists(f, ".old"));
	assert_int_equal(count(f, "SELECT count(*) FROM audit WHERE subject = 'backup'"), 0);
}

static void
kill_after(struct fx *f, enum rotate_stop stop, int audited)
{
	struct rotate_backup_result res;
	char before[PATH_MAX];
	const char *what = NULL;
	struct idg_err err;
	int old = -1;

	make_backup(f, before);
	assert_int_equal(rotate_backup(f->env.cfg, f->env.audit, "root", stop, &res, &err), 0);
	assert_true(exists(f, ".new"));
	assert_true(exists(f, ".old"));
	assert_int_equal(count(f, "SELECT count(*) FROM audit WHERE action = 'key rotate' AND "
				  "subject = 'backup'"),
			 audited);
	/* Meanwhile backup.key is still the old key: its backups verify as current. */
	assert_int_equal(verify(f, before, &old, &err), 0);
	assert_int_equal(rotate_backup_recover(f->env.cfg, f->env.audit, "idgovd", &what, &err), 0);
	assert_string_equal(what, "completed an interrupted rotation");
	assert_false(exists(f, ".new"));
	assert_int_equal(verify(f, before, &old, &err), 0);
	assert_int_equal(old, 1);
	assert_int_equal(count(f, "SELECT count(*) FROM audit WHERE action = 'key rotate "
				  "completed' AND subject = 'backup'"),
			 1);
	idg_set_now(-1);
}

static void
test_kill_after_link_is_completed(void **state)
{
	kill_after(*state, ROTATE_STOP_AFTER_LINK, 0);
}

static void
test_kill_after_record_is_completed(void **state)
{
	kill_after(*state, ROTATE_STOP_AFTER_COMMIT, 1);
}

static void
test_backup_of_a_third_key_is_refused(void **state)
{
	struct fx *f = *state;
	struct rotate_backup_result res;
	char before[PATH_MAX];
	struct idg_err err;
	int old;

	make_backup(f, before);
	assert_int_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), 0);
	assert_int_equal(rotate_backup_destroy_old(f->env.cfg, f->env.audit, "root", &res, &err),
			 0);
	assert_int_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), 0);
	/* .old is the second key now: the first key's backup is read by neither. */
	assert_int_equal(verify(f, before, &old, &err), -1);
	assert_non_null(strstr(err.msg, "another backup key"));
	idg_set_now(-1);
}

/*
 * A backup key rotation started while another key operation holds the key
 * directory's lock (a rotation between its steps, in another process) is
 * refused: the other one's backup.key.new is left alone and nothing is
 * recorded.
 */
static void
test_rotation_refused_while_another_runs(void **state)
{
	struct fx *f = *state;
	struct rotate_backup_result res;
	const char *what = NULL;
	struct idg_err err;
	long long before;
	int fd;

	assert_int_equal(rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_STOP_AFTER_NEW_FILE,
				       &res, &err),
			 0);
	assert_true(exists(f, ".new"));
	before = count(f, "SELECT count(*) FROM audit");
	fd = open(f->env.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_not_equal(
		rotate_backup(f->env.cfg, f->env.audit, "root", ROTATE_RUN_ALL, &res, &err), 0);
	assert_non_null(strstr(err.msg, "another key operation"));
	assert_int_not_equal(rotate_backup_recover(f->env.cfg, f->env.audit, "idgovd", &what, &err),
			     0);
	assert_int_not_equal(
		rotate_backup_destroy_old(f->env.cfg, f->env.audit, "root", &res, &err), 0);
	assert_true(exists(f, ".new"));
	assert_false(exists(f, ".old"));
	assert_int_equal(count(f, "SELECT count(*) FROM audit"), before);
	close(fd);
	/* Once it is released, recovery removes the leftover as before. */
	assert_int_equal(rotate_backup_recover(f->env.cfg, f->env.audit, "idgovd", &what, &err), 0);
	assert_false(exists(f, ".new"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_old_backups_restorable_until_destroy_old),
		T(test_second_rotation_waits_for_destroy_old),
		T(test_kill_after_new_file_is_undone),
		T(test_kill_after_link_is_completed),
		T(test_kill_after_record_is_completed),
		T(test_backup_of_a_third_key_is_refused),
		T(test_rotation_refused_while_another_runs),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
