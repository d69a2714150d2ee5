/*
 * Unit tests for secmem.h: a freed block is wiped before it is handed out
 * again, only to a request of exactly its size; blocks beyond the table
 * are plain guarded allocations; releasing frees what is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "secmem.h"

static int
all_zero(const unsigned char *p, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= p[i];
	return d == 0;
}

static void
test_freed_block_is_wiped_and_reused_for_the_same_size(void **state)
{
	unsigned char *a, *b;

	(void)state;
	a = secmem_alloc(20);
	assert_non_null(a);
	memset(a, 0xA5, 20);
	secmem_free(a);
	assert_true(all_zero(a, 20)); /* wiped at once, still mapped while kept */
	b = secmem_alloc(20);
	assert_ptr_equal(b, a);
	secmem_free(b);
	secmem_release();
}

static void
test_another_size_gets_another_block(void **state)
{
	unsigned char *a, *b;

	(void)state;
	a = secmem_alloc(20);
	assert_non_null(a);
	secmem_free(a);
	b = secmem_alloc(21);
	assert_non_null(b);
	assert_ptr_not_equal(b, a);
	memset(b, 1, 21); /* all 21 bytes are usable */
	secmem_free(b);
	secmem_release();
}

static void
test_a_busy_block_is_never_handed_out_twice(void **state)
{
	void *p[SECMEM_KEEP + 3];

	(void)state;
	for (size_t i = 0; i < SECMEM_KEEP + 3; i++) {
		p[i] = secmem_alloc(32);
		assert_non_null(p[i]);
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);
	}
	/* Those past the table are freed for good, the others kept. */
	for (size_t i = 0; i < SECMEM_KEEP + 3; i++)
		secmem_free(p[i]);
	secmem_free(NULL);
	secmem_release();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_freed_block_is_wiped_and_reused_for_the_same_size),
		cmocka_unit_test(test_another_size_gets_another_block),
		cmocka_unit_test(test_a_busy_block_is_never_handed_out_twice),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
