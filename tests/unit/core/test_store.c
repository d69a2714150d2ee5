/* Unit tests for opening, creating and migrating the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "schema.h"
#include "store.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (test_mkdtemp(f->dir, sizeof(f->dir), "store") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/sub/idgov.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (test_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static void
test_create_sets_private_modes_and_latest_schema(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;
	struct stat sb;
	char dir[160];

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/sub", f->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(store_schema_version(st),
			 schema_migrations[schema_migration_count - 1].version);
	store_close(st);
}

static long long raw_int(struct store *st, const char *sql);

static void
test_wal_and_foreign_keys_are_on(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;
	sqlite3_stmt *stmt;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(store_prepare(st, "PRAGMA journal_mode", &stmt, &err), 0);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	/* A commit is on disk when it returns (2: FULL), before any anchor names it. */
	assert_int_equal(raw_int(st, "PRAGMA synchronous"), 2);
	/* A decision on an unknown grant violates the foreign key. */
	assert_int_equal(store_exec(st,
				    "INSERT INTO grant_decisions (grant_id, actor, decision, time) "
				    "VALUES (999, 'a', 'approve', 0)",
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "FOREIGN KEY"));
	store_close(st);
}

/* A new store has STORE_PAGE_SIZE pages; a store made with 4 KiB pages keeps them. */
static void
test_new_store_has_large_pages_old_store_keeps_its_own(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;
	sqlite3 *raw;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(raw_int(st, "PRAGMA page_size"), STORE_PAGE_SIZE);
	store_close(st);
	/* What an earlier idgov created: the same schema in SQLite's default 4 KiB pages. */
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
				      "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; "
				      "VACUUM; PRAGMA journal_mode = WAL",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(raw_int(st, "PRAGMA page_size"), 4096);
	assert_int_equal(
		store_exec(st, "INSERT INTO sync_state (directory, mode) VALUES ('d', 'x')", &err),
		0);
	store_close(st);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(raw_int(st, "PRAGMA page_size"), 4096);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM sync_state WHERE directory = 'd'"), 1);
	store_close(st);
}

/* Memberships have no foreign keys (021): deleting a group or a member value removes its rows. */
static void
test_memberships_go_with_their_group_and_value(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(
		store_exec(
			st,
			"INSERT INTO groups (id, uuid, dn, dn_norm, cn, first_seen, last_changed) "
			"VALUES (1, 'g1', 'cn=a', 'cn=a', 'a', 0, 0), "
			"(2, 'g2', 'cn=b', 'cn=b', 'b', 0, 0);"
			"INSERT INTO member_refs (id, kind, value) VALUES (10, 1, 'x'), (11, 1, "
			"'y');"
			"INSERT INTO memberships VALUES (1, 10, 0), (1, 11, 0), (2, 10, 0), "
			"(2, 11, 0)",
			&err),
		0);
	assert_int_equal(store_exec(st, "DELETE FROM groups WHERE id = 1", &err), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM memberships WHERE group_id = 1"), 0);
	assert_int_equal(store_exec(st, "DELETE FROM member_refs WHERE id = 10", &err), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM memberships WHERE ref_id = 10"), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM memberships WHERE group_id = 2 AND "
				     "ref_id = 11"),
			 1);
	assert_int_equal(raw_int(st, TEST_PACKED_DISAGREE_SQL), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM ref_groups WHERE ref_id = 11 AND "
				     "groups = '[2]'"),
			 1);
	store_close(st);
}

/* 021 over a store of 020: memberships are kept, one whose group is gone is not. */
static void
test_membership_keys_migration_keeps_pairs(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(
		store_exec(
			st,
			"INSERT INTO groups (id, uuid, dn, dn_norm, cn, first_seen, last_changed) "
			"VALUES (1, 'g1', 'cn=a', 'cn=a', 'a', 0, 0);"
			"INSERT INTO member_refs (id, kind, value) VALUES (10, 1, "
			"'x');" TEST_UNPACK_MEMBERSHIPS_SQL
			"INSERT INTO memberships VALUES (1, 10, 5), (99, 10, 5);"
			"DROP TRIGGER memberships_of_group; DROP TRIGGER memberships_of_ref;"
			"PRAGMA user_version = 20",
			&err),
		0);
	store_close(st);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(store_schema_version(st),
			 schema_migrations[schema_migration_count - 1].version);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM memberships"), 1);
	assert_int_equal(raw_int(st, "SELECT since FROM membership_values WHERE group_cn = 'a'"),
			 5);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM sqlite_master WHERE name IN "
				     "('memberships_of_group', 'memberships_of_ref', "
				     "'memberships_insert', 'memberships_delete')"),
			 4);
	store_close(st);
}

