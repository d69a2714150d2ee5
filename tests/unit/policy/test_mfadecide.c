/*
 * The pure MFA decision (mfadecide.h) on states given as values: a code
 * above the watermark is accepted and its step returned, at or below it is
 * a replay that counts nothing, wrong codes count and lock, a lock refuses
 * without extending itself, recovery values are matched by id and hash
 * (malformed ones never), spent ones are reused, a token's own
 * algorithm, digits and period are honoured or refused when malformed,
 * and the recovery values mfa_recovery_make() makes are ones it accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "mfadecide.h"

#define T0 1800000000 /* a fixed "now", on a step boundary */

static const unsigned char secret[20] = "12345678901234567890"; /* RFC 6238's */

struct fixture {
	struct cfg *cfg;
	struct totp_params p;
	char value[2][160]; /* two recovery values, "ID:hash" */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char hash[crypto_pwhash_STRBYTES];
	struct idg_err err;

	if (f == NULL || sodium_init() < 0 ||
	    cfg_load_string("[directory]\nuri = ldap://h/\nbase = dc=x\n[mfa]\nwindow = 1\n"
			    "max_failures = 3\nfailure_interval = 300\nlockout = 600\n",
			    "test", &f->cfg, &err) != 0) {
		free(f);
		return -1;
	}
	mfa_params(f->cfg, &f->p);
	/* Cheapest hashes: only their shape matters here. */
	if (crypto_pwhash_str(hash, "EFGHJKLM", 8, crypto_pwhash_OPSLIMIT_MIN,
			      crypto_pwhash_MEMLIMIT_MIN) != 0) {
		cfg_free(f->cfg);
		free(f);
		return -1;
	}
	snprintf(f->value[0], sizeof(f->value[0]), "ABCD:%s", hash);
	if (crypto_pwhash_str(hash, "NPQRSTUV", 8, crypto_pwhash_OPSLIMIT_MIN,
			      crypto_pwhash_MEMLIMIT_MIN) != 0) {
		cfg_free(f->cfg);
		free(f);
		return -1;
	}
	snprintf(f->value[1], sizeof(f->value[1]), "WXYZ:%s", hash);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	cfg_free(f->cfg);
	free(f);
	return 0;
}

static const char *
code_at(const struct fixture *f, int64_t t)
{
	static char out[TOTP_MAX_DIGITS + 1];

	assert_int_equal(totp_code(secret, sizeof(secret), &f->p, t / f->p.period, out), 0);
	return out;
}

static struct mfa_decision
decide(struct fixture *f, const struct mfa_token_state *in, const char *code, int64_t now)
{
	const char *values[2] = {f->value[0], f->value[1]};
	struct mfa_decision d;
	struct idg_err err;

	if (mfa_decide(f->cfg, secret, sizeof(secret), &f->p, in, values, 2, NULL, 0, code, now, &d,
		       &err) != 0)
		fail_msg("%s", err.msg);
	return d;
}

static void
test_code_above_watermark_is_accepted_with_its_step(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {
		.last_step = T0 / 30 - 5, .failures = 2, .failure_start = T0 - 10};
	struct mfa_decision d = decide(f, &in, code_at(f, T0), T0);

	assert_int_equal(d.outcome, MFA_OK);
	assert_int_equal(d.step, T0 / 30);
	assert_int_equal(d.next.last_step, T0 / 30);
	assert_int_equal(d.next.failures, 0);
	assert_int_equal(d.write, 1);
	assert_int_equal(d.recovery, -1);
	/* The window: one step either side. */
	assert_int_equal(decide(f, &in, code_at(f, T0 + 30), T0).outcome, MFA_OK);
	assert_int_equal(decide(f, &in, code_at(f, T0 + 60), T0).outcome, MFA_BAD_CODE);
}

static void
test_code_at_or_below_watermark_is_a_replay_that_counts_nothing(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {.last_step = T0 / 30, .failures = 2, .failure_start = T0};
	struct mfa_decision d = decide(f, &in, code_at(f, T0), T0);

	assert_int_equal(d.outcome, MFA_REPLAYED);
	assert_int_equal(d.write, 0);
	assert_memory_equal(&d.next, &in, sizeof(in));
	assert_int_equal(decide(f, &in, code_at(f, T0 - 30), T0).outcome, MFA_REPLAYED);
}

