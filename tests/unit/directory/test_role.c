/*
 * Unit tests for the fleet role checks (role.h) and the lease's time
 * format (lease.h): who may govern given what is known of the lease, the
 * words of each refusal, and what status says. The lease's traffic with a
 * real directory (add, assertion-controlled modify, takeover, a malformed
 * entry) is tests/integration/test_fleet_lease.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dir.h"
#include "lease.h"
#include "role.h"

#define NOW 1800000000 /* 2027-01-15 08:00:00 UTC */
#define LEASE_DN "cn=governor,ou=idgov,dc=x"

static struct cfg *
load(const char *fleet)
{
	char text[512];
	struct cfg *cfg = NULL;
	struct idg_err err;

	snprintf(text, sizeof(text), "[directory]\nuri = ldap://h/\nbase = dc=x\n[fleet]\n%s",
		 fleet);
	if (cfg_load_string(text, "t.conf", &cfg, &err) != 0)
		fail_msg("%s", err.msg);
	return cfg;
}

static struct fleet_state
known(const char *holder, int64_t expires, int holding)
{
	struct fleet_state st;

	memset(&st, 0, sizeof(st));
	st.checked = NOW - 1;
	st.holding = holding;
	if (holder != NULL) {
		st.lease.found = 1;
		snprintf(st.lease.holder, sizeof(st.lease.holder), "%s", holder);
		st.lease.expires = expires;
		lease_time_format(expires, st.lease.expires_raw);
	}
	return st;
}

static void
expect_refusal(const struct cfg *cfg, const struct fleet_state *st, const char *want)
{
	char why[IDG_ERRLEN + 128] = "";

	assert_int_equal(fleet_may_govern(cfg, st, NOW, why, sizeof(why)), 0);
	if (strcmp(why, want) != 0)
		fail_msg("refusal \"%s\", expected \"%s\"", why, want);
}

static void
test_a_lone_governor_governs_without_a_lease(void **state)
{
	struct cfg *cfg = load("name = solo\n");
	struct fleet_state st;
	char why[64];

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_false(fleet_has_lease(cfg));
	assert_int_equal(fleet_may_govern(cfg, &st, NOW, why, sizeof(why)), 1);
	/* Nothing to read or claim: refreshing changes nothing and needs no connection. */
	assert_int_equal(fleet_refresh(cfg, NULL, NOW, &st), 0);
	assert_int_equal(st.checked, 0);
	cfg_free(cfg);
}

static void
test_a_governor_governs_only_while_its_lease_lasts(void **state)
{
	struct cfg *cfg = load("name = gov1\nlease_dn = " LEASE_DN "\n");
	struct fleet_state st = known("gov1", NOW + 60, 1);
	char why[64];

	(void)state;
	assert_true(fleet_has_lease(cfg));
	assert_int_equal(fleet_may_govern(cfg, &st, NOW, why, sizeof(why)), 1);
	/* At its expiry, renewed or not, it stops. */
	st = known("gov1", NOW, 1);
	expect_refusal(cfg, &st,
		       "run this on the governor (gov1, whose lease lapsed at 2027-01-15 08:00:00 "
		       "UTC)");
	/* Never claimed: not holding, whatever the entry says. */
	st = known("gov1", NOW + 60, 0);
	assert_int_equal(fleet_may_govern(cfg, &st, NOW, why, sizeof(why)), 0);
	cfg_free(cfg);
}

static void
test_a_second_governor_names_the_holder_and_waits(void **state)
{
	struct cfg *cfg = load("name = gov2\nlease_dn = " LEASE_DN "\n");
	struct fleet_state st = known("gov1", NOW + 90, 0);

	(void)state;
	expect_refusal(cfg, &st,
		       "run this on the governor (gov1): it holds the lease until 2027-01-15 "
		       "08:01:30 UTC; this governor (gov2) waits for it");
	cfg_free(cfg);
}

static void
test_a_host_never_governs_and_names_the_governor(void **state)
{
	struct cfg *cfg = load("role = host\nname = web1\nlease_dn = " LEASE_DN "\n");
	struct fleet_state st = known("gov1", NOW + 90, 0);

	(void)state;
	expect_refusal(cfg, &st, "run this on the governor (gov1)");
	/* Even a lease naming the host itself gives it nothing. */
	st = known("web1", NOW + 90, 1);
	expect_refusal(cfg, &st, "run this on the governor (web1)");
	st = known(NULL, 0, 0);
	expect_refusal(cfg, &st, "run this on the governor (none holds the lease " LEASE_DN ")");
	memset(&st, 0, sizeof(st));
	snprintf(st.error, sizeof(st.error), "reading the lease: Can't contact LDAP server");
	expect_refusal(cfg, &st,
		       "run this on the governor (unknown: reading the lease: Can't contact LDAP "
		       "server)");
	cfg_free(cfg);
}

static void
test_status_describes_the_lease(void **state)
{
	struct fleet_state st;
	char buf[IDG_ERRLEN + 64];

	(void)state;
	memset(&st, 0, sizeof(st));
	fleet_describe(&st, buf, sizeof(buf));
	assert_string_equal(buf, "unknown (not read yet)");
	snprintf(st.error, sizeof(st.error), "timed out");
	fleet_describe(&st, buf, sizeof(buf));
	assert_string_equal(buf, "unknown (timed out)");
	st = known(NULL, 0, 0);
	fleet_describe(&st, buf, sizeof(buf));
	assert_string_equal(buf, "nobody");
	st = known("gov1", NOW + 90, 0);
	fleet_describe(&st, buf, sizeof(buf));
	assert_string_equal(buf, "gov1 until 2027-01-15 08:01:30 UTC");
}

/* The stored expiry is a GeneralizedTime the directory layer reads back to the same second. */
static void
test_lease_time_round_trips(void **state)
{
	char t[LEASE_TIME_MAX];

	(void)state;
	lease_time_format(NOW, t);
	assert_string_equal(t, "20270115080000Z");
	assert_int_equal(dir_generalized_time(t), NOW);
	lease_time_format(0, t);
	assert_string_equal(t, "19700101000000Z");
	lease_time_format(253402300799,
			  t); /* the last second GeneralizedTime's 4-digit year holds */
	assert_string_equal(t, "99991231235959Z");
	assert_int_equal(dir_generalized_time(t), 253402300799);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_lone_governor_governs_without_a_lease),
		cmocka_unit_test(test_a_governor_governs_only_while_its_lease_lasts),
		cmocka_unit_test(test_a_second_governor_names_the_holder_and_waits),
		cmocka_unit_test(test_a_host_never_governs_and_names_the_governor),
		cmocka_unit_test(test_status_describes_the_lease),
		cmocka_unit_test(test_lease_time_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