/*
 * 022 over a store of 021: every pair is kept with its since, packed per
 * group (an id alone when its since is the group's, the earliest) and per
 * member value, each list sorted; the view reads back the same pairs.
 */
static void
test_packed_memberships_migration(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(
		store_exec(
			st,
			TEST_UNPACK_MEMBERSHIPS_SQL
			"INSERT INTO groups (id, uuid, dn, dn_norm, cn, first_seen, last_changed) "
			"VALUES (1, 'g1', 'cn=a', 'cn=a', 'a', 0, 0), "
			"(2, 'g2', 'cn=b', 'cn=b', 'b', 0, 0), (3, 'g3', 'cn=c', 'cn=c', 'c', 0, "
			"0);"
			"INSERT INTO member_refs (id, kind, value) VALUES (10, 1, 'x'), (11, 1, "
			"'y'), (12, 0, 'uid=z');"
			"INSERT INTO memberships VALUES (2, 12, 7), (1, 12, 5), (1, 10, 5), "
			"(1, 11, 9), (3, 10, 4);"
			"CREATE TABLE old_pairs AS SELECT * FROM memberships;"
			"PRAGMA user_version = 21",
			&err),
		0);
	store_close(st);
	if (store_open(f->path, STORE_OPEN_EXISTING, &st, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM group_members WHERE "
				     "(group_id, since, refs) IN (VALUES (1, 5, '[10,[11,9],12]'), "
				     "(2, 7, '[12]'), (3, 4, '[10]'))"),
			 3);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM group_members"), 3);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM ref_groups WHERE (ref_id, groups) IN "
				     "(VALUES (10, '[1,3]'), (11, '[1]'), (12, '[1,2]'))"),
			 3);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM ref_groups"), 3);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM (SELECT * FROM memberships EXCEPT "
				     "SELECT * FROM old_pairs)"),
			 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM memberships"), 5);
	assert_int_equal(raw_int(st, "SELECT since FROM membership_values WHERE group_cn = 'a' "
				     "AND value = 'y'"),
			 9);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM sqlite_master WHERE name = "
				     "'memberships_ref'"),
			 0);
	store_close(st);
}

/*
 * Writing the memberships view keeps both lists (tests and tools write it
 * row by row): a pair inserted twice is refused as the table's key did,
 * a since different from the group's is kept with the pair.
 */
static void
test_memberships_view_writes_both_lists(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO memberships VALUES (1, 12, 5), (1, 10, 5), "
				    "(1, 11, 9), (2, 10, 3)",
				    &err),
			 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM group_members WHERE group_id = 1 AND "
				     "since = 5 AND refs = '[10,[11,9],12]'"),
			 1);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM ref_groups WHERE ref_id = 10 AND "
				     "groups = '[1,2]'"),
			 1);
	assert_int_equal(store_exec(st, "INSERT INTO memberships VALUES (1, 10, 6)", &err), -1);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	assert_int_equal(store_exec(st, "DELETE FROM memberships WHERE ref_id = 10", &err), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM group_members WHERE group_id = 1 AND "
				     "refs = '[[11,9],12]'"),
			 1);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM group_members WHERE group_id = 2"), 0);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM ref_groups WHERE ref_id = 10"), 0);
	assert_int_equal(raw_int(st, TEST_PACKED_DISAGREE_SQL), 0);
	store_close(st);
}