static void
test_wrong_codes_count_then_lock_and_the_count_restarts(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {.last_step = 7};
	struct mfa_decision d;

	d = decide(f, &in, "000000", T0);
	assert_int_equal(d.outcome, MFA_BAD_CODE);
	assert_int_equal(d.write, 1);
	assert_int_equal(d.next.failures, 1);
	assert_int_equal(d.next.failure_start, T0);
	assert_int_equal(d.next.last_step, 7);
	assert_int_equal(d.locked_now, 0);
	in = d.next;
	d = decide(f, &in, "12345", T0 + 10); /* malformed: a failure too */
	assert_int_equal(d.outcome, MFA_BAD_CODE);
	assert_int_equal(d.next.failures, 2);
	assert_int_equal(d.next.failure_start, T0);
	in = d.next;
	d = decide(f, &in, "000000", T0 + 20);
	assert_int_equal(d.locked_now, 1);
	assert_int_equal(d.next.locked_until, T0 + 20 + 600);
	assert_int_equal(d.next.failures, 0);
}

static void
test_failures_outside_the_interval_start_a_new_window(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {.failures = 2, .failure_start = T0 - 301};
	struct mfa_decision d = decide(f, &in, "000000", T0);

	assert_int_equal(d.next.failures, 1);
	assert_int_equal(d.next.failure_start, T0);
	assert_int_equal(d.locked_now, 0);
}

static void
test_a_lock_refuses_without_looking_and_is_not_extended(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {.last_step = 1, .locked_until = T0 + 5};
	struct mfa_decision d = decide(f, &in, code_at(f, T0), T0);

	assert_int_equal(d.outcome, MFA_LOCKED);
	assert_int_equal(d.write, 0);
	assert_int_equal(decide(f, &in, "000000", T0).next.locked_until, T0 + 5);
	assert_int_equal(decide(f, &in, "ABCD-EFGH-JKLM", T0).outcome, MFA_LOCKED);
	/* Once it has passed, a code works again. */
	assert_int_equal(decide(f, &in, code_at(f, T0 + 30), T0 + 30).outcome, MFA_OK);
}

static void
test_a_failure_never_shortens_a_later_lock(void **state)
{
	struct fixture *f = *state;
	/* A lock written elsewhere, longer than the one this failure sets. */
	struct mfa_token_state in = {.failures = 2, .failure_start = T0, .locked_until = T0 + 5000};
	struct mfa_token_state next;

	assert_int_equal(mfa_failure_next(f->cfg, &in, T0 + 1, &next), 1);
	assert_int_equal(next.locked_until, T0 + 5000);
}

static void
test_recovery_value_is_matched_by_id_and_hash(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {.last_step = 3, .failures = 1, .failure_start = T0};
	struct mfa_decision d;

	d = decide(f, &in, "wxyz-npqr-stuv", T0); /* any case */
	assert_int_equal(d.outcome, MFA_OK_RECOVERY);
	assert_int_equal(d.recovery, 1);
	assert_int_equal(d.next.failures, 0);
	assert_int_equal(d.next.last_step, 3);
	assert_int_equal(d.write, 1);
	/* The right id with another's secret, or an unknown id: a wrong code. */
	d = decide(f, &in, "ABCD-NPQR-STUV", T0);
	assert_int_equal(d.outcome, MFA_BAD_CODE);
	assert_int_equal(d.next.failures, 2);
	assert_int_equal(decide(f, &in, "QQQQ-EFGH-JKLM", T0).outcome, MFA_BAD_CODE);
}

