/*
 * Unit tests for idgov-web's HTML output: the one escape function (markup
 * characters, quotes, invalid UTF-8, control characters), and templates
 * (values escaped, raw fragments not, a missing value or an unknown
 * template an error rather than an empty string).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "asset.h"
#include "html.h"

static char *
esc(const char *s)
{
	static char out[1024];
	struct buf b;

	buf_init(&b);
	html_escape(&b, s);
	assert_false(b.failed);
	snprintf(out, sizeof(out), "%s", b.p != NULL ? b.p : "");
	buf_free(&b);
	return out;
}

static void
test_markup_and_quotes_are_escaped(void **state)
{
	(void)state;
	assert_string_equal(esc("<script>alert(1)</script>"),
			    "&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_string_equal(esc("a & b"), "a &amp; b");
	assert_string_equal(esc("\"x' onmouseover='y\""), "&quot;x&#39; onmouseover=&#39;y&quot;");
	assert_string_equal(esc("&amp;"), "&amp;amp;");
	assert_string_equal(esc(""), "");
}

static void
test_utf8_kept_and_bad_bytes_replaced(void **state)
{
	(void)state;
	assert_string_equal(esc("Zoë Ünal 日本 🙂"), "Zoë Ünal 日本 🙂");
	/* A lone continuation byte, a truncated sequence, an overlong '<', a surrogate. */
	assert_string_equal(esc("a\x80z"), "a\xef\xbf\xbdz");
	assert_string_equal(esc("a\xe6\x97"), "a\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(esc("\xc0\xbc"), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(esc("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* Control characters (C0 but tab and newline, DEL, C1) become U+FFFD too. */
	assert_string_equal(esc("a\x1b[31mb"), "a\xef\xbf\xbd[31mb");
	assert_string_equal(esc("a\tb\nc"), "a\tb\nc");
	assert_string_equal(esc("\x7f"), "\xef\xbf\xbd");
	assert_string_equal(esc("\xc2\x85"), "\xef\xbf\xbd");
}

static void
test_template_escapes_values_and_keeps_raw_fragments(void **state)
{
	struct buf b;
	const struct html_var v[] = {
		html_text("message", "<b>bold</b>"),
		html_text("link", "/x?a=1&b=\"2\""),
		html_raw("link_text", "<em>ok</em>"),
	};

	(void)state;
	buf_init(&b);
	assert_int_equal(html_render(&b, "message.html", v, 3), 0);
	assert_non_null(strstr(b.p, "<p>&lt;b&gt;bold&lt;/b&gt;</p>"));
	assert_non_null(strstr(b.p, "href=\"/x?a=1&amp;b=&quot;2&quot;\""));
	assert_non_null(strstr(b.p, "<em>ok</em>"));
	assert_null(strstr(b.p, "{{"));
	buf_free(&b);
}

static void
test_missing_value_or_template_is_an_error(void **state)
{
	struct buf b;
	const struct html_var v[] = {html_text("message", "m"), html_text("link", "/")};

	(void)state;
	buf_init(&b);
	assert_int_equal(html_render(&b, "message.html", v, 2), -1);
	assert_true(b.failed);
	buf_free(&b);
	buf_init(&b);
	assert_int_equal(html_render(&b, "nope.html", v, 2), -1);
	buf_free(&b);
}

static void
test_every_template_has_only_known_placeholders(void **state)
{
	(void)state;
	/* Every embedded page parses: each {{ is closed and names a plain word. */
	for (size_t i = 0; i < web_asset_count; i++) {
		const char *p = web_assets[i].data, *o, *c;

		if (p == NULL) {
			fail_msg("%s: no data", web_assets[i].name);
			return;
		}
		while ((o = strstr(p, "{{")) != NULL) {
			c = strstr(o + 2, "}}");
			if (c == NULL) {
				fail_msg("%s: unclosed placeholder", web_assets[i].name);
				return;
			}
			for (const char *q = o + 2; q < c; q++)
				if (!((*q >= 'a' && *q <= 'z') || *q == '_'))
					fail_msg("%s: odd placeholder", web_assets[i].name);
			p = c + 2;
		}
	}
	assert_non_null(asset_find("style.css"));
	assert_non_null(asset_find("app.js"));
	assert_null(asset_find("../etc/passwd"));
}

/* Every byte value between runs of plain text: the run copy and the byte's rule meet cleanly. */
static void
test_every_byte_between_plain_runs(void **state)
{
	(void)state;
	for (int c = 1; c < 256; c++) {
		char in[8], want[32];
		const char *mid;

		snprintf(in, sizeof(in), "ab%ccd", c);
		switch (c) {
		case '&':
			mid = "&amp;";
			break;
		case '<':
			mid = "&lt;";
			break;
		case '>':
			mid = "&gt;";
			break;
		case '"':
			mid = "&quot;";
			break;
		case '\'':
			mid = "&#39;";
			break;
		default:
			/* Alone, a byte over 0x7f is no UTF-8; a control byte is refused. */
			mid = (c < 0x20 && c != '\t' && c != '\n') || c >= 0x7f ? "\xef\xbf\xbd"
										: NULL;
		}
		if (mid == NULL)
			snprintf(want, sizeof(want), "%s", in);
		else
			snprintf(want, sizeof(want), "ab%scd", mid);
		assert_string_equal(esc(in), want);
	}
	/* A sequence cut by the end of the string, right after a run. */
	assert_string_equal(esc("plain text\xe6"), "plain text\xef\xbf\xbd");
}

static void
test_reserve_keeps_content_and_refuses_too_much(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_reserve(&b, 100);
	assert_non_null(b.p);
	assert_string_equal(b.p, ""); /* reserved and empty: still a string */
	buf_puts(&b, "kept");
	buf_reserve(&b, 100000);
	assert_false(b.failed);
	assert_true(b.cap >= 100005);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.p, "kept");
	buf_reserve(&b, BUF_MAX);
	assert_true(b.failed);
	buf_puts(&b, "more");
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

static void
test_buffer_grows_and_printf_long(void **state)
{
	struct buf b;
	char big[2000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b);
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%s", big);
	assert_false(b.failed);
	assert_int_equal(b.len, 100 * (sizeof(big) - 1));
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markup_and_quotes_are_escaped),
		cmocka_unit_test(test_utf8_kept_and_bad_bytes_replaced),
		cmocka_unit_test(test_template_escapes_values_and_keeps_raw_fragments),
		cmocka_unit_test(test_missing_value_or_template_is_an_error),
		cmocka_unit_test(test_every_template_has_only_known_placeholders),
		cmocka_unit_test(test_buffer_grows_and_printf_long),
		cmocka_unit_test(test_every_byte_between_plain_runs),
		cmocka_unit_test(test_reserve_keeps_content_and_refuses_too_much),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
