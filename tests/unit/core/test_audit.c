/*
 * Unit tests for the audit chain: a clean chain verifies, and each kind of
 * tampering (edit, delete, insert, reorder, truncate, forged signature,
 * wrong key) is caught and names the first bad record; and the anchor
 * file outside the store catches a tail cut at a signed head, never goes
 * backwards, is refused when loose, and is moved back only by a reset.
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

static void
append_n(struct test_chain *f, int n)
{
	struct idg_err err;
	char subject[32];

	assert_int_equal(store_begin(f->st, &err), 0);
	for (int i = 0; i < n; i++) {
		snprintf(subject, sizeof(subject), "user%d", i);
		assert_int_equal(
			audit_append(f->a, "tester", subject, "test.event", "{\"n\":1}", &err), 0);
	}
	assert_int_equal(audit_sign_head(f->a, &err), 0);
	assert_int_equal(store_commit(f->st, &err), 0);
}

static int
setup(void **state)
{
	struct test_chain *f = calloc(1, sizeof(*f));

	if (f == NULL || test_chain_open(f, "audit", 4, 1) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	append_n(f, 10);
	return 0;
}

static int
teardown(void **state)
{
	struct test_chain *f = *state;
	int rc = test_chain_close(f);

	free(f);
	return rc;
}

/* bad_seq for a failure that is not a record's (the anchor file itself). */
#define NO_RECORD (-1)

static void
verify_expect(struct test_chain *f, int64_t bad_seq, const char *reason_part)
{
	struct audit_report rep;
	struct idg_err err;

	assert_int_equal(audit_verify(f->st, f->pubkey, f->anchor, &rep, &err), 0);
	if (bad_seq == 0) {
		if (!rep.ok)
			fail_msg("expected a clean chain, got: %s", rep.reason);
		return;
	}
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad_seq, bad_seq == NO_RECORD ? 0 : bad_seq);
	if (strstr(rep.reason, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", rep.reason, reason_part);
}

static void
tamper(struct test_chain *f, const char *sql)
{
	struct idg_err err;

	if (store_exec(f->st, sql, &err) != 0)
		fail_msg("%s", err.msg);
}

static void
test_clean_chain_verifies_and_is_signed_periodically(void **state)
{
	struct test_chain *f = *state;
	struct audit_report rep;
	struct idg_err err;

	verify_expect(f, 0, NULL);
	assert_int_equal(audit_verify(f->st, f->pubkey, f->anchor, &rep, &err), 0);
	assert_int_equal(rep.records, 10);
	/* every 4 records (4, 8) and the head at commit (10) */
	assert_int_equal(rep.signatures, 3);
	assert_int_equal(rep.last_signed_seq, 10);
}

static void
test_edited_record_is_found(void **state)
{
	tamper(*state, "UPDATE audit SET subject = 'mallory' WHERE seq = 5");
	verify_expect(*state, 5, "does not match the chain");
}

static void
test_edited_time_is_found(void **state)
{
	tamper(*state, "UPDATE audit SET time = time + 1 WHERE seq = 2");
	verify_expect(*state, 2, "does not match the chain");
}

static void
test_deleted_record_is_found(void **state)
{
	tamper(*state, "DELETE FROM audit WHERE seq = 6");
	verify_expect(*state, 6, "record 6 is missing");
}

static void
test_inserted_record_is_found(void **state)
{
	/* Make room by shifting 7..10 up, then insert a forged 7 with a copied hash. */
	tamper(*state, "UPDATE audit SET seq = seq + 100 WHERE seq >= 7;"
		       "UPDATE audit SET seq = seq - 99 WHERE seq >= 107;"
		       "INSERT INTO audit SELECT 7, time, actor, 'forged', action, details, hash "
		       "FROM audit WHERE seq = 6");
	verify_expect(*state, 7, "does not match the chain");
}

static void
test_reordered_records_are_found(void **state)
{
	tamper(*state, "UPDATE audit SET seq = 100 WHERE seq = 3;"
		       "UPDATE audit SET seq = 3 WHERE seq = 4;"
		       "UPDATE audit SET seq = 4 WHERE seq = 100");
	verify_expect(*state, 3, "does not match the chain");
}

static void
test_truncated_tail_is_found(void **state)
{
	struct test_chain *f = *state;
	struct audit_report rep;
	struct idg_err err;

	tamper(f, "DELETE FROM audit WHERE seq > 8");
	verify_expect(f, 9, "records 9..10 are missing");
	/* Without the anchor, the signature left behind still tells. */
	assert_int_equal(audit_verify(f->st, f->pubkey, NULL, &rep, &err), 0);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad_seq, 10);
	assert_non_null(strstr(rep.reason, "removed or rewritten"));
}

