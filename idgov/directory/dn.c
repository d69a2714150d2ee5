/*
 * Distinguished names in one canonical form; see dir.h.
 *
 * A group names its members by DN, and the mirror resolves each such DN to
 * the entry (and so the entryUUID) it names. That only works if two DNs the
 * directory treats as equal come out as the same bytes here, so this file
 * normalises the way a directory matches names:
 *
 *  - RFC 4514 syntax is parsed and re-serialised by libldap (ldap_str2dn,
 *    ldap_dn2str): spacing, quoting and escapes ("cn=a\2Cb" is "cn=a\,b")
 *    stop mattering;
 *  - attribute types are case-insensitive, and a few common aliases and
 *    OIDs ("userid", "0.9.2342.19200300.100.1.1") become the short name
 *    ("uid");
 *  - values are lower-cased and put in NFKC as UTF-8 (casefold.h, as
 *    OpenLDAP does), since the attributes that name users and groups (uid,
 *    cn, ou, dc, o, c, l) match case-insensitively;
 *    every value is folded, so a site that names entries by a case-exact
 *    attribute would see two names that differ only in case as one;
 *  - the AVAs of a multi-valued RDN ("cn=x+uid=y") are sorted, since their
 *    order carries no meaning.
 *
 * What a directory also does and this does not: the schema's matching
 * rule for each attribute. A DN that does not parse, is not UTF-8, or is
 * longer than DIR_MAX_DN is refused (NULL): the mirror keeps such a member
 * value as unresolved.
 *
 * Most DNs are plain ("uid=jdoe,ou=people,dc=example,dc=com"): letters,
 * digits and -._@ with no spaces, escapes or multi-valued RDNs. Parsing
 * those costs a few microseconds each, which a group of 50,000 members
 * makes matter, and their canonical form is only their lower-case spelling,
 * so they take a fast path that gives the same bytes the slow path would.
 */
#include "dir.h"

#include "casefold.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * "attr=value(,attr=value)*" where attr starts with a letter and both are
 * made of ASCII letters, digits and -._@ only: such a DN has nothing that
 * normalisation would change except case. An attribute type that is an
 * alias ("userid") would be renamed by the slow path, so the fast path only
 * takes types that are their own canonical name: that is checked by the
 * caller through canonical_type().
 */
static int
is_plain_dn(const char *dn)
{
	const char *p = dn;

	for (;;) {
		const char *start = p;

		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '-')
			p++;
		if (p == start || *p++ != '=')
			return 0;
		start = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '@')
			p++;
		if (p == start)
			return 0;
		if (*p == '\0')
			return 1;
		if (*p++ != ',')
			return 0;
	}
}

/* Long names and OIDs of the attribute types that name entries, and their short names. */
static const struct {
	const char *alias, *name;
} type_aliases[] = {
	{"commonname", "cn"},
	{"2.5.4.3", "cn"},
	{"userid", "uid"},
	{"0.9.2342.19200300.100.1.1", "uid"},
	{"domaincomponent", "dc"},
	{"0.9.2342.19200300.100.1.25", "dc"},
	{"organizationalunitname", "ou"},
	{"2.5.4.11", "ou"},
	{"organizationname", "o"},
	{"2.5.4.10", "o"},
	{"countryname", "c"},
	{"2.5.4.6", "c"},
	{"localityname", "l"},
	{"2.5.4.7", "l"},
};

/* The canonical spelling of a lower-cased type: its short name if it is a known alias. */
static const char *
canonical_type(const char *lower)
{
	for (size_t i = 0; i < sizeof(type_aliases) / sizeof(type_aliases[0]); i++)
		if (strcmp(lower, type_aliases[i].alias) == 0)
			return type_aliases[i].name;
	return lower;
}

/* True if a plain DN uses only attribute types that are their own canonical names. */
static int
plain_types_canonical(const char *dn)
{
	char type[64];
	const char *p = dn;

	while (*p != '\0') {
		size_t n = strcspn(p, "=");

		if (n >= sizeof(type))
			return 0;
		for (size_t i = 0; i < n; i++)
			type[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i]);
		type[n] = '\0';
		if (canonical_type(type) != type)
			return 0;
		p += n;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return 1;
}

/*
 * What ldap_dnfree() frees decides how an AVA is rewritten: the attribute
 * type lives in the AVA's own allocation (libldap copies it there), so it
 * is rewritten in place, which works because every canonical name is
 * shorter than its aliases; the value is always a separate allocation that
 * ldap_dnfree() frees, so it is replaced by a copy from ber_memalloc().
 */