static void
test_spent_recovery_value_is_reused_not_counted(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {0};
	const char *left[1] = {f->value[1]}, *spent[1] = {f->value[0]};
	struct mfa_decision d;
	struct idg_err err;

	assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &f->p, &in, left, 1, spent, 1,
				    "ABCD-EFGH-JKLM", T0, &d, &err),
			 0);
	assert_int_equal(d.outcome, MFA_RECOVERY_REUSED);
	assert_int_equal(d.write, 0);
	assert_int_equal(d.recovery, -1);
	/* Spent here, still listed by an older copy of the values: spent. */
	left[0] = f->value[0];
	assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &f->p, &in, left, 1, spent, 1,
				    "ABCD-EFGH-JKLM", T0, &d, &err),
			 0);
	assert_int_equal(d.outcome, MFA_RECOVERY_REUSED);
	/* Another code of the same list is not held back by it. */
	left[0] = f->value[1];
	assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &f->p, &in, left, 1, spent, 1,
				    "WXYZ-NPQR-STUV", T0, &d, &err),
			 0);
	assert_int_equal(d.outcome, MFA_OK_RECOVERY);
}

static void
test_malformed_recovery_values_never_match(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {0};
	char no_colon[160], long_hash[400];
	const char *values[5];
	struct mfa_decision d;
	struct idg_err err;

	snprintf(no_colon, sizeof(no_colon), "ABCD%s", f->value[0] + 5); /* "ABCD$argon2..." */
	memset(long_hash, 'a', sizeof(long_hash) - 1);
	long_hash[sizeof(long_hash) - 1] = '\0';
	memcpy(long_hash, "ABCD:", 5);
	values[0] = no_colon;
	values[1] = long_hash;
	values[2] = "ABCD:";
	values[3] = "AB";
	values[4] = NULL;
	assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &f->p, &in, values, 5, NULL, 0,
				    "ABCD-EFGH-JKLM", T0, &d, &err),
			 0);
	assert_int_equal(d.outcome, MFA_BAD_CODE);
}

static void
test_token_params_fall_back_and_refuse_bad_values(void **state)
{
	struct fixture *f = *state;
	struct totp_params p;
	struct idg_err err;

	assert_int_equal(mfa_token_params(f->cfg, "", 0, 0, &p, &err), 0);
	assert_int_equal(p.digits, 6);
	assert_int_equal(p.period, 30);
	assert_int_equal(p.algorithm, TOTP_SHA1);
	assert_int_equal(p.window, 1);
	assert_int_equal(mfa_token_params(f->cfg, "sha256", 8, 60, &p, &err), 0);
	assert_int_equal(p.digits, 8);
	assert_int_equal(p.period, 60);
	assert_int_equal(p.algorithm, TOTP_SHA256);
	assert_int_equal(mfa_token_params(f->cfg, "md5", 0, 0, &p, &err), -1);
	assert_non_null(strstr(err.msg, "md5"));
	assert_int_equal(mfa_token_params(f->cfg, "sha1", 5, 0, &p, &err), -1);
	assert_int_equal(mfa_token_params(f->cfg, "sha1", 9, 0, &p, &err), -1);
	assert_int_equal(mfa_token_params(f->cfg, "sha1", 6, -30, &p, &err), -1);
	assert_int_equal(mfa_token_params(f->cfg, "sha1", 6, 301, &p, &err), -1);
}

static void
test_token_params_decide_with_the_tokens_own_period(void **state)
{
	struct fixture *f = *state;
	struct mfa_token_state in = {0};
	struct mfa_decision d;
	struct totp_params p;
	struct idg_err err;
	char code[TOTP_MAX_DIGITS + 1];

	assert_int_equal(mfa_token_params(f->cfg, "sha1", 8, 60, &p, &err), 0);
	assert_int_equal(totp_code(secret, sizeof(secret), &p, T0 / 60, code), 0);
	assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &p, &in, NULL, 0, NULL, 0, code,
				    T0, &d, &err),
			 0);
	assert_int_equal(d.outcome, MFA_OK);
	assert_int_equal(d.step, T0 / 60);
}

static void
test_recovery_split_accepts_only_the_shape(void **state)
{
	char id[5], s[9];

	(void)state;
	assert_int_equal(mfa_recovery_split("abcd-efgh-jklm", id, s), 0);
	assert_string_equal(id, "ABCD");
	assert_string_equal(s, "EFGHJKLM");
	assert_int_equal(mfa_recovery_split("ABCD-EFGH-JKL", id, s), -1);
	assert_int_equal(mfa_recovery_split("ABCD_EFGH-JKLM", id, s), -1);
	assert_int_equal(mfa_recovery_split("ABC1-EFGH-JKLM", id, s), -1); /* 1 is not in it */
	assert_int_equal(mfa_recovery_split("ABCD-EFGH-JKLMN", id, s), -1);
	assert_int_equal(mfa_recovery_split("", id, s), -1);
}

