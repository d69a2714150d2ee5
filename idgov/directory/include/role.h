/*
 * What this machine may do in the fleet ([fleet] role): a governor that
 * holds the lease (lease.h) governs (campaigns, grants, temporary
 * accounts, every directory write); a governor that does not, and every
 * host, refuses, naming the machine that does: "run this on the governor
 * (NAME)". A governor with no [fleet] lease_dn governs alone, as one
 * machine always did.
 *
 * struct fleet_state is what a process knows of the lease: idgovd keeps
 * one and refreshes it on a timer (claiming on a governor, reading on a
 * host); the CLI without a daemon refreshes one for the request it runs.
 */
#ifndef IDGOV_ROLE_H
#define IDGOV_ROLE_H

#include "config.h"
#include "lease.h"

#include <ldap.h>
#include <stddef.h>
#include <stdint.h>

struct fleet_state {
	int holding;            /* this governor holds the lease until lease.expires */
	struct lease lease;     /* the last one read or claimed (lease.found 0: none seen) */
	int64_t checked;        /* when the lease was last read or claimed; 0: never */
	char error[IDG_ERRLEN]; /* why the last refresh failed; "": it did not */
};

/* Whether [fleet] lease_dn is set (a fleet, not one lone governor). */
int fleet_has_lease(const struct cfg *cfg);

/*
 * Brings st up to date at now: a governor claims or renews the lease
 * (lease_claim()), a host reads it. Returns 0, or -1 with st->error set
 * (st->holding stays as it was: a lease already held lasts until its
 * expiry even when the directory cannot be reached to renew it).
 */
int fleet_refresh(const struct cfg *cfg, LDAP *ld, int64_t now, struct fleet_state *st);

/*
 * Brings st up to date by reading alone, never claiming (what `idgov
 * status` shows without a daemon): holding is set when the lease names
 * this machine and has not expired.
 */
int fleet_observe(const struct cfg *cfg, LDAP *ld, int64_t now, struct fleet_state *st);

/*
 * Whether this machine may govern at now: 1, or 0 with the refusal for
 * the person who asked in why: "run this on the governor (NAME)" with,
 * on a governor, why it is not the one (the lease is NAME's until TIME,
 * or could not be read).
 */
int fleet_may_govern(const struct cfg *cfg, const struct fleet_state *st, int64_t now, char *why,
		     size_t size);

/* "NAME until YYYY-MM-DD HH:MM:SS UTC", "nobody", or "unknown (why)": for status and logs. */
void fleet_describe(const struct fleet_state *st, char *buf, size_t size);

#endif
