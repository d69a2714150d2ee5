/* Helpers shared by the unit tests: private temporary directories. */
#ifndef IDGOV_TESTUTIL_H
#define IDGOV_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Creates /tmp/idgov-test-NAME-XXXXXX into dir (at least 64 bytes). */
static inline int
test_mkdtemp(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/idgov-test-%s-XXXXXX", name);
	return mkdtemp(dir) != NULL ? 0 : -1;
}

/* Removes a directory made by test_mkdtemp and everything in it. */
static inline int
test_rmtree(const char *dir)
{
	char cmd[160];

	if (strncmp(dir, "/tmp/idgov-test-", 16) != 0 || strchr(dir, '\'') != NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
