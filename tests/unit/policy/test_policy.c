/* Access rules: which apply, time windows in their zone, networks, missing rhost, precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "timeparse.h"

static const char rules[] = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
			    "[rule office]\n"
			    "groups = staff\n"
			    "times = Mo-Fr 08:00-19:00\n"
			    "timezone = Europe/Paris\n"
			    "[rule admins-vpn]\n"
			    "groups = admins\n"
			    "scope = remote\n"
			    "networks = 10.8.0.0/16, 2001:db8::/32\n"
			    "[rule console-nights]\n"
			    "users = night\n"
			    "services = login\n"
			    "scope = local\n"
			    "times = Mo-Su 20:00-06:00\n"
			    "timezone = UTC\n";

static struct cfg *
load(const char *extra)
{
	char text[2048];
	struct cfg *cfg;
	struct idg_err err;

	snprintf(text, sizeof(text), "%s%s", rules, extra);
	if (cfg_load_string(text, "t.conf", &cfg, &err) != 0)
		fail_msg("%s", err.msg);
	return cfg;
}

static int64_t
at(const char *utc)
{
	struct idg_err err;
	int64_t t;

	assert_int_equal(time_parse(utc, 0, &t, &err), 0);
	return t;
}

static struct policy_decision
decide(struct cfg *cfg, const char *user, const char *group, const char *service, const char *rhost,
       const char *utc)
{
	const char *groups[] = {group};
	struct policy_input in = {user, groups, group ? 1 : 0, service, rhost, at(utc)};
	struct policy_decision d;
	struct idg_err err;

	if (policy_evaluate(cfg, &in, NULL, NULL, &d, &err) != 0)
		fail_msg("%s", err.msg);
	return d;
}

static void
test_time_window_in_the_rules_zone(void **state)
{
	struct cfg *cfg = load("");
	struct policy_decision d;

	(void)state;
	/* Wednesday 08:30 in Paris (CET) is 07:30 UTC. */
	d = decide(cfg, "carol", "staff", "sshd", "10.8.1.1", "2026-01-07T07:30:00Z");
	assert_true(d.allowed);
	d = decide(cfg, "carol", "staff", "sshd", "10.8.1.1", "2026-01-07T06:30:00Z");
	assert_false(d.allowed);
	assert_string_equal(d.rule, "rule office");
	assert_non_null(strstr(d.why, "We 07:30 in Europe/Paris is outside Mo-Fr 08:00-19:00"));
	/* Saturday is outside; a user not in staff is not covered by the rule. */
	assert_false(decide(cfg, "carol", "staff", "sshd", NULL, "2026-01-10T10:00:00Z").allowed);
	assert_true(decide(cfg, "zed", "others", "sshd", NULL, "2026-01-10T10:00:00Z").allowed);
	cfg_free(cfg);
}

static void
test_networks_for_remote_logins(void **state)
{
	struct cfg *cfg = load("");
	struct policy_decision d;

	(void)state;
	assert_true(
		decide(cfg, "root2", "admins", "sshd", "10.8.3.4", "2026-01-07T12:00:00Z").allowed);
	assert_true(
		decide(cfg, "root2", "admins", "sshd", "::ffff:10.8.3.4", "2026-01-07T12:00:00Z")
			.allowed);
	assert_true(decide(cfg, "root2", "admins", "sshd", "2001:db8::7", "2026-01-07T12:00:00Z")
			    .allowed);
	d = decide(cfg, "root2", "admins", "sshd", "203.0.113.5", "2026-01-07T12:00:00Z");
	assert_false(d.allowed);
	assert_string_equal(d.rule, "rule admins-vpn");
	assert_non_null(strstr(d.why, "203.0.113.5 is not in 10.8.0.0/16, 2001:db8::/32"));
	/* A host name is never resolved. */
	d = decide(cfg, "root2", "admins", "sshd", "vpn.example.com", "2026-01-07T12:00:00Z");
	assert_false(d.allowed);
	assert_non_null(strstr(d.why, "not a numeric address"));
	/* sshd is a remote service: no rhost follows missing_rhost (deny). */
	d = decide(cfg, "root2", "admins", "sshd", NULL, "2026-01-07T12:00:00Z");
	assert_false(d.allowed);
	assert_non_null(strstr(d.why, "gave no remote address"));
	/* A console login is not remote: the remote-scoped rule does not apply. */
	assert_true(decide(cfg, "root2", "admins", "login", NULL, "2026-01-07T12:00:00Z").allowed);
	cfg_free(cfg);
	cfg = load("[policy]\nmissing_rhost = allow\n");
	assert_true(decide(cfg, "root2", "admins", "sshd", NULL, "2026-01-07T12:00:00Z").allowed);
	cfg_free(cfg);
}

static void
test_local_rule_only_for_its_service(void **state)
{
	struct cfg *cfg = load("");

	(void)state;
	assert_true(decide(cfg, "night", NULL, "login", NULL, "2026-01-07T23:00:00Z").allowed);
	assert_true(decide(cfg, "night", NULL, "login", NULL, "2026-01-08T05:59:00Z").allowed);
	assert_false(decide(cfg, "night", NULL, "login", NULL, "2026-01-07T12:00:00Z").allowed);
	assert_true(decide(cfg, "night", NULL, "su", NULL, "2026-01-07T12:00:00Z").allowed);
	cfg_free(cfg);
}

struct tally {
	int checks, failed;
};

static void
count(void *arg, const char *rule, const char *check, int pass, const char *why)
{
	struct tally *t = arg;

	(void)rule;
	(void)why;
	if (strcmp(check, "applies") != 0)
		t->checks++;
	t->failed += !pass;
}

static void
test_every_applicable_rule_must_pass_and_the_first_failure_names_itself(void **state)
{
	struct cfg *cfg = load("");
	const char *groups[] = {"staff", "admins"};
	struct policy_input in = {"carol", groups,        2,
				  "sshd",  "203.0.113.5", at("2026-01-10T10:00:00Z")};
	struct policy_decision d;
	struct tally t = {0, 0};
	struct idg_err err;

	(void)state;
	assert_int_equal(policy_evaluate(cfg, &in, count, &t, &d, &err), 0);
	assert_false(d.allowed);
	assert_string_equal(d.rule, "rule office"); /* first in file order */
	assert_int_equal(t.checks, 2);              /* both rules were evaluated and reported */
	assert_int_equal(t.failed, 2);
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_window_in_the_rules_zone),
		cmocka_unit_test(test_networks_for_remote_logins),
		cmocka_unit_test(test_local_rule_only_for_its_service),
		cmocka_unit_test(
			test_every_applicable_rule_must_pass_and_the_first_failure_names_itself),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
