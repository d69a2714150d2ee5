/*
 * MFA state with an injected clock: enrolment and confirmation, replay,
 * lockout timing, recovery codes used once, secrets bound to their user,
 * and the audit records of each change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <liboath/oath.h>

#include "keys.h"
#include "mfa.h"
#include "mfastate.h"
#include "testutil.h"

#define T0 1800000000 /* a fixed "now", on a step boundary */

struct fixture {
	struct test_env env;
	struct mfa_ctx c;
	unsigned char secret[64];
	size_t secret_len;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    test_env_open(
		    &f->env, "mfa",
		    "[directory]\nuri = ldap://h/\nbase = dc=x\n[mfa]\nissuer = Test\n", NULL,
		    "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
		    "last_changed) VALUES ('u-alice', 'uid=alice', 'uid=alice', 'alice', "
		    "'active', 0, 0), ('u-bob', 'uid=bob', 'uid=bob', 'bob', 'active', 0, 0), "
		    "('u-gone', 'uid=gone', 'uid=gone', 'gone', 'departed', 0, 0)",
		    TEST_ENV_MASTER_KEY) != 0)
		return -1;
	f->c = (struct mfa_ctx){
		.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "test"};
	*state = f;
	return 0;
}

/* The same fixture with the auth service's state file beside the store. */
static int
setup_state(void **state)
{
	struct fixture *f;
	struct idg_err err;
	char path[256];

	if (setup(state) != 0)
		return -1;
	f = *state;
	snprintf(path, sizeof(path), "%s/authd.db", f->env.dir);
	if (mfastate_open(path, f->env.st, &f->c.state, &err) != 0) {
		print_error("%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->c.state);

	if (test_env_close(&f->env) != 0)
		return -1;
	free(f);
	return 0;
}

/* Starts an enrolment for uid and keeps the secret from the URI, as an app would. */
static void
begin(struct fixture *f, const char *uid)
{
	struct idg_err err;
	char *uri, *b32, *end, *raw = NULL;

	if (mfa_enroll_begin(&f->c, uid, &uri, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(strstr(uri, "otpauth://totp/Test:"));
	b32 = strstr(uri, "secret=") + 7;
	end = strchr(b32, '&');
	assert_int_equal(oath_base32_decode(b32, (size_t)(end - b32), &raw, &f->secret_len),
			 OATH_OK);
	memcpy(f->secret, raw, f->secret_len);
	free(raw);
	free(uri);
}

static const char *
code_at(struct fixture *f, int64_t t)
{
	static char out[TOTP_MAX_DIGITS + 1];
	struct totp_params p;

	mfa_params(f->env.cfg, &p);
	assert_int_equal(totp_code(f->secret, f->secret_len, &p, t / p.period, out), 0);
	return out;
}

static void
enrol(struct fixture *f, const char *uid, char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN])
{
	struct idg_err err;

	begin(f, uid);
	if (mfa_enroll_confirm(&f->c, uid, code_at(f, T0 - 30), T0, codes, &err) != 0)
		fail_msg("%s", err.msg);
}

static enum mfa_outcome
verify(struct fixture *f, const char *uid, const char *code, int64_t now)
{
	enum mfa_outcome out;
	struct idg_err err;

	if (mfa_verify(&f->c, uid, code, now, &out, &err) != 0)
		fail_msg("%s", err.msg);
	return out;
}

static void
test_enrol_confirm_and_verify(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	struct idg_err err;

	assert_int_equal(verify(f, "alice", "123456", T0), MFA_NOT_ENROLLED);
	begin(f, "alice");
	assert_int_equal(mfa_is_enrolled(&f->c, "alice", &err), 0); /* not confirmed yet */
	assert_int_equal(mfa_enroll_confirm(&f->c, "alice", "000000", T0, codes, &err), -1);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_equal(mfa_enroll_confirm(&f->c, "alice", code_at(f, T0), T0, codes, &err), 0);
	assert_int_equal(mfa_is_enrolled(&f->c, "alice", &err), 1);
	/* The confirming code is spent; the next step's code works once. */
	assert_int_equal(verify(f, "alice", code_at(f, T0), T0), MFA_REPLAYED);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 30), MFA_OK);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 30), MFA_REPLAYED);
	assert_int_equal(verify(f, "nobody", "123456", T0), MFA_UNKNOWN_USER);
	assert_int_equal(verify(f, "gone", "123456", T0), MFA_UNKNOWN_USER);
	/* A second enrolment needs a reset first. */
	{
		char *uri;

		assert_int_equal(mfa_enroll_begin(&f->c, "alice", &uri, &err), -1);
		assert_non_null(strstr(err.msg, "already enrolled"));
	}
}

