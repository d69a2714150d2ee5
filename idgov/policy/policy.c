/* Access rules; see policy.h. */
#include "policy.h"

#include "geo.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *const day_names[] = {"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"};

static int
user_matches(const struct cfg_rule *r, const struct policy_input *in)
{
	if (r->users == NULL && r->groups == NULL)
		return 1;
	if (r->users != NULL && cfg_list_contains(r->users, in->user))
		return 1;
	for (size_t i = 0; r->groups != NULL && i < in->n_groups; i++)
		if (cfg_list_contains(r->groups, in->groups[i]))
			return 1;
	return 0;
}

static int
is_remote(const struct cfg *cfg, const struct policy_input *in)
{
	return (in->rhost != NULL && in->rhost[0] != '\0') ||
	       cfg_list_contains(cfg->policy_remote_services, in->service);
}

static int
applies(const struct cfg *cfg, const struct cfg_rule *r, const struct policy_input *in)
{
	int remote = is_remote(cfg, in);

	if (!user_matches(r, in))
		return 0;
	if (r->services != NULL && !cfg_list_contains(r->services, in->service))
		return 0;
	return r->scope == CFG_SCOPE_ANY || (r->scope == CFG_SCOPE_REMOTE) == remote;
}

static int
check_time(const struct cfg_rule *r, const struct policy_input *in, char *why, size_t len,
	   struct idg_err *err)
{
	int day, minute, ok;

	if (timewin_local(r->timezone, in->now, &day, &minute, err) != 0)
		return -1;
	ok = timewin_match(r->windows, r->n_windows, day, minute);
	snprintf(why, len, "%s %02d:%02d in %s is %s %s", day_names[day], minute / 60, minute % 60,
		 r->timezone, ok ? "within" : "outside", r->times);
	return ok;
}

/*
 * Networks and countries judge remote logins only, by a numeric address.
 * Returns 1 (local login: passes, why says so), 0 (refused: why says why),
 * or 2 with *addr set.
 */
static int
remote_address(const struct cfg *cfg, const struct policy_input *in, const char *what,
	       struct net_prefix *addr, char *why, size_t len)
{
	if (!is_remote(cfg, in)) {
		snprintf(why, len, "a local login; %s do not apply", what);
		return 1;
	}
	if (in->rhost == NULL || in->rhost[0] == '\0') {
		snprintf(why, len, "remote service %s gave no remote address; missing_rhost = %s",
			 in->service, cfg->policy_missing_rhost_allow ? "allow" : "deny");
		return cfg->policy_missing_rhost_allow ? 1 : 0; /* never 2: addr is not set */
	}
	if (net_parse_address(in->rhost, addr) != 0) {
		snprintf(why, len, "remote host '%.64s' is not a numeric address", in->rhost);
		return 0;
	}
	return 2;
}

static int
check_network(const struct cfg *cfg, const struct cfg_rule *r, const struct policy_input *in,
	      char *why, size_t len)
{
	struct net_prefix addr;
	int ok = remote_address(cfg, in, "source networks", &addr, why, len);

	if (ok != 2)
		return ok;
	ok = net_match(r->nets, r->n_nets, &addr);
	snprintf(why, len, "%s is %s %s", in->rhost, ok ? "in" : "not in", r->networks);
	return ok;
}

/*
 * An IPv4-mapped IPv6 address is looked up as IPv4; an address the
 * database does not know follows [geo] unknown.
 */
static int
check_country(const struct cfg *cfg, const struct cfg_rule *r, const struct policy_input *in,
	      char *why, size_t len)
{
	struct net_prefix addr;
	char text[INET6_ADDRSTRLEN], cc[3];
	enum geo_result found = GEO_UNKNOWN; /* geo_country sets it on success */
	struct idg_err err;
	int ok = remote_address(cfg, in, "countries", &addr, why, len);

	if (ok != 2)
		return ok;
	inet_ntop(addr.family == 4 ? AF_INET : AF_INET6, addr.addr, text, sizeof(text));
	if (geo_country(cfg->geo_database, cfg->geo_lookup_path, text, cc, &found, &err) != 0) {
		snprintf(why, len, "cannot tell the country of %s: %.150s", text, err.msg);
		return 0;
	}
	if (found == GEO_UNKNOWN) {
		snprintf(why, len, "%s is in no country the database knows; unknown = %s", text,
			 cfg->geo_unknown_allow ? "allow" : "deny");
		return cfg->geo_unknown_allow;
	}
	ok = (r->countries == NULL || cfg_list_contains(r->countries, cc)) &&
	     (r->deny_countries == NULL || !cfg_list_contains(r->deny_countries, cc));
	snprintf(why, len, "%s is in %s, which is %s", text, cc, ok ? "allowed" : "not allowed");
	return ok;
}

static void
note(policy_report_fn report, void *arg, struct policy_decision *d, const char *rule,
     const char *check, int pass, const char *why)
{
	if (report != NULL)
		report(arg, rule, check, pass, why);
	if (!pass && d->allowed) {
		d->allowed = 0;
		snprintf(d->rule, sizeof(d->rule), "rule %s", rule);
		snprintf(d->why, sizeof(d->why), "%s: %s", check, why);
	}
}

int
policy_evaluate(const struct cfg *cfg, const struct policy_input *in, policy_report_fn report,
		void *arg, struct policy_decision *d, struct idg_err *err)
{
	char why[256];

	memset(d, 0, sizeof(*d));
	d->allowed = 1;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct cfg_rule *r = &cfg->rules[i];
		int ok;

		if (!applies(cfg, r, in)) {
			if (report != NULL)
				report(arg, r->name, "applies", 1, "does not apply to this login");
			continue;
		}
		if (r->n_windows > 0) {
			ok = check_time(r, in, why, sizeof(why), err);
			if (ok < 0)
				return -1;
			note(report, arg, d, r->name, "time", ok, why);
		}
		if (r->n_nets > 0) {
			ok = check_network(cfg, r, in, why, sizeof(why));
			note(report, arg, d, r->name, "network", ok, why);
		}
		if (r->countries != NULL || r->deny_countries != NULL) {
			ok = check_country(cfg, r, in, why, sizeof(why));
			note(report, arg, d, r->name, "country", ok, why);
		}
	}
	return 0;
}
