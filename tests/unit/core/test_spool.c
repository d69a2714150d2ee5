/*
 * Unit tests for the audit spool (spool.h): what a spooling handle writes
 * is read back exactly; malformed records are refused with a reason;
 * idgovd's ingest appends in name order, signs, and unlinks only after the
 * commit; a file whose event is already in the chain (a crash between
 * commit and unlink) is not appended twice; a malformed file is moved to
 * the quarantine and audited, never dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "audit.h"
#include "keys.h"
#include "spool.h"

struct fixture {
	struct test_chain c;
	char spool[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || test_chain_open(&f->c, "spool", 1000, 0) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->c.dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc = test_chain_close(&f->c);

	free(f);
	return rc;
}

static long long
chain_count(struct fixture *f, const char *where)
{
	char sql[256];
	sqlite3_stmt *s;
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE %s", where);
	if (sqlite3_prepare_v2(f->c.st->db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void
spool_three(struct fixture *f)
{
	struct audit *sp;
	struct idg_err err;

	assert_int_equal(audit_open_spool(f->spool, NULL, &sp, &err), 0);
	assert_int_equal(
		audit_append(sp, "authd", "alice", "login.denied", "{\"rule\":\"a\"}", &err), 0);
	assert_int_equal(audit_sign_head(sp, &err), 0);
	assert_int_equal(audit_record(sp, "authd", "bob", "mfa.locked", NULL, &err), 0);
	assert_int_equal(audit_append(sp, "authd", "carol", "login.denied", NULL, &err), 0);
	audit_close(sp);
}

static void
test_spooling_handle_writes_private_complete_files(void **state)
{
	struct fixture *f = *state;
	struct stat sb;

	spool_three(f);
	assert_int_equal(stat(f->spool, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(test_count_files(f->spool), 3);
	assert_int_equal(chain_count(f, "1"), 0); /* nothing signed by the writer */
}

static void
test_ingest_appends_in_order_signs_and_unlinks(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct audit_report rep;
	struct idg_err err;

	spool_three(f);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 3);
	assert_int_equal(res.duplicates, 0);
	assert_int_equal(res.quarantined, 0);
	assert_int_equal(test_count_files(f->spool), 0);
	assert_int_equal(chain_count(f, "seq = 1 AND subject = 'alice' AND actor = 'authd' AND "
					"json_extract(details, '$.rule') = 'a'"),
			 1);
	assert_int_equal(chain_count(f, "seq = 2 AND subject = 'bob' AND action = 'mfa.locked'"),
			 1);
	assert_int_equal(chain_count(f, "seq = 3 AND subject = 'carol'"), 1);
	assert_int_equal(chain_count(f, "json_extract(details, '$.spool') IS NOT NULL AND "
					"json_extract(details, '$.at') > 0"),
			 3);
	assert_int_equal(audit_verify(f->c.st, f->c.pubkey, NULL, &rep, &err), 0);
	assert_true(rep.ok);
	assert_int_equal(rep.last_signed_seq, 3);
}

static void
test_ingest_batches_keep_order(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;

	spool_three(f);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 2, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 2);
	assert_true(res.more);
	assert_int_equal(test_count_files(f->spool), 1);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 2, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 1);
	assert_false(res.more);
	assert_int_equal(chain_count(f, "seq = 3 AND subject = 'carol'"), 1);
}

/*
 * back 0: keeps a copy of the spool's files beside it; back 1: puts them
 * back, as a crash between an ingest's commit and its unlinks leaves them.
 */
static void
spool_copy(struct fixture *f, int back)
{
	char cmd[512];

	if (back)
		snprintf(cmd, sizeof(cmd), "cp -a '%s/copy/.' '%s/'", f->c.dir, f->spool);
	else
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/copy'", f->spool, f->c.dir);
	assert_int_equal(system(cmd), 0);
}

/* The state a crash between commit and unlink leaves: files already in the chain. */
static void
test_files_already_in_the_chain_are_not_appended_twice(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;

	spool_three(f);
	spool_copy(f, 0);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 3);
	spool_copy(f, 1);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 0);
	assert_int_equal(res.duplicates, 3);
	assert_int_equal(chain_count(f, "1"), 3);
	assert_int_equal(test_count_files(f->spool), 0);
}

/*
 * The same after the store was migrated: names ingested before schema 019
 * are found in the chain by the migration, and each name is recorded with
 * the record that holds it.
 */
static void
test_names_ingested_before_the_index_are_found(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;

	spool_three(f);
	spool_copy(f, 0);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(chain_count(f, "seq = (SELECT i.seq FROM audit_spool_ingested i WHERE "
					"i.name = json_extract(details, '$.spool'))"),
			 3);
	/*
	 * Back to a store of schema 18 (what 019 and later made dropped),
	 * then opened again: 019 runs on the chain.
	 */
	audit_close(f->c.a);
	f->c.a = NULL;
	assert_int_equal(store_exec(f->c.st,
				    "DROP TABLE audit_spool_ingested; DROP TABLE "
				    "fleet_tokens; " TEST_UNPACK_MEMBERSHIPS_SQL
				    "DROP TRIGGER memberships_of_group; "
				    "DROP TRIGGER memberships_of_ref; PRAGMA user_version = 18",
				    &err),
			 0);
	store_close(f->c.st);
	assert_int_equal(store_open(f->c.db, STORE_OPEN_EXISTING, &f->c.st, &err), 0);
	assert_int_equal(audit_open(f->c.st, f->c.sk, NULL, 1000, NULL, &f->c.a, &err), 0);
	assert_int_equal(chain_count(f, "seq IN (SELECT seq FROM audit_spool_ingested)"), 3);
	spool_copy(f, 1);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 0);
	assert_int_equal(res.duplicates, 3);
	assert_int_equal(chain_count(f, "1"), 3);
}

