/*
 * Unit tests for safepath: files trusted by owner and place, and files
 * replaced rather than written into. The ownership cases chown to 65534
 * and need root; run as another user they are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "safepath.h"

struct fixture {
	char dir[64];   /* 0700, from mkdtemp in /tmp */
	char file[128]; /* DIR/f, 0600 */
};

static void
make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || test_mkdtemp(f->dir, sizeof(f->dir), "safepath") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->file, sizeof(f->file), "%s/f", f->dir);
	make_file(f->file, 0600);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void
refused(const char *path, enum safepath_type type, unsigned flags, const char *why)
{
	struct idg_err err = {{0}};

	assert_int_equal(safepath_check(path, type, flags, &err), -1);
	if (strstr(err.msg, why) == NULL || strncmp(err.msg, path, strlen(path)) != 0)
		fail_msg("for %s expected '%s', got '%s'", path, why, err.msg);
}

static void
accepted(const char *path, enum safepath_type type, unsigned flags)
{
	struct idg_err err = {{0}};

	if (safepath_check(path, type, flags, &err) != 0)
		fail_msg("%s refused: %s", path, err.msg);
}

static void
test_good_file_in_mkdtemp_dir(void **state)
{
	struct fixture *f = *state;

	accepted(f->file, SAFEPATH_FILE, SAFEPATH_SECRET);
	accepted(f->dir, SAFEPATH_DIR, 0);
	assert_int_equal(chmod(f->file, 0644), 0);
	accepted(f->file, SAFEPATH_FILE, 0);
}

static void
test_wrong_owner(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chown(f->file, 65534, 65534), 0);
	refused(f->file, SAFEPATH_FILE, 0, ": owned by uid 65534, not root");
	assert_int_equal(chown(f->file, 0, 0), 0);
	assert_int_equal(chown(f->dir, 65534, 65534), 0);
	refused(f->file, SAFEPATH_FILE, 0, "is owned by uid 65534, not root");
	refused(f->dir, SAFEPATH_DIR, 0, ": owned by uid 65534, not root");
}

static void
test_group_or_world_writable_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(chmod(f->file, 0620), 0);
	refused(f->file, SAFEPATH_FILE, 0, ": writable by group or others (mode 0620)");
	assert_int_equal(chmod(f->file, 0602), 0);
	refused(f->file, SAFEPATH_FILE, 0, ": writable by group or others (mode 0602)");
	assert_int_equal(chmod(f->file, 0666), 0);
	refused(f->file, SAFEPATH_FILE, 0, "writable by group or others");
}

static void
test_key_readable_by_group_or_others(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(chmod(f->file, 0440), 0);
	refused(f->file, SAFEPATH_FILE, SAFEPATH_SECRET,
		": readable by group or others (mode 0440)");
	accepted(f->file, SAFEPATH_FILE, 0); /* a public key may be read by all */
	assert_int_equal(chmod(f->file, 0404), 0);
	refused(f->file, SAFEPATH_FILE, SAFEPATH_SECRET, "readable by group or others");
	assert_int_equal(chmod(f->file, 0400), 0);
	accepted(f->file, SAFEPATH_FILE, SAFEPATH_SECRET);
}

static void
test_writable_parent(void **state)
{
	struct fixture *f = *state;
	char sub[160], deep[192];

	assert_int_equal(chmod(f->dir, 0770), 0);
	refused(f->file, SAFEPATH_FILE, 0, "is writable by group or others (mode 0770)");
	assert_int_equal(chmod(f->dir, 0777), 0);
	refused(f->file, SAFEPATH_FILE, 0, "is writable by group or others (mode 0777)");
	/* Sticky like /tmp: still not a place for these files. */
	assert_int_equal(chmod(f->dir, 01777), 0);
	refused(f->file, SAFEPATH_FILE, 0, "is writable by group or others (mode 1777)");

	/* Higher up, a sticky root-owned directory is accepted, a plain writable one is not. */
	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	snprintf(deep, sizeof(deep), "%s/f", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	make_file(deep, 0600);
	if (geteuid() == 0)
		accepted(deep, SAFEPATH_FILE, 0);
	assert_int_equal(chmod(f->dir, 0777), 0);
	refused(deep, SAFEPATH_FILE, 0, "is writable by group or others (mode 0777)");
	assert_int_equal(chmod(f->dir, 0700), 0);
	accepted(deep, SAFEPATH_FILE, 0);
	if (geteuid() == 0) {
		/* Sticky but owned by someone else: they may rename our directory away. */
		assert_int_equal(chmod(f->dir, 01777), 0);
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		refused(deep, SAFEPATH_FILE, 0, "owned by uid 65534");
	}
}

static void
test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char link[160];

	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(f->file, link), 0);
	refused(link, SAFEPATH_FILE, 0, ": is a symlink, not a regular file");
}

static void
test_fifo_and_directory_refused(void **state)
{
	struct fixture *f = *state;
	char fifo[160];

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	refused(fifo, SAFEPATH_FILE, 0, ": is a FIFO, not a regular file");
	refused(f->dir, SAFEPATH_FILE, 0, ": is a directory, not a regular file");
	refused(f->file, SAFEPATH_DIR, 0, ": is a regular file, not a directory");
}