static void
test_rewritten_chain_without_key_is_found(void **state)
{
	struct test_chain *f = *state;
	struct audit *nokey;
	struct idg_err err;

	/* Drop the head signatures and append more records without the signing key. */
	tamper(f, "DELETE FROM audit_signatures WHERE seq = 10");
	assert_int_equal(audit_open(f->st, NULL, NULL, 4, NULL, &nokey, &err), 0);
	assert_int_equal(store_begin(f->st, &err), 0);
	assert_int_equal(audit_append(nokey, "mallory", "x", "forged", NULL, &err), 0);
	assert_int_equal(store_commit(f->st, &err), 0);
	audit_close(nokey);
	verify_expect(f, 9, "not covered by a signature");
}

static void
test_forged_signature_is_found(void **state)
{
	tamper(*state, "UPDATE audit_signatures SET signature = zeroblob(64) WHERE seq = 8");
	verify_expect(*state, 8, "does not verify");
}

static void
test_other_key_is_refused(void **state)
{
	struct test_chain *f = *state;
	unsigned char other_sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_keypair(f->pubkey, other_sk);
	verify_expect(f, 4, "does not verify");
}

static void
test_hash_is_stable_and_field_boundaries_matter(void **state)
{
	unsigned char zero[AUDIT_HASH_LEN] = {0}, h1[AUDIT_HASH_LEN], h2[AUDIT_HASH_LEN];

	(void)state;
	audit_record_hash(zero, 1, 100, "ab", "c", "x", "{}", h1);
	audit_record_hash(zero, 1, 100, "a", "bc", "x", "{}", h2);
	assert_memory_not_equal(h1, h2, AUDIT_HASH_LEN);
	audit_record_hash(zero, 1, 100, "ab", "c", "x", "{}", h2);
	assert_memory_equal(h1, h2, AUDIT_HASH_LEN);
}

static int64_t count_records(struct store *st);

/* The record hash as written down in audit.h, piece by piece: what the one-buffer path must equal.
 */
static void
reference_hash(const unsigned char prev[AUDIT_HASH_LEN], int64_t seq, int64_t t,
	       const char *const f[4], unsigned char out[AUDIT_HASH_LEN])
{
	crypto_generichash_state h;
	unsigned char b[8];

	crypto_generichash_init(&h, NULL, 0, AUDIT_HASH_LEN);
	crypto_generichash_update(&h, prev, AUDIT_HASH_LEN);
	for (int k = 0; k < 2; k++) {
		uint64_t v = (uint64_t)(k == 0 ? seq : t);

		for (int i = 7; i >= 0; i--, v >>= 8)
			b[i] = (unsigned char)(v & 0xff);
		crypto_generichash_update(&h, b, 8);
	}
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(f[i]);

		b[0] = (unsigned char)(n >> 24);
		b[1] = (unsigned char)(n >> 16);
		b[2] = (unsigned char)(n >> 8);
		b[3] = (unsigned char)n;
		crypto_generichash_update(&h, b, 4);
		crypto_generichash_update(&h, (const unsigned char *)f[i], n);
	}
	crypto_generichash_final(&h, out, AUDIT_HASH_LEN);
}

/*
 * A record is hashed from one stack buffer when it fits (nearly all) and
 * piece by piece when it does not: both give the construction's hash, on
 * either side of the buffer's size, so chains written before and after
 * verify alike.
 */
static void
test_hash_is_the_same_in_one_buffer_and_in_pieces(void **state)
{
	static const size_t sizes[] = {0, 2, 3900, 3999, 4000, 4001, 4096, 9000};
	unsigned char prev[AUDIT_HASH_LEN], got[AUDIT_HASH_LEN], want[AUDIT_HASH_LEN];
	char *details = malloc(9001);

	(void)state;
	assert_non_null(details);
	randombytes_buf(prev, sizeof(prev));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const char *f[4] = {"root", "alice", "test.event", details};

		memset(details, 'a' + (int)i, sizes[i]);
		details[sizes[i]] = '\0';
		audit_record_hash(prev, 1234567 + (int64_t)i, 1796166000, f[0], f[1], f[2], f[3],
				  got);
		reference_hash(prev, 1234567 + (int64_t)i, 1796166000, f, want);
		assert_memory_equal(got, want, AUDIT_HASH_LEN);
	}
	free(details);
}