/* 023 over a store of 022: the next sync is a full refresh that re-normalises every DN. */
static void
test_casefold_migration_forgets_cookie(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO sync_state (directory, mode, cookie) "
				    "VALUES ('d', 'persist', 'rid=001,csn=1');"
				    "PRAGMA user_version = 22",
				    &err),
			 0);
	store_close(st);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(store_schema_version(st),
			 schema_migrations[schema_migration_count - 1].version);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM sync_state WHERE directory = 'd' AND "
				     "mode = 'persist' AND cookie IS NULL"),
			 1);
	store_close(st);
}

static void
test_reopen_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(
		store_exec(st, "INSERT INTO sync_state (directory, mode) VALUES ('d', 'x')", &err),
		0);
	store_close(st);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(store_exec(st, "SELECT 1 FROM sync_state WHERE directory = 'd'", &err), 0);
	store_close(st);
}

static void
test_missing_store_is_refused_without_create(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
	assert_null(st);
	assert_non_null(strstr(err.msg, "idgov init"));
}

/* Whoever could write the store (or its WAL, or move its directory) would decide logins. */
static void
test_store_writable_by_others_is_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;
	char side[160], sub[128];

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	store_close(st);
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
	assert_null(st);
	assert_non_null(strstr(err.msg, "idgov.db: writable by group or others (mode 0666)"));
	assert_int_equal(chmod(f->path, 0600), 0);

	snprintf(side, sizeof(side), "%s-wal", f->path);
	assert_int_equal(chmod(side, 0606), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_READONLY, &st, &err), -1);
	assert_non_null(strstr(err.msg, "idgov.db-wal: writable by group or others"));
	assert_int_equal(chmod(side, 0600), 0);

	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
	assert_non_null(strstr(err.msg, "/sub is writable by group or others (mode 0777)"));
	assert_int_equal(chmod(sub, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->path, 65534, 65534), 0);
		assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
		assert_non_null(strstr(err.msg, "idgov.db: owned by uid 65534, not root"));
		assert_int_equal(chown(f->path, 0, 0), 0);
	}
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	store_close(st);
}

static void
test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(store_exec(st, "PRAGMA user_version = 9999", &err), 0);
	store_close(st);
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
	assert_non_null(strstr(err.msg, "newer than this idgov"));
}

static void
test_partial_migration_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	/*
	 * A store at version 0 that already has a "users" table makes
	 * migration 001 fail half-way: nothing of it may remain.
	 */
	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	store_close(st);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db,
					      "PRAGMA user_version = 0; DROP TABLE audit; "
					      "DROP TABLE audit_signatures; DROP TABLE events;",
					      NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), -1);
	assert_non_null(strstr(err.msg, "migration 001_initial.sql failed"));
	{
		sqlite3 *db;
		sqlite3_stmt *stmt;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db,
						    "SELECT count(*) FROM sqlite_master WHERE "
						    "name = 'audit'",
						    -1, &stmt, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(stmt, 0), 0);
		sqlite3_finalize(stmt);
		sqlite3_close(db);
	}
}

