/*
 * Unit tests for the status counts kept between requests
 * (query_counts_cached): the same counts while nothing changed, counted
 * again after a change made through the same connection, after a commit
 * by another connection (as the daemon's refresh worker makes), and when
 * the day changes (an account expires by day); what the caller is given
 * is its own copy. A request that changed nothing but was recorded in
 * the audit chain keeps the counts, and the chain's length is always read
 * afresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "query.h"

#define DAY 20000 /* days since the epoch, the test's "today" */

static const char users_sql[] =
	"INSERT INTO users (uuid, dn, dn_norm, uid, status, shadow_expire, first_seen, "
	"last_changed) VALUES "
	"('u1', 'uid=ann', 'uid=ann', 'ann', 'active', NULL, 0, 0), "
	"('u2', 'uid=ben', 'uid=ben', 'ben', 'active', 20001, 0, 0)";

static json_int_t
count_of(struct store *st, struct query_counts_cache *c, const char *name)
{
	struct idg_err err;
	json_t *counts = query_counts_cached(st, c, &err);
	json_int_t n;

	if (counts == NULL)
		fail_msg("query_counts_cached: %s", err.msg);
	n = json_integer_value(json_object_get(counts, name));
	json_decref(counts);
	return n;
}

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* The store with users_sql, "today" DAY, and an empty cache. */
struct fixture {
	struct test_env env;
	struct query_counts_cache c;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	idg_set_now((int64_t)DAY * 86400 + 3600);
	if (f == NULL ||
	    test_env_open(&f->env, "counts", "[directory]\nuri = ldap://h/\nbase = dc=x\n", NULL,
			  users_sql, TEST_ENV_AUDIT) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc = test_env_close(&f->env);

	query_counts_cache_clear(&f->c);
	assert_null(f->c.counts);
	free(f);
	idg_set_now(-1);
	return rc;
}

static void
test_counts_are_kept_until_the_store_changes(void **state)
{
	struct fixture *f = *state;
	json_t *kept;

	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 2);
	kept = f->c.counts;
	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 2);
	assert_ptr_equal(f->c.counts, kept); /* not counted again */

	/* Through the same connection (the daemon's own writes). */
	exec_sql(f->env.st->db, "UPDATE users SET status = 'disabled' WHERE uid = 'ann'");
	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 1);
	assert_int_equal(count_of(f->env.st, &f->c, "users_disabled"), 1);
}

static void
test_a_commit_by_another_connection_is_seen(void **state)
{
	struct fixture *f = *state;
	sqlite3 *other;

	assert_int_equal(count_of(f->env.st, &f->c, "users_departed"), 0);
	assert_int_equal(sqlite3_open(f->env.db, &other), SQLITE_OK);
	sqlite3_busy_timeout(other, 5000);
	exec_sql(other, "UPDATE users SET status = 'departed' WHERE uid = 'ben'");
	assert_int_equal(count_of(f->env.st, &f->c, "users_departed"), 1);
	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 1);

	/* A transaction still open elsewhere is not seen, nor does it stale the counts. */
	exec_sql(other, "BEGIN; UPDATE users SET status = 'active' WHERE uid = 'ben'");
	assert_int_equal(count_of(f->env.st, &f->c, "users_departed"), 1);
	exec_sql(other, "COMMIT");
	assert_int_equal(count_of(f->env.st, &f->c, "users_departed"), 0);
	sqlite3_close(other);
}

static void
test_the_next_day_is_counted_again(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(count_of(f->env.st, &f->c, "users_expired"), 0);
	idg_set_now((int64_t)(DAY + 1) * 86400 + 60); /* ben's shadowExpire day */
	assert_int_equal(count_of(f->env.st, &f->c, "users_expired"), 1);
	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 1);
}

static void
test_the_caller_gets_its_own_copy(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	json_t *counts;

	counts = query_counts_cached(f->env.st, &f->c, &err);
	assert_non_null(counts);
	json_object_set_new(counts, "users_active", json_integer(99));
	json_decref(counts);
	assert_int_equal(count_of(f->env.st, &f->c, "users_active"), 2);
}

static void
test_recording_a_request_keeps_the_counts_and_counts_the_record(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;
	json_int_t records;
	json_t *kept;
	int64_t from;

	records = count_of(f->env.st, &f->c, "audit_records");
	kept = f->c.counts;

	/* A request that changed nothing, recorded: the counts stay, the chain grows. */
	from = sqlite3_total_changes64(f->env.st->db);
	assert_int_equal(audit_record(f->env.audit, "root", "-", "control.status", NULL, &err), 0);
	query_counts_cache_audited(&f->c, from, sqlite3_total_changes64(f->env.st->db));
	assert_int_equal(count_of(f->env.st, &f->c, "audit_records"), records + 1);
	assert_ptr_equal(f->c.counts, kept);

	/* Recorded without saying so: counted again. */
	assert_int_equal(audit_record(f->env.audit, "root", "-", "control.status", NULL, &err), 0);
	assert_int_equal(count_of(f->env.st, &f->c, "audit_records"), records + 2);
	assert_ptr_not_equal(f->c.counts, kept);

	/* Said of changes that did not start where the counts were taken: counted again. */
	kept = f->c.counts;
	exec_sql(f->env.st->db, "UPDATE users SET status = 'departed' WHERE uid = 'ann'");
	from = sqlite3_total_changes64(f->env.st->db);
	assert_int_equal(audit_record(f->env.audit, "root", "-", "control.status", NULL, &err), 0);
	query_counts_cache_audited(&f->c, from, sqlite3_total_changes64(f->env.st->db));
	assert_int_equal(count_of(f->env.st, &f->c, "users_departed"), 1);
	assert_ptr_not_equal(f->c.counts, kept);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts_are_kept_until_the_store_changes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_commit_by_another_connection_is_seen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_next_day_is_counted_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_caller_gets_its_own_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_recording_a_request_keeps_the_counts_and_counts_the_record, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
