/*
 * Fuzz target: network lists ([policy] networks, per-group rules) and the
 * addresses PAM matches against them (PAM_RHOST, which a client can shape).
 * The input is "LIST|ADDRESS|ADDRESS...": the list is parsed, and each
 * address that parses is matched, and must match a list made of itself.
 */
#include "fuzz.h"

#include "netmatch.h"

#include <assert.h>

static void
match_address(const struct net_prefix *list, size_t n, const char *addr)
{
	struct net_prefix a;

	if (net_parse_address(addr, &a) != 0)
		return;
	assert(a.family == 4 || a.family == 6);
	(void)net_match(list, n, &a);
	/* Every address lies inside its own full-length prefix. */
	if (!net_match(&a, 1, &a)) {
		fprintf(stderr, "address '%s' does not match itself\n", addr);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_prefix list[NET_MAX];
	struct idg_err err;
	char *s = fuzz_string(data, size), *addr, *next;
	size_t n = 0;

	if ((addr = strchr(s, '|')) != NULL)
		*addr++ = '\0';
	if (net_parse_list(s, list, &n, &err) != 0)
		n = 0;
	assert(n <= NET_MAX);
	for (size_t i = 0; i < n; i++)
		assert((list[i].family == 4 && list[i].bits >= 0 && list[i].bits <= 32) ||
		       (list[i].family == 6 && list[i].bits >= 0 && list[i].bits <= 128));
	for (; addr != NULL; addr = next) {
		if ((next = strchr(addr, '|')) != NULL)
			*next++ = '\0';
		match_address(list, n, addr);
	}
	free(s);
	return 0;
}
