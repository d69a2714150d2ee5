/* RFC 6238 test vectors, window and watermark logic, malformed codes, the otpauth URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "totp.h"

static const unsigned char k1[] = "12345678901234567890";
static const unsigned char k256[] = "12345678901234567890123456789012";
static const unsigned char k512[] =
	"1234567890123456789012345678901234567890123456789012345678901234";

static void
expect(const unsigned char *key, size_t len, enum totp_algorithm a, int64_t t, const char *want)
{
	struct totp_params p = {.digits = 8, .period = 30, .window = 0, .algorithm = a};
	char out[TOTP_MAX_DIGITS + 1];

	assert_int_equal(totp_code(key, len, &p, t / 30, out), 0);
	assert_string_equal(out, want);
}

static void
test_rfc6238_vectors(void **state)
{
	(void)state;
	expect(k1, 20, TOTP_SHA1, 59, "94287082");
	expect(k1, 20, TOTP_SHA1, 1111111109, "07081804");
	expect(k1, 20, TOTP_SHA1, 1111111111, "14050471");
	expect(k1, 20, TOTP_SHA1, 1234567890, "89005924");
	expect(k1, 20, TOTP_SHA1, 2000000000, "69279037");
	expect(k1, 20, TOTP_SHA1, 20000000000LL, "65353130");
	expect(k256, 32, TOTP_SHA256, 59, "46119246");
	expect(k256, 32, TOTP_SHA256, 1111111109, "68084774");
	expect(k512, 64, TOTP_SHA512, 59, "90693936");
	expect(k512, 64, TOTP_SHA512, 1111111109, "25091201");
}

static void
test_window_and_watermark(void **state)
{
	struct totp_params p = {.digits = 6, .period = 30, .window = 1, .algorithm = TOTP_SHA1};
	int64_t now = 1111111109, cur = now / 30, step = 0;
	char prev[9], code[9], next[9], far[9];

	(void)state;
	totp_code(k1, 20, &p, cur - 1, prev);
	totp_code(k1, 20, &p, cur, code);
	totp_code(k1, 20, &p, cur + 1, next);
	totp_code(k1, 20, &p, cur + 2, far);
	assert_int_equal(totp_match(k1, 20, &p, now, 0, code, &step), TOTP_OK);
	assert_int_equal(step, cur);
	assert_int_equal(totp_match(k1, 20, &p, now, 0, prev, &step), TOTP_OK);
	assert_int_equal(step, cur - 1);
	assert_int_equal(totp_match(k1, 20, &p, now, 0, next, &step), TOTP_OK);
	assert_int_equal(step, cur + 1);
	assert_int_equal(totp_match(k1, 20, &p, now, 0, far, &step), TOTP_MISMATCH);
	/* After `code` was used, it and anything older is a replay; newer still works. */
	assert_int_equal(totp_match(k1, 20, &p, now, cur, code, &step), TOTP_REPLAY);
	assert_int_equal(totp_match(k1, 20, &p, now, cur, prev, &step), TOTP_REPLAY);
	assert_int_equal(totp_match(k1, 20, &p, now, cur, next, &step), TOTP_OK);
	p.window = 0;
	assert_int_equal(totp_match(k1, 20, &p, now, 0, next, &step), TOTP_MISMATCH);
}

static void
test_malformed_codes(void **state)
{
	struct totp_params p = {.digits = 6, .period = 30, .window = 1, .algorithm = TOTP_SHA1};
	static const char *const bad[] = {"",        "12345",   "1234567", "12a456",
					  " 123456", "123456 ", "-12345",  "１２３４５６"};
	int64_t step;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(totp_match(k1, 20, &p, 59, 0, bad[i], &step), TOTP_MALFORMED);
}

static void
test_otpauth_uri(void **state)
{
	struct totp_params p = {.digits = 6, .period = 30, .window = 1, .algorithm = TOTP_SHA1};
	char *uri = totp_uri(k1, 20, &p, "Example Corp", "alice");

	(void)state;
	assert_non_null(uri);
	assert_string_equal(uri, "otpauth://totp/Example%20Corp:alice?secret="
				 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Corp&algorithm="
				 "SHA1&digits=6&period=30");
	free(uri);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_window_and_watermark),
		cmocka_unit_test(test_malformed_codes),
		cmocka_unit_test(test_otpauth_uri),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
