/*
 * Master key rotation, crash-safe at every step.
 *
 * rotate_master() runs these steps; a kill at any point leaves a store
 * that opens with the key files present, because the store names the key
 * its secrets are sealed under (table key_ids) and readers pick, among
 * master.key, master.key.new and master.key.old, the file with that id
 * (secret_key_for_store):
 *
 *   1. write master.key.new (0400, O_EXCL, fsync, directory fsync);
 *      a crash here: the store still names the old key, in master.key;
 *   2. one store transaction: every secret opened with the old key and
 *      sealed with the new one (the resealers), key_ids set to the new id,
 *      the audit record; a crash before the commit leaves the old state;
 *   3. link master.key to master.key.old (the same old key, two names);
 *   4. rename master.key.new over master.key, directory fsync.
 *
 * After 2 the store names the new key, held by master.key.new until 4 and
 * by master.key after; rotate_master_recover() (run first by each rotation
 * and by idgovd at start) completes 3 and 4, or removes a master.key.new
 * the store never used. master.key.old stays until
 * rotate_master_destroy_old() overwrites, fsyncs and unlinks it.
 */
#ifndef IDGOV_ROTATE_H
#define IDGOV_ROTATE_H

#include "audit.h"
#include "secret.h"
#include "store.h"

/* Re-encrypts one kind of secret inside the caller's transaction; *count: how many. */
struct rotate_resealer {
	const char *what;
	int (*reseal)(void *arg, struct store *st, const struct secret_key *from,
		      const struct secret_key *to, size_t *count, struct idg_err *err);
	void *arg;
};

/* For the crash tests: stop (return 0) after a step, as a kill would. */
enum rotate_stop {
	ROTATE_RUN_ALL,
	ROTATE_STOP_AFTER_NEW_FILE,
	ROTATE_STOP_BEFORE_COMMIT, /* rolls back, as a kill before the commit would */
	ROTATE_STOP_AFTER_COMMIT,
	ROTATE_STOP_AFTER_LINK,
};

struct rotate_result {
	char old_id[SECRET_KEY_ID_LEN], new_id[SECRET_KEY_ID_LEN];
	size_t resealed;
};

/*
 * Rotates the master key in path. audit may be NULL. Refused while
 * path.old exists (destroy it first). The environment variable
 * IDGOV_FAULT=key-rotate-after-new-file, -after-commit or -after-link
 * kills the process there (integration tests).
 */
int rotate_master(const char *path, struct store *st, struct audit *audit, const char *actor,
		  const struct rotate_resealer *rs, size_t nrs, enum rotate_stop stop,
		  struct rotate_result *res, struct idg_err *err);

/*
 * Completes or undoes a rotation a crash interrupted. 0 with *what (a
 * static text: "nothing to do", "completed", "removed an unused new key"),
 * or -1 (err).
 */
int rotate_master_recover(const char *path, struct store *st, struct audit *audit,
			  const char *actor, const char **what, struct idg_err *err);

/* Overwrites, fsyncs and unlinks path.old; refused if the store still needs it. */
int rotate_master_destroy_old(const char *path, struct store *st, struct audit *audit,
			      const char *actor, struct idg_err *err);

#endif
