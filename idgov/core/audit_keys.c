/* The audit chain's keys across rotations; see audit_keys.h. */
#include "audit_keys.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char rotation_domain[] = "idgov-audit-key-rotation-v1";
#define ROTATION_MSG_LEN (sizeof(rotation_domain) - 1 + 8 + 32 + 2 * crypto_sign_PUBLICKEYBYTES)
#define PK_HEX_LEN (2 * crypto_sign_PUBLICKEYBYTES)
#define SIG_HEX_LEN (2 * crypto_sign_BYTES)

void
audit_key_id(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char id[AUDIT_KEY_ID_LEN])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
	sodium_bin2hex(id, AUDIT_KEY_ID_LEN, h, sizeof(h));
}

/* What the new key signs: it follows old_pk at seq, after the record hashed prev. */
static void
rotation_message(int64_t seq, const unsigned char prev[32],
		 const unsigned char old_pk[crypto_sign_PUBLICKEYBYTES],
		 const unsigned char new_pk[crypto_sign_PUBLICKEYBYTES],
		 unsigned char msg[ROTATION_MSG_LEN])
{
	unsigned char *p = msg;
	uint64_t v = (uint64_t)seq;

	memcpy(p, rotation_domain, sizeof(rotation_domain) - 1);
	p += sizeof(rotation_domain) - 1;
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	p += 8;
	memcpy(p, prev, 32);
	p += 32;
	memcpy(p, old_pk, crypto_sign_PUBLICKEYBYTES);
	p += crypto_sign_PUBLICKEYBYTES;
	memcpy(p, new_pk, crypto_sign_PUBLICKEYBYTES);
}

static int
add_key(struct audit_keychain *kc, int64_t since,
	const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	if (kc->n == kc->cap) {
		size_t cap = kc->cap ? 2 * kc->cap : 4;
		struct audit_chain_key *k = realloc(kc->keys, cap * sizeof(*k));

		if (k == NULL)
			return -1;
		kc->keys = k;
		kc->cap = cap;
	}
	kc->keys[kc->n].since = since;
	memcpy(kc->keys[kc->n].pk, pk, crypto_sign_PUBLICKEYBYTES);
	audit_key_id(pk, kc->keys[kc->n].id);
	kc->n++;
	return 0;
}

int
audit_keychain_init(struct audit_keychain *kc,
		    const unsigned char pinned[crypto_sign_PUBLICKEYBYTES])
{
	memset(kc, 0, sizeof(*kc));
	return add_key(kc, 0, pinned);
}

void
audit_keychain_free(struct audit_keychain *kc)
{
	free(kc->keys);
	memset(kc, 0, sizeof(*kc));
}

const struct audit_chain_key *
audit_keychain_key_for(const struct audit_keychain *kc, int64_t seq)
{
	size_t i = kc->n;

	while (i > 1 && kc->keys[i - 1].since >= seq)
		i--;
	return &kc->keys[i - 1];
}

/* A string member of o that is exactly len hex digits, decoded into out (len / 2 bytes). */
static int
hex_member(json_t *o, const char *name, unsigned char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, name));
	size_t bin_len;
	const char *end;

	if (s == NULL || strlen(s) != len)
		return -1;
	if (sodium_hex2bin(out, len / 2, s, len, NULL, &bin_len, &end) != 0 || bin_len != len / 2 ||
	    *end != '\0')
		return -1;
	return 0;
}

static int say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