/* Re-anchoring with a report says no when the report says the chain does not verify. */
static void
test_reset_checked_refuses_a_failed_report(void **state)
{
	struct test_chain *f = *state;
	struct audit_report rep;
	struct idg_err err;
	int64_t anchored = -1;

	memset(&rep, 0, sizeof(rep));
	snprintf(rep.reason, sizeof(rep.reason), "record 3 does not match the chain");
	assert_int_equal(audit_anchor_reset_checked(f->a, &rep, "root", 10, &anchored, &err), -1);
	assert_non_null(strstr(err.msg, "record 3 does not match"));
	assert_int_equal(anchored, -1);
	assert_int_equal(count_records(f->st), 10);
	rep.ok = 1;
	assert_int_equal(audit_anchor_reset_checked(f->a, &rep, "root", 9, &anchored, &err), -1);
	assert_non_null(strstr(err.msg, "confirm the head"));
	assert_int_equal(audit_anchor_reset_checked(f->a, &rep, "root", 10, &anchored, &err), 0);
	assert_int_equal(anchored, 11);
}

static void
test_secret_key_with_loose_mode_is_refused(void **state)
{
	struct test_chain *f = *state;
	unsigned char *sk;
	struct idg_err err;

	assert_int_equal(chmod(f->sk, 0440), 0);
	assert_int_equal(keys_load_audit_secret(f->sk, &sk, &err), -1);
	assert_non_null(strstr(err.msg, "readable by group or others"));
}

