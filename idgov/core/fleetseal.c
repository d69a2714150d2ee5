/*
 * TOTP secrets sealed under the fleet key; see fleetseal.h for the blob's
 * layout and why the key never enters the directory.
 *
 * The fleet key is a master-key file by format (32 bytes, keys.c) and is
 * loaded and trusted the same way (secret.c: root-owned, readable by
 * nobody else, in directories only root can change). Its id is the start
 * of the fingerprint secret.c computes for every key, so the id `idgov
 * fleet join` prints and the id in each blob are the same bytes an admin
 * can compare with the key file's.
 *
 * The associated data is text (secret_seal() takes a C string): the
 * user's entryUUID in lower case, a colon, and the blob's first
 * 1 + FLEET_KEY_ID_LEN bytes (version and key id) in hex:
 *
 *     "0f1e...-...:01a1b2c3d4e5f60718"
 *
 * so a blob moved to another entry, or relabelled with another version or
 * key id, fails to open. Opening checks the version and the key id before
 * it tries the key, so a host that holds another fleet key is told which
 * key the value needs and which it has, instead of "forged".
 */
#include "fleetseal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define UUID_TEXT_LEN 36
/* The uuid, ':', and the version and key id in hex. */
#define AD_LEN (UUID_TEXT_LEN + 1 + 2 * (1 + FLEET_KEY_ID_LEN))

static void
key_id_of(const struct secret_key *k, unsigned char id[FLEET_KEY_ID_LEN])
{
	/* secret_key_id() is hex of a fingerprint at least FLEET_KEY_ID_LEN bytes long. */
	(void)sodium_hex2bin(id, FLEET_KEY_ID_LEN, secret_key_id(k), 2 * FLEET_KEY_ID_LEN, NULL,
			     NULL, NULL);
}

void
fleet_key_id_hex(const struct secret_key *k, char out[2 * FLEET_KEY_ID_LEN + 1])
{
	unsigned char id[FLEET_KEY_ID_LEN];

	key_id_of(k, id);
	sodium_bin2hex(out, 2 * FLEET_KEY_ID_LEN + 1, id, sizeof(id));
}

int
fleet_key_load(const struct cfg *cfg, struct secret_key **out, struct idg_err *err)
{
	const char *path = cfg->fleet_key_file;

	*out = NULL;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return idg_seterr(err,
				  "fleet key %s is missing: copy it from the governor (idgov fleet "
				  "join)",
				  path);
	/* One file: a fleet key is never rotated in place, so no .new or .old is read. */
	return secret_key_load_one(path, out, err);
}

/*
 * The associated data for uuid and the blob header hdr (version and key
 * id). -1 unless uuid is an entryUUID's text (36 characters, hex digits
 * and dashes where RFC 4122 puts them); upper-case digits are lowered.
 */
static int
make_ad(const char *uuid, const unsigned char hdr[1 + FLEET_KEY_ID_LEN], char ad[AD_LEN + 1])
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(uuid) != UUID_TEXT_LEN)
		return -1;
	for (size_t i = 0; i < UUID_TEXT_LEN; i++) {
		char c = uuid[i];

		if (shape[i] == '-') {
			if (c != '-')
				return -1;
		} else if (c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return -1;
		}
		ad[i] = c;
	}
	ad[UUID_TEXT_LEN] = ':';
	sodium_bin2hex(ad + UUID_TEXT_LEN + 1, AD_LEN - UUID_TEXT_LEN, hdr, 1 + FLEET_KEY_ID_LEN);
	return 0;
}

int
fleet_seal(const struct secret_key *k, const char *uuid, const unsigned char *plain, size_t len,
	   unsigned char blob[FLEET_SEAL_MAX], size_t *blob_len, struct idg_err *err)
{
	char ad[AD_LEN + 1];
	unsigned char *nonce = blob + 1 + FLEET_KEY_ID_LEN;

	*blob_len = 0;
	if (len == 0 || len > FLEET_SEAL_MAX_PLAIN)
		return idg_seterr(err, "a sealed secret is 1 to %d bytes (got %zu)",
				  FLEET_SEAL_MAX_PLAIN, len);
	blob[0] = FLEET_SEAL_VERSION;
	key_id_of(k, blob + 1);
	if (make_ad(uuid, blob, ad) != 0)
		return idg_seterr(err, "cannot seal for '%.64s': not an entryUUID", uuid);
	if (secret_seal(k, plain, len, ad, nonce, nonce + SECRET_NONCE_LEN) != 0)
		return idg_seterr(err, "sealing the secret for %s failed", uuid);
	*blob_len = FLEET_SEAL_OVERHEAD + len;
	return 0;
}

/* The blob's shape alone: version 1 and room for at least one byte of secret. */
static int
well_formed(const unsigned char *blob, size_t blob_len)
{
	return blob_len > FLEET_SEAL_OVERHEAD && blob_len <= FLEET_SEAL_MAX &&
	       blob[0] == FLEET_SEAL_VERSION;
}

int
fleet_sealed_by(const struct secret_key *k, const unsigned char *blob, size_t blob_len)
{
	unsigned char id[FLEET_KEY_ID_LEN];

	if (blob == NULL || !well_formed(blob, blob_len))
		return -1;
	key_id_of(k, id);
	return sodium_memcmp(id, blob + 1, FLEET_KEY_ID_LEN) == 0 ? 1 : 0;
}

int
fleet_open(const struct secret_key *k, const char *uuid, const unsigned char *blob, size_t blob_len,
	   unsigned char *plain, size_t plain_size, size_t *plain_len, struct idg_err *err)
{
	char ad[AD_LEN + 1], want[2 * FLEET_KEY_ID_LEN + 1], have[2 * FLEET_KEY_ID_LEN + 1];
	const unsigned char *nonce = blob + 1 + FLEET_KEY_ID_LEN;
	size_t len;

	*plain_len = 0;
	if (blob_len <= FLEET_SEAL_OVERHEAD || blob_len > FLEET_SEAL_MAX)
		return idg_seterr(err, "the sealed secret of %.64s is malformed (%zu bytes)", uuid,
				  blob_len);
	if (!well_formed(blob, blob_len))
		return idg_seterr(err,
				  "the sealed secret of %.64s is malformed (version %u; this "
				  "host reads %d)",
				  uuid, blob[0], FLEET_SEAL_VERSION);
	fleet_key_id_hex(k, have);
	if (fleet_sealed_by(k, blob, blob_len) != 1) {
		sodium_bin2hex(want, sizeof(want), blob + 1, FLEET_KEY_ID_LEN);
		return idg_seterr(err,
				  "the secret of %.64s is sealed under fleet key %s, and this "
				  "host's fleet key is %s: copy the governor's key (idgov fleet "
				  "join)",
				  uuid, want, have);
	}
	len = blob_len - FLEET_SEAL_OVERHEAD;
	if (len > plain_size)
		return idg_seterr(err, "the secret of %.64s is longer (%zu bytes) than %zu", uuid,
				  len, plain_size);
	if (make_ad(uuid, blob, ad) != 0)
		return idg_seterr(err, "cannot open for '%.64s': not an entryUUID", uuid);
	if (secret_open(k, nonce + SECRET_NONCE_LEN, len + SECRET_TAG_LEN, ad, nonce, plain) != 0) {
		sodium_memzero(plain, plain_size);
		return idg_seterr(err,
				  "the sealed secret of %s does not open under fleet key %s: "
				  "forged, damaged, or copied from another person's entry",
				  uuid, have);
	}
	*plain_len = len;
	return 0;
}