static void
test_lockout_after_max_failures_and_unlock(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	struct idg_err err;
	json_t *st;

	enrol(f, "alice", codes);
	for (int i = 0; i < 5; i++)
		assert_int_equal(verify(f, "alice", "000000", T0 + i), MFA_BAD_CODE);
	/* Locked: even the right code is refused, for `lockout` seconds (default 900). */
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_LOCKED);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 899), T0 + 899), MFA_LOCKED);
	st = mfa_status(&f->c, "alice", T0 + 100, &err);
	assert_true(json_is_true(json_object_get(st, "locked")));
	json_decref(st);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 1200), T0 + 1200), MFA_OK);
	/* Failures spread beyond the interval (900 s) do not lock. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(verify(f, "alice", "000000", T0 + 2000 + i * 300), MFA_BAD_CODE);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 4500), T0 + 4500), MFA_OK);
	/* An admin unlock ends a lock at once. */
	for (int i = 0; i < 5; i++)
		verify(f, "alice", "000000", T0 + 5000);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 5010), T0 + 5010), MFA_LOCKED);
	assert_int_equal(mfa_unlock(&f->c, "alice", &err), 0);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 5040), T0 + 5040), MFA_OK);
}

/*
 * One code seen by many (six parallel logins, a shoulder surfer): one
 * success, the rest refused as replays, and the owner is not locked out.
 */
static void
test_replays_do_not_count_toward_lockout(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	struct idg_err err;
	json_t *st;

	enrol(f, "alice", codes);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 30), MFA_OK);
	for (int i = 0; i < 20; i++)
		assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 31), MFA_REPLAYED);
	/* Spent recovery codes are not counted either. */
	assert_int_equal(verify(f, "alice", codes[0], T0 + 32), MFA_OK_RECOVERY);
	for (int i = 0; i < 20; i++)
		assert_int_equal(verify(f, "alice", codes[0], T0 + 33), MFA_RECOVERY_REUSED);
	st = mfa_status(&f->c, "alice", T0 + 34, &err);
	assert_false(json_is_true(json_object_get(st, "locked")));
	assert_int_equal(json_integer_value(json_object_get(st, "recent_failures")), 0);
	json_decref(st);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_OK);
	/* Wrong codes still count. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(verify(f, "alice", "000000", T0 + 61), MFA_BAD_CODE);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 90), T0 + 90), MFA_LOCKED);
}

static void
test_recovery_codes_are_single_use(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN],
		fresh[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char lower[MFA_RECOVERY_LEN];
	struct idg_err err;
	json_t *st;

	enrol(f, "alice", codes);
	assert_int_equal(verify(f, "alice", codes[3], T0), MFA_OK_RECOVERY);
	assert_int_equal(verify(f, "alice", codes[3], T0), MFA_RECOVERY_REUSED);
	for (int i = 0; i < MFA_RECOVERY_LEN; i++)
		lower[i] = (char)tolower((unsigned char)codes[4][i]);
	assert_int_equal(verify(f, "alice", lower, T0), MFA_OK_RECOVERY);
	st = mfa_status(&f->c, "alice", T0, &err);
	assert_int_equal(json_integer_value(json_object_get(st, "recovery_codes_left")), 8);
	json_decref(st);
	/* A new set voids the old one. */
	assert_int_equal(mfa_new_recovery_codes(&f->c, "alice", fresh, &err), 0);
	assert_int_equal(verify(f, "alice", codes[5], T0), MFA_BAD_CODE);
	assert_int_equal(verify(f, "alice", fresh[0], T0), MFA_OK_RECOVERY);
	/* Another user's code is worth nothing here. */
	{
		char bobs[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];

		enrol(f, "bob", bobs);
		assert_int_equal(verify(f, "alice", bobs[0], T0), MFA_BAD_CODE);
	}
}

