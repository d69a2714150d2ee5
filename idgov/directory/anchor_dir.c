/* The audit head's copy in the directory; see anchor_dir.h. */
#include "anchor_dir.h"

#include <stdio.h>
#include <string.h>

/* The value's prefix: the same words as the syslog line, so one grep finds both. */
static const char head_prefix[] = "audit head ";

int
dir_anchor_configured(const struct cfg *cfg)
{
	return cfg->audit_anchor_dn[0] != '\0';
}

int
dir_anchor_fetch(const struct cfg *cfg, LDAP *ld, struct anchor_head *h, int *found,
		 struct idg_err *err)
{
	char *attrs[] = {cfg->audit_anchor_attr, NULL};
	struct timeval tv = {cfg->dir_timeout, 0};
	LDAPMessage *res = NULL, *e;
	struct berval **vals = NULL;
	char value[ANCHOR_HEAD_LINE_MAX + sizeof(head_prefix)];
	int rc, ret = -1;

	memset(h, 0, sizeof(*h));
	*found = 0;
	rc = ldap_search_ext_s(ld, cfg->audit_anchor_dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
			       0, NULL, NULL, &tv, 1, &res);
	if (rc != LDAP_SUCCESS) {
		idg_seterr(err, "reading %s: %s", cfg->audit_anchor_dn, ldap_err2string(rc));
		goto out;
	}
	e = ldap_first_entry(ld, res);
	vals = e != NULL ? ldap_get_values_len(ld, e, cfg->audit_anchor_attr) : NULL;
	if (vals == NULL || vals[0] == NULL) {
		ret = 0; /* nothing published yet */
		goto out;
	}
	/* One value, one line of the expected length: anything else is not ours. */
	if (vals[1] != NULL || vals[0]->bv_len >= sizeof(value) ||
	    memchr(vals[0]->bv_val, '\0', vals[0]->bv_len) != NULL) {
		idg_seterr(err, "%s of %s does not hold one audit head", cfg->audit_anchor_attr,
			   cfg->audit_anchor_dn);
		goto out;
	}
	memcpy(value, vals[0]->bv_val, vals[0]->bv_len);
	value[vals[0]->bv_len] = '\0';
	if (strncmp(value, head_prefix, strlen(head_prefix)) != 0 ||
	    anchor_parse_head_line(value + strlen(head_prefix), h) != 0) {
		idg_seterr(err, "%s of %s is not an audit head line", cfg->audit_anchor_attr,
			   cfg->audit_anchor_dn);
		goto out;
	}
	*found = 1;
	ret = 0;
out:
	ldap_value_free_len(vals);
	ldap_msgfree(res);
	return ret;
}

int
dir_anchor_publish(const struct cfg *cfg, LDAP *ld, const struct anchor_head *h,
		   struct idg_err *err)
{
	char line[ANCHOR_HEAD_LINE_MAX], value[ANCHOR_HEAD_LINE_MAX + sizeof(head_prefix)];
	char *vals[] = {value, NULL};
	LDAPMod mod = {
		.mod_op = LDAP_MOD_REPLACE, .mod_type = cfg->audit_anchor_attr, .mod_values = vals};
	LDAPMod *mods[] = {&mod, NULL};
	int rc;

	anchor_head_line(h, line);
	snprintf(value, sizeof(value), "%s%s", head_prefix, line);
	rc = ldap_modify_ext_s(ld, cfg->audit_anchor_dn, mods, NULL, NULL);
	if (rc != LDAP_SUCCESS)
		return idg_seterr(err, "writing %s of %s: %s", cfg->audit_anchor_attr,
				  cfg->audit_anchor_dn, ldap_err2string(rc));
	return 0;
}
