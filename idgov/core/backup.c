/* Encrypted backups of the store; see backup.h. */
#define _GNU_SOURCE /* strptime, timegm */
#include "backup.h"

#include "audit.h"
#include "keys.h"
#include "mfastate.h"
#include "safepath.h"
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef IDGOV_VERSION_STRING
#define IDGOV_VERSION_STRING "0.1.0"
#endif

#define MAGIC "IDGOVBK1"
#define MAGIC_LEN 8
#define KEYID_LEN 16
#define HDR_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define PREFIX_LEN (MAGIC_LEN + KEYID_LEN + HDR_LEN)
#define PART_MAX 65536
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define MAC_LEN crypto_onetimeauth_poly1305_BYTES /* a sealed part's last bytes */
#define MAX_FILE ((size_t)16 << 30)
#define WRITE_CHUNK ((size_t)8 << 20) /* see struct out_file */

static const char *const entry_names[] = {"manifest.json", "idgov.conf", "audit.pub", "store.db",
					  "authd.db"};

/* How many entries a file of this format holds: format 1 had no authd.db. */
static size_t
n_entries(int format)
{
	return format >= 2 ? 5 : 4;
}

void
backup_contents_free(struct backup_contents *c)
{
	if (c == NULL)
		return;
	if (c->db != NULL) /* password hashes, sealed MFA secrets: no copy outlives its use */
		sodium_memzero(c->db, c->db_len);
	sqlite3_free(c->db);
	if (c->authd != NULL) /* spent recovery code hashes */
		sodium_memzero(c->authd, c->authd_len);
	free(c->authd);
	if (c->config != NULL) {
		sodium_memzero(c->config, strlen(c->config));
		free(c->config);
	}
	memset(c, 0, sizeof(*c));
}

int
backup_key_create(const char *path, struct idg_err *err)
{
	return keys_create_backup(path, err);
}

int
backup_key_load(const char *path, unsigned char **key, struct idg_err *err)
{
	return keys_load_backup(path, key, err);
}

static void
key_id(const unsigned char *key, unsigned char id[KEYID_LEN])
{
	static const char label[] = "idgov-backup-key-id-v1";

	crypto_generichash(id, KEYID_LEN, (const unsigned char *)label, sizeof(label) - 1, key,
			   BACKUP_KEY_LEN);
}

void
backup_key_id_hex(const unsigned char *key, char id[BACKUP_KEY_ID_HEX])
{
	unsigned char b[KEYID_LEN];

	key_id(key, b);
	sodium_bin2hex(id, BACKUP_KEY_ID_HEX, b, sizeof(b));
}

int
backup_file_uses_key(const char *path, const unsigned char *key)
{
	unsigned char head[MAGIC_LEN + KEYID_LEN], id[KEYID_LEN];
	ssize_t n;
	int fd = open(path,
		      O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* never a FIFO's wait */

	if (fd < 0)
		return 0;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, MAGIC, MAGIC_LEN) != 0)
		return 0;
	key_id(key, id);
	return sodium_memcmp(id, head + MAGIC_LEN, KEYID_LEN) == 0;
}

/*
 * The key a backup file was made with: key_path's, or key_path.old's when
 * the header names that one (kept by a rotation until destroy-old). A file
 * that names neither is left to backup_unseal() to refuse with the
 * current key, which says so.
 */
static int
load_key_for(const char *key_path, const unsigned char *buf, size_t len, unsigned char **key,
	     int *old, struct idg_err *err)
{
	unsigned char id[KEYID_LEN], *ok = NULL;
	char oldp[PATH_MAX];
	struct idg_err ignored;

	*old = 0;
	if (backup_key_load(key_path, key, err) != 0)
		return -1;
	if (len < MAGIC_LEN + KEYID_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
		return 0;
	key_id(*key, id);
	if (sodium_memcmp(id, buf + MAGIC_LEN, KEYID_LEN) == 0)
		return 0;
	if ((size_t)snprintf(oldp, sizeof(oldp), "%s.old", key_path) >= sizeof(oldp) ||
	    access(oldp, F_OK) != 0 || backup_key_load(oldp, &ok, &ignored) != 0)
		return 0;
	key_id(ok, id);
	if (sodium_memcmp(id, buf + MAGIC_LEN, KEYID_LEN) != 0) {
		keys_free_secret(ok);
		return 0;
	}
	keys_free_secret(*key);
	*key = ok;
	*old = 1;
	return 0;
}

static void
hex(const unsigned char *b, size_t n, char *out)
{
	sodium_bin2hex(out, n * 2 + 1, b, n);
}

/* Reads a whole small file (the configuration) into a NUL-terminated buffer. */
static int
read_small(const char *path, char **out, struct idg_err *err)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	if (fp == NULL)
		return idg_seterr(err, "cannot read %s: %s", path, strerror(errno));
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > ((size_t)16 << 20) || (nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return idg_seterr(err, "%s: too large or out of memory", path);
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0)
			break;
	}
	buf[len] = '\0';
	fclose(fp);
	*out = buf;
	return 0;
}

/* The newest audit record of db: seq and hash (seq 0 and zeros for an empty chain). */
static int
read_head(sqlite3 *db, int64_t *seq, unsigned char hash[32])
{
	sqlite3_stmt *s;
	int rc = -1;

	*seq = 0;
	memset(hash, 0, 32);
	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &s,
			       NULL) != SQLITE_OK)
		return -1;
	switch (sqlite3_step(s)) {
	case SQLITE_ROW:
		if (sqlite3_column_bytes(s, 1) != 32)
			break;
		*seq = sqlite3_column_int64(s, 0);
		memcpy(hash, sqlite3_column_blob(s, 1), 32);
		rc = 0;
		break;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		break;
	}
	sqlite3_finalize(s);
	return rc;
}

