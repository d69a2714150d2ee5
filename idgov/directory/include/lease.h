/*
 * The governor lease: one entry in the directory ([fleet] lease_dn, object
 * class idgovLease in schema/ldap/idgov.schema) that names the one machine
 * allowed to govern (campaigns, grants, temporary accounts, every
 * directory write) and until when:
 *
 *     dn: cn=governor,ou=idgov,dc=example,dc=com
 *     objectClass: idgovLease
 *     idgovLeaseHolder: gov-01
 *     idgovLeaseExpires: 20261202041500Z
 *
 * lease_claim() takes or renews it. An absent entry is created with an
 * LDAP add, which the directory refuses if someone else created it first.
 * An existing entry is rewritten only by a modify that carries an RFC 4528
 * assertion control whose filter is the holder and expiry just read: if
 * anyone changed the entry in between, the directory refuses the whole
 * modify (assertionFailed) and nothing is written. So of two governors
 * racing, exactly one wins, and a lease is taken from another holder only
 * once the expiry it read has passed. The modify without that control,
 * which anyone with write access could send, is what the ACL must keep
 * from everyone but the governors (schema/ldap/idgov-acl.ldif).
 *
 * Time is each machine's UTC clock: the holder's renewal and a taker's
 * "has it expired" compare against the same stored time, so clocks must
 * agree to well within lease_ttl (NTP); renewing at a third of the ttl
 * leaves two thirds of it for skew and a slow directory.
 */
#ifndef IDGOV_LEASE_H
#define IDGOV_LEASE_H

#include "config.h"

#include <ldap.h>
#include <stddef.h>
#include <stdint.h>

/* "YYYYMMDDHHMMSSZ" and room for the fractions another writer may have used. */
#define LEASE_TIME_MAX 32

struct lease {
	int found;                           /* the entry exists */
	char holder[CFG_FLEET_NAME_MAX + 1]; /* idgovLeaseHolder */
	int64_t expires;                     /* idgovLeaseExpires, UTC seconds */
	char expires_raw[LEASE_TIME_MAX];    /* as the directory holds it: the assertion's value */
};

/* lease_claim()'s answers besides -1 (error, err set). */
#define LEASE_HELD 0  /* the lease is ours until l->expires */
#define LEASE_OTHER 1 /* l->holder holds it until l->expires, a time still to come */

/*
 * Reads the entry at [fleet] lease_dn into l (l->found 0 when there is
 * none). An entry that is not a lease (no holder, several, a holder that
 * is not printable text of at most CFG_FLEET_NAME_MAX bytes, an expiry
 * that is not a GeneralizedTime) is an error: nobody may take it over by
 * guessing what it meant.
 */
int lease_read(const struct cfg *cfg, LDAP *ld, struct lease *l, struct idg_err *err);

/*
 * Claims the lease for [fleet] name until now + lease_ttl: creates the
 * entry when absent, renews it when it is ours, takes it over when its
 * expiry is past, in each case as described above. Returns LEASE_HELD,
 * LEASE_OTHER or -1.
 */
int lease_claim(const struct cfg *cfg, LDAP *ld, int64_t now, struct lease *l, struct idg_err *err);

/* Formats t (UTC seconds) as a GeneralizedTime "YYYYMMDDHHMMSSZ". */
void lease_time_format(int64_t t, char out[LEASE_TIME_MAX]);

#endif
