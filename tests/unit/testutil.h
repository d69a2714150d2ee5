/* Helpers shared by the unit tests: private temporary directories. */
#ifndef IDGOV_TESTUTIL_H
#define IDGOV_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "keys.h"
#include "secret.h"
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

/* The number of files (not directories) in dir, or -1 if it cannot be read. */
static inline int
test_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat sb;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_type == DT_REG ||
		    (e->d_type == DT_UNKNOWN &&
		     fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISREG(sb.st_mode)))
			n++;
	closedir(d);
	return n;
}

/*
 * A datagram socket bound at path, as a syslog stand-in for a logger
 * (log_open with that path); receives time out after two seconds.
 * Returns the descriptor, or -1.
 */
static inline int
test_listen_dgram(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What test_env_open() sets up besides the store and the configuration. */
#define TEST_ENV_AUDIT 0x1      /* an audit key pair, anchor and handle */
#define TEST_ENV_MASTER_KEY 0x2 /* a master key (MFA secrets), loaded */

/*
 * The shared fixture of the unit tests: a private directory holding a
 * store migrated to the latest schema, the configuration, and on request
 * the audit key and handle and the master key. Tests of every layer build
 * their world with it, so there is one way to make a store, a config and
 * keys.
 */
struct test_env {
	char dir[64];
	char db[128];                        /* DIR/idgov.db */
	char audit_key[128], audit_pub[128]; /* DIR/audit.key, DIR/audit.pub */
	char anchor[128];                    /* DIR/audit.anchor */
	char master_key[128];                /* DIR/master.key */
	struct cfg *cfg;
	struct store *st;
	struct audit *audit;    /* with TEST_ENV_AUDIT, else NULL */
	struct secret_key *key; /* with TEST_ENV_MASTER_KEY, else NULL */
};

/* Replaces each "$DIR" in text by dir; NULL when out of memory. */
static inline char *
test_expand_dir(const char *text, const char *dir)
{
	size_t n = 1, dl = strlen(dir);
	const char *p;
	char *out, *o;

	for (p = text; *p != '\0'; p++)
		n += strncmp(p, "$DIR", 4) == 0 ? dl : 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	for (p = text, o = out; *p != '\0';) {
		if (strncmp(p, "$DIR", 4) == 0) {
			memcpy(o, dir, dl);
			o += dl;
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/*
 * Sets up env in /tmp/idgov-test-NAME-XXXXXX: cfg from conf ("$DIR" stands
 * for the directory; exts: the sections of other libraries, NULL: none),
 * the store, what flags ask for, then sql (mirror rows; NULL: none) run in
 * the store. Returns 0, or -1 after saying why on stderr.
 */
static inline int
test_env_open(struct test_env *env, const char *name, const char *conf,
	      const struct cfg_extension *const *exts, const char *sql, unsigned flags)
{
	struct idg_err err = {{0}};
	char *text = NULL;
	int rc = -1;

	memset(env, 0, sizeof(*env));
	if (test_mkdtemp(env->dir, sizeof(env->dir), name) != 0) {
		fprintf(stderr, "setup: cannot make a directory for %s\n", name);
		return -1;
	}
	snprintf(env->db, sizeof(env->db), "%s/idgov.db", env->dir);
	snprintf(env->audit_key, sizeof(env->audit_key), "%s/audit.key", env->dir);
	snprintf(env->audit_pub, sizeof(env->audit_pub), "%s/audit.pub", env->dir);
	snprintf(env->master_key, sizeof(env->master_key), "%s/master.key", env->dir);
	snprintf(env->anchor, sizeof(env->anchor), "%s/audit.anchor", env->dir);
	if ((text = test_expand_dir(conf, env->dir)) == NULL) {
		idg_seterr(&err, "out of memory");
		goto out;
	}
	if (cfg_load_string_with(text, "t.conf", exts, &env->cfg, &err) != 0 ||
	    store_open(env->db, STORE_OPEN_CREATE, &env->st, &err) != 0)
		goto out;
	if ((flags & TEST_ENV_AUDIT) &&
	    (keys_create_audit(env->audit_key, env->audit_pub, &err) != 0 ||
	     audit_open(env->st, env->audit_key, env->anchor, 100, NULL, &env->audit, &err) != 0 ||
	     audit_anchor_create(env->audit, &err) != 0))
		goto out;
	if ((flags & TEST_ENV_MASTER_KEY) &&
	    (keys_create_master(env->master_key, &err) != 0 ||
	     secret_key_load(env->master_key, &env->key, &err) != 0))
		goto out;
	if (sql != NULL && store_exec(env->st, sql, &err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "setup: %s\n", err.msg);
	free(text);
	return rc;
}

/* Closes what test_env_open opened and removes its directory. */
static inline int
test_env_close(struct test_env *env)
{
	secret_key_free(env->key);
	audit_close(env->audit);
	store_close(env->st);
	cfg_free(env->cfg);
	env->key = NULL;
	env->audit = NULL;
	env->st = NULL;
	env->cfg = NULL;
	return test_rmtree(env->dir);
}

/*
 * A cmocka setup's body for a test that needs a store and nothing else:
 * *state becomes a test_env with a minimal configuration (directory
 * only); test_env_bare_close() is its teardown.
 */
static inline int
test_env_bare_open(void **state, const char *name)
{
	struct test_env *env = calloc(1, sizeof(*env));

	if (env == NULL || test_env_open(env, name, "[directory]\nuri = ldap://h/\nbase = dc=x\n",
					 NULL, NULL, 0) != 0) {
		free(env);
		return -1;
	}
	*state = env;
	return 0;
}

static inline int
test_env_bare_close(void **state)
{
	struct test_env *env = *state;
	int rc = test_env_close(env);

	free(env);
	return rc;
}

/*
 * A store with a signed audit chain in a private directory (the fixture of
 * the audit, spool and audit-key tests): the audit key pair beside it,
 * records signed every sign_every appends, and with anchored an anchor
 * file outside the store (audit.anchor). pubkey is the key pinned at
 * creation.
 */
struct test_chain {
	char dir[64];
	char db[128], sk[128], pk[128], anchor[128];
	struct store *st;
	struct audit *a;
	unsigned char pubkey[crypto_sign_PUBLICKEYBYTES];
};

/* Closes what test_chain_open() opened and removes its directory. */
static inline int
test_chain_close(struct test_chain *c)
{
	audit_close(c->a);
	store_close(c->st);
	c->a = NULL;
	c->st = NULL;
	return test_rmtree(c->dir);
}

/* Creates the chain of struct test_chain in /tmp/idgov-test-NAME-XXXXXX. */
static inline int
test_chain_open(struct test_chain *c, const char *name, int sign_every, int anchored)
{
	struct idg_err err;

	memset(c, 0, sizeof(*c));
	if (test_mkdtemp(c->dir, sizeof(c->dir), name) != 0)
		return -1;
	snprintf(c->db, sizeof(c->db), "%s/idgov.db", c->dir);
	snprintf(c->sk, sizeof(c->sk), "%s/audit.key", c->dir);
	snprintf(c->pk, sizeof(c->pk), "%s/audit.pub", c->dir);
	snprintf(c->anchor, sizeof(c->anchor), "%s/audit.anchor", c->dir);
	if (store_open(c->db, STORE_OPEN_CREATE, &c->st, &err) != 0 ||
	    keys_create_audit(c->sk, c->pk, &err) != 0 ||
	    audit_open(c->st, c->sk, anchored ? c->anchor : NULL, sign_every, NULL, &c->a, &err) !=
		    0 ||
	    (anchored && audit_anchor_create(c->a, &err) != 0) ||
	    keys_load_audit_public(c->pk, c->pubkey, &err) != 0) {
		fprintf(stderr, "test_chain_open: %s\n", err.msg);
		(void)test_chain_close(c);
		return -1;
	}
	return 0;
}

/*
 * Resolves fixture `member` values to the entries they name, as the mirror
 * does when it stores them (member_refs.target): fixtures that insert
 * member_refs rows by hand append this.
 */
#define TEST_RESOLVE_MEMBERS_SQL                                                                   \
	"UPDATE member_refs SET target = coalesce((SELECT u.uuid FROM users u WHERE "              \
	"u.dn_norm = member_refs.value), (SELECT g.uuid FROM groups g WHERE g.dn_norm = "          \
	"member_refs.value)) WHERE kind = 0;"

/*
 * Puts schema 021's memberships table and triggers back in place of 022's
 * packed lists (empty), for tests that take a store back to an older
 * schema version.
 */
#define TEST_UNPACK_MEMBERSHIPS_SQL                                                                \
	"DROP TRIGGER memberships_insert; DROP TRIGGER memberships_delete;"                        \
	"DROP TRIGGER memberships_of_group; DROP TRIGGER memberships_of_ref;"                      \
	"DROP VIEW membership_values; DROP VIEW memberships;"                                      \
	"DROP TABLE group_members; DROP TABLE ref_groups;"                                         \
	"CREATE TABLE memberships (group_id INTEGER NOT NULL, ref_id INTEGER NOT NULL,"            \
	" since INTEGER NOT NULL, PRIMARY KEY (group_id, ref_id)) WITHOUT ROWID;"                  \
	"CREATE INDEX memberships_ref ON memberships (ref_id);"                                    \
	"CREATE VIEW membership_values AS SELECT g.uuid AS group_uuid, g.cn AS group_cn,"          \
	" CASE r.kind WHEN 0 THEN 'member' ELSE 'memberUid' END AS kind, r.value AS value,"        \
	" m.since AS since FROM memberships m JOIN groups g ON g.id = m.group_id"                  \
	" JOIN member_refs r ON r.id = m.ref_id;"                                                  \
	"CREATE TRIGGER memberships_of_group AFTER DELETE ON groups BEGIN"                         \
	" DELETE FROM memberships WHERE group_id = OLD.id; END;"                                   \
	"CREATE TRIGGER memberships_of_ref AFTER DELETE ON member_refs BEGIN"                      \
	" DELETE FROM memberships WHERE ref_id = OLD.id; END;"

/*
 * The pairs on which the two packed lists disagree (schema 022): a group's
 * list names a member whose list lacks the group, or the other way round,
 * plus any list stored empty. 0 when each is the other's inverse.
 */
#define TEST_PACKED_DISAGREE_SQL                                                                   \
	"SELECT (SELECT count(*) FROM (SELECT group_id, ref_id FROM memberships EXCEPT "           \
	"SELECT j.value, r.ref_id FROM ref_groups r, json_each(r.groups) j)) + "                   \
	"(SELECT count(*) FROM (SELECT j.value, r.ref_id FROM ref_groups r, json_each(r.groups) "  \
	"j "                                                                                       \
	"EXCEPT SELECT group_id, ref_id FROM memberships)) + "                                     \
	"(SELECT count(*) FROM group_members WHERE json_array_length(refs) = 0) + "                \
	"(SELECT count(*) FROM ref_groups WHERE json_array_length(groups) = 0)"

/*
 * The integer in the first column of the first row of sql run on st (-1
 * when there is no row); a statement that does not prepare stops the test
 * program.
 */
static inline long long
test_store_count(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "test_count: %s: %s\n", sql, sqlite3_errmsg(st->db));
		abort();
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* test_store_count() on the test_env's store. */
static inline long long
test_count(const struct test_env *env, const char *sql)
{
	return test_store_count(env->st, sql);
}

#endif
