/* Helpers shared by the unit tests: private temporary directories. */
#ifndef IDGOV_TESTUTIL_H
#define IDGOV_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "keys.h"
#include "store.h"

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

/*
 * For tests of governance (grants, reviews): a private directory with a
 * store migrated to the latest schema, an audit signing key and an audit
 * handle, cfg loaded from conf, and sql (mirror rows) run in the store.
 * Returns 0, or -1 after saying why on stderr.
 */
static inline int
test_governance_store(const char *name, const char *conf, const char *sql, char dir[64],
		      struct cfg **cfg, struct store **st, struct audit **audit)
{
	char db[128], sk[128], pk[128];
	struct idg_err err;

	if (test_mkdtemp(dir, 64, name) != 0)
		return -1;
	snprintf(db, sizeof(db), "%s/idgov.db", dir);
	snprintf(sk, sizeof(sk), "%s/audit.key", dir);
	snprintf(pk, sizeof(pk), "%s/audit.pub", dir);
	if (cfg_load_string(conf, "t.conf", cfg, &err) != 0 ||
	    store_open(db, STORE_OPEN_CREATE, st, &err) != 0 ||
	    keys_create_audit(sk, pk, &err) != 0 ||
	    audit_open(*st, sk, 100, NULL, audit, &err) != 0 || store_exec(*st, sql, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Closes what test_governance_store opened and removes its directory. */
static inline int
test_governance_close(const char *dir, struct cfg *cfg, struct store *st, struct audit *audit)
{
	audit_close(audit);
	store_close(st);
	cfg_free(cfg);
	return test_rmtree(dir);
}

#endif