static void
test_secret_is_encrypted_and_bound_to_its_user(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	enum mfa_outcome out;
	struct idg_err err;

	enrol(f, "alice", codes);
	enrol(f, "bob", codes);
	/* Copy alice's ciphertext onto bob's row: it must not decrypt there. */
	assert_int_equal(
		store_exec(f->env.st,
			   "UPDATE mfa SET (secret_nonce, secret_ct) = (SELECT secret_nonce, "
			   "secret_ct FROM mfa WHERE user_uuid = 'u-alice') WHERE user_uuid = "
			   "'u-bob'",
			   &err),
		0);
	assert_int_equal(mfa_verify(&f->c, "bob", "123456", T0 + 90, &out, &err), -1);
	assert_non_null(strstr(err.msg, "does not decrypt"));
}

static void
test_reset_and_audit(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], sk[160], pk[160];
	struct audit *a;
	struct idg_err err;
	sqlite3_stmt *s;

	snprintf(sk, sizeof(sk), "%s/audit.key", f->env.dir);
	snprintf(pk, sizeof(pk), "%s/audit.pub", f->env.dir);
	assert_int_equal(keys_create_audit(sk, pk, &err), 0);
	assert_int_equal(audit_open(f->env.st, sk, NULL, 100, NULL, &a, &err), 0);
	f->c.audit = a;
	enrol(f, "alice", codes);
	for (int i = 0; i < 5; i++)
		verify(f, "alice", "000000", T0);
	assert_int_equal(mfa_reset(&f->c, "alice", &err), 0);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_NOT_ENROLLED);
	assert_int_equal(mfa_reset(&f->c, "alice", &err), -1);
	assert_int_equal(sqlite3_prepare_v2(f->env.st->db,
					    "SELECT group_concat(action) FROM audit ORDER BY seq",
					    -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0),
			    "mfa.enroll_started,mfa.enrolled,mfa.locked,mfa.reset");
	sqlite3_finalize(s);
	audit_close(a);
}

/* An integer from the first row of sql on db (-1 if none). */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * A directory refresh holds the store's write lock for seconds; a login
 * must not need it. Another connection holds BEGIN IMMEDIATE on the store
 * through the whole login: the code is accepted, its watermark is in the
 * state file, and the store's row is as enrolment left it. (Were the login
 * to write the store, it would wait out the busy timeout and fail.)
 */
static void
test_login_writes_state_while_store_is_write_locked(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	int64_t step = (T0 + 60) / 30;
	sqlite3 *refresh;

	enrol(f, "alice", codes);
	assert_int_equal(sqlite3_open(f->env.db, &refresh), SQLITE_OK);
	assert_int_equal(sqlite3_exec(refresh, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_OK);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_REPLAYED);
	assert_int_equal(verify(f, "alice", "000000", T0 + 60), MFA_BAD_CODE);
	assert_int_equal(verify(f, "alice", codes[0], T0 + 60), MFA_OK_RECOVERY);
	assert_int_equal(sqlite3_exec(refresh, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(refresh);
	assert_int_equal(query_int(f->c.state->db, "SELECT last_step FROM mfa_state"), step);
	assert_int_equal(query_int(f->c.state->db, "SELECT count(*) FROM mfa_recovery_used"), 1);
	assert_int_equal(query_int(f->env.st->db, "SELECT last_step FROM mfa"), (T0 - 30) / 30);
	assert_int_equal(query_int(f->env.st->db, "SELECT count(*) FROM mfa_recovery "
						  "WHERE used_at IS NOT NULL"),
			 0);
	/* The spent recovery code stays spent. */
	assert_int_equal(verify(f, "alice", codes[0], T0 + 90), MFA_RECOVERY_REUSED);
}

/*
 * The first open of the state file copies what logins wrote to the store
 * (watermark, failures, lock, spent recovery codes), in one transaction;
 * a later open copies nothing again, even if the store still has it.
 */
static void
test_state_file_is_filled_from_the_store_once(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], path[256];
	struct store *st;
	struct idg_err err;
	struct stat sb;

	enrol(f, "alice", codes); /* without a state file: all in the store */
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 30), MFA_OK);
	assert_int_equal(verify(f, "alice", codes[1], T0 + 30), MFA_OK_RECOVERY);
	for (int i = 0; i < f->env.cfg->mfa_max_failures; i++)
		assert_int_equal(verify(f, "alice", "000000", T0 + 40), MFA_BAD_CODE);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_LOCKED);

	snprintf(path, sizeof(path), "%s/authd.db", f->env.dir);
	assert_int_equal(mfastate_open(path, f->env.st, &f->c.state, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* Moved: still locked, the recovery code still spent, the step still used. */
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 60), T0 + 60), MFA_LOCKED);
	assert_int_equal(mfa_unlock(&f->c, "alice", &err), 0);
	assert_int_equal(verify(f, "alice", codes[1], T0 + 60), MFA_RECOVERY_REUSED);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 60), MFA_REPLAYED);
	store_close(f->c.state);
	f->c.state = NULL;

	/* A lock left in the store (as by an older idgov) is not copied again over the unlock. */
	assert_int_equal(store_exec(f->env.st, "UPDATE mfa SET locked_until = 4000000000", &err),
			 0);
	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), 0);
	assert_int_equal(query_int(st->db, "SELECT locked_until FROM mfa_state"), 0);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM mfa_recovery_used"), 1);
	f->c.state = st;
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 90), T0 + 90), MFA_OK);
}

