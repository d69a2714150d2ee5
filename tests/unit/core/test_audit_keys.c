/*
 * Unit tests for the audit chain across key rotations (audit_keys.c,
 * rotate_audit.c): a rotated chain verifies from the pinned first key, a
 * handle opened before a rotation signs with the new key, the rotation
 * record is checked field by field (malformed details, a wrong old key,
 * a new key that did not sign), a rotation forged with only the new key
 * or left unsigned by the old one is caught, a rewritten rotation is
 * caught, every crash point of a rotation leaves a chain that verifies and
 * is completed by recovery, and destroy-old wipes the old secret key only
 * once the chain no longer needs it.
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
#include "audit_keys.h"
#include "keys.h"
#include "rotate_audit.h"

struct fixture {
	struct test_chain c;
	char attacker[128];
};

static void
append_n(struct audit *a, int n)
{
	struct idg_err err;

	assert_int_equal(store_begin(a->st, &err), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(audit_append(a, "tester", "someone", "test.event", "{}", &err), 0);
	assert_int_equal(audit_sign_head(a, &err), 0);
	assert_int_equal(store_commit(a->st, &err), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || test_chain_open(&f->c, "auditkeys", 1000, 1) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->attacker, sizeof(f->attacker), "%s/attacker.key", f->c.dir);
	*state = f;
	append_n(f->c.a, 5);
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

static struct audit_report
verify(struct fixture *f)
{
	struct audit_report rep;
	struct idg_err err;

	assert_int_equal(audit_verify(f->c.st, f->c.pubkey, f->c.anchor, &rep, &err), 0);
	return rep;
}

static void
expect_ok(struct fixture *f, int64_t rotations)
{
	struct audit_report rep = verify(f);

	if (!rep.ok)
		fail_msg("expected the chain to verify, got: %s", rep.reason);
	assert_int_equal(rep.key_rotations, rotations);
}

static void
expect_bad(struct fixture *f, int64_t seq, const char *part)
{
	struct audit_report rep = verify(f);

	if (rep.ok)
		fail_msg("expected a failure at %lld (%s), the chain verified", (long long)seq,
			 part);
	if (strstr(rep.reason, part) == NULL || rep.first_bad_seq != seq)
		fail_msg("expected '%s' at %lld, got '%s' at %lld", part, (long long)seq,
			 rep.reason, (long long)rep.first_bad_seq);
}

static int
exists(const char *dir, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void
rotate(struct fixture *f, enum rotate_stop stop, struct rotate_audit_result *res)
{
	struct idg_err err;

	if (rotate_audit(f->c.sk, f->c.a, "root", stop, res, &err) != 0)
		fail_msg("rotate_audit: %s", err.msg);
}

static long long
count(struct fixture *f, const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	assert_int_equal(sqlite3_prepare_v2(f->c.st->db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void
exec_sql(struct fixture *f, const char *sql)
{
	struct idg_err err;

	assert_int_equal(store_exec(f->c.st, sql, &err), 0);
}

static void
test_rotated_chain_verifies_from_the_pinned_key(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	char pinned_id[AUDIT_KEY_ID_LEN];
	struct audit_report rep;

	rotate(f, ROTATE_RUN_ALL, &res);
	audit_key_id(f->c.pubkey, pinned_id);
	assert_string_equal(res.old_id, pinned_id);
	assert_string_not_equal(res.new_id, pinned_id);
	assert_int_equal(res.seq, 6);
	assert_true(exists(f->c.dir, "audit.key.old"));
	assert_false(exists(f->c.dir, "audit.key.new"));
	append_n(f->c.a, 3); /* signed with the new key */
	rep = verify(f);
	if (!rep.ok)
		fail_msg("%s", rep.reason);
	assert_int_equal(rep.key_rotations, 1);
	assert_int_equal(rep.records, 9);
	assert_string_equal(rep.key_id, res.new_id);
	/* The rotation's own head is signed by the old key, the ones after it by the new key. */
	assert_int_equal(count(f, "SELECT count(*) FROM audit_signatures WHERE seq = 6"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM key_ids WHERE name = 'audit'"), 1);
}

static void
test_rotated_twice_with_destroy_old_verifies(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result r1, r2;
	struct idg_err err;

	rotate(f, ROTATE_RUN_ALL, &r1);
	append_n(f->c.a, 2);
	/* A second rotation waits for the old key to be destroyed. */
	assert_int_equal(rotate_audit(f->c.sk, f->c.a, "root", ROTATE_RUN_ALL, &r2, &err), -1);
	assert_non_null(strstr(err.msg, "destroy-old audit"));
	assert_int_equal(rotate_audit_destroy_old(f->c.sk, f->c.a, "root", &err), 0);
	assert_false(exists(f->c.dir, "audit.key.old"));
	rotate(f, ROTATE_RUN_ALL, &r2);
	assert_string_equal(r2.old_id, r1.new_id);
	append_n(f->c.a, 2);
	expect_ok(f, 2);
}

static void
test_handle_opened_before_rotation_signs_with_new_key(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	struct audit *other;
	struct idg_err err;

	/* Another process (a login, the CLI) opened the key before the rotation. */
	assert_int_equal(audit_open(f->c.st, f->c.sk, NULL, 1000, NULL, &other, &err), 0);
	rotate(f, ROTATE_RUN_ALL, &res);
	append_n(other, 2);
	assert_string_equal(other->key_id, res.new_id);
	audit_close(other);
	expect_ok(f, 1);
}

static void
test_signer_refuses_when_no_file_holds_the_current_key(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	struct audit *other;
	struct idg_err err;
	char p[256];

	rotate(f, ROTATE_RUN_ALL, &res);
	/* The new key's file goes missing: nothing may be signed with the old one. */
	snprintf(p, sizeof(p), "%s/audit.key", f->c.dir);
	assert_int_equal(rename(p, f->attacker), 0);
	snprintf(p, sizeof(p), "%s/audit.key.old", f->c.dir);
	assert_int_equal(audit_open(f->c.st, p, NULL, 1000, NULL, &other, &err), 0);
	assert_int_equal(store_begin(f->c.st, &err), 0);
	assert_int_equal(audit_append(other, "t", "s", "test.event", "{}", &err), 0);
	assert_int_equal(audit_sign_head(other, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to sign"));
	store_rollback(f->c.st);
	audit_close(other);
}

/*
 * What someone with write access to the store and a key of their own
 * does: signs the current head with that key, straight into the table
 * (idgov's own signers refuse a key the chain does not name).
 */
static void
forge_sign_head(struct fixture *f, const unsigned char *sk)
{
	unsigned char msg[19 + 8 + 32], sig[crypto_sign_BYTES];
	sqlite3_stmt *s;
	struct idg_err err;
	int64_t seq;

	assert_int_equal(store_prepare(f->c.st,
				       "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &s,
				       &err),
			 0);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	seq = sqlite3_column_int64(s, 0);
	memcpy(msg, "idgov-audit-head-v1", 19);
	for (int i = 0; i < 8; i++)
		msg[19 + i] = (unsigned char)((uint64_t)seq >> (56 - 8 * i));
	memcpy(msg + 27, sqlite3_column_blob(s, 1), 32);
	sqlite3_finalize(s);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	assert_int_equal(store_prepare(f->c.st,
				       "INSERT INTO audit_signatures (seq, hash, signature, time) "
				       "VALUES (?1, ?2, ?3, 0)",
				       &s, &err),
			 0);
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_blob(s, 2, msg + 27, 32, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 3, sig, sizeof(sig), SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
}

/* Appends a rotation record to the attacker's key, the head signed by the attacker's key. */
static void
forge_rotation(struct fixture *f, const unsigned char old_pk[crypto_sign_PUBLICKEYBYTES])
{
	unsigned char prev[32], *ask;
	char *details, new_id[AUDIT_KEY_ID_LEN];
	struct audit *atk;
	struct idg_err err;
	sqlite3_stmt *s;
	int64_t seq = 0;

	assert_int_equal(keys_create_audit_secret(f->attacker, &err), 0);
	assert_int_equal(keys_load_audit_secret(f->attacker, &ask, &err), 0);
	assert_int_equal(audit_open(f->c.st, f->attacker, NULL, 1000, NULL, &atk, &err), 0);
	assert_int_equal(store_begin(f->c.st, &err), 0);
	assert_int_equal(store_prepare(f->c.st,
				       "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &s,
				       &err),
			 0);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	seq = sqlite3_column_int64(s, 0);
	memcpy(prev, sqlite3_column_blob(s, 1), 32);
	sqlite3_finalize(s);
	assert_int_equal(
		audit_key_rotation_details(seq + 1, prev, old_pk, ask, &details, new_id, &err), 0);
	assert_int_equal(
		audit_append(atk, "attacker", "audit", AUDIT_KEY_ROTATE_ACTION, details, &err), 0);
	forge_sign_head(f, ask);
	for (int i = 0; i < 2; i++)
		assert_int_equal(audit_append(atk, "attacker", "x", "test.event", "{}", &err), 0);
	forge_sign_head(f, ask);
	assert_int_equal(store_commit(f->c.st, &err), 0);
	free(details);
	keys_free_secret(ask);
	audit_close(atk);
}

/*
 * A store restored from before a rotation names no audit key: its heads
 * are signed with the key now in audit.key.old, which a signer picks; with
 * that file gone it refuses to sign rather than break the chain.
 */
static void
test_restored_unrotated_store_is_signed_with_the_old_key(void **state)
{
	struct fixture *f = *state;
	char old[256], pinned_id[AUDIT_KEY_ID_LEN];
	struct audit *other;
	struct idg_err err;

	/* The files as a rotation leaves them; the store as before it. */
	snprintf(old, sizeof(old), "%s.old", f->c.sk);
	assert_int_equal(rename(f->c.sk, old), 0);
	assert_int_equal(keys_create_audit_secret(f->c.sk, &err), 0);
	audit_key_id(f->c.pubkey, pinned_id);
	assert_int_equal(audit_open(f->c.st, f->c.sk, NULL, 1000, NULL, &other, &err), 0);
	append_n(other, 2);
	assert_string_equal(other->key_id, pinned_id);
	audit_close(other);
	expect_ok(f, 0);
	assert_int_equal(unlink(old), 0);
	assert_int_equal(audit_open(f->c.st, f->c.sk, NULL, 1000, NULL, &other, &err), 0);
	assert_int_equal(store_begin(f->c.st, &err), 0);
	assert_int_equal(audit_append(other, "t", "s", "test.event", "{}", &err), 0);
	assert_int_equal(audit_sign_head(other, &err), -1);
	assert_non_null(strstr(err.msg, "restored from before an audit key rotation"));
	store_rollback(f->c.st);
	audit_close(other);
}

static void
test_rotation_forged_with_only_the_new_key_is_detected(void **state)
{
	struct fixture *f = *state;

	/* Names the real old key, is signed by the new key, but the head by the new key too. */
	forge_rotation(f, f->c.pubkey);
	expect_bad(f, 6, "does not verify with audit key");
}

static void
test_rotation_naming_another_old_key_is_detected(void **state)
{
	struct fixture *f = *state;
	unsigned char other[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_keypair(other, sk);
	sodium_memzero(sk, sizeof(sk));
	forge_rotation(f, other);
	expect_bad(f, 6, "but the key in force is");
}

static void
test_rotation_not_signed_by_the_old_key_is_detected(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;

	rotate(f, ROTATE_RUN_ALL, &res);
	append_n(f->c.a, 2);
	expect_ok(f, 1);
	/* Drop the old key's signature of the rotation: the heads after it still verify. */
	exec_sql(f, "DELETE FROM audit_signatures WHERE seq = 6");
	expect_bad(f, 6, "not signed by the key it replaces");
}

static void
test_rewritten_rotation_record_is_detected(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;

	rotate(f, ROTATE_RUN_ALL, &res);
	append_n(f->c.a, 2);
	/* Any change to the record breaks its hash. */
	exec_sql(f, "UPDATE audit SET details = replace(details, '\"key\":\"audit\"', "
		    "'\"key\":\"audix\"') WHERE seq = 6");
	expect_bad(f, 6, "does not match the chain");
}

static void
test_rewritten_and_rehashed_rotation_is_detected(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	unsigned char prev[32], hash[32];
	sqlite3_stmt *s, *u;
	struct idg_err err;

	rotate(f, ROTATE_RUN_ALL, &res);
	append_n(f->c.a, 2);
	/* Flip a digit of the new key's signature and recompute every hash from there. */
	{
		char details[2048], *at;

		assert_int_equal(
			store_prepare(f->c.st, "SELECT details FROM audit WHERE seq = 6", &s, &err),
			0);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		idg_strlcpy(details, (const char *)sqlite3_column_text(s, 0), sizeof(details));
		sqlite3_finalize(s);
		at = strstr(details, "\"new_signature\":\"");
		assert_non_null(at);
		at += strlen("\"new_signature\":\"");
		*at = *at == '0' ? '1' : '0';
		assert_int_equal(store_prepare(f->c.st,
					       "UPDATE audit SET details = ? WHERE seq = 6", &s,
					       &err),
				 0);
		sqlite3_bind_text(s, 1, details, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_finalize(s);
	}
	assert_int_equal(
		store_prepare(f->c.st,
			      "SELECT seq, time, actor, subject, action, details FROM audit "
			      "WHERE seq >= 5 ORDER BY seq",
			      &s, &err),
		0);
	assert_int_equal(
		store_prepare(f->c.st, "UPDATE audit SET hash = ? WHERE seq = ?", &u, &err), 0);
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(s, 0);

		if (seq == 5) {
			sqlite3_stmt *h;

			assert_int_equal(store_prepare(f->c.st,
						       "SELECT hash FROM audit WHERE seq = 5", &h,
						       &err),
					 0);
			assert_int_equal(sqlite3_step(h), SQLITE_ROW);
			memcpy(prev, sqlite3_column_blob(h, 0), 32);
			sqlite3_finalize(h);
			continue;
		}
		audit_record_hash(prev, seq, sqlite3_column_int64(s, 1),
				  (const char *)sqlite3_column_text(s, 2),
				  (const char *)sqlite3_column_text(s, 3),
				  (const char *)sqlite3_column_text(s, 4),
				  (const char *)sqlite3_column_text(s, 5), hash);
		sqlite3_bind_blob(u, 1, hash, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(u, 2, seq);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		sqlite3_reset(u);
		memcpy(prev, hash, 32);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(u);
	/* The chain links again, but the record's own signature by the new key fails. */
	expect_bad(f, 6, "did not sign it");
}

/* Every malformed rotation detail is refused with a reason, and the chain of keys is unchanged. */
static void
test_rotation_details_parser_refuses_malformed_input(void **state)
{
	struct fixture *f = *state;
	unsigned char prev[32] = {1}, sk[crypto_sign_SECRETKEYBYTES], pk2[32];
	unsigned char *old_sk;
	char *good, id[AUDIT_KEY_ID_LEN], why[256], buf[2048];
	struct audit_keychain kc;
	struct idg_err err;
	const char *bad[] = {
		"", "not json", "[]", "{}", "null", "{\"key\":\"audit\"}",
	};

	(void)f;
	crypto_sign_keypair(pk2, sk);
	assert_int_equal(keys_load_audit_secret(f->c.sk, &old_sk, &err), 0);
	assert_int_equal(audit_key_rotation_details(7, prev, f->c.pubkey, sk, &good, id, &err), 0);
	assert_int_equal(audit_keychain_init(&kc, f->c.pubkey), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(audit_keychain_add(&kc, 7, prev, bad[i], why, sizeof(why)), -1);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(audit_keychain_add(&kc, 7, prev, NULL, why, sizeof(why)), -1);
	/* Variations of a good record, each one field wrong. */
	{
		struct {
			const char *from, *to, *why;
		} edits[] = {
			{"\"key\":\"audit\"", "\"key\":\"master\"", "malformed"},
			{"\"key\":\"audit\"", "\"key\":\"audit\",\"key2\":1", "six fields"},
			{"\"new_signature\":\"", "\"new_signature\":\"zz", "malformed"},
			{"\"new_public_key\":\"", "\"new_public_key\":\"00", "malformed"},
			{"\"old_id\":\"", "\"old_id\":\"0", "ids do not match"},
			{"\"key\":\"audit\",", "\"key\":\"audit\",\"key\":\"audit\",",
			 "six fields"},
		};

		for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			const char *at = strstr(good, edits[i].from);
			size_t head;

			assert_non_null(at);
			head = (size_t)(at - good);
			snprintf(buf, sizeof(buf), "%.*s%s%s", (int)head, good, edits[i].to,
				 at + strlen(edits[i].from));
			why[0] = '\0';
			assert_int_equal(audit_keychain_add(&kc, 7, prev, buf, why, sizeof(why)),
					 -1);
			if (strstr(why, edits[i].why) == NULL)
				fail_msg("edit %zu: expected '%s', got '%s'", i, edits[i].why, why);
		}
	}
	/* Bound to its seq and to the record before it. */
	assert_int_equal(audit_keychain_add(&kc, 8, prev, good, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "did not sign"));
	prev[0] ^= 1;
	assert_int_equal(audit_keychain_add(&kc, 7, prev, good, why, sizeof(why)), -1);
	prev[0] ^= 1;
	assert_int_equal(kc.n, 1);
	/* The good one is accepted, and the same rotation again is not (old key no longer in
	 * force). */
	assert_int_equal(audit_keychain_add(&kc, 7, prev, good, why, sizeof(why)), 0);
	assert_int_equal(kc.n, 2);
	assert_int_equal(audit_keychain_add(&kc, 9, prev, good, why, sizeof(why)), -1);
	assert_int_equal(audit_keychain_add(&kc, 7, prev, good, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not after the previous rotation"));
	/* Keys by seq: the rotation's own head is the old key's. */
	assert_memory_equal(audit_keychain_key_for(&kc, 7)->pk, f->c.pubkey, 32);
	assert_memory_equal(audit_keychain_key_for(&kc, 8)->pk, pk2, 32);
	assert_memory_equal(audit_keychain_key_for(&kc, 1)->pk, f->c.pubkey, 32);
	/* A rotation to the same key. */
	free(good);
	audit_keychain_free(&kc);
	assert_int_equal(audit_keychain_init(&kc, f->c.pubkey), 0);
	assert_int_equal(audit_key_rotation_details(7, prev, f->c.pubkey, old_sk, &good, id, &err),
			 0);
	assert_int_equal(audit_keychain_add(&kc, 7, prev, good, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "new key is the old one"));
	free(good);
	audit_keychain_free(&kc);
	keys_free_secret(old_sk);
	sodium_memzero(sk, sizeof(sk));
}

static void
test_crash_after_new_file_is_undone(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	const char *what;
	struct idg_err err;

	rotate(f, ROTATE_STOP_AFTER_NEW_FILE, &res);
	assert_true(exists(f->c.dir, "audit.key.new"));
	append_n(f->c.a, 1); /* still the old key */
	expect_ok(f, 0);
	assert_int_equal(rotate_audit_recover(f->c.sk, f->c.a, "idgovd", &what, &err), 0);
	assert_non_null(strstr(what, "removed"));
	assert_false(exists(f->c.dir, "audit.key.new"));
}

static void
test_crash_before_commit_leaves_the_old_state(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	const char *what;
	struct idg_err err;

	rotate(f, ROTATE_STOP_BEFORE_COMMIT, &res);
	/* As after a kill: the new key file is there, the chain never named it. */
	assert_true(exists(f->c.dir, "audit.key.new"));
	assert_false(exists(f->c.dir, "audit.key.old"));
	assert_int_equal(count(f, "SELECT count(*) FROM audit"), 5);
	append_n(f->c.a, 1);
	expect_ok(f, 0);
	assert_int_equal(rotate_audit_recover(f->c.sk, f->c.a, "idgovd", &what, &err), 0);
	assert_false(exists(f->c.dir, "audit.key.new"));
}

static void
crash_after(struct fixture *f, enum rotate_stop stop)
{
	struct rotate_audit_result res;
	struct audit *other;
	const char *what;
	struct idg_err err;

	rotate(f, stop, &res);
	/* Before recovery a new handle on audit.key (still the old key) signs with the new one. */
	assert_int_equal(audit_open(f->c.st, f->c.sk, NULL, 1000, NULL, &other, &err), 0);
	append_n(other, 2);
	assert_string_equal(other->key_id, res.new_id);
	audit_close(other);
	expect_ok(f, 1);
	assert_int_equal(rotate_audit_recover(f->c.sk, f->c.a, "idgovd", &what, &err), 0);
	assert_string_equal(what, "completed an interrupted rotation");
	assert_false(exists(f->c.dir, "audit.key.new"));
	assert_true(exists(f->c.dir, "audit.key.old"));
	assert_int_equal(count(f, "SELECT count(*) FROM audit WHERE action = 'key "
				  "rotate completed'"),
			 1);
	expect_ok(f, 1);
}

static void
test_crash_after_commit_is_completed(void **state)
{
	crash_after(*state, ROTATE_STOP_AFTER_COMMIT);
}

static void
test_crash_after_link_is_completed(void **state)
{
	crash_after(*state, ROTATE_STOP_AFTER_LINK);
}

static void
test_destroy_old_wipes_only_an_unused_key(void **state)
{
	struct fixture *f = *state;
	struct rotate_audit_result res;
	struct idg_err err;
	char p[256];
	struct stat sb;

	assert_int_equal(rotate_audit_destroy_old(f->c.sk, f->c.a, "root", &err), -1);
	assert_non_null(strstr(err.msg, "nothing to destroy"));
	rotate(f, ROTATE_RUN_ALL, &res);
	snprintf(p, sizeof(p), "%s/audit.key.old", f->c.dir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0400);
	assert_int_equal(rotate_audit_destroy_old(f->c.sk, f->c.a, "root", &err), 0);
	assert_int_not_equal(stat(p, &sb), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM audit WHERE action = 'key "
				  "destroy-old' AND subject = 'audit'"),
			 1);
	expect_ok(f, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_rotated_chain_verifies_from_the_pinned_key),
		T(test_rotated_twice_with_destroy_old_verifies),
		T(test_handle_opened_before_rotation_signs_with_new_key),
		T(test_signer_refuses_when_no_file_holds_the_current_key),
		T(test_restored_unrotated_store_is_signed_with_the_old_key),
		T(test_rotation_forged_with_only_the_new_key_is_detected),
		T(test_rotation_naming_another_old_key_is_detected),
		T(test_rotation_not_signed_by_the_old_key_is_detected),
		T(test_rewritten_rotation_record_is_detected),
		T(test_rewritten_and_rehashed_rotation_is_detected),
		T(test_rotation_details_parser_refuses_malformed_input),
		T(test_crash_after_new_file_is_undone),
		T(test_crash_before_commit_leaves_the_old_state),
		T(test_crash_after_commit_is_completed),
		T(test_crash_after_link_is_completed),
		T(test_destroy_old_wipes_only_an_unused_key),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
