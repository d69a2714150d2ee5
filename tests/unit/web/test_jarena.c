/*
 * Unit tests for jarena (idgovd's replies parsed into an arena each):
 * values read and freed, values added to a parsed reply later and values
 * made outside any arena freed as heap values, two replies alive at once
 * freed in either order, a reply larger than the first chunk, and text
 * that is not JSON. Under the sanitizer build, a wrong free or a leak
 * fails them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jarena.h"

static json_t *
parse(const char *text, struct jarena **a)
{
	return jarena_loads(text, strlen(text), a);
}

static void
test_reply_read_then_freed_with_values_added_later(void **state)
{
	struct jarena *a;
	json_t *v =
		parse("{\"ok\":true,\"result\":{\"items\":[{\"user\":\"r1\",\"item\":7}]}}", &a);
	json_t *it;

	(void)state;
	assert_non_null(v);
	assert_non_null(a);
	it = json_array_get(json_object_get(json_object_get(v, "result"), "items"), 0);
	assert_string_equal(json_string_value(json_object_get(it, "user")), "r1");
	assert_int_equal(json_integer_value(json_object_get(it, "item")), 7);
	/* Added after the parse: a heap value inside the arena's tree, freed as one. */
	assert_int_equal(json_object_set_new(it, "note", json_string("added later")), 0);
	assert_int_equal(
		json_array_append_new(json_object_get(json_object_get(v, "result"), "items"),
				      json_pack("{s:s}", "user", "r2")),
		0);
	assert_string_equal(json_string_value(json_object_get(it, "note")), "added later");
	jarena_free(v, a);
}

static void
test_two_replies_alive_freed_in_either_order(void **state)
{
	struct jarena *a, *b, *c;
	json_t *x = parse("[\"first\"]", &a), *y = parse("[\"second\"]", &b), *z;

	(void)state;
	assert_string_equal(json_string_value(json_array_get(x, 0)), "first");
	assert_string_equal(json_string_value(json_array_get(y, 0)), "second");
	jarena_free(x, a); /* the older one first */
	assert_string_equal(json_string_value(json_array_get(y, 0)), "second");
	z = parse("{\"third\":3}", &c);
	jarena_free(z, c); /* the newest */
	jarena_free(y, b);
}

static void
test_reply_larger_than_the_first_chunk(void **state)
{
	size_t n = 20000, len = 0;
	char *text = malloc(n * 3 + 2);
	struct jarena *a;
	json_t *v;

	(void)state;
	assert_non_null(text);
	/* "[[],[],...]": three bytes of text make a value of about a hundred bytes. */
	text[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(text + len, i + 1 < n ? "[]," : "[]", i + 1 < n ? 3 : 2);
		len += i + 1 < n ? 3 : 2;
	}
	text[len++] = ']';
	v = jarena_loads(text, len, &a);
	free(text);
	assert_non_null(v);
	assert_int_equal(json_array_size(v), n);
	assert_true(json_is_array(json_array_get(v, n - 1)));
	jarena_free(v, a);
}

static void
test_not_json_is_null_and_nothing_kept(void **state)
{
	static const char *const bad[] = {"",    "{",         "{\"a\":",  "[1,2",         "\"open",
					  "nul", "{\"a\" 1}", "\xff\xfe", "[\"\\ud800\"]"};
	struct jarena *a = (struct jarena *)&a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(parse(bad[i], &a));
		assert_null(a);
	}
	/* A NUL inside the text is not JSON either. */
	assert_null(jarena_loads("[1]\0[2]", 7, &a));
	jarena_free(NULL, NULL);
}

static void
test_values_outside_an_arena_are_heap_values(void **state)
{
	json_t *o = json_pack("{s:s, s:[i,i]}", "op", "review.page", "n", 1, 2);
	char *text;

	(void)state;
	assert_non_null(o);
	text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_string_equal(text, "{\"op\":\"review.page\",\"n\":[1,2]}");
	free(text); /* jansson's strings are malloc()'s as before */
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_read_then_freed_with_values_added_later),
		cmocka_unit_test(test_two_replies_alive_freed_in_either_order),
		cmocka_unit_test(test_reply_larger_than_the_first_chunk),
		cmocka_unit_test(test_not_json_is_null_and_nothing_kept),
		cmocka_unit_test(test_values_outside_an_arena_are_heap_values),
	};

	jarena_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