/* A state file of a newer schema, or one that is not SQLite, is refused and left as it is. */
static void
test_state_file_newer_or_garbage_is_refused(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct store *st = NULL;
	struct idg_err err;
	sqlite3 *db;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/newer.db", f->env.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	chmod(path, 0600);
	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), -1);
	assert_null(st);
	assert_non_null(strstr(err.msg, "newer"));

	snprintf(path, sizeof(path), "%s/garbage.db", f->env.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not a database, and it is long enough to have a header page\n", fp);
	fclose(fp);
	chmod(path, 0600);
	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), -1);
	assert_null(st);
}

/* The columns of one table as "name type, ...", for comparing two schemas. */
static char *
columns(sqlite3 *db, const char *table)
{
	char sql[160];
	sqlite3_stmt *s;
	char *out = NULL;

	snprintf(sql, sizeof(sql),
		 "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" || ' ' || "
		 "coalesce(dflt_value, '') || ' ' || pk, ', ') FROM pragma_table_info('%s')",
		 table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	if (sqlite3_column_text(s, 0) != NULL)
		out = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	assert_non_null(out);
	return out;
}

/* Runs a schema/authd/ file on db. */
static void
run_sql_file(sqlite3 *db, const char *name)
{
	char path[512], buf[8192];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/schema/authd/%s", IDGOV_SOURCE_DIR, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	assert_int_equal(sqlite3_exec(db, buf, NULL, NULL, NULL), SQLITE_OK);
}

/*
 * A version 1 state file (as an earlier idgov left it) is brought to
 * version 4 keeping every row and taking over the main store's sessions
 * and password history; the result has exactly the tables and columns of
 * schema/authd/001 to 004 applied in turn.
 */
static void
test_state_file_version_1_is_migrated(void **state)
{
	struct fixture *f = *state;
	char path[256], ref[256];
	static const char *const tables[] = {"mfa_state", "mfa_recovery_used", "fleet_pending",
					     "sessions", "password_history"};
	struct store *st = NULL;
	struct idg_err err;
	sqlite3 *db, *rdb;

	snprintf(path, sizeof(path), "%s/v1.db", f->env.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	run_sql_file(db, "001_mfa_state.sql");
	assert_int_equal(
		sqlite3_exec(db,
			     "INSERT INTO mfa_state VALUES ('u-alice', 77, 2, 5, 9);"
			     "INSERT INTO mfa_recovery_used VALUES ('u-alice', 'ABCD', 'h', 3);"
			     "PRAGMA user_version = 1",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	chmod(path, 0600);
	assert_int_equal(
		store_exec(f->env.st,
			   "INSERT INTO sessions (uid, service, rhost, tty, pid, opened_at, "
			   "closed_at) VALUES ('alice', 'sshd', '10.0.0.1', NULL, 42, 100, "
			   "160), ('bob', 'su', NULL, 'pts/1', 43, 200, NULL);"
			   "INSERT INTO password_history (uid, hash, changed_at) VALUES "
			   "('alice', '$argon2id$a', 300), ('alice', '$argon2id$b', 400)",
			   &err),
		0);
	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), 0);
	assert_int_equal(query_int(st->db, "PRAGMA user_version"), 4);
	assert_int_equal(query_int(st->db, "SELECT last_step + failures + failure_start + "
					   "locked_until + login_stamped_at FROM mfa_state"),
			 93);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM mfa_recovery_used"), 1);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM fleet_pending"), 0);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM sessions WHERE (uid = 'alice' "
					   "AND rhost = '10.0.0.1' AND pid = 42 AND opened_at = "
					   "100 AND closed_at = 160) OR (uid = 'bob' AND tty = "
					   "'pts/1' AND closed_at IS NULL)"),
			 2);
	assert_int_equal(query_int(st->db,
				   "SELECT count(*) FROM password_history WHERE uid = "
				   "'alice' AND ((hash = '$argon2id$a' AND changed_at = 300) "
				   "OR (hash = '$argon2id$b' AND changed_at = 400))"),
			 2);

	snprintf(ref, sizeof(ref), "%s/ref.db", f->env.dir);
	assert_int_equal(sqlite3_open(ref, &rdb), SQLITE_OK);
	run_sql_file(rdb, "001_mfa_state.sql");
	run_sql_file(rdb, "002_fleet_pending.sql");
	run_sql_file(rdb, "003_sessions.sql");
	run_sql_file(rdb, "004_password_history.sql");
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *a = columns(st->db, tables[i]), *b = columns(rdb, tables[i]);

		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	sqlite3_close(rdb);
	store_close(st);

	/* Opened again: already current, nothing to do (nothing is copied twice). */
	assert_int_equal(mfastate_open(path, f->env.st, &st, &err), 0);
	assert_int_equal(query_int(st->db, "PRAGMA user_version"), 4);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM sessions"), 2);
	assert_int_equal(query_int(st->db, "SELECT count(*) FROM password_history"), 2);
	store_close(st);
}