/* The integer in the first row of a fixed query on db; -1 when it has none or fails. */
static int64_t
first_int64(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int
user_version(sqlite3 *db)
{
	return (int)first_int64(db, "PRAGMA user_version");
}

/* The auth service's state file, when the host has one. */
static int
snapshot_authd(const struct cfg *cfg, struct store *st, struct backup_contents *c,
	       struct idg_err *err)
{
	char path[PATH_MAX];

	if (mfastate_path(cfg, st->path, path, sizeof(path), err) != 0 ||
	    mfastate_image(path, &c->authd, &c->authd_len, err) != 0)
		return -1;
	c->m.authd_bytes = (int64_t)c->authd_len;
	return 0;
}

int
backup_snapshot(const struct cfg *cfg, struct store *st, struct backup_contents *c,
		struct idg_err *err)
{
	sqlite3 *img = NULL;
	sqlite3_int64 size = 0;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (keys_load_audit_public(cfg->audit_pubkey_file, c->pk, err) != 0)
		return -1;
	if (read_small(cfg->path, &c->config, err) != 0)
		return -1;
	/*
	 * sqlite3_serialize() of the store itself reads every page inside one
	 * read transaction: the image is one moment's store, copied once (no
	 * in-memory database in between, no second copy of it).
	 */
	for (int tries = 0; c->db == NULL; tries++) {
		c->db = sqlite3_serialize(st->db, "main", &size, 0);
		if (c->db != NULL || tries >= 100)
			break;
		sqlite3_sleep(50);
	}
	if (c->db == NULL || size <= 100) {
		idg_seterr(err, "snapshot of %s: cannot serialise: %s", st->path,
			   sqlite3_errmsg(st->db));
		goto out;
	}
	c->db_len = (size_t)size;
	/* Bytes 18-19: the image is a rollback-journal file; store_open() turns WAL on again. */
	c->db[18] = 1;
	c->db[19] = 1;
	/* The manifest's facts from the image itself, read in place. */
	if (sqlite3_open_v2(":memory:", &img, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_deserialize(img, "main", c->db, size, size, SQLITE_DESERIALIZE_READONLY) !=
		    SQLITE_OK) {
		idg_seterr(err, "snapshot of %s: the image cannot be opened", st->path);
		goto out;
	}
	c->m.format = BACKUP_FORMAT;
	idg_strlcpy(c->m.version, IDGOV_VERSION_STRING, sizeof(c->m.version));
	c->m.schema = user_version(img);
	if (read_head(img, &c->m.head_seq, c->m.head_hash) != 0) {
		idg_seterr(err, "snapshot of %s: cannot read the audit head", st->path);
		goto out;
	}
	c->m.time = idg_now();
	if (gethostname(c->m.host, sizeof(c->m.host)) != 0)
		idg_strlcpy(c->m.host, "unknown", sizeof(c->m.host));
	c->m.host[sizeof(c->m.host) - 1] = '\0';
	c->m.store_bytes = (int64_t)c->db_len;
	if (snapshot_authd(cfg, st, c, err) != 0)
		goto out;
	rc = 0;
out:
	sqlite3_close(img);
	if (rc != 0)
		backup_contents_free(c);
	return rc;
}

static char *
manifest_json(const struct backup_manifest *m)
{
	char h[65];
	json_t *j;
	char *s;

	hex(m->head_hash, 32, h);
	j = json_pack("{s:i, s:s, s:i, s:I, s:s, s:I, s:s, s:I}", "format", m->format, "version",
		      m->version, "schema", m->schema, "audit_head_seq", (json_int_t)m->head_seq,
		      "audit_head_hash", h, "time", (json_int_t)m->time, "host", m->host,
		      "store_bytes", (json_int_t)m->store_bytes);
	if (j != NULL && m->format >= 2 &&
	    json_object_set_new(j, "authd_bytes", json_integer(m->authd_bytes)) != 0) {
		json_decref(j);
		j = NULL;
	}
	s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

static int
manifest_parse(const unsigned char *b, size_t n, struct backup_manifest *m, struct idg_err *err)
{
	json_t *j = json_loadb((const char *)b, n, 0, NULL);
	const char *ver = NULL, *h = NULL, *host = NULL;
	json_int_t seq = 0, t = 0, bytes = 0, authd = 0;
	int fmt = 0, schema = 0, rc = -1;

	if (j == NULL ||
	    json_unpack(j, "{s:i, s:s, s:i, s:I, s:s, s:I, s:s, s:I}", "format", &fmt, "version",
			&ver, "schema", &schema, "audit_head_seq", &seq, "audit_head_hash", &h,
			"time", &t, "host", &host, "store_bytes", &bytes) != 0) {
		idg_seterr(err, "the manifest is malformed");
		goto out;
	}
	if (fmt < 1 || fmt > BACKUP_FORMAT) {
		idg_seterr(err, "the manifest says format %d; this idgov reads formats 1 to %d",
			   fmt, BACKUP_FORMAT);
		goto out;
	}
	if (fmt >= 2 && (json_unpack(j, "{s:I}", "authd_bytes", &authd) != 0 || authd < 0)) {
		idg_seterr(err, "the manifest's authd_bytes is missing or malformed");
		goto out;
	}
	if (sodium_hex2bin(m->head_hash, 32, h, strlen(h), NULL, NULL, NULL) != 0 ||
	    strlen(h) != 64) {
		idg_seterr(err, "the manifest's audit head hash is malformed");
		goto out;
	}
	m->format = fmt;
	idg_strlcpy(m->version, ver, sizeof(m->version));
	idg_strlcpy(m->host, host, sizeof(m->host));
	m->schema = schema;
	m->head_seq = seq;
	m->time = t;
	m->store_bytes = bytes;
	m->authd_bytes = authd;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

struct buf {
	unsigned char *p;
	size_t len, cap;
};

/* Room for n more bytes after len. */
static int
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *np;

		while (cap - b->len < n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	return 0;
}

static int
buf_put(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static void
put_be(unsigned char *out, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be(const unsigned char *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = (v << 8) | in[i];
	return v;
}

/*
 * The sealing side, streamed: plaintext goes in piece by piece and leaves
 * as 64 KiB parts (length, then the sealed part) through sink. A part is
 * pushed only once more plaintext follows it, so the last one carries
 * TAG_FINAL: the bytes are those of sealing the whole plaintext at once.
 *
 * For the read-back, the parts' Poly1305 tags are hashed on the way
 * (BLAKE2b-256 of 16 bytes a part, not of the 400 MiB they cover): a file
 * whose every part authenticates under this key and header and whose tags
 * hash the same holds these very ciphertexts, since another ciphertext
 * with the same tag under the same one-time key would be a forgery. So
 * it decrypts to the plaintext sealed here.
 */
struct sealer {
	crypto_secretstream_xchacha20poly1305_state state;
	crypto_generichash_state hash;
	unsigned char prefix[PREFIX_LEN];
	unsigned char part[PART_MAX];
	unsigned char out[4 + PART_MAX + ABYTES];
	size_t n;
	int (*sink)(void *arg, const unsigned char *p, size_t n, struct idg_err *err);
	void *arg;
};

static int
sealer_push(struct sealer *s, unsigned char tag, struct idg_err *err)
{
	put_be(s->out, s->n + ABYTES, 4);
	crypto_secretstream_xchacha20poly1305_push(&s->state, s->out + 4, NULL, s->part, s->n,
						   s->prefix, sizeof(s->prefix), tag);
	crypto_generichash_update(&s->hash, s->out + 4 + s->n + ABYTES - MAC_LEN, MAC_LEN);
	if (s->sink(s->arg, s->out, 4 + s->n + ABYTES, err) != 0)
		return -1;
	s->n = 0;
	return 0;
}

static int
sealer_start(struct sealer *s, const unsigned char *key, struct idg_err *err)
{
	memcpy(s->prefix, MAGIC, MAGIC_LEN);
	key_id(key, s->prefix + MAGIC_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&s->state,
							s->prefix + MAGIC_LEN + KEYID_LEN, key);
	crypto_generichash_init(&s->hash, NULL, 0, 32);
	s->n = 0;
	return s->sink(s->arg, s->prefix, sizeof(s->prefix), err);
}

static int
sealer_feed(struct sealer *s, const void *data, size_t len, struct idg_err *err)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t k;

		if (s->n == PART_MAX && sealer_push(s, 0, err) != 0)
			return -1;
		k = PART_MAX - s->n < len ? PART_MAX - s->n : len;
		memcpy(s->part + s->n, p, k);
		s->n += k;
		p += k;
		len -= k;
	}
	return 0;
}

static int
sealer_entry(struct sealer *s, const char *name, const void *data, size_t n, struct idg_err *err)
{
	unsigned char len8[8], nl = (unsigned char)strlen(name);

	put_be(len8, n, 8);
	return sealer_feed(s, &nl, 1, err) || sealer_feed(s, name, nl, err) ||
			       sealer_feed(s, len8, 8, err) || sealer_feed(s, data, n, err)
		       ? -1
		       : 0;
}

/* Seals c through s->sink; the hash of the parts' tags in hash. */
static int
seal_stream(struct sealer *s, const unsigned char *key, const struct backup_contents *c,
	    unsigned char hash[32], struct idg_err *err)
{
	char *man = manifest_json(&c->m);
	int rc = -1;

	if (man == NULL)
		return idg_seterr(err, "out of memory");
	if (sealer_start(s, key, err) == 0 &&
	    sealer_entry(s, entry_names[0], man, strlen(man), err) == 0 &&
	    sealer_entry(s, entry_names[1], c->config, strlen(c->config), err) == 0 &&
	    sealer_entry(s, entry_names[2], c->pk, sizeof(c->pk), err) == 0 &&
	    sealer_entry(s, entry_names[3], c->db, c->db_len, err) == 0 &&
	    (c->m.format < 2 ||
	     sealer_entry(s, entry_names[4],
			  c->authd != NULL ? c->authd : (const unsigned char *)"", c->authd_len,
			  err) == 0) &&
	    sealer_push(s, crypto_secretstream_xchacha20poly1305_TAG_FINAL, err) == 0) {
		crypto_generichash_final(&s->hash, hash, 32);
		rc = 0;
	}
	sodium_memzero(s, sizeof(*s));
	free(man);
	return rc;
}

static int
sink_buf(void *arg, const unsigned char *p, size_t n, struct idg_err *err)
{
	if (buf_put(arg, p, n) != 0)
		return idg_seterr(err, "out of memory");
	return 0;
}

int
backup_seal(const unsigned char *key, const struct backup_contents *c, unsigned char **out,
	    size_t *len, struct idg_err *err)
{
	struct sealer *s = malloc(sizeof(*s));
	struct buf file = {0};
	unsigned char hash[32];
	int rc;

	*out = NULL;
	*len = 0;
	if (s == NULL)
		return idg_seterr(err, "out of memory");
	s->sink = sink_buf;
	s->arg = &file;
	rc = seal_stream(s, key, c, hash, err);
	free(s);
	if (rc != 0) {
		free(file.p);
		return -1;
	}
	*out = file.p;
	*len = file.len;
	return 0;
}

/*
 * The entries of the plaintext p. The store image is not copied: its
 * offset in p goes to *db_off and its length to c->db_len.
 */
static int
parse_entries(const unsigned char *p, size_t len, struct backup_contents *c, size_t *db_off,
	      struct idg_err *err)
{
	size_t off = 0;

	/* Entry 0, the manifest, says how many there are (c->m.format is 0 before it). */
	for (size_t i = 0; i < n_entries(c->m.format); i++) {
		size_t nl, n;

		if (len - off < 1 || len - off < 1 + (nl = p[off]) + 8)
			return idg_seterr(err, "the contents end inside entry %zu", i + 1);
		if (nl != strlen(entry_names[i]) || memcmp(p + off + 1, entry_names[i], nl) != 0)
			return idg_seterr(err, "entry %zu is not %s", i + 1, entry_names[i]);
		off += 1 + nl;
		n = (size_t)get_be(p + off, 8);
		off += 8;
		if (n > len - off)
			return idg_seterr(err, "entry %s is longer than the contents",
					  entry_names[i]);
		if (i == 0 && manifest_parse(p + off, n, &c->m, err) != 0)
			return -1;
		if (i == 1) {
			if ((c->config = malloc(n + 1)) == NULL)
				return idg_seterr(err, "out of memory");
			memcpy(c->config, p + off, n);
			c->config[n] = '\0';
		}
		if (i == 2) {
			if (n != sizeof(c->pk))
				return idg_seterr(err, "the audit public key is %zu bytes", n);
			memcpy(c->pk, p + off, n);
		}
		if (i == 3) {
			if (n < 512)
				return idg_seterr(err, "the store image is too small");
			*db_off = off;
			c->db_len = n;
		}
		if (i == 4 && n > 0) {
			if ((c->authd = malloc(n)) == NULL)
				return idg_seterr(err, "out of memory");
			memcpy(c->authd, p + off, n);
			c->authd_len = n;
		}
		off += n;
	}
	if (off != len)
		return idg_seterr(err, "%zu bytes follow the last entry", len - off);
	return 0;
}

/*
 * Where sealed bytes come from: a buffer, or a file read part by part
 * (one part's buffer, never the whole file).
 */
struct reader {
	const unsigned char *mem; /* NULL: read fd */
	int fd;
	size_t len, off; /* the source's length, and how far it was read */
	unsigned char part[PART_MAX + ABYTES];
};

/* The next n (<= sizeof(r->part), <= r->len - r->off) bytes; NULL on a read error. */
static const unsigned char *
reader_next(struct reader *r, size_t n)
{
	const unsigned char *p;
	size_t got = 0;

	if (r->mem != NULL) {
		p = r->mem + r->off;
		r->off += n;
		return p;
	}
	while (got < n) {
		ssize_t k = read(r->fd, r->part + got, n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return NULL;
		got += (size_t)k;
	}
	r->off += n;
	return r->part;
}

/*
 * Authenticates and decrypts every part of r. With c, the plaintext is
 * kept (in one buffer of at most the file's size) and parsed into c, the
 * store image moved to the buffer's start and handed to c->db; without,
 * only the hash of the parts' tags goes to hash (the read-back of a backup
 * just written, compared with the sealer's: see struct sealer).
 */
static int
unseal_stream(const unsigned char *key, struct reader *r, struct backup_contents *c,
	      unsigned char hash[32], struct idg_err *err)
{
	crypto_secretstream_xchacha20poly1305_state state;
	crypto_generichash_state hs;
	unsigned char prefix[PREFIX_LEN], id[KEYID_LEN], *plain = NULL;
	unsigned char *scratch = NULL;
	const unsigned char *p;
	size_t plen = 0, cap = 0, db_off = 0;
	int final = 0, rc = -1;

	if (c != NULL)
		memset(c, 0, sizeof(*c));
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (r->len < MAGIC_LEN)
		return idg_seterr(err, "not an idgov backup (no IDGOVBK1 header)");
	if ((p = reader_next(r, r->len < PREFIX_LEN ? MAGIC_LEN : PREFIX_LEN)) == NULL)
		return idg_seterr(err, "cannot read the header: %s", strerror(errno));
	memcpy(prefix, p, r->off);
	if (memcmp(prefix, MAGIC, MAGIC_LEN) != 0)
		return idg_seterr(err, "not an idgov backup (no IDGOVBK1 header)");
	if (r->len < PREFIX_LEN)
		return idg_seterr(err, "truncated: the file ends inside its header");
	key_id(key, id);
	if (sodium_memcmp(id, prefix + MAGIC_LEN, KEYID_LEN) != 0)
		return idg_seterr(err, "made with another backup key (key id differs): wrong "
				       "[store] backup_key, or the header was changed");
	if (crypto_secretstream_xchacha20poly1305_init_pull(&state, prefix + MAGIC_LEN + KEYID_LEN,
							    key) != 0)
		return idg_seterr(err, "the header is damaged");
	if (c != NULL) {
		/* Every part's plaintext is shorter than its sealed bytes. */
		cap = r->len - PREFIX_LEN;
		plain = sqlite3_malloc64(cap > 0 ? cap : 1);
	} else {
		crypto_generichash_init(&hs, NULL, 0, 32);
		plain = scratch = malloc(PART_MAX);
	}
	if (plain == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	for (int part = 1; !final; part++) {
		size_t n;
		unsigned char tag = 0;
		unsigned long long got = 0;
		unsigned char *to = c != NULL ? plain + plen : scratch;

		if (r->len - r->off < 4) {
			idg_seterr(err,
				   "truncated: the file ends before its last part (%zu bytes "
				   "read)",
				   r->off);
			goto out;
		}
		if ((p = reader_next(r, 4)) == NULL) {
			idg_seterr(err, "read error: %s", strerror(errno));
			goto out;
		}
		n = (size_t)get_be(p, 4);
		if (n < ABYTES || n > PART_MAX + ABYTES) {
			idg_seterr(err,
				   "part %d at byte %zu has an impossible length: the file "
				   "was changed",
				   part, r->off - 4);
			goto out;
		}
		if (n > r->len - r->off) {
			idg_seterr(err, "truncated: part %d needs %zu bytes, %zu are left", part, n,
				   r->len - r->off);
			goto out;
		}
		if ((p = reader_next(r, n)) == NULL) {
			idg_seterr(err, "read error: %s", strerror(errno));
			goto out;
		}
		if (crypto_secretstream_xchacha20poly1305_pull(&state, to, &got, &tag, p, n, prefix,
							       PREFIX_LEN) != 0) {
			idg_seterr(err,
				   "part %d (bytes %zu..%zu) fails authentication: the file "
				   "was changed or damaged",
				   part, r->off - n, r->off - 1);
			goto out;
		}
		if (c != NULL)
			plen += (size_t)got;
		else
			crypto_generichash_update(&hs, p + n - MAC_LEN, MAC_LEN);
		final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	}
	if (r->off != r->len) {
		idg_seterr(err, "%zu bytes follow the last part: the file was changed",
			   r->len - r->off);
		goto out;
	}
	if (c == NULL) {
		crypto_generichash_final(&hs, hash, 32);
		rc = 0;
		goto out;
	}
	if (parse_entries(plain, plen, c, &db_off, err) != 0)
		goto out;
	/* The image to the front, the rest of the plaintext wiped: c owns the buffer. */
	memmove(plain, plain + db_off, c->db_len);
	sodium_memzero(plain + c->db_len, plen - c->db_len);
	c->db = plain;
	plain = NULL;
	rc = 0;
out:
	sodium_memzero(&state, sizeof(state));
	if (c != NULL) {
		if (plain != NULL) {
			sodium_memzero(plain, plen);
			sqlite3_free(plain);
		}
		if (rc != 0)
			backup_contents_free(c);
	} else {
		sodium_memzero(scratch, PART_MAX);
		free(scratch);
	}
	return rc;
}

int
backup_unseal(const unsigned char *key, const unsigned char *buf, size_t len,
	      struct backup_contents *c, struct idg_err *err)
{
	struct reader *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL) {
		memset(c, 0, sizeof(*c));
		return idg_seterr(err, "out of memory");
	}
	r->mem = buf;
	r->fd = -1;
	r->len = len;
	r->off = 0;
	rc = unseal_stream(key, r, c, NULL, err);
	free(r);
	return rc;
}

/*
 * Work done beside the check, in a second thread: writing and syncing
 * the file while the caller checks the same image, or walking the audit
 * chain while the caller runs integrity_check (read-only on every side:
 * SQLite reads the image in place and never writes to it). Neither waits
 * for the other; the caller joins before it uses either result, and a
 * file is renamed into place only when both succeeded. When no thread
 * can be started, the work runs in the caller, before its own part.
 */
struct beside {
	pthread_t thread;
	int started, rc;
	int (*fn)(void *arg, struct idg_err *err);
	void *arg;
	struct idg_err err;
};

static void *
beside_main(void *arg)
{
	struct beside *b = arg;

	b->rc = b->fn(b->arg, &b->err);
	return NULL;
}

static void
beside_start(struct beside *b, int (*fn)(void *, struct idg_err *), void *arg)
{
	b->fn = fn;
	b->arg = arg;
	b->rc = -1;
	b->err.msg[0] = '\0';
	b->started = pthread_create(&b->thread, NULL, beside_main, b) == 0;
	if (!b->started)
		b->rc = fn(arg, &b->err);
}

/* Waits for the work: its result, and its reason in why. */
static int
beside_join(struct beside *b, struct idg_err *why)
{
	if (b->started)
		pthread_join(b->thread, NULL);
	b->started = 0;
	if (b->rc != 0)
		idg_seterr(why, "%s", b->err.msg);
	return b->rc;
}

/*
 * Opens the image read-only in place: READONLY and without FREEONCLOSE,
 * SQLite neither writes to nor frees it, so no second copy of a store's
 * size is made (the BEGIN of audit_verify() is a read transaction), and
 * two connections can read it at once. Pages are read where they lie
 * (the image is fixed-size, so SQLite's in-memory VFS hands them out like
 * mmap) instead of being copied into the page cache one by one.
 */
static int
open_image(const struct backup_contents *c, struct store *st, struct idg_err *err)
{
	st->path = idg_unconst("(backup image)");
	if (sqlite3_open_v2(":memory:", &st->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_deserialize(st->db, "main", c->db, (sqlite3_int64)c->db_len,
				(sqlite3_int64)c->db_len, SQLITE_DESERIALIZE_READONLY) != SQLITE_OK)
		return idg_seterr(err, "the store image cannot be opened");
	if (sqlite3_exec(st->db, "PRAGMA mmap_size = 2147418112", NULL, NULL, NULL) != SQLITE_OK)
		return idg_seterr(err, "the store image cannot be opened: %s",
				  sqlite3_errmsg(st->db));
	return 0;
}

struct chain_job {
	const struct backup_contents *c;
	struct audit_report *ar;
};

/* Beside integrity_check: the image's audit chain, on a connection of its own. */
static int
verify_image_chain(void *arg, struct idg_err *err)
{
	struct chain_job *j = arg;
	struct store st = {0};
	int rc = -1;

	memset(j->ar, 0, sizeof(*j->ar));
	if (open_image(j->c, &st, err) == 0)
		rc = audit_verify(&st, j->c->pk, NULL, j->ar, err);
	sqlite3_close(st.db);
	return rc;
}

/* backup_check(), and the audit chain's report in *ar (ar->ok when it returns 0). */
static int
check_contents(const struct backup_contents *c, const unsigned char *host_pk,
	       struct backup_check *rep, struct audit_report *ar, struct idg_err *err)
{
	struct store st = {0};
	struct chain_job job;
	struct beside w = {0};
	struct idg_err ignored;
	sqlite3_stmt *s = NULL;
	unsigned char hash[32];
	int64_t seq;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	memset(ar, 0, sizeof(*ar));
	if ((int64_t)c->db_len != c->m.store_bytes)
		return idg_seterr(err, "the store image is %zu bytes, the manifest says %lld",
				  c->db_len, (long long)c->m.store_bytes);
	if ((int64_t)c->authd_len != c->m.authd_bytes)
		return idg_seterr(err, "the MFA state image is %zu bytes, the manifest says %lld",
				  c->authd_len, (long long)c->m.authd_bytes);
	if (c->authd_len > 0 && mfastate_image_check(c->authd, c->authd_len, err) != 0)
		return -1;
	if (c->m.schema > schema_migrations[schema_migration_count - 1].version)
		return idg_seterr(
			err, "the backup's schema version %d is newer than this idgov's (%d)",
			c->m.schema, schema_migrations[schema_migration_count - 1].version);
	if (open_image(c, &st, err) != 0)
		goto out;
	/* The audit chain is walked beside integrity_check; its verdict counts after it. */
	job.c = c;
	job.ar = ar;
	beside_start(&w, verify_image_chain, &job);
	if (sqlite3_prepare_v2(st.db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		idg_seterr(err, "the store image fails PRAGMA integrity_check: %.200s",
			   s && sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0)
							  : sqlite3_errmsg(st.db));
		goto out;
	}
	if (user_version(st.db) != c->m.schema) {
		idg_seterr(err, "the store image has schema version %d, the manifest says %d",
			   user_version(st.db), c->m.schema);
		goto out;
	}
	if (read_head(st.db, &seq, hash) != 0 || seq != c->m.head_seq ||
	    sodium_memcmp(hash, c->m.head_hash, 32) != 0) {
		idg_seterr(err, "the store image's audit head is not the manifest's (seq %lld)",
			   (long long)c->m.head_seq);
		goto out;
	}
	if (beside_join(&w, err) != 0)
		goto out;
	if (!ar->ok) {
		idg_seterr(err, "the backup's audit chain does not verify: %s", ar->reason);
		goto out;
	}
	rep->records = ar->records;
	rep->signatures = ar->signatures;
	rep->pk_differs = host_pk != NULL && sodium_memcmp(host_pk, c->pk, sizeof(c->pk)) != 0;
	rc = 0;
out:
	(void)beside_join(&w, &ignored);
	sqlite3_finalize(s);
	sqlite3_close(st.db);
	return rc;
}

int
backup_check(const struct backup_contents *c, const unsigned char *host_pk,
	     struct backup_check *rep, struct idg_err *err)
{
	struct audit_report ar;

	return check_contents(c, host_pk, rep, &ar, err);
}

int
backup_file_name(const char *dir, const char *host, int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char stamp[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return -1;
	for (const char *h = host; *h; h++)
		if (*h == '/' || (unsigned char)*h < 0x21)
			return -1;
	return (size_t)snprintf(out, size, "%s/idgov-%s-%s" BACKUP_SUFFIX, dir, host, stamp) < size
		       ? 0
		       : -1;
}

/* Opens a backup file for reading, part by part: a regular file of a sensible size. */
static int
open_backup(const char *path, struct reader *r, struct idg_err *err)
{
	struct stat sb;

	r->mem = NULL;
	r->off = 0;
	/* O_NONBLOCK: a FIFO named here is refused below instead of waiting for a writer. */
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (r->fd < 0)
		return idg_seterr(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > MAX_FILE) {
		close(r->fd);
		r->fd = -1;
		return idg_seterr(err, "%s: not a regular file of a sensible size", path);
	}
	r->len = (size_t)sb.st_size;
	(void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

/*
 * Reads and decrypts the backup file at path, part by part (one copy of
 * the image in memory), with the key at key_path or its .old (*old).
 */
static int
read_backup(const char *path, const char *key_path, struct backup_contents *c, int *old,
	    struct idg_err *err)
{
	unsigned char *key = NULL, head[MAGIC_LEN + KEYID_LEN];
	struct reader *r = malloc(sizeof(*r));
	struct idg_err why;
	ssize_t hl;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	*old = 0;
	if (r == NULL)
		return idg_seterr(err, "out of memory");
	if (open_backup(path, r, err) != 0) {
		free(r);
		return -1;
	}
	hl = pread(r->fd, head, sizeof(head), 0);
	if (load_key_for(key_path, head, hl > 0 ? (size_t)hl : 0, &key, old, err) != 0)
		goto out;
	if (unseal_stream(key, r, c, NULL, &why) != 0) {
		idg_seterr(err, "%s: %s", path, why.msg);
		goto out;
	}
	rc = 0;
out:
	close(r->fd);
	free(r);
	keys_free_secret(key);
	return rc;
}

int
backup_verify_file(const char *path, const char *key_path, const unsigned char *host_pk,
		   struct backup_contents *c, struct backup_check *rep, struct idg_err *err)
{
	struct idg_err why;
	int old;

	memset(rep, 0, sizeof(*rep));
	if (read_backup(path, key_path, c, &old, err) != 0)
		return -1;
	if (backup_check(c, host_pk, rep, &why) != 0) {
		idg_seterr(err, "%s: %s", path, why.msg);
		backup_contents_free(c);
		return -1;
	}
	rep->old_key = old;
	return 0;
}

/*
 * A large file written in one go (a backup, a restored image): its
 * writeback is started as it is written. Every WRITE_CHUNK bytes, the
 * newest chunk is handed to the disk (SYNC_FILE_RANGE_WRITE, which does
 * not wait) and the writer waits for the chunk before it, so the disk
 * works while the file is still being sealed and checked, no more than
 * two chunks are ever dirty, and the final fdatasync() has little left
 * to do. Errors of sync_file_range() are left to that fdatasync() to
 * report.
 */
struct out_file {
	int fd;
	off_t done, started, synced;
};

static void
out_write_behind(struct out_file *o)
{
	if ((size_t)(o->done - o->started) < WRITE_CHUNK)
		return;
	(void)sync_file_range(o->fd, o->started, o->done - o->started, SYNC_FILE_RANGE_WRITE);
	if (o->started > o->synced) {
		(void)sync_file_range(o->fd, o->synced, o->started - o->synced,
				      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					      SYNC_FILE_RANGE_WAIT_AFTER);
		o->synced = o->started;
	}
	o->started = o->done;
}

static int
out_finish(struct out_file *o, struct idg_err *err)
{
	if (fdatasync(o->fd) != 0)
		return idg_seterr(err, "%s", strerror(errno));
	return 0;
}

static int
sink_out(void *arg, const unsigned char *p, size_t n, struct idg_err *err)
{
	struct out_file *o = arg;

	while (n > 0) {
		ssize_t w = write(o->fd, p, n < WRITE_CHUNK ? n : WRITE_CHUNK);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return idg_seterr(err, "%s", w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
		o->done += w;
		out_write_behind(o);
	}
	return 0;
}

struct seal_job {
	const unsigned char *key;
	const struct backup_contents *c;
	int fd;
	const char *tmp, *path;
};

/*
 * Reads back the file just written, as a restore would: every part must
 * authenticate, and the parts' tags must hash to what the sealer saw
 * (struct sealer): the file holds the bytes that backup_check() passed.
 */
static int
read_back(const char *file, const char *path, const unsigned char *key,
	  const unsigned char want[32], struct idg_err *err)
{
	struct reader *r = malloc(sizeof(*r));
	unsigned char got[32];
	struct idg_err why;
	int rc = -1;

	if (r == NULL)
		return idg_seterr(err, "out of memory");
	if (open_backup(file, r, err) != 0) {
		free(r);
		return -1;
	}
	if (unseal_stream(key, r, NULL, got, &why) != 0)
		idg_seterr(err, "%s: read back: %s", path, why.msg);
	else if (sodium_memcmp(got, want, sizeof(got)) != 0)
		idg_seterr(err, "%s: read back: the file does not hold what was written", path);
	else
		rc = 0;
	close(r->fd);
	free(r);
	return rc;
}

/* Beside the check: seals the snapshot into the temporary file, syncs it, reads it back. */
static int
seal_to_file(void *arg, struct idg_err *err)
{
	struct seal_job *j = arg;
	struct sealer *s = malloc(sizeof(*s));
	struct out_file o = {j->fd, 0, 0, 0};
	unsigned char tags[32];
	int rc;

	if (s == NULL)
		return idg_seterr(err, "out of memory");
	s->sink = sink_out;
	s->arg = &o;
	rc = seal_stream(s, j->key, j->c, tags, err);
	free(s);
	if (rc != 0 || out_finish(&o, err) != 0)
		return -1;
	return read_back(j->tmp, j->path, j->key, tags, err);
}

int
backup_run(const struct cfg *cfg, struct store *st, const char *dir, char *path, size_t size,
	   struct backup_manifest *m, struct idg_err *err)
{
	struct backup_contents c;
	struct backup_check chk;
	struct audit_report ar;
	struct seal_job job;
	struct beside w;
	struct idg_err why, wwhy;
	char tmp[PATH_MAX];
	unsigned char *key = NULL;
	int rc = -1, checked, written, fd;

	if (safepath_check(dir, SAFEPATH_DIR, 0, err) != 0)
		return -1;
	if (backup_key_load(cfg->backup_key_file, &key, err) != 0)
		return -1;
	if (backup_snapshot(cfg, st, &c, err) != 0)
		goto out_key;
	if (backup_file_name(dir, c.m.host, c.m.time, path, size) != 0) {
		idg_seterr(err, "%s: cannot name a backup file there", dir);
		goto out;
	}
	if (access(path, F_OK) == 0) {
		idg_seterr(err, "%s exists already (a backup in the same second)", path);
		goto out;
	}
	if ((fd = safepath_temp_create(path, 0600, tmp, sizeof(tmp), err)) < 0)
		goto out;
	/*
	 * The snapshot is checked once, in place (integrity_check, every
	 * audit record and signature, the manifest), while a second thread
	 * seals those same bytes into the temporary file and reads the file
	 * back. The file takes its final name only when both succeeded: the
	 * name never holds a backup of an image that failed its check.
	 */
	job.key = key;
	job.c = &c;
	job.fd = fd;
	job.tmp = tmp;
	job.path = path;
	beside_start(&w, seal_to_file, &job);
	checked = check_contents(&c, c.pk, &chk, &ar, &why);
	written = beside_join(&w, &wwhy);
	if (checked != 0 || written != 0) {
		safepath_temp_discard(fd, tmp);
		if (checked != 0)
			idg_seterr(err, "the snapshot fails its check: %s", why.msg);
		else
			idg_seterr(err, "cannot write %s: %s", path, wwhy.msg);
		goto out;
	}
	if (safepath_temp_commit(fd, tmp, path, err) != 0)
		goto out;
	if (m != NULL)
		*m = c.m;
	rc = 0;
out:
	backup_contents_free(&c);
out_key:
	keys_free_secret(key);
	return rc;
}

/* The time in an "idgov-HOST-YYYYMMDDTHHMMSSZ.backup" name; -1 if it is not one. */
static int64_t
name_time(const char *name, int *temporary)
{
	size_t n = strlen(name), sl = strlen(BACKUP_SUFFIX);
	const char *end, *stamp;
	struct tm tm;

	*temporary = 0;
	if (strncmp(name, "idgov-", 6) != 0)
		return -1;
	end = strstr(name, BACKUP_SUFFIX);
	if (end == NULL)
		return -1;
	if ((size_t)(end - name) + sl != n) {
		/* safepath_write_file's temporaries: NAME.backup.XXXXXXXX.tmp */
		if (strlen(end) != sl + 13 || strcmp(end + sl + 9, ".tmp") != 0)
			return -1;
		*temporary = 1;
	}
	if (end - name < 6 + 1 + 16)
		return -1;
	stamp = end - 16;
	if (stamp[-1] != '-')
		return -1;
	memset(&tm, 0, sizeof(tm));
	{
		const char *r = strptime(stamp, "%Y%m%dT%H%M%SZ", &tm);

		if (r != end)
			return -1;
	}
	return (int64_t)timegm(&tm);
}

int
backup_prune(const char *dir, int64_t keep, int64_t now, int *removed, int64_t *newest,
	     struct idg_err *err)
{
	DIR *d;
	struct dirent *e;
	int64_t best = 0;
	char path[PATH_MAX];

	*removed = 0;
	*newest = 0;
	/* It deletes files: only where backup_run() would write (only root can change it). */
	if (safepath_check(dir, SAFEPATH_DIR, 0, err) != 0)
		return -1;
	if ((d = opendir(dir)) == NULL)
		return idg_seterr(err, "cannot read %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		int tmp;
		int64_t t = name_time(e->d_name, &tmp);

		/* Named in the future (the clock was ahead): never the newest. */
		if (t >= 0 && !tmp && t > best && t <= now)
			best = t;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		int tmp;
		int64_t t = name_time(e->d_name, &tmp);
		struct stat sb;

		if (t < 0 || (!tmp && t == best))
			continue;
		if (tmp ? now - t <= 86400 : now - t <= keep)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		/* Only regular files of ours. */
		if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
		    (sb.st_uid != 0 && sb.st_uid != geteuid()))
			continue;
		if (unlink(path) == 0)
			(*removed)++;
	}
	closedir(d);
	*newest = best;
	return 0;
}

int64_t
backup_newest(const char *dir, int64_t now)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t best = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		int tmp;
		int64_t t = name_time(e->d_name, &tmp);

		if (t >= 0 && !tmp && t > best && t <= now)
			best = t;
	}
	closedir(d);
	return best;
}

static int
move_aside(const char *from, const char *to, struct idg_err *err)
{
	if (rename(from, to) != 0 && errno != ENOENT)
		return idg_seterr(err, "cannot move %s to %s: %s", from, to, strerror(errno));
	return 0;
}

static void
move_back(const char *store, const char *aside)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char a[PATH_MAX], b[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%s%s", aside, sfx[i]);
		snprintf(b, sizeof(b), "%s%s", store, sfx[i]);
		(void)rename(a, b);
	}
}

/*
 * Folds the store's WAL into the store file before the file is moved
 * aside. The store, its -wal and -shm are renamed one after the other,
 * and connections keep their transactions in the WAL (store.c): a kill
 * between the first two renames would otherwise leave the kept store
 * without them, or without any table at all. A checkpoint that cannot
 * complete (another process is in a transaction) refuses the restore
 * before anything changes.
 */
static int
checkpoint_store(const char *path, struct idg_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int busy = 1;

	if (access(path, F_OK) != 0)
		return 0; /* no store: nothing to keep */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) ==
	    SQLITE_OK) {
		sqlite3_busy_timeout(db, STORE_BUSY_MS);
		if (sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL) ==
			    SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW)
			busy = sqlite3_column_int(s, 0);
	}
	if (busy)
		idg_seterr(err,
			   "cannot fold the write-ahead log of %s into it before keeping it aside "
			   "(is another process writing it?): %s",
			   path, db != NULL ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return busy ? -1 : 0;
}

/*
 * The name the current store is kept under: STORE.before-restore-STAMP, with
 * -2, -3, ... when a restore in the same second already used it (nothing kept
 * aside is ever overwritten).
 */
static int
aside_name(const char *store, time_t now, char *out, size_t outsz, struct idg_err *err)
{
	char stamp[32];
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned n = 1; n <= 100; n++) {
		char suffix[16] = "";
		size_t len;

		if (n > 1)
			snprintf(suffix, sizeof(suffix), "-%u", n);
		len = (size_t)snprintf(out, outsz, "%s.before-restore-%s%s", store, stamp, suffix);
		if (len >= outsz)
			return idg_seterr(err, "store path too long");
		if (access(out, F_OK) != 0 && errno == ENOENT)
			return 0;
	}
	return idg_seterr(err, "%s: a hundred stores kept aside in this second already", out);
}

static int64_t
newest_signed(struct store *st)
{
	return first_int64(st->db, "SELECT coalesce(max(seq), 0) FROM audit_signatures");
}

/* Writes the store image to the temporary file fd and syncs it. */
struct image_job {
	const struct backup_contents *c;
	int fd;
};

static int
write_image(void *arg, struct idg_err *err)
{
	struct image_job *j = arg;
	struct out_file o = {j->fd, 0, 0, 0};

	if (sink_out(&o, j->c->db, j->c->db_len, err) != 0)
		return -1;
	return out_finish(&o, err);
}

/*
 * The backup's MFA state merged into the host's state file, created from
 * the restored store when the host has none (mfastate.h says why it is a
 * merge, not a replacement).
 */
static int
merge_authd(const struct cfg *cfg, struct store *st, const struct backup_contents *c,
	    struct backup_restore_report *rep, struct idg_err *err)
{
	char path[PATH_MAX];
	struct store *state = NULL;
	int rc;

	if (c->authd_len == 0)
		return 0;
	if (mfastate_path(cfg, st->path, path, sizeof(path), err) != 0 ||
	    mfastate_open(path, st, &state, err) != 0)
		return -1;
	rc = mfastate_merge_image(state, c->authd, c->authd_len, &rep->authd_users,
				  &rep->authd_spent, err);
	store_close(state);
	return rc;
}

/*
 * Puts the image written to tmp (fd, synced) in the store's place: the
 * current store set aside, tmp renamed over it, the anchor reset and the
 * restore recorded. checked: the audit report of the check the image
 * passed, so that the chain is not walked again; NULL walks it. tmp is
 * gone on return, either way.
 */
static int
install(const struct cfg *cfg, const char *file, const struct backup_contents *c, int fd,
	const char *tmp, const struct audit_report *checked, const char *actor,
	struct backup_restore_report *rep, struct idg_err *err)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], prev_hash[32];
	char a[PATH_MAX], b[PATH_MAX], h[65], ph[65];
	struct store *st = NULL, *old = NULL;
	struct audit *au = NULL;
	struct idg_err why;
	time_t now = (time_t)idg_now();
	int64_t signed_seq, prev_seq = -1;
	json_t *d;
	int rc = -1, reset;

	memset(prev_hash, 0, sizeof(prev_hash));
	if (keys_load_audit_public(cfg->audit_pubkey_file, pk, err) != 0)
		goto refuse;
	if (sodium_memcmp(pk, c->pk, sizeof(pk)) != 0) {
		idg_seterr(err,
			   "the backup's audit public key is not this host's (%s): "
			   "restore the host's audit keys first",
			   cfg->audit_pubkey_file);
		goto refuse;
	}
	/* What is set aside, for the record: its head, when it can be read. */
	if (store_open(cfg->store_path, STORE_OPEN_READONLY, &old, &why) == 0) {
		if (read_head(old->db, &prev_seq, prev_hash) != 0)
			prev_seq = -1;
		store_close(old);
	}
	if (aside_name(cfg->store_path, now, rep->aside, sizeof(rep->aside), err) != 0 ||
	    checkpoint_store(cfg->store_path, err) != 0)
		goto refuse;
	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%s%s", cfg->store_path, sfx[i]);
		snprintf(b, sizeof(b), "%s%s", rep->aside, sfx[i]);
		if (move_aside(a, b, err) != 0) {
			move_back(cfg->store_path, rep->aside);
			goto refuse;
		}
	}
	if (safepath_temp_commit(fd, tmp, cfg->store_path, err) != 0) {
		move_back(cfg->store_path, rep->aside);
		rep->unchanged = 1;
		return -1;
	}
	/* From here the restored store stays: the old one is kept aside. */
	rep->unchanged = 0;
	if (store_open(cfg->store_path, STORE_OPEN_EXISTING, &st, err) != 0 ||
	    audit_open(st, cfg->audit_key_file, cfg->audit_anchor_file, cfg->audit_sign_every, NULL,
		       &au, err) != 0)
		goto out;
	rep->restored_head = c->m.head_seq;
	rep->previous_head = prev_seq;
	signed_seq = newest_signed(st);
	if (checked != NULL)
		reset = audit_anchor_reset_checked(au, checked, actor, signed_seq, &rep->anchored,
						   err);
	else
		reset = audit_anchor_reset(au, pk, actor, signed_seq, &rep->anchored, err);
	if (reset != 0 || merge_authd(cfg, st, c, rep, err) != 0)
		goto out;
	hex(c->m.head_hash, 32, h);
	hex(prev_hash, 32, ph);
	d = json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:b, s:I, s:I}", "file", file,
		      "backup_time", (json_int_t)c->m.time, "backup_host", c->m.host,
		      "restored_head_seq", (json_int_t)c->m.head_seq, "restored_head_hash", h,
		      "previous_head_seq", (json_int_t)prev_seq, "previous_head_hash", ph,
		      "previous_store", rep->aside, "mfa_state_merged", c->authd_len > 0,
		      "mfa_state_users", (json_int_t)rep->authd_users, "mfa_state_spent_codes",
		      (json_int_t)rep->authd_spent);
	if (d == NULL) {
		idg_seterr(err, "out of memory");
		goto out;
	}
	if (audit_record(au, actor, cfg->store_path, "backup.restore", d, err) != 0)
		goto out;
	rc = 0;
