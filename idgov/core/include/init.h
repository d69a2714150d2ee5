/*
 * `idgov init`: creates what a new host needs and keeps what exists. The
 * store is created (and migrated) if missing; the master key and the audit
 * key pair are created only if missing and never replaced, because a new
 * master key would orphan every encrypted secret and a new audit key would
 * orphan every signature. The backup key ([store] backup_key) is made
 * when missing, also on a host set up before backups existed. The audit anchor is created here, at
 * the store's newest signed head, when it is missing (a new host, or one upgraded from a version
 * without it), and never replaced (see audit_anchor_reset()).
 *
 * On a governor with [fleet] mfa = directory, the fleet key ([fleet] key,
 * fleetseal.h) is made the same way: when missing, 0400, never replaced
 * (a new one would leave every token in the directory unreadable). Hosts
 * never make one: they need a copy of the governor's.
 */
#ifndef IDGOV_INIT_H
#define IDGOV_INIT_H

#include "config.h"

struct init_report {
	int store_created;
	int master_key_created;
	int audit_key_created;
	int anchor_created;
	int backup_key_created;
	int fleet_key_created;
};

int init_host(const struct cfg *cfg, struct init_report *rep, struct idg_err *err);

#endif
