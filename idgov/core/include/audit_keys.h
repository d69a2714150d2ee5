/*
 * The audit chain across signing keys.
 *
 * The audit key can be replaced (rotate_audit.h) without starting a new
 * chain: the change is itself a record of the chain, action
 * AUDIT_KEY_ROTATE_ACTION, whose details are
 *
 *     {"key":"audit","new_id":ID,"new_public_key":HEX,"new_signature":HEX,
 *      "old_id":ID,"old_public_key":HEX}
 *
 * It is signed by both keys:
 *
 *   - by the new key inside the record: new_signature is an Ed25519
 *     signature, by the new key, of
 *     "idgov-audit-key-rotation-v1" || seq || previous record's hash ||
 *     old public key || new public key; so the new key's holder agreed to
 *     follow the old key at exactly this place in exactly this chain;
 *   - by the old key over the whole record: the chain's head at the
 *     rotation's seq is signed (audit_signatures) by the key it replaces.
 *
 * The first public key ([store] audit_public_key, written by `idgov init`)
 * is the only one a verifier is given: it is pinned, never rewritten. A
 * verifier starts with it and, at each rotation record, checks both
 * signatures and moves on to the new key for every head after that seq.
 * Someone holding only a new key cannot insert a rotation (the head at its
 * seq must verify with the old key), and someone holding only an old key
 * cannot name a successor the chain has not recorded (the record must
 * carry the new key's signature). Old public keys stay in the records that
 * named them, so the chain verifies after the old secret keys are
 * destroyed.
 *
 * A key's id is the hex of a BLAKE2b-128 of its public key (what `idgov
 * key list` shows and audit records name).
 */
#ifndef IDGOV_AUDIT_KEYS_H
#define IDGOV_AUDIT_KEYS_H

#include "store.h"
#include "util.h"

#include <sodium.h>
#include <stdint.h>

#define AUDIT_KEY_ROTATE_ACTION "audit.key_rotate"
#define AUDIT_KEY_ID_LEN 33 /* 32 hex digits and NUL */

struct audit_chain_key {
	int64_t since; /* the rotation's seq: signs heads above it (0 for the pinned key) */
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char id[AUDIT_KEY_ID_LEN];
};

/* The keys of one chain, in order: keys[0] is the pinned one. */
struct audit_keychain {
	struct audit_chain_key *keys;
	size_t n, cap;
};

void audit_key_id(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char id[AUDIT_KEY_ID_LEN]);

/* Starts a chain of keys at the pinned public key; 0 or -1 (out of memory). */
int audit_keychain_init(struct audit_keychain *kc,
			const unsigned char pinned[crypto_sign_PUBLICKEYBYTES]);
void audit_keychain_free(struct audit_keychain *kc);

/* The key that signs the head at seq (a rotation's own seq: the old key). */
const struct audit_chain_key *audit_keychain_key_for(const struct audit_keychain *kc, int64_t seq);

/*
 * Checks the rotation record at seq (chained after prev, with the given
 * details) against the key in force and, if it holds, adds its new key.
 * -1 with why (one sentence) on anything else: details that are not
 * exactly the object above, an old key that is not the one in force, a
 * new key equal to it, a new-key signature that does not verify.
 */
int audit_keychain_add(struct audit_keychain *kc, int64_t seq, const unsigned char prev[32],
		       const char *details, char *why, size_t why_len);

/*
 * The details of a rotation record at seq after prev, from the old public
 * key to new_sk's: new_sk signs the statement. *out is malloc'd JSON
 * (sorted keys). new_id gets the new key's id.
 */
int audit_key_rotation_details(int64_t seq, const unsigned char prev[32],
			       const unsigned char old_pk[crypto_sign_PUBLICKEYBYTES],
			       const unsigned char *new_sk, char **out,
			       char new_id[AUDIT_KEY_ID_LEN], struct idg_err *err);

/*
 * Reads every rotation record of the store's chain, in order, into kc
 * (started at pinned) inside the caller's read transaction. A rotation
 * that does not hold is reported with *bad_seq and why (return 0); -1
 * only when the store cannot be read. The hashes are not checked here:
 * audit_verify() does that.
 */
int audit_keychain_load(struct store *st, const unsigned char pinned[crypto_sign_PUBLICKEYBYTES],
			struct audit_keychain *kc, int64_t *bad_seq, char *why, size_t why_len,
			struct idg_err *err);

#endif