out:
	audit_close(au);
	store_close(st);
	return rc;
refuse:
	safepath_temp_discard(fd, tmp);
	rep->unchanged = 1;
	return -1;
}

int
backup_restore(const struct cfg *cfg, const char *file, const struct backup_contents *c,
	       const char *actor, struct backup_restore_report *rep, struct idg_err *err)
{
	struct image_job job;
	char tmp[PATH_MAX];
	struct idg_err why;

	memset(rep, 0, sizeof(*rep));
	if ((job.fd = safepath_temp_create(cfg->store_path, 0600, tmp, sizeof(tmp), err)) < 0)
		return -1;
	job.c = c;
	if (write_image(&job, &why) != 0) {
		safepath_temp_discard(job.fd, tmp);
		return idg_seterr(err, "cannot write %s: %s", tmp, why.msg);
	}
	return install(cfg, file, c, job.fd, tmp, NULL, actor, rep, err);
}

int
backup_restore_file(const struct cfg *cfg, const char *file, const char *actor,
		    struct backup_contents *c, struct backup_check *chk,
		    struct backup_restore_report *rep, struct idg_err *err)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct audit_report ar;
	struct image_job job;
	struct beside w;
	struct idg_err why, wwhy;
	char tmp[PATH_MAX];
	int old, checked, written;

	memset(rep, 0, sizeof(*rep));
	memset(chk, 0, sizeof(*chk));
	rep->unchanged = 1;
	if (keys_load_audit_public(cfg->audit_pubkey_file, pk, err) != 0)
		return -1;
	if (read_backup(file, cfg->backup_key_file, c, &old, err) != 0)
		return -1;
	if (sodium_memcmp(pk, c->pk, sizeof(pk)) != 0) {
		idg_seterr(err,
			   "the backup's audit public key is not this host's (%s): "
			   "restore the host's audit keys first",
			   cfg->audit_pubkey_file);
		goto fail;
	}
	if ((job.fd = safepath_temp_create(cfg->store_path, 0600, tmp, sizeof(tmp), err)) < 0)
		goto fail;
	/*
	 * The image is written to a temporary file beside the store while it
	 * is checked (integrity_check, every audit record and signature, the
	 * manifest); nothing is replaced unless both succeeded. The chain
	 * just verified on these bytes is not walked again to re-anchor it.
	 */
	job.c = c;
	beside_start(&w, write_image, &job);
	checked = check_contents(c, pk, chk, &ar, &why);
	written = beside_join(&w, &wwhy);
	if (checked != 0 || written != 0) {
		safepath_temp_discard(job.fd, tmp);
		if (checked != 0)
			idg_seterr(err, "%s: %s", file, why.msg);
		else
			idg_seterr(err, "cannot write %s: %s", tmp, wwhy.msg);
		goto fail;
	}
	chk->old_key = old;
	if (install(cfg, file, c, job.fd, tmp, &ar, actor, rep, err) == 0)
		return 0;
fail:
	backup_contents_free(c);
	return -1;
}
