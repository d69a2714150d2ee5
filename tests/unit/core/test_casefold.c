/*
 * Unit tests for UTF-8 case folding (casefold.h): what folds, what is
 * refused byte by byte, and that lengths that change are handled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "casefold.h"

static void
folds_to(const char *in, size_t len, const char *want, size_t want_len)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(idg_casefold(in, len, &out, &n), 0);
	assert_int_equal(n, want_len);
	assert_memory_equal(out, want, want_len);
	assert_int_equal(out[n], '\0');
	free(out);
}

#define FOLDS(in, want) folds_to((in), sizeof(in) - 1, (want), sizeof(want) - 1)

static void
refused(const char *in, size_t len)
{
	char *out = (char *)1;

	assert_int_equal(idg_casefold(in, len, &out, NULL), -1);
	assert_null(out);
	assert_false(idg_utf8_valid(in, len));
}

#define REFUSED(in) refused((in), sizeof(in) - 1)

static void
test_ascii_and_latin_fold_to_lower_case(void **state)
{
	(void)state;
	FOLDS("", "");
	FOLDS("Alice-SMITH_42@X", "alice-smith_42@x");
	FOLDS("\xc3\x89LODIE \xc3\x98", "\xc3\xa9lodie \xc3\xb8");
	/* Already folded text is unchanged. */
	FOLDS("\xc3\xa9lodie", "\xc3\xa9lodie");
}

static void
test_other_scripts_and_special_cases_fold(void **state)
{
	(void)state;
	FOLDS("\xce\xa3\xce\x91", "\xcf\x83\xce\xb1"); /* Greek ΣΑ */
	/* Lower-cased as OpenLDAP does: a final sigma stays one (slapd tells "σος" from "σοσ"). */
	FOLDS("\xcf\x82", "\xcf\x82");
	FOLDS("\xd0\x96\xd0\x81", "\xd0\xb6\xd1\x91"); /* Cyrillic ЖЁ */
	FOLDS("\xe2\x84\xaa", "k");                    /* KELVIN SIGN: 3 bytes to 1 */
	FOLDS("\xc8\xba", "\xe2\xb1\xa5");             /* U+023A: 2 bytes to 3 */
	FOLDS("\xf0\x90\x90\x80", "\xf0\x90\x90\xa8"); /* Deseret, 4 bytes */
	/* Simple folding only: sharp s stays one character. */
	FOLDS("\xc3\x9f", "\xc3\x9f");
	/* Worst-case growth: many 2-byte letters that become 3 bytes each. */
	FOLDS("\xc8\xba\xc8\xba\xc8\xba", "\xe2\xb1\xa5\xe2\xb1\xa5\xe2\xb1\xa5");
}

static void
test_text_is_put_in_nfkc_as_the_directory_matches(void **state)
{
	(void)state;
	/* "a" and a combining diaeresis is "\u00e4"; capital too. */
	FOLDS("ja\xcc\x88ger", "j\xc3\xa4ger");
	FOLDS("JA\xcc\x88GER", "j\xc3\xa4ger");
	FOLDS("J\xc3\xa4ger", "j\xc3\xa4ger");
	/* Compatibility characters: the ligature "fi", a fullwidth "A". */
	FOLDS("\xef\xac\x81x", "fix");
	FOLDS("\xef\xbc\xa1", "a");
	/* NFKC's own capitals are lower-cased too: folding twice changes nothing. */
	FOLDS("\xe3\x8e\x92", "mhz");
	/* NFKC can make text longer than 3 bytes for 2 (U+FDFA is 18 characters). */
	{
		char *out = NULL;
		size_t n = 0;

		assert_int_equal(idg_casefold("\xef\xb7\xba", 3, &out, &n), 0);
		assert_true(n > 3 * 3 / 2);
		assert_int_equal(out[n], '\0');
		free(out);
	}
}

static void
test_nul_bytes_are_kept(void **state)
{
	(void)state;
	FOLDS("A\0B", "a\0b");
}

static void
test_malformed_utf8_is_refused(void **state)
{
	(void)state;
	REFUSED("\x80");             /* stray continuation */
	REFUSED("a\xbf");            /* stray continuation after ASCII */
	REFUSED("\xc3");             /* truncated 2-byte */
	REFUSED("\xe2\x82");         /* truncated 3-byte */
	REFUSED("\xf0\x9f\x94");     /* truncated 4-byte */
	REFUSED("\xc3\x41");         /* lead without a continuation */
	REFUSED("\xc0\x80");         /* overlong NUL */
	REFUSED("\xc1\xbf");         /* overlong */
	REFUSED("\xe0\x80\xaf");     /* overlong 3-byte "/" */
	REFUSED("\xf0\x80\x80\xaf"); /* overlong 4-byte "/" */
	REFUSED("\xed\xa0\x80");     /* UTF-16 surrogate */
	REFUSED("\xed\xbf\xbf");     /* UTF-16 surrogate */
	REFUSED("\xf4\x90\x80\x80"); /* above U+10FFFF */
	REFUSED("\xf5\x80\x80\x80"); /* never a lead byte */
	REFUSED("\xfe");
	REFUSED("\xff");
	/* The last valid code points are accepted. */
	assert_true(idg_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_true(idg_utf8_valid("\xed\x9f\xbf", 3));
	assert_true(idg_utf8_valid("\xee\x80\x80", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_and_latin_fold_to_lower_case),
		cmocka_unit_test(test_other_scripts_and_special_cases_fold),
		cmocka_unit_test(test_text_is_put_in_nfkc_as_the_directory_matches),
		cmocka_unit_test(test_nul_bytes_are_kept),
		cmocka_unit_test(test_malformed_utf8_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