static int
canonical_ava(LDAPAVA *ava)
{
	char *type = ava->la_attr.bv_val, *folded, *copy;
	const char *name;
	size_t n;

	if (ava->la_attr.bv_len == 0 || ava->la_attr.bv_len >= 256)
		return -1;
	for (size_t i = 0; i < ava->la_attr.bv_len; i++)
		if (type[i] >= 'A' && type[i] <= 'Z')
			type[i] = (char)(type[i] + ('a' - 'A'));
	type[ava->la_attr.bv_len] = '\0';
	name = canonical_type(type);
	if (name != type) {
		n = strlen(name); /* shorter than the alias it replaces */
		memcpy(type, name, n + 1);
		ava->la_attr.bv_len = (ber_len_t)n;
	}
	/* "#04..." (BER, hex) values stay as sent; their hex is lower-cased with the whole DN. */
	if (ava->la_flags & LDAP_AVA_BINARY)
		return 0;
	if (idg_casefold(ava->la_value.bv_val, ava->la_value.bv_len, &folded, &n) != 0)
		return -1;
	copy = ber_memalloc(n + 1);
	if (copy != NULL) {
		memcpy(copy, folded, n + 1);
		ber_memfree(ava->la_value.bv_val);
		ava->la_value.bv_val = copy;
		ava->la_value.bv_len = (ber_len_t)n;
	}
	free(folded);
	return copy != NULL ? 0 : -1;
}

static int
bv_cmp(const struct berval *a, const struct berval *b)
{
	size_t n = a->bv_len < b->bv_len ? a->bv_len : b->bv_len;
	int c = memcmp(a->bv_val, b->bv_val, n);

	return c != 0 ? c : (a->bv_len > b->bv_len) - (a->bv_len < b->bv_len);
}

static int
ava_cmp(const void *x, const void *y)
{
	const LDAPAVA *a = *(LDAPAVA *const *)x, *b = *(LDAPAVA *const *)y;
	int c = bv_cmp(&a->la_attr, &b->la_attr);

	return c != 0 ? c : bv_cmp(&a->la_value, &b->la_value);
}

static char *
normalize_parsed(const char *dn)
{
	LDAPDN ldn = NULL;
	char *out = NULL, *copy = NULL;

	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || ldn == NULL)
		goto out;
	for (size_t r = 0; ldn[r] != NULL; r++) {
		size_t n = 0;

		for (; ldn[r][n] != NULL; n++)
			if (canonical_ava(ldn[r][n]) != 0)
				goto out;
		qsort(ldn[r], n, sizeof(ldn[r][0]), ava_cmp);
	}
	/* PRETTY keeps UTF-8 as it is instead of escaping it as \XX pairs. */
	if (ldap_dn2str(ldn, &out, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS ||
	    out == NULL)
		goto out;
	if (strlen(out) <= DIR_MAX_DN && (copy = strdup(out)) != NULL)
		idg_ascii_lower(copy); /* only the hex of escapes is left to lower */
out:
	ldap_memfree(out);
	ldap_dnfree(ldn);
	return copy;
}

char *
dir_dn_normalize(const char *dn)
{
	char *copy;

	if (strlen(dn) > DIR_MAX_DN)
		return NULL;
	if (!is_plain_dn(dn) || !plain_types_canonical(dn)) {
		/*
		 * libldap can print a DN in a form that it will not read back
		 * (an empty BER value "#" among other AVAs of one RDN): only a
		 * form that normalises to itself is a canonical form, so
		 * anything else is refused (found by the dn fuzz target).
		 */
		char *again;

		if ((copy = normalize_parsed(dn)) == NULL)
			return NULL;
		again = normalize_parsed(copy);
		if (again == NULL || strcmp(again, copy) != 0) {
			free(copy);
			copy = NULL;
		}
		free(again);
		return copy;
	}
	if ((copy = strdup(dn)) != NULL)
		idg_ascii_lower(copy);
	return copy;
}

int
dir_dn_within(const char *dn_norm, const char *base_norm)
{
	size_t ld = strlen(dn_norm), lb = strlen(base_norm);

	if (lb == 0)
		return 1;
	if (ld < lb || strcmp(dn_norm + ld - lb, base_norm) != 0)
		return 0;
	return ld == lb || dn_norm[ld - lb - 1] == ',';
}
