/*
 * Fuzz target: the details of an audit key rotation record (audit_keys.c),
 * which `idgov audit verify` parses from a store anyone with write access
 * to it could have edited. The input is the details text, checked as the
 * record at seq 7 after a fixed previous hash, against a fixed pinned key
 * (from a fixed seed, so a corpus entry can be a rotation that holds).
 * Whatever the input, the chain of keys grows by exactly one key, a new
 * one, or not at all.
 */
#include "fuzz.h"

#include "audit_keys.h"

#include <assert.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char seed[crypto_sign_SEEDBYTES] = {1}, pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES], prev[32] = {2};
	struct audit_keychain kc;
	char why[256], *s = fuzz_string(data, size);

	if (sodium_init() < 0)
		fuzz_die("libsodium", "cannot initialise");
	crypto_sign_seed_keypair(pk, sk, seed);
	if (audit_keychain_init(&kc, pk) != 0)
		fuzz_die("keychain", "out of memory");
	why[0] = '\0';
	if (audit_keychain_add(&kc, 7, prev, s, why, sizeof(why)) == 0) {
		assert(kc.n == 2 && kc.keys[1].since == 7);
		assert(memcmp(kc.keys[1].pk, pk, sizeof(pk)) != 0);
		assert(audit_keychain_key_for(&kc, 7) == &kc.keys[0]);
		assert(audit_keychain_key_for(&kc, 8) == &kc.keys[1]);
	} else {
		assert(kc.n == 1 && why[0] != '\0');
	}
	audit_keychain_free(&kc);
	free(s);
	return 0;
}