static void
test_key_files_are_never_overwritten(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;
	struct stat sb;

	assert_int_equal(keys_create_audit(f->sk, f->pk, &err), -1);
	assert_non_null(strstr(err.msg, "exists"));
	assert_int_equal(stat(f->sk, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0400);
}

static const char *
stored(struct test_chain *f, const char *col, int64_t seq)
{
	static char buf[AUDIT_FIELD_MAX + 64];
	sqlite3_stmt *s;
	char q[128];

	snprintf(q, sizeof(q), "SELECT %s FROM audit WHERE seq = %lld", col, (long long)seq);
	assert_int_equal(sqlite3_prepare_v2(f->st->db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_true((size_t)sqlite3_column_bytes(s, 0) < sizeof(buf));
	snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

/* Fields from people who are not trusted (a PAM login name) are one bounded line. */
static void
test_fields_are_one_line_and_capped(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;
	char *big = malloc(60001);

	memset(big, 'a', 60000);
	big[60000] = '\0';
	assert_int_equal(store_begin(f->st, &err), 0);
	assert_int_equal(audit_append(f->a, "tester", big, "test.event", NULL, &err), 0);
	assert_int_equal(audit_append(f->a, "x\n     1 2026-01-01 root grant.approve",
				      "bob\x1b[2J\x1b]0;owned\x07", "test.\x7f", NULL, &err),
			 0);
	assert_int_equal(audit_sign_head(f->a, &err), 0);
	assert_int_equal(store_commit(f->st, &err), 0);
	free(big);
	assert_int_equal(strlen(stored(f, "subject", 11)), AUDIT_FIELD_MAX);
	assert_string_equal(stored(f, "subject", 11) + AUDIT_FIELD_MAX - 3, "...");
	assert_string_equal(stored(f, "actor", 12), "x\\x0a     1 2026-01-01 root grant.approve");
	assert_string_equal(stored(f, "subject", 12), "bob\\x1b[2J\\x1b]0;owned\\x07");
	assert_string_equal(stored(f, "action", 12), "test.\\x7f");
	verify_expect(f, 0, NULL);
}

/* The seq the anchor file holds (-1: no file). */
static int64_t
anchored(struct test_chain *f)
{
	enum anchor_status status;
	struct anchor_head h;
	struct idg_err err;

	if (anchor_read(f->anchor, &h, &status, &err) != 0)
		fail_msg("%s", err.msg);
	return status == ANCHOR_MISSING ? -1 : h.seq;
}

/* Records and signatures after a signed head deleted: everything left verifies but the anchor. */
static void
test_cut_at_signed_head_names_the_missing_range(void **state)
{
	struct test_chain *f = *state;

	assert_int_equal(anchored(f), 10);
	tamper(f, "DELETE FROM audit WHERE seq > 8; DELETE FROM audit_signatures WHERE seq > 8");
	verify_expect(f, 9,
		      "audit chain truncated: records 9..10 are missing (anchor file says head 10, "
		      "the store ends at 8)");
}

static void
test_anchor_never_goes_backwards(void **state)
{
	struct test_chain *f = *state;
	struct anchor_head low = {.seq = 3};
	enum anchor_status status;
	struct idg_err err;
	int moved;

	assert_int_equal(anchor_advance(f->anchor, &low, NULL, NULL, &status, &moved, &err), 0);
	assert_false(moved);
	assert_int_equal(anchored(f), 10);
	/* New records on a cut chain neither lower the anchor nor raise it over the gap. */
	tamper(f, "DELETE FROM audit WHERE seq > 8; DELETE FROM audit_signatures WHERE seq > 8");
	append_n(f, 1);
	assert_int_equal(anchored(f), 10);
	verify_expect(f, 10, "records 10..10 are missing");
	append_n(f, 3);
	assert_int_equal(anchored(f), 10);
	verify_expect(f, 10, "record 10 is not the head the anchor file names");
}

static void
test_anchor_file_is_private_and_regular(void **state)
{
	struct test_chain *f = *state;
	struct stat sb;
	char moved[160];

	assert_int_equal(lstat(f->anchor, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(chmod(f->anchor, 0620), 0);
	verify_expect(f, NO_RECORD, "writable by group or others");
	assert_int_equal(chmod(f->anchor, 0602), 0);
	verify_expect(f, NO_RECORD, "writable by group or others");
	assert_int_equal(chmod(f->anchor, 0600), 0);
	snprintf(moved, sizeof(moved), "%s.real", f->anchor);
	assert_int_equal(rename(f->anchor, moved), 0);
	assert_int_equal(symlink(moved, f->anchor), 0);
	verify_expect(f, NO_RECORD, "symbolic link");
	assert_int_equal(unlink(f->anchor), 0);
	assert_int_equal(mkdir(f->anchor, 0700), 0);
	verify_expect(f, NO_RECORD, "not a regular file");
	assert_int_equal(rmdir(f->anchor), 0);
	assert_int_equal(rename(moved, f->anchor), 0);
	verify_expect(f, 0, NULL);
}

static void
test_forged_anchor_is_refused(void **state)
{
	struct test_chain *f = *state;
	FILE *fp = fopen(f->anchor, "r+");
	char line[512], *sig;

	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	sig = strstr(line, "sig=");
	assert_non_null(sig);
	sig[4] = sig[4] == '0' ? '1' : '0';
	rewind(fp);
	fputs(line, fp);
	fclose(fp);
	verify_expect(f, NO_RECORD, "not signed by the audit key");
}

/* Before the anchor exists, appends work and warn; nothing re-creates it but init. */
static void
test_first_records_without_anchor(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;

	assert_int_equal(unlink(f->anchor), 0);
	append_n(f, 2);
	assert_int_equal(anchored(f), -1);
	verify_expect(f, NO_RECORD, "is missing");
	assert_int_equal(audit_anchor_create(f->a, &err), 0);
	assert_int_equal(anchored(f), 12);
	assert_int_equal(audit_anchor_create(f->a, &err), -1);
	assert_non_null(strstr(err.msg, "exists"));
	append_n(f, 1);
	assert_int_equal(anchored(f), 13);
	verify_expect(f, 0, NULL);
}

/* A new host: the anchor at seq 0, then the first record raises it. */
static void
test_empty_store_is_anchored_at_zero(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;

	tamper(f, "DELETE FROM audit; DELETE FROM audit_signatures");
	assert_int_equal(unlink(f->anchor), 0);
	assert_int_equal(audit_anchor_create(f->a, &err), 0);
	assert_int_equal(anchored(f), 0);
	verify_expect(f, 0, NULL);
	assert_int_equal(audit_record(f->a, "root", "-", "test.first", NULL, &err), 0);
	assert_int_equal(anchored(f), 1);
	verify_expect(f, 0, NULL);
}

static void
test_reset_is_explicit_and_audited(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;
	int64_t seq;

	/* A store restored from an older backup: the anchor is ahead, as it should be. */
	tamper(f, "DELETE FROM audit WHERE seq > 8; DELETE FROM audit_signatures WHERE seq > 8");
	verify_expect(f, 9, "records 9..10 are missing");
	assert_int_equal(audit_anchor_reset(f->a, f->pubkey, "root", 10, &seq, &err), -1);
	assert_non_null(strstr(err.msg, "the store's head is 8, not 10"));
	assert_int_equal(anchored(f), 10);
	assert_int_equal(audit_anchor_reset(f->a, f->pubkey, "root", 8, &seq, &err), 0);
	assert_int_equal(seq, 9);
	assert_int_equal(anchored(f), 9);
	assert_string_equal(stored(f, "action", 9), "audit.anchor_reset");
	assert_string_equal(stored(f, "details", 9), "{\"anchor_was\":10,\"store_head\":8}");
	verify_expect(f, 0, NULL);
	/* A chain that does not verify is not re-anchored. */
	tamper(f, "UPDATE audit SET subject = 'mallory' WHERE seq = 5");
	assert_int_equal(audit_anchor_reset(f->a, f->pubkey, "root", 9, &seq, &err), -1);
	assert_non_null(strstr(err.msg, "does not verify"));
}

/* The head line (syslog, directory) reads back exactly, and nothing else does. */
static void
test_head_line_round_trip(void **state)
{
	struct anchor_head h = {.seq = 1234}, back;
	char line[ANCHOR_HEAD_LINE_MAX], bad[ANCHOR_HEAD_LINE_MAX + 8];

	(void)state;
	randombytes_buf(h.hash, sizeof(h.hash));
	randombytes_buf(h.sig, sizeof(h.sig));
	anchor_head_line(&h, line);
	assert_int_equal(anchor_parse_head_line(line, &back), 0);
	assert_int_equal(back.seq, 1234);
	assert_memory_equal(back.hash, h.hash, sizeof(h.hash));
	assert_memory_equal(back.sig, h.sig, sizeof(h.sig));
	snprintf(bad, sizeof(bad), "%s ", line);
	assert_int_equal(anchor_parse_head_line(bad, &back), -1);
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(line) - 2, line);
	assert_int_equal(anchor_parse_head_line(bad, &back), -1);
	assert_int_equal(anchor_parse_head_line("seq=-1 hash=00 sig=00", &back), -1);
	assert_int_equal(anchor_parse_head_line("", &back), -1);
}

/*
 * Syslog hears only what was committed: records appended in a transaction
 * that is rolled back are never logged, so no seq is logged twice.
 */
static void
test_rolled_back_records_never_reach_the_log(void **state)
{
	struct test_env env;
	struct logger lg;
	struct audit *a;
	struct idg_err err;
	char sock[128], buf[2048];
	int fd, lines = 0, real = 0;
	ssize_t n;

	(void)state;
	assert_int_equal(test_env_open(&env, "audit-log",
				       "[directory]\nuri = ldap://h/\nbase = dc=x\n", NULL, NULL,
				       TEST_ENV_AUDIT),
			 0);
	snprintf(sock, sizeof(sock), "%s/log.sock", env.dir);
	assert_true((fd = test_listen_dgram(sock)) >= 0);
	log_open(&lg, "idgov-test", sock, 0);
	assert_int_equal(audit_open(env.st, env.audit_key, NULL, 100, &lg, &a, &err), 0);
	assert_int_equal(store_begin(env.st, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(audit_append(a, "t", "alice", "user.leaver", NULL, &err), 0);
	store_rollback(env.st);
	assert_int_equal(store_begin(env.st, &err), 0);
	assert_int_equal(audit_append(a, "t", "bob", "user.joiner", NULL, &err), 0);
	assert_int_equal(store_commit(env.st, &err), 0);
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		lines += strstr(buf, "audit #") != NULL;
		real += strstr(buf, "audit #1: user.joiner by t on bob") != NULL;
		assert_null(strstr(buf, "user.leaver"));
	}
	assert_int_equal(lines, 1);
	assert_int_equal(real, 1);
	audit_close(a);
	log_close(&lg);
	close(fd);
	assert_int_equal(test_env_close(&env), 0);
}

/* Records in the store as another connection sees them. */
static int64_t
count_records(struct store *st)
{
	sqlite3_stmt *q;
	struct idg_err err;
	int64_t n;

	assert_int_equal(store_prepare(st, "SELECT count(*) FROM audit", &q, &err), 0);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/*
 * While held, audit_record() neither writes nor waits: another connection
 * holds the write lock (as idgovd's refresh worker does), and the record
 * is kept instead of failing on the lock. After the writer is done, the
 * flush writes what was kept, in order, and the chain verifies.
 */
static void
test_held_records_wait_for_another_writer_and_keep_their_order(void **state)
{
	struct test_chain *f = *state;
	struct store *other;
	struct idg_err err;
	sqlite3_stmt *q;

	assert_int_equal(store_open(f->db, STORE_OPEN_EXISTING, &other, &err), 0);
	assert_int_equal(store_begin(other, &err), 0); /* the write lock, as a worker has it */
	audit_hold(f->a, 1);
	assert_int_equal(audit_record(f->a, "tester", "first", "test.held", NULL, &err), 0);
	assert_int_equal(audit_record(f->a, "tester", "second", "test.held",
				      json_pack("{s:i}", "n", 2), &err),
			 0);
	assert_int_equal(count_records(other), 10); /* nothing written */
	store_rollback(other);
	store_close(other);
	audit_hold(f->a, 0);
	assert_int_equal(audit_flush_held(f->a, &err), 0);
	assert_int_equal(count_records(f->st), 12);
	assert_int_equal(
		store_prepare(f->st,
			      "SELECT group_concat(subject) FROM (SELECT subject FROM audit "
			      "WHERE action = 'test.held' ORDER BY seq)",
			      &q, &err),
		0);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "first,second");
	sqlite3_finalize(q);
	verify_expect(f, 0, NULL);
	/* Kept records are written once: a second flush has nothing to do. */
	assert_int_equal(audit_flush_held(f->a, &err), 0);
	assert_int_equal(count_records(f->st), 12);
}

/* Not held: audit_record() writes at once, as it always did. */
static void
test_unheld_record_is_written_at_once(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;

	assert_int_equal(audit_record(f->a, "tester", "x", "test.now", NULL, &err), 0);
	assert_int_equal(count_records(f->st), 11);
	assert_int_equal(audit_flush_held(f->a, &err), 0);
	assert_int_equal(count_records(f->st), 11);
}

/* Records held and never flushed are freed with the handle (no leak under ASan). */
static void
test_close_frees_what_was_held(void **state)
{
	struct test_chain *f = *state;
	struct idg_err err;

	audit_hold(f->a, 1);
	assert_int_equal(audit_record(f->a, "tester", "x", "test.dropped", NULL, &err), 0);
	assert_int_equal(count_records(f->st), 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_clean_chain_verifies_and_is_signed_periodically),
		T(test_edited_record_is_found),
		T(test_edited_time_is_found),
		T(test_deleted_record_is_found),
		T(test_inserted_record_is_found),
		T(test_reordered_records_are_found),
		T(test_truncated_tail_is_found),
		T(test_rewritten_chain_without_key_is_found),
		T(test_forged_signature_is_found),
		T(test_other_key_is_refused),
		T(test_hash_is_stable_and_field_boundaries_matter),
		T(test_hash_is_the_same_in_one_buffer_and_in_pieces),
		T(test_reset_checked_refuses_a_failed_report),
		T(test_secret_key_with_loose_mode_is_refused),
		T(test_key_files_are_never_overwritten),
		T(test_fields_are_one_line_and_capped),
		T(test_cut_at_signed_head_names_the_missing_range),
		T(test_anchor_never_goes_backwards),
		T(test_anchor_file_is_private_and_regular),
		T(test_forged_anchor_is_refused),
		T(test_first_records_without_anchor),
		T(test_empty_store_is_anchored_at_zero),
		T(test_reset_is_explicit_and_audited),
		T(test_held_records_wait_for_another_writer_and_keep_their_order),
		T(test_unheld_record_is_written_at_once),
		T(test_close_frees_what_was_held),
		cmocka_unit_test(test_head_line_round_trip),
		cmocka_unit_test(test_rolled_back_records_never_reach_the_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