/* mfa_recovery_make(): the codes' shape, unique ids, and values the decision accepts. */
static void
test_recovery_make_values_are_accepted_by_the_decision(void **state)
{
	struct fixture *f = *state;
	char codes[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
	char values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN];
	const char *v[MFA_RECOVERY_CODES];
	struct mfa_token_state in = {.last_step = T0 / 30};
	struct mfa_decision d;
	struct idg_err err;
	char id[5], s[9];

	assert_int_equal(mfa_recovery_make(codes, values, &err), 0);
	for (int i = 0; i < MFA_RECOVERY_CODES; i++) {
		assert_int_equal(strlen(codes[i]), MFA_RECOVERY_LEN - 1);
		assert_int_equal(mfa_recovery_split(codes[i], id, s), 0);
		/* "ID:" then a crypto_pwhash string, and never the code's secret part. */
		assert_memory_equal(values[i], id, 4);
		assert_int_equal(values[i][4], ':');
		assert_int_equal(strncmp(values[i] + 5, "$argon2", 7), 0);
		assert_null(strstr(values[i], s));
		for (int k = 0; k < i; k++)
			assert_memory_not_equal(codes[i], codes[k], 4);
		v[i] = values[i];
	}
	/* The first and the last code: each accepted and named by its index. */
	for (int i = 0; i < MFA_RECOVERY_CODES; i += MFA_RECOVERY_CODES - 1) {
		assert_int_equal(mfa_decide(f->cfg, secret, sizeof(secret), &f->p, &in, v,
					    MFA_RECOVERY_CODES, NULL, 0, codes[i], T0, &d, &err),
				 0);
		assert_int_equal(d.outcome, MFA_OK_RECOVERY);
		assert_int_equal(d.recovery, i);
	}
	/* A second set is another set. */
	{
		char again[MFA_RECOVERY_CODES][MFA_RECOVERY_LEN];
		char again_values[MFA_RECOVERY_CODES][MFA_RECOVERY_VALUE_LEN];

		assert_int_equal(mfa_recovery_make(again, again_values, &err), 0);
		assert_memory_not_equal(again, codes, sizeof(codes));
	}
}

static void
test_binding_names_the_format_and_the_uuid(void **state)
{
	char ad[MFA_BINDING_LEN], uuid[200];

	(void)state;
	mfa_binding("0b1c2d3e-0000-4000-8000-000000000001", ad);
	assert_string_equal(ad, "idgov-mfa-v1:0b1c2d3e-0000-4000-8000-000000000001");
	/* Too long a uuid is cut, never written past the buffer. */
	memset(uuid, 'u', sizeof(uuid) - 1);
	uuid[sizeof(uuid) - 1] = '\0';
	mfa_binding(uuid, ad);
	assert_int_equal(strlen(ad), MFA_BINDING_LEN - 1);
	assert_int_equal(strncmp(ad, "idgov-mfa-v1:uuu", 16), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_code_above_watermark_is_accepted_with_its_step),
		T(test_code_at_or_below_watermark_is_a_replay_that_counts_nothing),
		T(test_wrong_codes_count_then_lock_and_the_count_restarts),
		T(test_failures_outside_the_interval_start_a_new_window),
		T(test_a_lock_refuses_without_looking_and_is_not_extended),
		T(test_a_failure_never_shortens_a_later_lock),
		T(test_recovery_value_is_matched_by_id_and_hash),
		T(test_spent_recovery_value_is_reused_not_counted),
		T(test_malformed_recovery_values_never_match),
		T(test_token_params_fall_back_and_refuse_bad_values),
		T(test_token_params_decide_with_the_tokens_own_period),
		T(test_recovery_split_accepts_only_the_shape),
		T(test_recovery_make_values_are_accepted_by_the_decision),
		T(test_binding_names_the_format_and_the_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