static void
test_malformed_file_is_quarantined_and_audited(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;
	char path[256];
	FILE *fp;

	spool_three(f);
	snprintf(path, sizeof(path), "%s/0000000000000001-00000001-00000000.ev", f->spool);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"v\":1,\"time\":5}", fp);
	fclose(fp);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.quarantined, 1);
	assert_int_equal(res.ingested, 3);
	snprintf(path, sizeof(path), "%s/%s/0000000000000001-00000001-00000000.ev", f->spool,
		 SPOOL_QUARANTINE);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(chain_count(f, "action = 'audit.spool_quarantined'"), 1);
	assert_int_equal(test_count_files(f->spool), 0);
}

static void
test_loose_spool_directory_is_refused(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;

	spool_three(f);
	assert_int_equal(chmod(f->spool, 0755), 0);
	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), -1);
	assert_non_null(strstr(err.msg, "mode 0700"));
	assert_int_equal(chain_count(f, "1"), 0);
	assert_int_equal(test_count_files(f->spool), 3);
}

static void
test_missing_spool_is_empty(void **state)
{
	struct fixture *f = *state;
	struct spool_result res;
	struct idg_err err;

	assert_int_equal(spool_ingest(f->c.a, f->spool, 100, NULL, &res, &err), 0);
	assert_int_equal(res.ingested, 0);
}

static void
expect_refused(const char *text, const char *reason)
{
	struct spool_event ev;
	struct idg_err err;

	if (spool_parse(text, strlen(text), &ev, &err) == 0)
		fail_msg("accepted: %s", text);
	if (strstr(err.msg, reason) == NULL)
		fail_msg("for %s: reason \"%s\" lacks \"%s\"", text, err.msg, reason);
	assert_null(ev.details);
}

static void
test_parse_accepts_a_good_record(void **state)
{
	static const char good[] = "{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\","
				   "\"subject\":\"s\",\"action\":\"x.y\",\"details\":{\"k\":1}}";
	struct spool_event ev;
	struct idg_err err;

	(void)state;
	assert_int_equal(spool_parse(good, strlen(good), &ev, &err), 0);
	assert_int_equal(ev.time, 7);
	assert_string_equal(ev.host, "h");
	assert_string_equal(ev.action, "x.y");
	assert_int_equal(json_integer_value(json_object_get(ev.details, "k")), 1);
	spool_event_clear(&ev);
}

static void
test_parse_refuses_malformed_records(void **state)
{
	char big[SPOOL_RECORD_MAX + 64], longtext[AUDIT_FIELD_MAX + 200];

	(void)state;
	expect_refused("", "empty");
	expect_refused("{", "not JSON");
	expect_refused("[1]", "not a JSON object");
	expect_refused("{\"v\":1}", "exactly the members");
	expect_refused("{\"v\":2,\"time\":7,\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"details\":{}}",
		       "version");
	expect_refused("{\"v\":1,\"time\":-1,\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"details\":{}}",
		       "time");
	expect_refused("{\"v\":1,\"time\":\"7\",\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"details\":{}}",
		       "time");
	expect_refused("{\"v\":1,\"time\":7,\"host\":1,\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"details\":{}}",
		       "\"host\"");
	expect_refused("{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\\u0000b\",\"subject\":"
		       "\"s\",\"action\":\"x\",\"details\":{}}",
		       "NUL");
	expect_refused("{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"\",\"details\":{}}",
		       "empty");
	expect_refused("{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"details\":[]}",
		       "details");
	expect_refused("{\"v\":1,\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\",\"subject\":"
		       "\"s\",\"action\":\"x\",\"details\":{}}",
		       "not JSON");
	expect_refused("{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"a\",\"subject\":\"s\","
		       "\"action\":\"x\",\"extra\":{}}",
		       "\"details\" is missing");
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	snprintf(big, sizeof(big),
		 "{\"v\":1,\"time\":7,\"host\":\"h\",\"actor\":\"%s\",\"subject\":\"s\","
		 "\"action\":\"x\",\"details\":{}}",
		 longtext);
	expect_refused(big, "longer than");
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_refused(big, "longer than");
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(spool_name_valid("18ed4f5a7fe7097b-000040ff-00000000.ev"));
	assert_false(spool_name_valid(".18ed4f5a7fe7097b-000040ff-00000000.ev.tmp"));
	assert_false(spool_name_valid("18ed4f5a7fe7097B-000040ff-00000000.ev"));
	assert_false(spool_name_valid("18ed4f5a7fe7097b_000040ff-00000000.ev"));
	assert_false(spool_name_valid("18ed4f5a7fe7097b-000040ff-00000000.ex"));
	assert_false(spool_name_valid("quarantine"));
	assert_false(spool_name_valid(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spooling_handle_writes_private_complete_files,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_appends_in_order_signs_and_unlinks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_batches_keep_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_files_already_in_the_chain_are_not_appended_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_ingested_before_the_index_are_found,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_file_is_quarantined_and_audited,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_spool_directory_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_spool_is_empty, setup, teardown),
		cmocka_unit_test(test_parse_accepts_a_good_record),
		cmocka_unit_test(test_parse_refuses_malformed_records),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
