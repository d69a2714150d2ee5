/*
 * A person's directory password, checked by binding as them; see dirauth.h.
 *
 * Why a bind and not a compare: the directory applies its own rules to a
 * bind (ppolicy lockout, expired passwords, disabled accounts), and the
 * hash never leaves it. Why a separate connection: a bind changes the
 * identity of the connection it is made on; idgovd's own must keep its
 * service identity, and the person's must not outlive the check.
 *
 * An empty password is refused before anything is sent: an LDAP simple
 * bind with a DN and no password is an "unauthenticated bind" (RFC 4513
 * 5.1.2), which many servers answer with success.
 */
#include "dirauth.h"

#include "dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
dirauth_filter(const struct cfg *cfg, const char *name)
{
	struct berval in = {strlen(name), idg_unconst(name)}, out = {0, NULL};
	char *f;
	size_t n;

	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	n = strlen(cfg->dir_user_filter) + strlen(cfg->attr_uid) + out.bv_len + 8;
	f = malloc(n);
	if (f != NULL)
		snprintf(f, n, "(&%s(%s=%s))", cfg->dir_user_filter, cfg->attr_uid, out.bv_val);
	ber_memfree(out.bv_val);
	return f;
}

/* The DN of the one entry named name: 0 with *dn (malloc'd) or *dn NULL when not exactly one. */
static int
find_dn(const struct cfg *cfg, const char *name, char **dn, struct idg_err *err)
{
	char *attrs[] = {"1.1", NULL}, *filter = NULL, *d;
	const char *base = cfg->dir_user_base[0] != '\0' ? cfg->dir_user_base : cfg->dir_base;
	struct timeval tv = {cfg->dir_timeout, 0};
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	int rc = -1, lrc;

	*dn = NULL;
	if ((filter = dirauth_filter(cfg, name)) == NULL)
		return idg_seterr(err, "out of memory");
	if (dir_connect(cfg, &ld, err) != 0)
		goto out;
	lrc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, &tv, 2,
				&res);
	if (lrc == LDAP_SIZELIMIT_EXCEEDED || lrc == LDAP_NO_SUCH_OBJECT) {
		rc = 0; /* several entries answer to the name, or no base: nobody to sign in */
		goto out;
	}
	if (lrc != LDAP_SUCCESS) {
		idg_seterr(err, "searching %s for user %s: %s", cfg->dir_uri, name,
			   ldap_err2string(lrc));
		goto out;
	}
	rc = 0;
	if (ldap_count_entries(ld, res) != 1 || (e = ldap_first_entry(ld, res)) == NULL)
		goto out;
	if ((d = ldap_get_dn(ld, e)) == NULL)
		goto out;
	*dn = strdup(d);
	ldap_memfree(d);
	if (*dn == NULL)
		rc = idg_seterr(err, "out of memory");
out:
	ldap_msgfree(res);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	free(filter);
	return rc;
}

int
dirauth_verify(const struct cfg *cfg, const char *name, const char *password,
	       enum dirauth_result *res, struct idg_err *err)
{
	struct berval cred;
	char *dn = NULL;
	LDAP *ld = NULL;
	size_t n = strnlen(password, DIRAUTH_MAX_PASSWORD + 1);
	int rc = -1, lrc;

	*res = DIRAUTH_REFUSED;
	if (n == 0 || n > DIRAUTH_MAX_PASSWORD || name[0] == '\0')
		return 0;
	if (find_dn(cfg, name, &dn, err) != 0)
		return -1;
	if (dn == NULL)
		return 0;
	if (dir_open(cfg, &ld, err) != 0)
		goto out;
	cred.bv_val = idg_unconst(password);
	cred.bv_len = n;
	lrc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (lrc == LDAP_SUCCESS) {
		*res = DIRAUTH_OK;
		rc = 0;
	} else if (lrc == LDAP_INVALID_CREDENTIALS || lrc == LDAP_INAPPROPRIATE_AUTH ||
		   lrc == LDAP_UNWILLING_TO_PERFORM || lrc == LDAP_CONSTRAINT_VIOLATION) {
		rc = 0; /* wrong password, or the directory will not let this account in */
	} else {
		idg_seterr(err, "binding to %s as %s: %s", cfg->dir_uri, dn, ldap_err2string(lrc));
	}
out:
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	free(dn);
	return rc;
}
