/* Unit tests for directory data handling that needs no server: DNs and UUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir.h"

static void
expect_norm(const char *in, const char *want)
{
	char *out = dir_dn_normalize(in);

	if (want == NULL) {
		if (out != NULL)
			fail_msg("'%s' normalised to '%s', expected rejection", in, out);
		return;
	}
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
part_is(const char *dn, size_t len, const char *want)
{
	char *out = dir_dn_normalize_len(dn, len);

	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
test_plain_dns_are_lower_cased(void **state)
{
	(void)state;
	expect_norm("uid=Alice,ou=People,dc=Example,dc=com",
		    "uid=alice,ou=people,dc=example,dc=com");
}

static void
test_spacing_and_case_variants_normalise_alike(void **state)
{
	(void)state;
	expect_norm("UID=alice, OU=People , dc=example,dc=com",
		    "uid=alice,ou=people,dc=example,dc=com");
	expect_norm("cn=Smith\\, John,dc=example,dc=com", "cn=smith\\2c john,dc=example,dc=com");
}

static void
test_non_ascii_values_fold_case_as_the_directory_matches(void **state)
{
	(void)state;
	/* "Élodie" and "éLODIE" name one entry: uid matches case-insensitively. */
	expect_norm("uid=\xc3\x89lodie,ou=\xc3\x89quipe,dc=x",
		    "uid=\xc3\xa9lodie,ou=\xc3\xa9quipe,dc=x");
	expect_norm("uid=\xc3\xa9LODIE,ou=\xc3\xa9QUIPE,dc=x",
		    "uid=\xc3\xa9lodie,ou=\xc3\xa9quipe,dc=x");
	/* Greek capital sigma, Cyrillic, and the Kelvin sign (3 bytes) folding to "k" (1). */
	expect_norm("cn=\xce\xa3\xd0\x94,dc=x", "cn=\xcf\x83\xd0\xb4,dc=x");
	expect_norm("cn=\xe2\x84\xaa"
		    "elvin,dc=x",
		    "cn=kelvin,dc=x");
	/* An escaped UTF-8 value is the same value. */
	expect_norm("uid=\\C3\\89lodie,dc=x", "uid=\xc3\xa9lodie,dc=x");
	/* As slapd matches: NFKC ("e" and a combining acute, the ligature "fi"), and a
	 * final sigma that is not a sigma. */
	expect_norm("uid=E\xcc\x81lodie,dc=x", "uid=\xc3\xa9lodie,dc=x");
	expect_norm("uid=\xef\xac\x81x,dc=x", "uid=fix,dc=x");
	expect_norm("cn=\xce\xa3\xce\xbf\xcf\x82,dc=x", "cn=\xcf\x83\xce\xbf\xcf\x82,dc=x");
}

static void
test_type_aliases_and_rdn_order_normalise_alike(void **state)
{
	(void)state;
	expect_norm("userid=bob,organizationalUnitName=People,DC=x", "uid=bob,ou=people,dc=x");
	expect_norm("0.9.2342.19200300.100.1.1=bob,2.5.4.11=people,dc=x", "uid=bob,ou=people,dc=x");
	expect_norm("uid=bob+cn=Bob Smith,dc=x", "cn=bob smith+uid=bob,dc=x");
	expect_norm("cn=Bob Smith+uid=bob,dc=x", "cn=bob smith+uid=bob,dc=x");
	/* The fast path and the slow path agree: an escape only forces the slow one. */
	expect_norm("cn=A\\42c,dc=x", "cn=abc,dc=x");
}

