/*
 * Audit key rotation, crash-safe at every step, in the shape of the
 * master key's (rotate.h):
 *
 *   1. write audit.key.new (a new Ed25519 secret key, 0400, O_EXCL,
 *      fsync, directory fsync); a crash here: the chain still names the
 *      old key, in audit.key;
 *   2. one store transaction: the rotation record naming the new public
 *      key and signed by the new key, the head at it signed by the old
 *      key, the store's audit key id set to the new one
 *      (audit_append_key_rotation(), audit_keys.h); a crash before the
 *      commit leaves the old state;
 *   3. link audit.key to audit.key.old;
 *   4. rename audit.key.new over audit.key, directory fsync.
 *
 * Signers pick among audit.key, .new and .old the key the store names
 * (audit.h), inside the transaction that signs, so no head after the
 * rotation is ever signed with the old key, whatever process signs it.
 * rotate_audit_recover() (run first by each rotation and by idgovd at
 * start) completes 3 and 4, or removes an audit.key.new the chain never
 * used. audit.key.old stays until rotate_audit_destroy_old() overwrites
 * and unlinks it; its public key stays in the chain.
 *
 * The public key file ([store] audit_public_key) is not changed: it is
 * the first key, pinned, from which `idgov audit verify` follows the
 * chain across every rotation.
 */
#ifndef IDGOV_ROTATE_AUDIT_H
#define IDGOV_ROTATE_AUDIT_H

#include "audit.h"
#include "rotate.h"

struct rotate_audit_result {
	char old_id[AUDIT_KEY_ID_LEN], new_id[AUDIT_KEY_ID_LEN];
	int64_t seq; /* the rotation record */
};

/*
 * Rotates the audit signing key in path (audit must be the handle that
 * signs with it). Refused while path.old exists. IDGOV_FAULT as in
 * rotate.h kills the process after a step; stop stops there (tests).
 */
int rotate_audit(const char *path, struct audit *audit, const char *actor, enum rotate_stop stop,
		 struct rotate_audit_result *res, struct idg_err *err);

/* Completes or undoes a rotation a crash interrupted; *what as in rotate_master_recover(). */
int rotate_audit_recover(const char *path, struct audit *audit, const char *actor,
			 const char **what, struct idg_err *err);

/* Overwrites, fsyncs and unlinks path.old; refused if the store still signs with it. */
int rotate_audit_destroy_old(const char *path, struct audit *audit, const char *actor,
			     struct idg_err *err);

#endif
