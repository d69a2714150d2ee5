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

/* Long names and OIDs of the attribute types that name entries, and their short names. */
/* clang-format off */
#define ALIAS(alias, name) {alias, sizeof(alias) - 1, name}
/* clang-format on */
static const struct {
	const char *alias;
	size_t len;
	const char *name;
} type_aliases[] = {
	ALIAS("commonname", "cn"),
	ALIAS("2.5.4.3", "cn"),
	ALIAS("userid", "uid"),
	ALIAS("0.9.2342.19200300.100.1.1", "uid"),
	ALIAS("domaincomponent", "dc"),
	ALIAS("0.9.2342.19200300.100.1.25", "dc"),
	ALIAS("organizationalunitname", "ou"),
	ALIAS("2.5.4.11", "ou"),
	ALIAS("organizationname", "o"),
	ALIAS("2.5.4.10", "o"),
	ALIAS("countryname", "c"),
	ALIAS("2.5.4.6", "c"),
	ALIAS("localityname", "l"),
	ALIAS("2.5.4.7", "l"),
};
#undef ALIAS

/*
 * The canonical spelling of a lower-cased type of len bytes: its short
 * name if it is a known alias. Compared by length first: every member DN
 * of a sync passes here once per RDN.
 */
static const char *
canonical_type(const char *lower, size_t len)
{
	for (size_t i = 0; i < sizeof(type_aliases) / sizeof(type_aliases[0]); i++)
		if (len == type_aliases[i].len && memcmp(lower, type_aliases[i].alias, len) == 0)
			return type_aliases[i].name;
	return lower;
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_type_char(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '-';
}

static int
is_value_char(char c)
{
	return is_type_char(c) || c == '.' || c == '_' || c == '@';
}

static char
lower_char(char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

enum { NOT_PLAIN = -2 };

/*
 * The canonical form of a plain DN: "attr=value(,attr=value)*" where attr
 * starts with a letter and both are made of ASCII letters, digits and
 * -._@ only, and every attr is its own canonical name (not an alias such
 * as "userid", which the slow path would rename). Such a DN has nothing
 * that normalisation would change except case, so its form is its
 * lower-case spelling, written in the one pass that checks it.
 * 0 and *out: it was plain. NOT_PLAIN: take the slow path. -1: out of memory.
 */
static int
plain_dn_lower(const char *dn, size_t len, char **out)
{
	const char *p = dn, *end = dn + len;
	char *buf = malloc(len + 1), *o = buf;

	*out = NULL;
	if (buf == NULL)
		return -1;
	for (;;) {
		char *type = o;
		const char *start;

		if (p == end || !is_alpha(*p))
			break;
		while (p < end && is_type_char(*p))
			*o++ = lower_char(*p++);
		if (o - type >= 64 || canonical_type(type, (size_t)(o - type)) != type ||
		    p == end || *p != '=')
			break;
		*o++ = *p++;
		start = p;
		while (p < end && is_value_char(*p))
			*o++ = lower_char(*p++);
		if (p == start)
			break;
		if (p == end) {
			*o = '\0';
			*out = buf;
			return 0;
		}
		if (*p != ',')
			break;
		*o++ = *p++;
	}
	free(buf);
	return NOT_PLAIN;
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
	name = canonical_type(type, ava->la_attr.bv_len);
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
dir_dn_normalize_len(const char *dn, size_t len)
{
	char *copy, *again;
	int rc;

	if (len > DIR_MAX_DN || memchr(dn, '\0', len) != NULL)
		return NULL;
	if ((rc = plain_dn_lower(dn, len, &copy)) != NOT_PLAIN)
		return rc == 0 ? copy : NULL;
	/*
	 * libldap can print a DN in a form that it will not read back (an
	 * empty BER value "#" among other AVAs of one RDN): only a form that
	 * normalises to itself is a canonical form, so anything else is
	 * refused (found by the dn fuzz target).
	 */
	if ((again = strndup(dn, len)) == NULL)
		return NULL;
	copy = normalize_parsed(again);
	free(again);
	if (copy == NULL)
		return NULL;
	again = normalize_parsed(copy);
	if (again == NULL || strcmp(again, copy) != 0) {
		free(copy);
		copy = NULL;
	}
	free(again);
	return copy;
}

char *
dir_dn_normalize(const char *dn)
{
	size_t len = strnlen(dn, DIR_MAX_DN + 1);

	return len > DIR_MAX_DN ? NULL : dir_dn_normalize_len(dn, len);
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
