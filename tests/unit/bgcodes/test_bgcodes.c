/*
 * Break-glass codes (idgov/bgcodes): the file's grammar, codes that work
 * once, files that are not trusted, and a new set replacing only that
 * user's codes.
 */
#include "bgcodes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct dir {
	char path[64];
	char file[96];
};

static int
setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	snprintf(d->path, sizeof(d->path), "/tmp/idgov-test-bg.XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->file, sizeof(d->file), "%s/breakglass", d->path);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir *d = *state;
	char tmp[160];

	unlink(d->file);
	snprintf(tmp, sizeof(tmp), "%s/other", d->path);
	unlink(tmp);
	rmdir(d->path);
	free(d);
	return 0;
}

static int
count_lines(void *arg, const char *user, const char *hash, size_t start, size_t end)
{
	(void)user;
	(void)hash;
	(void)start;
	(void)end;
	(*(int *)arg)++;
	return 0;
}

static void
expect_bad(const char *text, const char *reason)
{
	char why[128] = "";

	assert_int_equal(bgcodes_parse(text, strlen(text), NULL, NULL, why, sizeof(why)), -1);
	assert_string_equal(why, reason);
}

static void
test_parse_takes_user_hash_lines_and_blank_lines(void **state)
{
	const char text[] = "erin:$y$j9T$abc$def\n\nroot:$6$salt$hash";
	char why[128];
	int n = 0;

	(void)state;
	assert_int_equal(bgcodes_parse(text, strlen(text), count_lines, &n, why, sizeof(why)), 2);
	assert_int_equal(n, 2);
	assert_int_equal(bgcodes_parse("", 0, NULL, NULL, why, sizeof(why)), 0);
}

static void
test_parse_refuses_malformed_lines(void **state)
{
	char big[BGCODES_LINE_MAX + 16];

	(void)state;
	expect_bad("erin\n", "line 1: not USER:HASH");
	expect_bad("erin:$y$x\n:$y$x\n", "line 2: not USER:HASH");
	expect_bad("erin:plain\n", "line 1: not USER:HASH");
	expect_bad("erin:$\n", "line 1: not USER:HASH");
	expect_bad("er in:$y$x\n", "line 1: not USER:HASH");
	expect_bad("erin:$y$x:y\n", "line 1: not USER:HASH");
	expect_bad("erin:$y$ x\n", "line 1: not USER:HASH");
	expect_bad("erin:$y$x\r\n", "line 1: not USER:HASH");
	memset(big, 'a', sizeof(big));
	memcpy(big, "erin:$", 6);
	big[sizeof(big) - 1] = '\0';
	expect_bad(big, "line 1: longer than 512 bytes");
	{
		const char nul[] = "erin:$y$x\0\n";
		char why[64];

		assert_int_equal(bgcodes_parse(nul, sizeof(nul) - 1, NULL, NULL, why, sizeof(why)),
				 -1);
		assert_string_equal(why, "holds a NUL byte");
	}
}