int
audit_keychain_add(struct audit_keychain *kc, int64_t seq, const unsigned char prev[32],
		   const char *details, char *why, size_t why_len)
{
	unsigned char old_pk[crypto_sign_PUBLICKEYBYTES], new_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sig[crypto_sign_BYTES], msg[ROTATION_MSG_LEN];
	char old_id[AUDIT_KEY_ID_LEN], new_id[AUDIT_KEY_ID_LEN];
	const struct audit_chain_key *cur = &kc->keys[kc->n - 1];
	const char *key, *oid, *nid;
	json_error_t jerr;
	json_t *d;
	int rc = -1;

	if (seq <= cur->since)
		return say(why, why_len, "it is not after the previous rotation");
	d = json_loads(details != NULL ? details : "", JSON_REJECT_DUPLICATES, &jerr);
	if (d == NULL || !json_is_object(d) || json_object_size(d) != 6) {
		say(why, why_len, "its details are not a rotation's six fields");
		goto out;
	}
	key = json_string_value(json_object_get(d, "key"));
	oid = json_string_value(json_object_get(d, "old_id"));
	nid = json_string_value(json_object_get(d, "new_id"));
	if (key == NULL || strcmp(key, "audit") != 0 || oid == NULL || nid == NULL ||
	    hex_member(d, "old_public_key", old_pk, PK_HEX_LEN) != 0 ||
	    hex_member(d, "new_public_key", new_pk, PK_HEX_LEN) != 0 ||
	    hex_member(d, "new_signature", sig, SIG_HEX_LEN) != 0) {
		say(why, why_len, "its details are malformed");
		goto out;
	}
	audit_key_id(old_pk, old_id);
	audit_key_id(new_pk, new_id);
	if (strcmp(oid, old_id) != 0 || strcmp(nid, new_id) != 0) {
		say(why, why_len, "its key ids do not match its public keys");
		goto out;
	}
	if (sodium_memcmp(old_pk, cur->pk, sizeof(old_pk)) != 0) {
		say(why, why_len, "it replaces key %s, but the key in force is %s", old_id,
		    cur->id);
		goto out;
	}
	if (sodium_memcmp(old_pk, new_pk, sizeof(new_pk)) == 0) {
		say(why, why_len, "its new key is the old one");
		goto out;
	}
	rotation_message(seq, prev, old_pk, new_pk, msg);
	if (crypto_sign_verify_detached(sig, msg, sizeof(msg), new_pk) != 0) {
		say(why, why_len, "the new key %s did not sign it", new_id);
		goto out;
	}
	if (add_key(kc, seq, new_pk) != 0) {
		say(why, why_len, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(d);
	return rc;
}

int
audit_key_rotation_details(int64_t seq, const unsigned char prev[32],
			   const unsigned char old_pk[crypto_sign_PUBLICKEYBYTES],
			   const unsigned char *new_sk, char **out, char new_id[AUDIT_KEY_ID_LEN],
			   struct idg_err *err)
{
	unsigned char new_pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	unsigned char msg[ROTATION_MSG_LEN];
	char old_hex[PK_HEX_LEN + 1], new_hex[PK_HEX_LEN + 1], sig_hex[SIG_HEX_LEN + 1];
	char old_id[AUDIT_KEY_ID_LEN];
	json_t *d;

	*out = NULL;
	crypto_sign_ed25519_sk_to_pk(new_pk, new_sk);
	rotation_message(seq, prev, old_pk, new_pk, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), new_sk);
	sodium_bin2hex(old_hex, sizeof(old_hex), old_pk, crypto_sign_PUBLICKEYBYTES);
	sodium_bin2hex(new_hex, sizeof(new_hex), new_pk, sizeof(new_pk));
	sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
	audit_key_id(old_pk, old_id);
	audit_key_id(new_pk, new_id);
	d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key", "audit", "old_id", old_id, "new_id",
		      new_id, "old_public_key", old_hex, "new_public_key", new_hex, "new_signature",
		      sig_hex);
	if (d != NULL)
		*out = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(d);
	if (*out == NULL)
		return idg_seterr(err, "out of memory");
	return 0;
}

int
audit_keychain_load(struct store *st, const unsigned char pinned[crypto_sign_PUBLICKEYBYTES],
		    struct audit_keychain *kc, int64_t *bad_seq, char *why, size_t why_len,
		    struct idg_err *err)
{
	static const unsigned char zero[32];
	sqlite3_stmt *s;
	int rc;

	*bad_seq = 0;
	if (audit_keychain_init(kc, pinned) != 0)
		return idg_seterr(err, "out of memory");
	if (store_prepare(st,
			  "SELECT a.seq, a.details, p.hash FROM audit a LEFT JOIN audit p ON "
			  "p.seq = a.seq - 1 WHERE a.action = ?1 ORDER BY a.seq",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, AUDIT_KEY_ROTATE_ACTION, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(s, 0);
		const unsigned char *prev = zero;

		if (sqlite3_column_bytes(s, 2) == 32)
			prev = sqlite3_column_blob(s, 2);
		else if (seq != 1) {
			*bad_seq = seq;
			snprintf(why, why_len, "the record before it is missing");
			break;
		}
		if (audit_keychain_add(kc, seq, prev, (const char *)sqlite3_column_text(s, 1), why,
				       why_len) != 0) {
			*bad_seq = seq;
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading the audit key rotations");
	return 0;
}
