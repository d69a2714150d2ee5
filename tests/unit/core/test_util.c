/*
 * Unit tests for the shared helpers that decide what text is safe to show:
 * idg_strvis() (control characters made visible, cut at a character
 * boundary) and idg_text_plain().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void
vis_is(const char *in, const char *want)
{
	char out[256];

	assert_int_equal(idg_strvis(out, sizeof(out), in), 0);
	assert_string_equal(out, want);
}

static void
test_controls_are_made_visible(void **state)
{
	(void)state;
	vis_is("alice", "alice");
	vis_is("a\nb\r\tc", "a\\x0ab\\x0d\\x09c");
	vis_is("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07");
	vis_is("del\x7f", "del\\x7f");
	/* C1 controls as UTF-8 (U+009B is CSI on some terminals) and as raw bytes. */
	vis_is("csi\xc2\x9b"
	       "31m",
	       "csi\\u009b31m");
	vis_is("raw\x9b"
	       "31m",
	       "raw\\x9b31m");
	/* Other UTF-8 stays as it is; broken and overlong sequences do not. */
	vis_is("J\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x94\x91",
	       "J\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x94\x91");
	vis_is("\xc0\x8a", "\\xc0\\x8a");
	vis_is("\xe2\x82", "\\xe2\\x82");
	vis_is("\xed\xa0\x80", "\\xed\\xa0\\x80");
	/* A backslash is not escaped: DNs read as they are. */
	vis_is("cn=Smith\\, John", "cn=Smith\\, John");
}

static void
test_cut_at_a_character_boundary(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(idg_strvis(out, sizeof(out), "abcdefg"), 0);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(idg_strvis(out, sizeof(out), "abcdefgh"), 1);
	assert_string_equal(out, "abcdefg");
	/* "\x1b" needs 4 bytes: it is left out whole, not cut in half. */
	assert_int_equal(idg_strvis(out, sizeof(out), "abcde\x1b"), 1);
	assert_string_equal(out, "abcde");
	assert_int_equal(idg_strvis(out, sizeof(out), "abcdef\xc3\xb6"), 1);
	assert_string_equal(out, "abcdef");
	assert_int_equal(idg_strvis(out, 1, "a"), 1);
	assert_string_equal(out, "");
}

static void
test_text_plain(void **state)
{
	(void)state;
	assert_true(idg_text_plain("alice"));
	assert_true(idg_text_plain("J\xc3\xb6rg"));
	assert_true(idg_text_plain(""));
	assert_false(idg_text_plain("a\nb"));
	assert_false(idg_text_plain("a\x7f"));
	assert_false(idg_text_plain("a\xc2\x85"));
	assert_false(idg_text_plain("a\xff"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls_are_made_visible),
		cmocka_unit_test(test_cut_at_a_character_boundary),
		cmocka_unit_test(test_text_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
