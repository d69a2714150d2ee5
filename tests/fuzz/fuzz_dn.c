/*
 * Fuzz target: member DNs and names as the directory sends them, which
 * anyone who can write a group controls. The input is folded as UTF-8
 * (idg_casefold) and normalised as a DN (dir_dn_normalize). Folding must
 * succeed exactly on well-formed UTF-8, give well-formed UTF-8, and be
 * idempotent; a normalised DN must be within DIR_MAX_DN and normalise to
 * itself, or two spellings of one name could still compare unequal.
 */
#include "fuzz.h"

#include "casefold.h"
#include "dir.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);

	check_fold(data, size);
	check_dn(s);
	free(s);
	return 0;
}
