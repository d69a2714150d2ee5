/* CIDR lists: IPv4, IPv6, IPv4-mapped IPv6, and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "netmatch.h"

static int
matches(const char *list, const char *addr)
{
	struct net_prefix nets[NET_MAX], a;
	struct idg_err err;
	size_t n;

	if (net_parse_list(list, nets, &n, &err) != 0)
		fail_msg("'%s': %s", list, err.msg);
	if (net_parse_address(addr, &a) != 0)
		fail_msg("address '%s' rejected", addr);
	return net_match(nets, n, &a);
}

static void
test_ipv4(void **state)
{
	(void)state;
	assert_true(matches("10.0.0.0/8", "10.200.3.4"));
	assert_false(matches("10.0.0.0/8", "11.0.0.1"));
	assert_true(matches("192.0.2.0/25", "192.0.2.127"));
	assert_false(matches("192.0.2.0/25", "192.0.2.128"));
	assert_true(matches("198.51.100.7", "198.51.100.7"));
	assert_false(matches("198.51.100.7", "198.51.100.8"));
	assert_true(matches("0.0.0.0/0", "203.0.113.9"));
	assert_true(matches("10.0.0.0/8, 172.16.0.0/12", "172.31.255.255"));
}

static void
test_ipv6_and_mapped(void **state)
{
	(void)state;
	assert_true(matches("2001:db8::/32", "2001:db8:1::5"));
	assert_false(matches("2001:db8::/32", "2001:db9::1"));
	assert_true(matches("2001:db8:abcd:12::/63", "2001:db8:abcd:13::1"));
	assert_false(matches("2001:db8:abcd:12::/63", "2001:db8:abcd:14::1"));
	/* An IPv4-mapped IPv6 peer is its IPv4 address. */
	assert_true(matches("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(matches("::/0", "10.1.2.3"));
	assert_false(matches("10.0.0.0/8", "2001:db8::1"));
}

static void
test_malformed_lists_are_rejected(void **state)
{
	static const char *const bad[] = {
		"",
		"example.com",
		"10.0.0.0/33",
		"10.0.0.0/",
		"10.0.0.0/x",
		"10.0.0.1/8",
		"2001:db8::1/32",
		"10.0.0.0/8,",
		"10.0.0.0/8,,",
		"10.0.0.0/-1",
		"1.2.3",
		"::g",
		"10.0.0.0/8 garbage",
	};
	struct net_prefix nets[NET_MAX];
	struct idg_err err;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (net_parse_list(bad[i], nets, &n, &err) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(net_parse_list("10.0.0.1/8", nets, &n, &err), -1);
	assert_non_null(strstr(err.msg, "host bits"));
}

static void
test_rhost_is_numeric_only(void **state)
{
	struct net_prefix a;

	(void)state;
	assert_int_equal(net_parse_address("localhost", &a), -1);
	assert_int_equal(net_parse_address("host.example.com", &a), -1);
	assert_int_equal(net_parse_address("10.0.0.1 ", &a), -1);
	assert_int_equal(net_parse_address("fe80::1%eth0", &a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6_and_mapped),
		cmocka_unit_test(test_malformed_lists_are_rejected),
		cmocka_unit_test(test_rhost_is_numeric_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