/*
 * A VFS that is the default one but counts the syncs of WAL files (what
 * a power cut cannot take back) and fails their writes on demand (a full
 * disk at a commit). It swaps only the WAL's xSync and xWrite.
 */
static sqlite3_vfs counting_vfs;
static sqlite3_io_methods counting_wal_methods;
static const sqlite3_io_methods *real_wal_methods;
static int wal_syncs;
static int wal_writes_fail;

static int
counting_wal_sync(sqlite3_file *file, int flags)
{
	wal_syncs++;
	return real_wal_methods->xSync(file, flags);
}

static int
failing_wal_write(sqlite3_file *file, const void *buf, int n, sqlite3_int64 offset)
{
	if (wal_writes_fail)
		return SQLITE_FULL;
	return real_wal_methods->xWrite(file, buf, n, offset);
}

static int
counting_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
	      int *out_flags)
{
	sqlite3_vfs *real = vfs->pAppData;
	int rc = real->xOpen(real, name, file, flags, out_flags);

	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && file->pMethods != NULL) {
		real_wal_methods = file->pMethods;
		counting_wal_methods = *file->pMethods;
		counting_wal_methods.xSync = counting_wal_sync;
		counting_wal_methods.xWrite = failing_wal_write;
		file->pMethods = &counting_wal_methods;
	}
	return rc;
}

/* The state file reopened through counting_vfs. */
static void
reopen_state_counting(struct fixture *f)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	char path[256];
	struct idg_err err;

	counting_vfs = *real;
	counting_vfs.zName = "counting";
	counting_vfs.pAppData = real;
	counting_vfs.xOpen = counting_open;
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
	store_close(f->c.state);
	snprintf(path, sizeof(path), "%s/authd.db", f->env.dir);
	assert_int_equal(mfastate_open(path, f->env.st, &f->c.state, &err), 0);
	assert_int_equal(sqlite3_vfs_register(real, 1), SQLITE_OK);
}

/*
 * The state file does not wait for the disk at a login's commit, except
 * when the login spent a recovery code or locked the user: a power cut
 * must not make either undone.
 */