/* Runs sql on the raw database file, failing the test on an error. */
static void
raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static long long
raw_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* How many temporary b-trees one run of a statement builds (EXPLAIN's OpenEphemeral steps). */
static int
ephemeral_tables(struct store *st, const char *sql)
{
	char explain[512];
	sqlite3_stmt *s;
	int n = 0;

	snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
	assert_int_equal(sqlite3_prepare_v2(st->db, explain, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		n += strcmp((const char *)sqlite3_column_text(s, 1), "OpenEphemeral") == 0;
	sqlite3_finalize(s);
	return n;
}

static const char insert_user_sql[] =
	"INSERT INTO users (uuid, dn, dn_norm, status, first_seen, last_changed) "
	"VALUES (?1, 'uid=x', 'uid=x', ?2, 0, 0)";
static const char insert_ref_sql[] =
	"INSERT INTO member_refs (kind, value, problem) VALUES (0, ?1, ?2)";

/*
 * 024: a store whose CHECKs still hold IN lists (as 001 and 011 wrote
 * them) gets comparisons instead: no write of a user or a member value
 * builds a temporary b-tree, the rows stay, and the constraints still
 * refuse what they refused.
 */
static void
test_checks_without_in_lists_migration(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(
		store_exec(
			st,
			"PRAGMA writable_schema = ON;"
			"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (status = ''active'' "
			"OR status = ''disabled'' OR status = ''departed'')', 'CHECK (status IN "
			"(''active'', ''disabled'', ''departed''))') WHERE name = 'users';"
			"UPDATE sqlite_schema SET sql = replace(sql, 'problem = ''no_entry'' OR "
			"problem = ''not_a_dn'' OR problem = ''too_long''', 'problem IN "
			"(''no_entry'', ''not_a_dn'', ''too_long'')') WHERE name = 'member_refs';"
			"PRAGMA writable_schema = RESET;"
			"INSERT INTO users (uuid, dn, dn_norm, status, first_seen, last_changed) "
			"VALUES ('u1', 'uid=a', 'uid=a', 'disabled', 0, 0);"
			"INSERT INTO member_refs (kind, value, target) VALUES (0, 'uid=a', 'u1');"
			"PRAGMA user_version = 23",
			&err),
		0);
	/* The store as 023 left it builds one for each. */
	assert_int_equal(ephemeral_tables(st, insert_user_sql), 1);
	assert_int_equal(ephemeral_tables(st, insert_ref_sql), 1);
	store_close(st);

	assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st, &err), 0);
	assert_int_equal(store_schema_version(st),
			 schema_migrations[schema_migration_count - 1].version);
	assert_int_equal(ephemeral_tables(st, insert_user_sql), 0);
	assert_int_equal(ephemeral_tables(st, insert_ref_sql), 0);
	assert_int_equal(
		ephemeral_tables(
			st, "UPDATE member_refs SET problem = ?2, target = NULL WHERE id = ?1"),
		0);
	assert_int_equal(ephemeral_tables(st, "UPDATE users SET status = ?2 WHERE uuid = ?1"), 0);
	assert_int_equal(raw_int(st,
				 "SELECT count(*) FROM users u JOIN member_refs r ON r.target = "
				 "u.uuid WHERE u.status = 'disabled'"),
			 1);
	assert_int_equal(
		raw_int(st, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'schema_024%'"), 0);
	/* The same values are refused and taken as before. */
	assert_int_equal(store_exec(st,
				    "INSERT INTO users (uuid, dn, dn_norm, status, first_seen, "
				    "last_changed) VALUES ('u2', 'uid=b', 'uid=b', 'gone', 0, 0)",
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "CHECK"));
	assert_int_equal(store_exec(st,
				    "INSERT INTO member_refs (kind, value, problem) "
				    "VALUES (0, 'uid=b', 'unknown')",
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "CHECK"));
	assert_int_equal(
		store_exec(st,
			   "INSERT INTO users (uuid, dn, dn_norm, status, first_seen, "
			   "last_changed) VALUES ('u2', 'uid=b', 'uid=b', 'departed', 0, 0);"
			   "INSERT INTO member_refs (kind, value, problem) "
			   "VALUES (0, 'uid=b', 'no_entry'), (1, 'b', NULL)",
			   &err),
		0);
	assert_int_equal(raw_int(st, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"),
			 1);
	store_close(st);
}

/*
 * A store made by the migrations up to 010 (an install before 013), with
 * review items recommended 'keep' and a journal row pointing at one:
 * opened now, it is migrated to the words people see, every row and
 * reference kept, and 'keep' can no longer be written.
 */
static void
test_old_store_recommendations_become_approve(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct idg_err err;
	char sub[128], pragma[64];
	sqlite3 *db;
	int fd;

	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	raw_exec(db, "BEGIN");
	for (unsigned i = 0; i < schema_migration_count && schema_migrations[i].version <= 10;
	     i++) {
		raw_exec(db, schema_migrations[i].sql);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			 schema_migrations[i].version);
		raw_exec(db, pragma);
	}
	raw_exec(db,
		 "INSERT INTO campaigns (id, name, definition, opened_at, opened_by, deadline) "
		 "VALUES (1, 'q1', '{\"default\":\"keep\",\"scope\":\"all\"}', 1, 'root', 2);"
		 "INSERT INTO review_items (id, campaign_id, user_uuid, user_dn, user_status, "
		 "group_id, group_cn, group_dn, privileged, held_as, source, recommendation, "
		 "recommend_why, reviewer_why) VALUES "
		 "(1, 1, 'u1', 'uid=a', 'active', 7, 'g', 'cn=g', 0, 'member', 'directory', "
		 "'keep', 'last login 2 days ago', 'manager'), "
		 "(2, 1, 'u2', 'uid=b', 'departed', 7, 'g', 'cn=g', 0, 'member', 'directory', "
		 "'revoke', 'the user has left', 'manager');"
		 "INSERT INTO dir_journal (id, op, dn, attr, value, created_at, item_id) VALUES "
		 "(5, 'del_member', 'cn=g', 'member', 'uid=b', 1, 2);"
		 "COMMIT");
	sqlite3_close(db);

	if (store_open(f->path, STORE_OPEN_EXISTING, &st, &err) != 0)
		fail_msg("store_open: %s", err.msg);
	assert_int_equal(store_schema_version(st),
			 schema_migrations[schema_migration_count - 1].version);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM review_items WHERE id = 1 AND "
				     "recommendation = 'approve' AND recommend_why = 'last login 2 "
				     "days ago'"),
			 1);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM review_items WHERE id = 2 AND "
				     "recommendation = 'revoke'"),
			 1);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM review_items WHERE recommendation = "
				     "'keep'"),
			 0);
	/* The journal still points at its item, and no reference is dangling. */
	assert_int_equal(raw_int(st, "SELECT item_id FROM dir_journal WHERE id = 5"), 2);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(raw_int(st,
				 "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
				 "name IN ('review_items_reviewer', 'review_items_remediation')"),
			 2);
	assert_int_equal(raw_int(st, "SELECT count(*) FROM campaigns WHERE "
				     "json_extract(definition, '$.default') = 'approve' AND "
				     "json_extract(definition, '$.scope') = 'all'"),
			 1);
	/* The old word is refused from now on; deleting a referenced item still is too. */
	assert_int_equal(store_exec(st,
				    "UPDATE review_items SET recommendation = 'keep' WHERE id = 1",
				    &err),
			 -1);
	assert_int_equal(store_exec(st, "DELETE FROM review_items WHERE id = 2", &err), -1);
	store_close(st);
}

