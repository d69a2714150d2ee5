/*
 * The fleet role checks; see role.h. Whether a request may govern is
 * decided here and nowhere else, from what the process knows of the lease,
 * so idgovd's timer, its control requests and the CLI without a daemon
 * cannot disagree.
 */
#include "role.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int
fleet_has_lease(const struct cfg *cfg)
{
	return cfg->fleet_lease_dn[0] != '\0';
}

static void
utc_text(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

static int
refresh(const struct cfg *cfg, LDAP *ld, int64_t now, struct fleet_state *st, int claim)
{
	struct idg_err err;
	struct lease l;
	int rc;

	if (!fleet_has_lease(cfg))
		return 0;
	if (claim)
		rc = lease_claim(cfg, ld, now, &l, &err);
	else
		rc = lease_read(cfg, ld, &l, &err) == 0 ? LEASE_OTHER : -1;
	if (rc < 0) {
		snprintf(st->error, sizeof(st->error), "%s", err.msg);
		return -1;
	}
	st->error[0] = '\0';
	st->lease = l;
	st->checked = now;
	st->holding =
		(rc == LEASE_HELD) ||
		(!claim && l.found && strcmp(l.holder, cfg->fleet_name) == 0 && l.expires > now);
	return 0;
}

int
fleet_refresh(const struct cfg *cfg, LDAP *ld, int64_t now, struct fleet_state *st)
{
	return refresh(cfg, ld, now, st, cfg->fleet_role == CFG_ROLE_GOVERNOR);
}

int
fleet_observe(const struct cfg *cfg, LDAP *ld, int64_t now, struct fleet_state *st)
{
	return refresh(cfg, ld, now, st, 0);
}

int
fleet_may_govern(const struct cfg *cfg, const struct fleet_state *st, int64_t now, char *why,
		 size_t size)
{
	char until[32];
	const struct lease *l = &st->lease;

	if (cfg->fleet_role == CFG_ROLE_GOVERNOR &&
	    (!fleet_has_lease(cfg) || (st->holding && l->expires > now)))
		return 1;
	if (st->checked == 0 && st->error[0] != '\0') {
		snprintf(why, size, "run this on the governor (unknown: %s)", st->error);
		return 0;
	}
	if (!l->found || l->expires <= now) {
		/* Nobody holds it now: say who held it last, and that it lapsed. */
		if (l->found) {
			utc_text(l->expires, until);
			snprintf(why, size,
				 "run this on the governor (%s, whose lease lapsed at %s)",
				 l->holder, until);
		} else {
			snprintf(why, size, "run this on the governor (none holds the lease %s)",
				 cfg->fleet_lease_dn);
		}
		return 0;
	}
	utc_text(l->expires, until);
	if (cfg->fleet_role == CFG_ROLE_GOVERNOR)
		snprintf(why, size,
			 "run this on the governor (%s): it holds the lease until %s; this "
			 "governor (%s) waits for it",
			 l->holder, until, cfg->fleet_name);
	else
		snprintf(why, size, "run this on the governor (%s)", l->holder);
	return 0;
}

void
fleet_describe(const struct fleet_state *st, char *buf, size_t size)
{
	char until[32];

	if (st->checked == 0) {
		snprintf(buf, size, "unknown (%s)", st->error[0] ? st->error : "not read yet");
		return;
	}
	if (!st->lease.found) {
		snprintf(buf, size, "nobody");
		return;
	}
	utc_text(st->lease.expires, until);
	snprintf(buf, size, "%s until %s", st->lease.holder, until);
}