static void
test_spent_codes_and_locks_reach_the_disk(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	int before;

	enrol(f, "alice", codes);
	reopen_state_counting(f);
	wal_syncs = 0;
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 30), T0 + 30), MFA_OK);
	assert_int_equal(verify(f, "alice", "000000", T0 + 60), MFA_BAD_CODE);
	assert_int_equal(wal_syncs, 0);
	assert_int_equal(verify(f, "alice", codes[0], T0 + 90), MFA_OK_RECOVERY);
	assert_true(wal_syncs >= 1);
	before = wal_syncs;
	for (int i = 0; i < 4; i++) /* the recovery code reset the count */
		assert_int_equal(verify(f, "alice", "000000", T0 + 100 + i), MFA_BAD_CODE);
	assert_int_equal(wal_syncs, before);
	assert_int_equal(verify(f, "alice", "000000", T0 + 110), MFA_BAD_CODE); /* the fifth */
	assert_true(wal_syncs > before);
	assert_int_equal(verify(f, "alice", code_at(f, T0 + 120), T0 + 120), MFA_LOCKED);
}

/*
 * The auth service spools its audit records (audit_open_spool), and a
 * spool file cannot be taken back: a login's record is written only once
 * the state file has committed what it records. Here that commit fails
 * (the disk is full): the login errs, nothing is spooled, and the
 * recovery code it would have spent is still good.
 */
static void
test_a_login_not_committed_spools_nothing(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], spool[300];
	enum mfa_outcome out;
	struct idg_err err;

	enrol(f, "alice", codes);
	snprintf(spool, sizeof(spool), "%s/spool", f->env.dir);
	assert_int_equal(mkdir(spool, 0700), 0);
	assert_int_equal(audit_open_spool(spool, NULL, &f->c.audit, &err), 0);
	reopen_state_counting(f);
	wal_writes_fail = 1;
	assert_int_equal(mfa_verify(&f->c, "alice", codes[0], T0 + 30, &out, &err), -1);
	wal_writes_fail = 0;
	assert_int_equal(test_count_files(spool), 0);
	assert_int_equal(query_int(f->c.state->db, "SELECT count(*) FROM mfa_recovery_used"), 0);

	assert_int_equal(verify(f, "alice", codes[0], T0 + 60), MFA_OK_RECOVERY);
	assert_int_equal(test_count_files(spool), 1);
	audit_close(f->c.audit);
	f->c.audit = NULL;
}

/* mfa_recovery_spent(): what a login spent in the state file, by uuid, id and hash. */
static void
test_recovery_spent_reads_the_state_file(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN], id[5], hash[crypto_pwhash_STRBYTES];
	struct idg_err err;
	sqlite3_stmt *s;

	enrol(f, "alice", codes);
	assert_int_equal(verify(f, "alice", codes[0], T0), MFA_OK_RECOVERY);
	assert_int_equal(sqlite3_prepare_v2(f->c.state->db,
					    "SELECT code_id, hash FROM mfa_recovery_used", -1, &s,
					    NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(s, 0));
	snprintf(hash, sizeof(hash), "%s", (const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	assert_memory_equal(id, codes[0], 4);
	assert_int_equal(mfa_recovery_spent(f->c.state, "u-alice", id, hash, &err), 1);
	assert_int_equal(mfa_recovery_spent(f->c.state, "u-bob", id, hash, &err), 0);
	assert_int_equal(mfa_recovery_spent(f->c.state, "u-alice", id, "$argon2id$other", &err), 0);
	/* A code not used is not spent. */
	snprintf(id, sizeof(id), "%.4s", codes[1]);
	assert_int_equal(mfa_recovery_spent(f->c.state, "u-alice", id, hash, &err), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TS(fn) cmocka_unit_test_setup_teardown(fn, setup_state, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_enrol_confirm_and_verify),
		T(test_state_file_version_1_is_migrated),
		T(test_lockout_after_max_failures_and_unlock),
		T(test_replays_do_not_count_toward_lockout),
		T(test_recovery_codes_are_single_use),
		T(test_secret_is_encrypted_and_bound_to_its_user),
		T(test_reset_and_audit),
		/* The same behaviour with the auth service's state file. */
		TS(test_enrol_confirm_and_verify),
		TS(test_lockout_after_max_failures_and_unlock),
		TS(test_replays_do_not_count_toward_lockout),
		TS(test_recovery_codes_are_single_use),
		TS(test_secret_is_encrypted_and_bound_to_its_user),
		TS(test_reset_and_audit),
		TS(test_login_writes_state_while_store_is_write_locked),
		TS(test_recovery_spent_reads_the_state_file),
		TS(test_spent_codes_and_locks_reach_the_disk),
		TS(test_a_login_not_committed_spools_nothing),
		T(test_state_file_is_filled_from_the_store_once),
		T(test_state_file_newer_or_garbage_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