static void
test_broken_utf8_in_a_dn_is_rejected(void **state)
{
	(void)state;
	expect_norm("uid=\xff\xfe,dc=x", NULL);         /* never UTF-8 */
	expect_norm("uid=\xc3,dc=x", NULL);             /* truncated sequence */
	expect_norm("uid=\xc0\xaf,dc=x", NULL);         /* overlong "/" */
	expect_norm("uid=\xed\xa0\x80,dc=x", NULL);     /* a surrogate */
	expect_norm("uid=\\ed\\a0\\80,dc=x", NULL);     /* the same, escaped */
	expect_norm("uid=\xf4\x90\x80\x80,dc=x", NULL); /* above U+10FFFF */
	/* One that libldap prints in a form it will not read back (the dn fuzz target). */
	expect_norm("UU=#+cn=od%+cn=odie+cn=XX\x12", NULL);
}

static void
test_malformed_dns_are_rejected(void **state)
{
	char *huge = malloc(DIR_MAX_DN + 10);

	(void)state;
	expect_norm("not a dn", NULL);
	expect_norm("uid=alice,,dc=x", NULL);
	expect_norm("=alice", NULL);
	memset(huge, 'a', DIR_MAX_DN + 9);
	memcpy(huge, "cn=", 3);
	huge[DIR_MAX_DN + 9] = '\0';
	expect_norm(huge, NULL);
	free(huge);
}

/*
 * dir_dn_normalize_len reads exactly len bytes (a value inside a message is
 * not NUL-terminated) and gives what dir_dn_normalize gives for the same
 * text, on the fast path and the slow one.
 */
static void
test_dn_normalize_len_reads_len_bytes_as_dir_dn_normalize(void **state)
{
	static const char *const dns[] = {
		"uid=Alice,ou=People,dc=Example,dc=com",
		"employeeNumber=42,ou=People,dc=x", /* a long type that is no alias */
		"commonName=Bob,dc=x",              /* an alias: renamed by the slow path */
		"UserID=bob,DomainComponent=x",
		"cn=A\\42c,dc=x",
		"uid=bob+cn=Bob Smith,dc=x",
		"uid=a.b_c@d-e,dc=x",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x,dc=y",
		"uid=alice,,dc=x",
		"uid=,dc=x",
		"not a dn",
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(dns) / sizeof(dns[0]); i++) {
		size_t len = strlen(dns[i]);
		char *whole = dir_dn_normalize(dns[i]), *part;

		/* Bytes past len that would make another DN, or none, if they were read. */
		memcpy(buf, dns[i], len);
		memcpy(buf + len, ",dc=EXTRA", 9);
		part = dir_dn_normalize_len(buf, len);
		if ((whole == NULL) != (part == NULL) ||
		    (whole != NULL && strcmp(whole, part) != 0))
			fail_msg("'%s': '%s' by string, '%s' by length", dns[i],
				 whole ? whole : "(null)", part ? part : "(null)");
		free(whole);
		free(part);
	}
	/* A NUL among the len bytes is no DN; a prefix of a DN is judged alone. */
	assert_null(dir_dn_normalize_len("uid=a\0,dc=x", 11));
	part_is("uid=Alice,dc=x", 9, "uid=alice");
}

static void
test_dn_within(void **state)
{
	(void)state;
	assert_true(dir_dn_within("uid=a,ou=people,dc=x", "ou=people,dc=x"));
	assert_true(dir_dn_within("ou=people,dc=x", "ou=people,dc=x"));
	assert_false(dir_dn_within("uid=a,ou=xpeople,dc=x", "ou=people,dc=x"));
	assert_false(dir_dn_within("dc=x", "ou=people,dc=x"));
	assert_true(dir_dn_within("anything", ""));
}

