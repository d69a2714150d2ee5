/*
 * The governor lease in the directory; see lease.h for what it is and why
 * the add and the assertion-controlled modify make it exclusive.
 */
#include "lease.h"

#include "dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ATTR_HOLDER "idgovLeaseHolder"
#define ATTR_EXPIRES "idgovLeaseExpires"

/* Rounds of read-then-write before giving up on an entry that keeps changing under us. */
#define CLAIM_TRIES 3

void
lease_time_format(int64_t t, char out[LEASE_TIME_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, LEASE_TIME_MAX, "%Y%m%d%H%M%SZ", &tm) == 0)
		snprintf(out, LEASE_TIME_MAX, "19700101000000Z");
}

/* The one value of attr, copied into out (size bytes, NUL-terminated) if it is plain text. */
static int
one_value(LDAP *ld, LDAPMessage *e, const char *attr, char *out, size_t size, const char *dn,
	  struct idg_err *err)
{
	struct berval **vals = ldap_get_values_len(ld, e, attr);
	int ret = -1;

	if (vals == NULL || vals[0] == NULL || vals[1] != NULL) {
		idg_seterr(err, "the lease %s does not hold one %s", dn, attr);
		goto out;
	}
	if (vals[0]->bv_len == 0 || vals[0]->bv_len >= size) {
		idg_seterr(err, "the lease %s: %s is empty or longer than %zu bytes", dn, attr,
			   size - 1);
		goto out;
	}
	for (size_t i = 0; i < vals[0]->bv_len; i++) {
		unsigned char ch = (unsigned char)vals[0]->bv_val[i];

		if (ch <= ' ' || ch >= 0x7f) {
			idg_seterr(err, "the lease %s: %s is not printable text", dn, attr);
			goto out;
		}
	}
	memcpy(out, vals[0]->bv_val, vals[0]->bv_len);
	out[vals[0]->bv_len] = '\0';
	ret = 0;
out:
	ldap_value_free_len(vals);
	return ret;
}

int
lease_read(const struct cfg *cfg, LDAP *ld, struct lease *l, struct idg_err *err)
{
	char *attrs[] = {ATTR_HOLDER, ATTR_EXPIRES, NULL};
	const char *dn = cfg->fleet_lease_dn;
	struct timeval tv = {cfg->dir_timeout, 0};
	LDAPMessage *res = NULL, *e;
	int rc, ret = -1;

	memset(l, 0, sizeof(*l));
	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			       &tv, 2, &res);
	if (rc == LDAP_NO_SUCH_OBJECT) {
		ret = 0;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		idg_seterr(err, "reading the lease %s: %s", dn, ldap_err2string(rc));
		goto out;
	}
	if ((e = ldap_first_entry(ld, res)) == NULL) {
		ret = 0; /* not visible to us: as absent, and the add will say why */
		goto out;
	}
	if (one_value(ld, e, ATTR_HOLDER, l->holder, sizeof(l->holder), dn, err) != 0 ||
	    one_value(ld, e, ATTR_EXPIRES, l->expires_raw, sizeof(l->expires_raw), dn, err) != 0)
		goto out;
	if ((l->expires = dir_generalized_time(l->expires_raw)) < 0) {
		idg_seterr(err, "the lease %s: %s is not a time", dn, ATTR_EXPIRES);
		goto out;
	}
	l->found = 1;
	ret = 0;
out:
	ldap_msgfree(res);
	if (ret != 0)
		memset(l, 0, sizeof(*l));
	return ret;
}

/* The value of the DN's first RDN, which must be cn=VALUE (the class's naming attribute). */
static char *
rdn_cn(const char *dn, struct idg_err *err)
{
	LDAPDN parsed = NULL;
	char *cn = NULL;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || parsed == NULL ||
	    parsed[0] == NULL || parsed[0][0] == NULL || parsed[0][1] != NULL ||
	    strncasecmp(parsed[0][0]->la_attr.bv_val, "cn", parsed[0][0]->la_attr.bv_len) != 0 ||
	    parsed[0][0]->la_attr.bv_len != 2) {
		idg_seterr(err, "[fleet] lease_dn %s: must begin with cn=NAME", dn);
		goto out;
	}
	cn = strndup(parsed[0][0]->la_value.bv_val, parsed[0][0]->la_value.bv_len);
	if (cn == NULL)
		idg_seterr(err, "out of memory");
out:
	ldap_dnfree(parsed);
	return cn;
}