static void
test_a_code_works_once_and_only_for_its_user(void **state)
{
	struct dir *d = *state;
	char codes[BGCODES_PER_USER][BGCODES_CODE_LEN], other[BGCODES_PER_USER][BGCODES_CODE_LEN];
	char why[256];
	int left = -1;

	assert_int_equal(bgcodes_replace(d->file, "erin", codes, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_replace(d->file, "root", other, why, sizeof(why)), 0);
	assert_int_equal(strlen(codes[0]), 14);
	assert_int_equal(bgcodes_use(d->file, "root", codes[0], &left, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_use(d->file, "erin", "AAAA-AAAA-AAAA", &left, why, sizeof(why)),
			 0);
	assert_int_equal(bgcodes_use(d->file, "erin", codes[3], &left, why, sizeof(why)), 1);
	assert_int_equal(left, BGCODES_PER_USER - 1);
	assert_int_equal(bgcodes_use(d->file, "erin", codes[3], &left, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_use(d->file, "root", other[9], &left, why, sizeof(why)), 1);
	assert_int_equal(left, BGCODES_PER_USER - 1);
}

static void
test_a_new_set_replaces_only_that_users_codes(void **state)
{
	struct dir *d = *state;
	char first[BGCODES_PER_USER][BGCODES_CODE_LEN], second[BGCODES_PER_USER][BGCODES_CODE_LEN];
	char root[BGCODES_PER_USER][BGCODES_CODE_LEN], why[256];
	struct stat st;
	int left;

	assert_int_equal(bgcodes_replace(d->file, "erin", first, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_replace(d->file, "root", root, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_replace(d->file, "erin", second, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_use(d->file, "erin", first[0], &left, why, sizeof(why)), 0);
	assert_int_equal(bgcodes_use(d->file, "erin", second[0], &left, why, sizeof(why)), 1);
	assert_int_equal(bgcodes_use(d->file, "root", root[0], &left, why, sizeof(why)), 1);
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(bgcodes_replace(d->file, "bad:name", first, why, sizeof(why)), -1);
	assert_int_equal(bgcodes_replace(d->file, "", first, why, sizeof(why)), -1);
}

static void
test_untrusted_or_missing_files_are_refused_unchanged(void **state)
{
	struct dir *d = *state;
	char codes[BGCODES_PER_USER][BGCODES_CODE_LEN], why[256], link[160];
	struct stat before, after;
	int left;

	assert_int_equal(bgcodes_use(d->file, "erin", "X", &left, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "No such file"));
	assert_int_equal(bgcodes_replace(d->file, "erin", codes, why, sizeof(why)), 0);
	assert_int_equal(chmod(d->file, 0640), 0);
	assert_int_equal(stat(d->file, &before), 0);
	assert_int_equal(bgcodes_use(d->file, "erin", codes[0], &left, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "group or others"));
	assert_int_equal(bgcodes_replace(d->file, "erin", codes, why, sizeof(why)), -1);
	assert_int_equal(stat(d->file, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(chmod(d->file, 0600), 0);
	/* A symlink is not followed. */
	snprintf(link, sizeof(link), "%s/other", d->path);
	assert_int_equal(symlink(d->file, link), 0);
	assert_int_equal(bgcodes_use(link, "erin", codes[0], &left, why, sizeof(why)), -1);
	/* A malformed file is refused whole, the code not spent. */
	{
		FILE *f = fopen(d->file, "a");

		assert_non_null(f);
		fputs("garbage\n", f);
		fclose(f);
	}
	assert_int_equal(bgcodes_use(d->file, "erin", codes[0], &left, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not USER:HASH"));
}

#ifdef BGCODES_TEST_LOADED
/* Lines of /proc/self/maps naming libcrypt. */
static int
libcrypt_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, "/libcrypt.so") != NULL;
	fclose(f);
	return n;
}

/* pam_idgov.so's build loads libcrypt for one use and leaves nothing loaded behind. */
static void
test_libcrypt_is_loaded_only_while_a_code_is_checked(void **state)
{
	struct dir *d = *state;
	char codes[BGCODES_PER_USER][BGCODES_CODE_LEN];
	char why[256];
	int left = -1;

	assert_int_equal(libcrypt_mappings(), 0);
	assert_int_equal(bgcodes_replace(d->file, "erin", codes, why, sizeof(why)), 0);
	assert_int_equal(libcrypt_mappings(), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bgcodes_use(d->file, "erin", codes[i], &left, why, sizeof(why)),
				 1);
		assert_int_equal(libcrypt_mappings(), 0);
	}
	assert_int_equal(left, BGCODES_PER_USER - 3);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_takes_user_hash_lines_and_blank_lines),
		cmocka_unit_test(test_parse_refuses_malformed_lines),
		cmocka_unit_test_setup_teardown(test_a_code_works_once_and_only_for_its_user, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_new_set_replaces_only_that_users_codes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_untrusted_or_missing_files_are_refused_unchanged, setup, teardown),
#ifdef BGCODES_TEST_LOADED
		cmocka_unit_test_setup_teardown(
			test_libcrypt_is_loaded_only_while_a_code_is_checked, setup, teardown),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
