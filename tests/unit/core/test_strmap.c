/* The string -> int64 map behind the sync's member value cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strmap.h"

static void
test_put_get_replace_and_miss(void **state)
{
	struct strmap *m = strmap_new();
	int64_t v = 0;

	(void)state;
	assert_non_null(m);
	assert_int_equal(strmap_get(m, "a", 1, &v), 0);
	assert_int_equal(strmap_put(m, "a", 1, 7), 0);
	assert_int_equal(strmap_get(m, "a", 1, &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(strmap_put(m, "a", 1, 8), 0);
	assert_int_equal(strmap_get(m, "a", 1, &v), 1);
	assert_int_equal(v, 8);
	/* A prefix, an extension and the empty key are other keys. */
	assert_int_equal(strmap_get(m, "ab", 2, &v), 0);
	/* Prefetch hints, on a present key and a missing one, change nothing. */
	strmap_prefetch(m, strmap_hash("a", 1));
	strmap_prefetch_key(m, strmap_hash("a", 1));
	strmap_prefetch(m, strmap_hash("zz", 2));
	strmap_prefetch_key(m, strmap_hash("zz", 2));
	/* By a hash computed beforehand: the same answers. */
	assert_int_equal(strmap_get_hashed(m, "a", 1, strmap_hash("a", 1), &v), 1);
	assert_int_equal(v, 8);
	assert_int_equal(strmap_get_hashed(m, "zz", 2, strmap_hash("zz", 2), &v), 0);
	assert_int_equal(strmap_get(m, "a", 1, &v), 1);
	assert_int_equal(v, 8);
	assert_int_equal(strmap_get(m, "", 0, &v), 0);
	assert_int_equal(strmap_put(m, "", 0, 9), 0);
	assert_int_equal(strmap_get(m, "", 0, &v), 1);
	assert_int_equal(v, 9);
	strmap_free(m);
}

/* Keys are byte strings: a NUL inside, and bytes past the given length, count as they should. */
static void
test_keys_are_lengths_not_strings(void **state)
{
	struct strmap *m = strmap_new();
	int64_t v = 0;

	(void)state;
	assert_int_equal(strmap_put(m, "ab\0c", 4, 1), 0);
	assert_int_equal(strmap_put(m, "ab\0d", 4, 2), 0);
	assert_int_equal(strmap_get(m, "ab\0c", 4, &v), 1);
	assert_int_equal(v, 1);
	assert_int_equal(strmap_get(m, "ab\0d", 4, &v), 1);
	assert_int_equal(v, 2);
	assert_int_equal(strmap_get(m, "ab", 2, &v), 0);
	assert_int_equal(strmap_get(m, "ab\0cX", 4, &v), 1); /* only 4 bytes are the key */
	strmap_free(m);
}

/* Many keys of lengths 2 to 80 (every tail length a word-wise hash has) survive growth and clear.
 */
static void
test_many_keys_survive_growth_and_clear(void **state)
{
	static const char pad[] =
		",ou=people,dc=example,dc=com,ou=more,dc=padding,dc=for,dc=length";
	struct strmap *m = strmap_new();
	char key[128];
	int64_t v;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof(key), "%d%.*s", i, i % 64, pad);

		assert_int_equal(strmap_put(m, key, (size_t)n, i), 0);
	}
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof(key), "%d%.*s", i, i % 64, pad);

		v = -1;
		assert_int_equal(strmap_get(m, key, (size_t)n, &v), 1);
		assert_int_equal(v, i);
		if (i % 64 != 0) { /* one bit off in the padding is a key nobody put */
			key[n - 1] ^= 1;
			assert_int_equal(strmap_get(m, key, (size_t)n, &v), 0);
		}
	}
	strmap_clear(m);
	assert_int_equal(strmap_get(m, "1,", 2, &v), 0);
	assert_int_equal(strmap_put(m, "x", 1, 3), 0);
	assert_int_equal(strmap_get(m, "x", 1, &v), 1);
	assert_int_equal(v, 3);
	strmap_free(m);
}

/*
 * Keys of every size share the map's key storage: short ones packed
 * together, ones too long to share (up to 100,000 bytes here) on their own,
 * between short ones; all are kept whole, across a clear too.
 */
static void
test_long_and_short_keys_interleaved(void **state)
{
	static const size_t sizes[] = {1, 100000, 3, 16385, 16384, 70000, 2, 65536, 40};
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	struct strmap *m = strmap_new();
	char *key = malloc(100001);
	int64_t v;

	(void)state;
	assert_non_null(key);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < n; i++) {
			memset(key, 'a' + (int)i, sizes[i]);
			key[sizes[i] - 1] = (char)('0' + round);
			assert_int_equal(strmap_put(m, key, sizes[i], (int64_t)i), 0);
		}
		for (size_t i = 0; i < n; i++) {
			memset(key, 'a' + (int)i, sizes[i]);
			key[sizes[i] - 1] = (char)('0' + round);
			v = -1;
			assert_int_equal(strmap_get(m, key, sizes[i], &v), 1);
			assert_int_equal(v, (int64_t)i);
			key[sizes[i] / 2] ^= 1; /* a byte off anywhere is another key */
			assert_int_equal(strmap_get(m, key, sizes[i], &v), 0);
		}
		strmap_clear(m);
	}
	free(key);
	strmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_replace_and_miss),
		cmocka_unit_test(test_keys_are_lengths_not_strings),
		cmocka_unit_test(test_many_keys_survive_growth_and_clear),
		cmocka_unit_test(test_long_and_short_keys_interleaved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