/* Creates the entry naming us; LDAP_ALREADY_EXISTS when someone was first. */
static int
lease_add(const struct cfg *cfg, LDAP *ld, const char *until, struct idg_err *err)
{
	char *oc[] = {"idgovLease", NULL}, *holder[] = {cfg->fleet_name, NULL},
	     *expires[] = {idg_unconst(until), NULL}, *cnv[] = {NULL, NULL};
	LDAPMod m_oc = {.mod_op = LDAP_MOD_ADD, .mod_type = "objectClass", .mod_values = oc};
	LDAPMod m_cn = {.mod_op = LDAP_MOD_ADD, .mod_type = "cn", .mod_values = cnv};
	LDAPMod m_h = {.mod_op = LDAP_MOD_ADD, .mod_type = ATTR_HOLDER, .mod_values = holder};
	LDAPMod m_e = {.mod_op = LDAP_MOD_ADD, .mod_type = ATTR_EXPIRES, .mod_values = expires};
	LDAPMod *mods[] = {&m_oc, &m_cn, &m_h, &m_e, NULL};
	int rc;

	if ((cnv[0] = rdn_cn(cfg->fleet_lease_dn, err)) == NULL)
		return -1;
	rc = ldap_add_ext_s(ld, cfg->fleet_lease_dn, mods, NULL, NULL);
	free(cnv[0]);
	if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS)
		return idg_seterr(err, "creating the lease %s: %s", cfg->fleet_lease_dn,
				  ldap_err2string(rc));
	return rc;
}

/*
 * Rewrites the entry to name us until `until`, only if it still holds
 * what was read (cur): the assertion control. LDAP_ASSERTION_FAILED (or
 * LDAP_NO_SUCH_OBJECT) when it changed meanwhile.
 */
static int
lease_replace(const struct cfg *cfg, LDAP *ld, const struct lease *cur, const char *until,
	      struct idg_err *err)
{
	char *holder[] = {cfg->fleet_name, NULL}, *expires[] = {idg_unconst(until), NULL};
	LDAPMod m_h = {.mod_op = LDAP_MOD_REPLACE, .mod_type = ATTR_HOLDER, .mod_values = holder};
	LDAPMod m_e = {.mod_op = LDAP_MOD_REPLACE, .mod_type = ATTR_EXPIRES, .mod_values = expires};
	LDAPMod *mods[] = {&m_h, &m_e, NULL};
	struct berval in = {strlen(cur->holder), idg_unconst(cur->holder)}, esc = {0, NULL};
	char filter[CFG_FLEET_NAME_MAX * 3 + LEASE_TIME_MAX + 64];
	int rc;

	/* The expiry was checked to be printable without spaces; the holder is escaped. */
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return idg_seterr(err, "out of memory");
	snprintf(filter, sizeof(filter), "(&(" ATTR_HOLDER "=%s)(" ATTR_EXPIRES "=%s))", esc.bv_val,
		 cur->expires_raw);
	ber_memfree(esc.bv_val);
	rc = dir_modify_asserted(ld, cfg->fleet_lease_dn, mods, filter, 0);
	if (rc != LDAP_SUCCESS && rc != LDAP_ASSERTION_FAILED && rc != LDAP_NO_SUCH_OBJECT)
		return idg_seterr(err, "renewing the lease %s: %s", cfg->fleet_lease_dn,
				  ldap_err2string(rc));
	return rc;
}

int
lease_claim(const struct cfg *cfg, LDAP *ld, int64_t now, struct lease *l, struct idg_err *err)
{
	char until[LEASE_TIME_MAX];
	int64_t expires = now + cfg->fleet_lease_ttl;

	lease_time_format(expires, until);
	for (int i = 0; i < CLAIM_TRIES; i++) {
		int rc;

		if (lease_read(cfg, ld, l, err) != 0)
			return -1;
		if (!l->found) {
			rc = lease_add(cfg, ld, until, err);
		} else {
			if (strcmp(l->holder, cfg->fleet_name) != 0 && l->expires > now)
				return LEASE_OTHER;
			rc = lease_replace(cfg, ld, l, until, err);
		}
		if (rc < 0)
			return -1;
		if (rc == LDAP_SUCCESS) {
			l->found = 1;
			snprintf(l->holder, sizeof(l->holder), "%s", cfg->fleet_name);
			l->expires = expires;
			memcpy(l->expires_raw, until, sizeof(until));
			return LEASE_HELD;
		}
		/* Someone wrote first: read again and judge what they wrote. */
	}
	memset(l, 0, sizeof(*l));
	return idg_seterr(err, "the lease %s changed under each of %d claims", cfg->fleet_lease_dn,
			  CLAIM_TRIES);
}
