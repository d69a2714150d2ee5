/* Secrets at rest; see secret.h. */
#include "secret.h"

#include "keys.h"

#include <stdlib.h>
#include <string.h>

struct secret_key {
	unsigned char *key; /* sodium_malloc, KEYS_MASTER_LEN */
};

int
secret_key_load(const char *path, struct secret_key **out, struct idg_err *err)
{
	struct secret_key *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return idg_seterr(err, "out of memory");
	if (keys_load_master(path, &k->key, err) != 0) {
		free(k);
		return -1;
	}
	*out = k;
	return 0;
}

void
secret_key_free(struct secret_key *k)
{
	if (k == NULL)
		return;
	keys_free_secret(k->key);
	free(k);
}

int
secret_seal(const struct secret_key *k, const unsigned char *plain, size_t len, const char *ad,
	    unsigned char nonce[SECRET_NONCE_LEN], unsigned char *ct)
{
	randombytes_buf(nonce, SECRET_NONCE_LEN);
	return crypto_aead_xchacha20poly1305_ietf_encrypt(
		ct, NULL, plain, len, (const unsigned char *)ad, strlen(ad), NULL, nonce, k->key);
}

int
secret_open(const struct secret_key *k, const unsigned char *ct, size_t ct_len, const char *ad,
	    const unsigned char nonce[SECRET_NONCE_LEN], unsigned char *plain)
{
	if (ct_len < SECRET_TAG_LEN)
		return -1;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, ct, ct_len,
							  (const unsigned char *)ad, strlen(ad),
							  nonce, k->key);
}

void
secret_wipe_json(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		/*
		 * jansson owns the bytes and offers no way to wipe them: this
		 * writes through its const, which is safe since the value is
		 * dead and its length does not change.
		 */
		sodium_memzero(idg_unconst(json_string_value(v)), json_string_length(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) secret_wipe_json(item);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, item) secret_wipe_json(item);
	}
}
