/*
 * Master key rotation (rotate.h) over MFA enrolments: every secret
 * re-sealed, the old key then opening nothing, codes still accepted with a
 * key loaded afresh (as pam_idgov.so loads it per call) after each step a
 * crash could stop at, recovery, and destruction of the old key.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <liboath/oath.h>

#include "keys.h"
#include "mfa.h"
#include "rotate.h"
#include "testutil.h"

#define T0 1800000000
#define MAX_USERS 1000

struct fixture {
	struct test_env env;
	size_t users;
	unsigned char secret[MAX_USERS][MFA_SECRET_LEN];
	int64_t now; /* a new time step for each round of logins */
};

static const struct rotate_resealer resealers[] = {{"mfa", mfa_reseal, NULL}};

static void
uid_of(size_t i, char uid[32])
{
	snprintf(uid, 32, "user%zu", i);
}

static struct fixture *
make(const char *name, size_t users)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct idg_err err;
	char *uri, *b32, *end, *raw = NULL;
	char uid[32];
	size_t len;

	assert_non_null(f);
	assert_int_equal(
		test_env_open(&f->env, name,
			      "[directory]\nuri = ldap://h/\nbase = dc=x\n[mfa]\nissuer = T\n",
			      NULL, NULL, TEST_ENV_AUDIT | TEST_ENV_MASTER_KEY),
		0);
	f->users = users;
	assert_int_equal(store_exec(f->env.st, "BEGIN", &err), 0);
	for (size_t i = 0; i < users; i++) {
		char sql[256];

		uid_of(i, uid);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO users (uuid, dn, dn_norm, uid, status, first_seen, "
			 "last_changed) VALUES ('u-%s', 'uid=%s', 'uid=%s', '%s', 'active', 0, 0)",
			 uid, uid, uid, uid);
		assert_int_equal(store_exec(f->env.st, sql, &err), 0);
	}
	assert_int_equal(store_exec(f->env.st, "COMMIT", &err), 0);
	for (size_t i = 0; i < users; i++) {
		struct mfa_ctx c = {
			.st = f->env.st, .cfg = f->env.cfg, .key = f->env.key, .actor = "test"};

		uid_of(i, uid);
		if (mfa_enroll_begin(&c, uid, &uri, &err) != 0)
			fail_msg("%s", err.msg);
		b32 = strstr(uri, "secret=") + 7;
		end = strchr(b32, '&');
		assert_int_equal(oath_base32_decode(b32, (size_t)(end - b32), &raw, &len), OATH_OK);
		assert_int_equal(len, MFA_SECRET_LEN);
		memcpy(f->secret[i], raw, len);
		free(raw);
		free(uri);
	}
	/* Confirmed without recovery codes: 10 argon2id hashes a user would take minutes here. */
	assert_int_equal(
		store_exec(f->env.st, "UPDATE mfa SET confirmed = 1, confirmed_at = 0", &err), 0);
	f->now = T0;
	return f;
}

static void
destroy(struct fixture *f)
{
	assert_int_equal(test_env_close(&f->env), 0);
	free(f);
}

/* Each user logs in with a fresh code and a key loaded from the files now, as PAM would. */
static void
all_log_in(struct fixture *f)
{
	struct secret_key *key;
	struct idg_err err;
	struct totp_params p;
	char uid[32], code[TOTP_MAX_DIGITS + 1];

	f->now += 30;
	mfa_params(f->env.cfg, &p);
	if (secret_key_load(f->env.master_key, &key, &err) != 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < f->users; i++) {
		struct mfa_ctx c = {.st = f->env.st, .cfg = f->env.cfg, .key = key, .actor = "pam"};
		enum mfa_outcome out;

		uid_of(i, uid);
		assert_int_equal(
			totp_code(f->secret[i], MFA_SECRET_LEN, &p, f->now / p.period, code), 0);
		if (mfa_verify(&c, uid, code, f->now, &out, &err) != 0)
			fail_msg("%s: %s", uid, err.msg);
		assert_int_equal(out, MFA_OK);
	}
	secret_key_free(key);
}

/* How many stored secrets key opens. */
static size_t
opens(struct fixture *f, const struct secret_key *key)
{
	struct idg_err err;
	sqlite3_stmt *s;
	size_t n = 0;

	assert_int_equal(store_prepare(f->env.st,
				       "SELECT user_uuid, secret_nonce, secret_ct FROM mfa", &s,
				       &err),
			 0);
	while (sqlite3_step(s) == SQLITE_ROW) {
		unsigned char plain[MFA_SECRET_LEN];
		char ad[96];

		snprintf(ad, sizeof(ad), "idgov-mfa-v1:%s",
			 (const char *)sqlite3_column_text(s, 0));
		if (secret_open(key, sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2),
				ad, sqlite3_column_blob(s, 1), plain) == 0)
			n++;
	}
	sqlite3_finalize(s);
	return n;
}