/*
 * The auth service's state file, written by one short-lived connection
 * per login with none held open in between: its WAL is checkpointed and
 * truncated once it holds STORE_STATE_WAL_FRAMES frames, so the next
 * connection's rebuild of the WAL index reads a bounded WAL; with SQLite's
 * automatic checkpoint alone it only grew. Each write here adds two
 * frames (a new leaf page and the root), so the writers go well past the
 * threshold, and the WAL must have started again from nothing.
 */
static void
test_state_file_wal_stays_small_across_one_shot_writers(void **state)
{
	struct fixture *f = *state;
	char path[160], wal[170];
	struct store *st;
	struct idg_err err;
	struct stat sb;
	off_t largest = 0, last = 0;
	sqlite3_stmt *s;
	const int writers = STORE_STATE_WAL_FRAMES * 7 / 10;
	int fd;

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(path, STORE_OPEN_STATE, &st, &err), 0);
	assert_int_equal(store_exec(st, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", &err), 0);
	store_close(st);
	for (int i = 0; i < writers; i++) {
		assert_int_equal(store_open(path, STORE_OPEN_STATE, &st, &err), 0);
		assert_int_equal(
			store_exec(st, "INSERT INTO t (v) VALUES (randomblob(3000))", &err), 0);
		store_close(st);
		last = stat(wal, &sb) == 0 ? sb.st_size : 0;
		if (last > largest)
			largest = last;
	}
	/* The threshold's frames and the last transaction's, each a 4 KiB page and its header. */
	if (largest > (STORE_STATE_WAL_FRAMES + 8) * (4096 + 24) + 32)
		fail_msg("the WAL grew to %lld bytes", (long long)largest);
	if (last >= largest)
		fail_msg("the WAL was never truncated (%lld bytes)", (long long)last);
	assert_int_equal(store_open(path, STORE_OPEN_STATE, &st, &err), 0);
	assert_int_equal(store_prepare(st, "SELECT count(*) FROM t", &s, &err), 0);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), writers);
	sqlite3_finalize(s);
	/* A login's write does not wait for the disk (1: NORMAL). */
	assert_int_equal(raw_int(st, "PRAGMA synchronous"), 1);
	store_close(st);
}

