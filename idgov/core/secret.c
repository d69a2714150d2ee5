/* Secrets at rest; see secret.h. */
#include "secret.h"

#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct secret_key {
	unsigned char *key; /* sodium_malloc, KEYS_MASTER_LEN */
	char id[SECRET_KEY_ID_LEN];
	struct secret_key *next; /* the other key files of a rotation (see secret.h) */
};

void
secret_key_id_of(const unsigned char *key, char id[SECRET_KEY_ID_LEN])
{
	static const char domain[] = "idgov-master-key-id-v1";
	unsigned char h[16];
	crypto_generichash_state s;

	crypto_generichash_init(&s, NULL, 0, sizeof(h));
	crypto_generichash_update(&s, (const unsigned char *)domain, sizeof(domain));
	crypto_generichash_update(&s, key, KEYS_MASTER_LEN);
	crypto_generichash_final(&s, h, sizeof(h));
	sodium_memzero(&s, sizeof(s));
	sodium_bin2hex(id, SECRET_KEY_ID_LEN, h, sizeof(h));
}

int
secret_key_load_one(const char *path, struct secret_key **out, struct idg_err *err)
{
	struct secret_key *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return idg_seterr(err, "out of memory");
	if (keys_load_master(path, &k->key, err) != 0) {
		free(k);
		return -1;
	}
	secret_key_id_of(k->key, k->id);
	*out = k;
	return 0;
}

int
secret_key_load(const char *path, struct secret_key **out, struct idg_err *err)
{
	static const char *const suffix[] = {".new", ".old"};
	struct secret_key **tail;
	char other[4096];

	if (secret_key_load_one(path, out, err) != 0)
		return -1;
	tail = &(*out)->next;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		struct idg_err ignored;

		if (snprintf(other, sizeof(other), "%s%s", path, suffix[i]) >= (int)sizeof(other) ||
		    access(other, F_OK) != 0)
			continue;
		/*
		 * A .new cut short by a crash, or a file we may not trust, is
		 * skipped: it can only matter if the store names its id, and
		 * then secret_key_for_store() says that no file holds it.
		 */
		if (secret_key_load_one(other, tail, &ignored) == 0)
			tail = &(*tail)->next;
	}
	return 0;
}

void
secret_key_free(struct secret_key *k)
{
	while (k != NULL) {
		struct secret_key *next = k->next;

		keys_free_secret(k->key);
		free(k);
		k = next;
	}
}

const char *
secret_key_id(const struct secret_key *k)
{
	return k->id;
}

int
secret_store_key_id(struct store *st, char id[SECRET_KEY_ID_LEN], struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	id[0] = '\0';
	/* Kept prepared: the auth service asks this on every code it checks. */
	if (store_prepare_cached(st, "SELECT key_id FROM key_ids WHERE name = 'master'", &s, err) !=
	    0)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		idg_strlcpy(id, (const char *)sqlite3_column_text(s, 0), SECRET_KEY_ID_LEN);
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading the master key id");
	return rc == SQLITE_ROW ? 1 : 0;
}

int
secret_key_for_store(const struct secret_key *k, struct store *st, const struct secret_key **out,
		     struct idg_err *err)
{
	char id[SECRET_KEY_ID_LEN];
	int rc;

	*out = NULL;
	rc = secret_store_key_id(st, id, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*out = k; /* never rotated: the secrets are under the key file itself */
		return 0;
	}
	for (const struct secret_key *c = k; c != NULL; c = c->next) {
		if (strcmp(c->id, id) == 0) {
			*out = c;
			return 0;
		}
	}
	return idg_seterr(err,
			  "the store's secrets are sealed under master key %s, which no master "
			  "key file (.key, .key.new, .key.old) holds",
			  id);
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