static struct secret_key *
load_file(const char *path, const char *suffix)
{
	struct secret_key *k;
	struct idg_err err;
	char p[256];

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	if (secret_key_load_one(p, &k, &err) != 0)
		fail_msg("%s", err.msg);
	return k;
}

static int
exists(const char *path, const char *suffix)
{
	char p[256];

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return access(p, F_OK) == 0;
}

static int
count_audit(struct fixture *f, const char *action)
{
	struct idg_err err;
	sqlite3_stmt *s;
	int n = -1;

	assert_int_equal(
		store_prepare(f->env.st, "SELECT count(*) FROM audit WHERE action = ?1", &s, &err),
		0);
	sqlite3_bind_text(s, 1, action, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void
rotation_reseals_every_secret(void **state)
{
	struct fixture *f = make("rotate", 5);
	struct secret_key *old = load_file(f->env.master_key, "");
	struct secret_key *cur;
	struct rotate_result res;
	struct idg_err err;
	char id[SECRET_KEY_ID_LEN];

	(void)state;
	assert_int_equal(opens(f, old), 5);
	if (rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers, 1,
			  ROTATE_RUN_ALL, &res, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.resealed, 5);
	assert_string_equal(res.old_id, secret_key_id(old));
	cur = load_file(f->env.master_key, "");
	assert_string_equal(res.new_id, secret_key_id(cur));
	assert_int_equal(secret_store_key_id(f->env.st, id, &err), 1);
	assert_string_equal(id, secret_key_id(cur));
	/* The old key is kept as .old, and opens nothing in the store any more. */
	assert_true(exists(f->env.master_key, ".old"));
	assert_false(exists(f->env.master_key, ".new"));
	assert_int_equal(opens(f, old), 0);
	assert_int_equal(opens(f, cur), 5);
	all_log_in(f);
	assert_int_equal(count_audit(f, "key rotate"), 1);
	/* A second rotation waits for the old key to be destroyed. */
	assert_int_not_equal(rotate_master(f->env.master_key, f->env.st, f->env.audit, "root",
					   resealers, 1, ROTATE_RUN_ALL, &res, &err),
			     0);
	assert_non_null(strstr(err.msg, "destroy-old"));
	if (rotate_master_destroy_old(f->env.master_key, f->env.st, f->env.audit, "root", &err) !=
	    0)
		fail_msg("%s", err.msg);
	assert_false(exists(f->env.master_key, ".old"));
	assert_int_equal(count_audit(f, "key destroy-old"), 1);
	all_log_in(f);
	if (rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers, 1,
			  ROTATE_RUN_ALL, &res, &err) != 0)
		fail_msg("%s", err.msg);
	all_log_in(f);
	secret_key_free(old);
	secret_key_free(cur);
	destroy(f);
}

/*
 * A crash after each step: logins work in the state it leaves, recovery
 * ends in the old or the new key, and logins work after it.
 */
static void
crash_at_each_step(void **state)
{
	static const struct {
		enum rotate_stop stop;
		int committed;
	} steps[] = {{ROTATE_STOP_AFTER_NEW_FILE, 0},
		     {ROTATE_STOP_BEFORE_COMMIT, 0},
		     {ROTATE_STOP_AFTER_COMMIT, 1},
		     {ROTATE_STOP_AFTER_LINK, 1}};

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct fixture *f = make("rotcrash", 3);
		struct secret_key *old = load_file(f->env.master_key, ""), *now;
		struct rotate_result res;
		struct idg_err err;
		const char *what;

		(void)rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers,
				    1, steps[i].stop, &res, &err);
		all_log_in(f);
		if (rotate_master_recover(f->env.master_key, f->env.st, f->env.audit, "root", &what,
					  &err) != 0)
			fail_msg("step %zu: %s", i, err.msg);
		assert_false(exists(f->env.master_key, ".new"));
		now = load_file(f->env.master_key, "");
		if (steps[i].committed) {
			assert_string_not_equal(secret_key_id(now), secret_key_id(old));
			assert_true(exists(f->env.master_key, ".old"));
			assert_int_equal(opens(f, old), 0);
			assert_int_equal(count_audit(f, "key rotate completed"), 1);
		} else {
			assert_string_equal(secret_key_id(now), secret_key_id(old));
			assert_false(exists(f->env.master_key, ".old"));
			assert_int_equal(count_audit(f, "key rotate"), 0);
		}
		assert_int_equal(opens(f, now), 3);
		all_log_in(f);
		/* And the next rotation runs from there. */
		if (steps[i].committed && rotate_master_destroy_old(f->env.master_key, f->env.st,
								    NULL, "root", &err) != 0)
			fail_msg("step %zu: %s", i, err.msg);
		if (rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers, 1,
				  ROTATE_RUN_ALL, &res, &err) != 0)
			fail_msg("step %zu: %s", i, err.msg);
		all_log_in(f);
		secret_key_free(old);
		secret_key_free(now);
		destroy(f);
	}
}