static void
test_check_fd_sees_the_open_file(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	int fd = open(f->file, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(safepath_check_fd(fd, f->file, SAFEPATH_FILE, SAFEPATH_SECRET, &err), 0);
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(safepath_check_fd(fd, f->file, SAFEPATH_FILE, SAFEPATH_SECRET, &err), -1);
	assert_non_null(strstr(err.msg, "readable by group or others"));
	close(fd);
}

/* A followed symlink: the directories of the file it leads to count. */
static void
test_check_fd_checks_where_a_symlink_leads(void **state)
{
	struct fixture *f = *state;
	char open_dir[160], target[192], link[160];
	struct idg_err err;
	int fd;

	snprintf(open_dir, sizeof(open_dir), "%s/open", f->dir);
	snprintf(target, sizeof(target), "%s/conf", open_dir);
	snprintf(link, sizeof(link), "%s/link.conf", f->dir);
	assert_int_equal(mkdir(open_dir, 0755), 0);
	make_file(target, 0644);
	assert_int_equal(symlink(target, link), 0);
	fd = open(link, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(safepath_check_fd(fd, link, SAFEPATH_FILE, 0, &err), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	assert_int_equal(safepath_check_fd(fd, link, SAFEPATH_FILE, 0, &err), -1);
	assert_non_null(strstr(err.msg, "/open is writable by group or others (mode 0777)"));
	close(fd);
}

static void
test_keys_refuse_a_key_owned_by_another_uid(void **state)
{
	struct fixture *f = *state;
	char key[160];
	struct secret_key *k = NULL;
	struct idg_err err;

	if (geteuid() != 0)
		skip();
	snprintf(key, sizeof(key), "%s/master.key", f->dir);
	assert_int_equal(keys_create_master(key, &err), 0);
	assert_int_equal(chown(key, 65534, 65534), 0);
	assert_int_equal(secret_key_load(key, &k, &err), -1);
	assert_null(k);
	assert_non_null(strstr(err.msg, "master.key: owned by uid 65534, not root"));
	assert_int_equal(chown(key, 0, 0), 0);
	assert_int_equal(secret_key_load(key, &k, &err), 0);
	secret_key_free(k);
}

static void
test_write_file_replaces_and_refuses(void **state)
{
	struct fixture *f = *state;
	char fifo[160], buf[16] = {0};
	struct idg_err err;
	struct stat sb;
	int fd;

	/* A file someone else made beforehand is replaced, not written into. */
	assert_int_equal(chmod(f->file, 0666), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(f->file, 65534, 65534), 0);
	assert_int_equal(safepath_write_file(f->file, 0600, "report\n", 7, &err), 0);
	assert_int_equal(lstat(f->file, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_uid, geteuid());
	fd = open(f->file, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	close(fd);
	assert_string_equal(buf, "report\n");

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0666), 0);
	assert_int_equal(safepath_write_file(fifo, 0600, "x", 1, &err), -1);
	assert_non_null(strstr(err.msg, "is a FIFO; refusing"));
	assert_int_equal(safepath_write_file(f->dir, 0600, "x", 1, &err), -1);
	assert_non_null(strstr(err.msg, "is a directory; refusing"));
}

static int
fill_two_then_fail(int fd, void *arg, struct idg_err *err)
{
	int *calls = arg;

	(*calls)++;
	if (write(fd, "half", 4) != 4)
		return idg_seterr(err, "write failed");
	return idg_seterr(err, "the producer gave up");
}

static int
fill_pieces(int fd, void *arg, struct idg_err *err)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		if (write(fd, "ab", 2) != 2)
			return idg_seterr(err, "write failed");
	return 0;
}

static void
test_write_with_pieces_and_failure(void **state)
{
	struct fixture *f = *state;
	char buf[16] = {0}, path[160];
	struct idg_err err;
	struct stat sb;
	int calls = 0, fd, entries = 0;
	DIR *d;

	/* Written in pieces: the whole contents, the mode asked for. */
	assert_int_equal(safepath_write_with(f->file, 0600, fill_pieces, NULL, &err), 0);
	assert_int_equal(lstat(f->file, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	fd = open(f->file, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	close(fd);
	assert_string_equal(buf, "ababab");

	/* A failing producer: its error, the old file as it was, no temporary left. */
	assert_int_equal(safepath_write_with(f->file, 0600, fill_two_then_fail, &calls, &err), -1);
	assert_int_equal(calls, 1);
	assert_non_null(strstr(err.msg, "the producer gave up"));
	memset(buf, 0, sizeof(buf));
	fd = open(f->file, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	close(fd);
	assert_string_equal(buf, "ababab");
	snprintf(path, sizeof(path), "%s/new", f->dir);
	assert_int_equal(safepath_write_with(path, 0600, fill_two_then_fail, &calls, &err), -1);
	assert_int_equal(access(path, F_OK), -1);
	d = opendir(f->dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	assert_int_equal(entries, 1); /* f alone */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file_in_mkdtemp_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_or_world_writable_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_readable_by_group_or_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writable_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_fd_sees_the_open_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_fd_checks_where_a_symlink_leads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keys_refuse_a_key_owned_by_another_uid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_file_replaces_and_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_with_pieces_and_failure, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