/*
 * store_prepare_cached(): the same text gets the same statement back, reset
 * and unbound; one still out gets a fresh statement (finalized on
 * release); a released statement holds no read open, so another
 * connection's commit is seen by the next use; past the limit, statements
 * are prepared and finalized as store_prepare() does.
 */
static void
test_cached_statements_are_reused_reset_and_unbound(void **state)
{
	static const char *const sql = "SELECT count(*), ?1 FROM users";
	struct fixture *f = *state;
	sqlite3_stmt *a, *b, *c;
	struct store *st;
	struct idg_err err;
	sqlite3 *other;
	char text[64];

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &st, &err), 0);
	assert_int_equal(store_prepare_cached(st, sql, &a, &err), 0);
	sqlite3_bind_text(a, 1, "bound", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(a, 0), 0);

	/* Out: the same text again is a statement of its own. */
	assert_int_equal(store_prepare_cached(st, sql, &b, &err), 0);
	assert_ptr_not_equal(a, b);
	store_release(st, b);
	store_release(st, a);

	/* Released: another connection's commit is seen, and nothing is bound. */
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(other,
			     "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			     "last_changed) VALUES ('u1', 'uid=a', 'uid=a', 'a', 'active', 0, 0)",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(store_prepare_cached(st, sql, &c, &err), 0);
	assert_ptr_equal(c, a);
	assert_int_equal(sqlite3_step(c), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(c, 0), 1);
	assert_int_equal(sqlite3_column_type(c, 1), SQLITE_NULL);
	store_release(st, c);

	/* Past the limit: still correct, never kept. */
	for (int i = 0; i < STORE_CACHED_MAX + 4; i++) {
		snprintf(text, sizeof(text), "SELECT %d", i);
		assert_int_equal(store_prepare_cached(st, text, &a, &err), 0);
		assert_int_equal(sqlite3_step(a), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(a, 0), i);
		store_release(st, a);
	}
	assert_int_equal(st->n_cached, STORE_CACHED_MAX);
	store_release(st, NULL);
	store_close(st); /* finalizes what it kept: LeakSanitizer would say otherwise */
}

/* A read snapshot sees the store as it was when it began, and nothing more. */
static int
count_sync_rows(struct store *st)
{
	sqlite3_stmt *stmt;
	struct idg_err err;
	int n;

	assert_int_equal(store_prepare(st, "SELECT count(*) FROM sync_state", &stmt, &err), 0);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static void
test_read_snapshot_holds_until_it_ends(void **state)
{
	struct fixture *f = *state;
	struct store *w, *r;
	struct idg_err err;

	assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &w, &err), 0);
	assert_int_equal(store_open(f->path, STORE_OPEN_READONLY, &r, &err), 0);
	store_read_end(r); /* none open: a no-op */
	assert_int_equal(store_read_begin(r, &err), 0);
	assert_int_equal(count_sync_rows(r), 0);
	assert_int_equal(
		store_exec(w, "INSERT INTO sync_state (directory, mode) VALUES ('d', 'x')", &err),
		0);
	assert_int_equal(count_sync_rows(r), 0);         /* still the snapshot */
	assert_int_equal(store_read_begin(r, &err), -1); /* no nesting */
	store_read_end(r);
	assert_int_equal(sqlite3_get_autocommit(r->db), 1);
	assert_int_equal(count_sync_rows(r), 1);
	store_close(r);
	store_close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_sets_private_modes_and_latest_schema,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_and_foreign_keys_are_on, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_new_store_has_large_pages_old_store_keeps_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberships_go_with_their_group_and_value,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_membership_keys_migration_keeps_pairs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_casefold_migration_forgets_cookie, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checks_without_in_lists_migration, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_packed_memberships_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberships_view_writes_both_lists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_snapshot_holds_until_it_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_state_file_wal_stays_small_across_one_shot_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_store_is_refused_without_create, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_writable_by_others_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_statements_are_reused_reset_and_unbound,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_migration_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_store_recommendations_become_approve,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