/* A secret that does not open stops the rotation: nothing changes, no new key is left. */
static void
damaged_secret_stops_rotation(void **state)
{
	struct fixture *f = make("rotbad", 4);
	struct secret_key *old = load_file(f->env.master_key, "");
	struct rotate_result res;
	struct idg_err err;
	char id[SECRET_KEY_ID_LEN];

	(void)state;
	assert_int_equal(store_exec(f->env.st,
				    "UPDATE mfa SET secret_ct = zeroblob(length(secret_ct)) "
				    "WHERE user_uuid = 'u-user2'",
				    &err),
			 0);
	assert_int_not_equal(rotate_master(f->env.master_key, f->env.st, f->env.audit, "root",
					   resealers, 1, ROTATE_RUN_ALL, &res, &err),
			     0);
	assert_non_null(strstr(err.msg, "u-user2"));
	assert_false(exists(f->env.master_key, ".new"));
	assert_false(exists(f->env.master_key, ".old"));
	assert_int_equal(secret_store_key_id(f->env.st, id, &err), 0);
	assert_int_equal(opens(f, old), 3);
	assert_int_equal(count_audit(f, "key rotate"), 0);
	secret_key_free(old);
	destroy(f);
}

/* 1,000 enrolled users: one rotation, timed. */
static void
thousand_users(void **state)
{
	struct fixture *f = make("rot1000", MAX_USERS);
	struct rotate_result res;
	struct timespec a, b;
	struct idg_err err;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers, 1,
			  ROTATE_RUN_ALL, &res, &err) != 0)
		fail_msg("%s", err.msg);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(res.resealed, MAX_USERS);
	printf("master key rotation of %d MFA secrets: %.1f ms\n", MAX_USERS,
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	all_log_in(f);
	destroy(f);
}

/*
 * Two rotations at once (two root shells, no daemon): the second must not
 * take the first one's master.key.new for a crash's leftover and destroy
 * it, or the store ends sealed under a key no file holds. While another
 * process holds the key directory's lock, every key operation is refused
 * and changes nothing.
 */
static void
second_rotation_while_one_runs_is_refused(void **state)
{
	struct fixture *f = make("rotrace", 3);
	struct secret_key *old = load_file(f->env.master_key, ""), *pending;
	struct rotate_result res;
	struct idg_err err;
	char dir[PATH_MAX], *slash;
	const char *what;
	int fd;

	(void)state;
	/* The first rotation has made its new key and is re-sealing. */
	if (rotate_master(f->env.master_key, f->env.st, f->env.audit, "root", resealers, 1,
			  ROTATE_STOP_AFTER_NEW_FILE, &res, &err) != 0)
		fail_msg("%s", err.msg);
	pending = load_file(f->env.master_key, ".new");
	idg_strlcpy(dir, f->env.master_key, sizeof(dir));
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);

	assert_int_not_equal(rotate_master(f->env.master_key, f->env.st, f->env.audit, "root",
					   resealers, 1, ROTATE_RUN_ALL, &res, &err),
			     0);
	assert_non_null(strstr(err.msg, "another key operation"));
	assert_int_not_equal(rotate_master_recover(f->env.master_key, f->env.st, f->env.audit,
						   "root", &what, &err),
			     0);
	assert_int_not_equal(
		rotate_master_destroy_old(f->env.master_key, f->env.st, f->env.audit, "root", &err),
		0);
	/* The first rotation's new key is untouched, the store still under the old one. */
	assert_true(exists(f->env.master_key, ".new"));
	secret_key_free(pending);
	pending = load_file(f->env.master_key, ".new");
	assert_int_equal(opens(f, old), 3);
	assert_int_equal(count_audit(f, "key rotate"), 0);
	close(fd);
	secret_key_free(pending);
	secret_key_free(old);
	destroy(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rotation_reseals_every_secret),
		cmocka_unit_test(crash_at_each_step),
		cmocka_unit_test(damaged_secret_stops_rotation),
		cmocka_unit_test(second_rotation_while_one_runs_is_refused),
		cmocka_unit_test(thousand_users),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
