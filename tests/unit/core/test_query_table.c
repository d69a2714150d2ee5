/*
 * Unit tests for query_table(), the form of a long reply that names its
 * columns once (a review page): the values typed as query_rows() types
 * them (integers, flag columns as booleans, text), a NULL column as null
 * and never left out, text that is not UTF-8 flagged rather than dropped,
 * no rows as an empty list, and a statement wider than the table takes
 * refused with a message, not cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "query.h"

#include <stdio.h>
#include <string.h>

static int
setup(void **state)
{
	return test_env_bare_open(state, "table");
}

static int
teardown(void **state)
{
	return test_env_bare_close(state);
}

static json_t *
table_of(struct test_env *env, const char *sql)
{
	struct idg_err err;
	sqlite3_stmt *s;
	json_t *t;

	if (store_prepare(env->st, sql, &s, &err) != 0)
		fail_msg("%s: %s", sql, err.msg);
	t = query_table(env->st, s, &err);
	if (t == NULL)
		fail_msg("query_table: %s", err.msg);
	return t;
}

static void
test_table_types_values_and_keeps_nulls(void **state)
{
	json_t *t =
		table_of(*state, "SELECT 7 AS item, 1 AS privileged, NULL AS via, 'bench' AS grp "
				 "UNION ALL SELECT 8, 0, 'ops', NULL");
	json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"), *r;

	assert_int_equal(json_array_size(cols), 4);
	assert_string_equal(json_string_value(json_array_get(cols, 0)), "item");
	assert_string_equal(json_string_value(json_array_get(cols, 3)), "grp");
	assert_int_equal(json_array_size(rows), 2);
	r = json_array_get(rows, 0);
	assert_int_equal(json_array_size(r), 4);
	assert_int_equal(json_integer_value(json_array_get(r, 0)), 7);
	assert_true(json_is_true(json_array_get(r, 1))); /* a flag column */
	assert_true(json_is_null(json_array_get(r, 2)));
	assert_string_equal(json_string_value(json_array_get(r, 3)), "bench");
	r = json_array_get(rows, 1);
	assert_true(json_is_false(json_array_get(r, 1)));
	assert_string_equal(json_string_value(json_array_get(r, 2)), "ops");
	assert_true(json_is_null(json_array_get(r, 3)));
	json_decref(t);
}

static void
test_table_flags_text_that_is_not_utf8(void **state)
{
	json_t *t = table_of(*state, "SELECT CAST(x'c328' AS TEXT) AS name");

	assert_string_equal(
		json_string_value(json_array_get(json_array_get(json_object_get(t, "rows"), 0), 0)),
		"(invalid UTF-8)");
	json_decref(t);
}

static void
test_table_without_rows_is_an_empty_list(void **state)
{
	json_t *t = table_of(*state, "SELECT 1 AS item WHERE 0");

	assert_int_equal(json_array_size(json_object_get(t, "columns")), 1);
	assert_true(json_is_array(json_object_get(t, "rows")));
	assert_int_equal(json_array_size(json_object_get(t, "rows")), 0);
	json_decref(t);
}

static void
test_table_refuses_too_many_columns(void **state)
{
	struct test_env *env = *state;
	char sql[2048] = "SELECT 0 AS c0";
	struct idg_err err;
	sqlite3_stmt *s;

	for (int i = 1; i <= QUERY_TABLE_MAX_COLUMNS; i++)
		snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ", %d AS c%d", i, i);
	assert_int_equal(store_prepare(env->st, sql, &s, &err), 0);
	assert_null(query_table(env->st, s, &err));
	assert_non_null(strstr(err.msg, "columns"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_types_values_and_keeps_nulls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_table_flags_text_that_is_not_utf8, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_table_without_rows_is_an_empty_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_table_refuses_too_many_columns, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
