/*
 * Fuzz target: member DNs and names as the directory sends them, which
 * anyone who can write a group controls. The input is folded as UTF-8
 * (idg_casefold) and normalised as a DN (dir_dn_normalize). Folding must
 * succeed exactly on well-formed UTF-8, give well-formed UTF-8, and be
 * idempotent; a normalised DN must be within DIR_MAX_DN and normalise to
 * itself, or two spellings of one name could still compare unequal. A DN
 * whose first type is spelled by its long name ("userid=" for "uid=")
 * must normalise to the same bytes: the long name sends it down the
 * parser's path, so a plain DN's fast path is checked against the parser.
 */
#include "fuzz.h"

#include "casefold.h"
#include "dir.h"

#include <strings.h>

static void
check_fold(const uint8_t *data, size_t size)
{
	char *once = NULL, *twice = NULL;
	size_t n1 = 0, n2 = 0;
	int valid = idg_utf8_valid((const char *)data, size);

	if (idg_casefold((const char *)data, size, &once, &n1) != 0) {
		if (valid)
			abort(); /* well-formed input refused */
		return;
	}
	if (!valid || !idg_utf8_valid(once, n1) || once[n1] != '\0')
		abort();
	if (idg_casefold(once, n1, &twice, &n2) != 0 || n1 != n2 || memcmp(once, twice, n1) != 0) {
		fprintf(stderr, "folding is not idempotent\n");
		abort();
	}
	free(once);
	free(twice);
}

static void
check_dn(const char *s)
{
	char *once = dir_dn_normalize(s), *twice;

	if (once == NULL)
		return;
	if (strlen(once) > DIR_MAX_DN)
		abort();
	twice = dir_dn_normalize(once);
	if (twice == NULL || strcmp(once, twice) != 0) {
		fprintf(stderr, "'%s' normalised to '%s', then to '%s'\n", s, once,
			twice ? twice : "(refused)");
		abort();
	}
	free(once);
	free(twice);
}

static void
check_alias(const char *s)
{
	static const struct {
		const char *type, *alias;
	} names[] = {{"uid=", "userid="},
		     {"cn=", "commonName="},
		     {"dc=", "domainComponent="},
		     {"ou=", "organizationalUnitName="},
		     {"o=", "organizationName="}};
	char *as_is, *aliased, *spelled;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i].type), alias_len, rest_len;

		if (strncasecmp(s, names[i].type, n) != 0)
			continue;
		/* Longer than a DN may be, the long spelling alone is refused. */
		alias_len = strlen(names[i].alias);
		rest_len = strlen(s + n);
		if (alias_len + rest_len > DIR_MAX_DN ||
		    (spelled = malloc(alias_len + rest_len + 1)) == NULL)
			return;
		memcpy(spelled, names[i].alias, alias_len);
		memcpy(spelled + alias_len, s + n, rest_len + 1);
		as_is = dir_dn_normalize(s);
		aliased = dir_dn_normalize(spelled);
		if ((as_is == NULL) != (aliased == NULL) ||
		    (as_is != NULL && strcmp(as_is, aliased) != 0)) {
			fprintf(stderr, "'%s' normalised to '%s', '%s' to '%s'\n", s,
				as_is ? as_is : "(refused)", spelled,
				aliased ? aliased : "(refused)");
			abort();
		}
		free(as_is);
		free(aliased);
		free(spelled);
		return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);

	check_fold(data, size);
	check_dn(s);
	check_alias(s);
	free(s);
	return 0;
}