static void
test_uuid_format(void **state)
{
	char raw[16], out[DIR_UUID_LEN + 1];
	struct berval bv = {16, raw};

	(void)state;
	for (int i = 0; i < 16; i++)
		raw[i] = (char)(0xa0 + i);
	assert_int_equal(dir_uuid_format(&bv, out), 0);
	assert_string_equal(out, "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
	bv.bv_len = 15;
	assert_int_equal(dir_uuid_format(&bv, out), -1);
	bv.bv_len = 17;
	assert_int_equal(dir_uuid_format(&bv, out), -1);
}

static void
test_generalized_time(void **state)
{
	(void)state;
	assert_int_equal(dir_generalized_time("20261126083000Z"), 1795681800);
	assert_int_equal(dir_generalized_time("20261126083000.123Z"), 1795681800);
	assert_int_equal(dir_generalized_time("19700101000000Z"), 0);
	assert_int_equal(dir_generalized_time("20261126083000"), -1);  /* no zone */
	assert_int_equal(dir_generalized_time("20261326083000Z"), -1); /* month 13 */
	assert_int_equal(dir_generalized_time("2026112608300Z"), -1);  /* short */
	assert_int_equal(dir_generalized_time("20261126083000+0100"), -1);
	assert_int_equal(dir_generalized_time("2026-11-26T08:30:00Z"), -1);
	assert_int_equal(dir_generalized_time(""), -1);
}

static void
test_utf8_text_refuses_nul_and_malformed_sequences(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		int ok;
	} cases[] = {
		{"plain", 5, 1},
		{"\xc3\xa9t\xc3\xa9", 5, 1}, /* été */
		{"\xf0\x9f\x94\x92", 4, 1},  /* U+1F512 */
		{"a\0b", 3, 0},              /* a NUL inside */
		{"\xc3", 1, 0},              /* cut short */
		{"\xe2\x82", 2, 0},          /* cut short */
		{"\x80", 1, 0},              /* a lone continuation byte */
		{"\xc0\xaf", 2, 0},          /* overlong "/" */
		{"\xe0\x80\xaf", 3, 0},      /* overlong "/" */
		{"\xed\xa0\x80", 3, 0},      /* a UTF-16 surrogate */
		{"\xf4\x90\x80\x80", 4, 0},  /* past U+10FFFF */
		{"\xff", 1, 0},
		{"\xc3\x28", 2, 0}, /* a lead byte followed by ASCII */
		{"", 0, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (dir_utf8_text(cases[i].s, cases[i].len) != cases[i].ok)
			fail_msg("case %zu: expected %d", i, cases[i].ok);
}

static void
test_utf8_cut_never_splits_a_character(void **state)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92"; /* a é € U+1F512: 1+2+3+4 */
	size_t len = strlen(s);

	(void)state;
	assert_int_equal(dir_utf8_cut(s, len, 100), len);
	assert_int_equal(dir_utf8_cut(s, len, len), len);
	assert_int_equal(dir_utf8_cut(s, len, 1), 1);
	assert_int_equal(dir_utf8_cut(s, len, 2), 1); /* inside é */
	assert_int_equal(dir_utf8_cut(s, len, 3), 3);
	assert_int_equal(dir_utf8_cut(s, len, 4), 3); /* inside € */
	assert_int_equal(dir_utf8_cut(s, len, 5), 3);
	assert_int_equal(dir_utf8_cut(s, len, 6), 6);
	assert_int_equal(dir_utf8_cut(s, len, 9), 6); /* inside U+1F512 */
	assert_int_equal(dir_utf8_cut(s, len, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_dns_are_lower_cased),
		cmocka_unit_test(test_dn_normalize_len_reads_len_bytes_as_dir_dn_normalize),
		cmocka_unit_test(test_spacing_and_case_variants_normalise_alike),
		cmocka_unit_test(test_malformed_dns_are_rejected),
		cmocka_unit_test(test_non_ascii_values_fold_case_as_the_directory_matches),
		cmocka_unit_test(test_type_aliases_and_rdn_order_normalise_alike),
		cmocka_unit_test(test_broken_utf8_in_a_dn_is_rejected),
		cmocka_unit_test(test_dn_within),
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_generalized_time),
		cmocka_unit_test(test_utf8_text_refuses_nul_and_malformed_sequences),
		cmocka_unit_test(test_utf8_cut_never_splits_a_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
