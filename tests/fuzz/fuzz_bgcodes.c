/*
 * Fuzz target: the break-glass code file's parser (bgcodes.h), which
 * pam_idgov.so runs inside sshd on a root-owned file. Every line it
 * accepts lies inside the input and ends at a newline or the end.
 */
#include "fuzz.h"

#include "bgcodes.h"

struct span {
	size_t size, last_end;
};

static int
check(void *arg, const char *user, const char *hash, size_t start, size_t end)
{
	struct span *s = arg;

	if (start < s->last_end || start >= end || end > s->size || user[0] == '\0' ||
	    hash[0] != '$') {
		fprintf(stderr, "a line outside the input or out of order: %zu..%zu\n", start, end);
		abort();
	}
	s->last_end = end;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s = {.size = size};
	char why[128];

	(void)bgcodes_parse((const char *)data, size, check, &s, why, sizeof(why));
	return 0;
}
