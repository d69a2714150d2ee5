/* Key file creation and loading; see keys.h. */
#include "keys.h"

#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
write_new_file(const char *path, mode_t mode, const unsigned char *data, size_t len,
	       struct idg_err *err)
{
	int fd;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return idg_seterr(err, "cannot create %s: %s", path, strerror(errno));
	n = write(fd, data, len);
	if (n != (ssize_t)len || fsync(fd) != 0) {
		int e = n < 0 ? errno : EIO;

		close(fd);
		unlink(path);
		return idg_seterr(err, "cannot write %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/*
 * Reads exactly len bytes. A key must be a regular file owned by root (or
 * our euid) in directories only root can change (safepath.h), and a
 * secret one readable by nobody else: a key anyone else could have written
 * or swapped, or read, is refused, not used.
 */
static int
read_key_file(const char *path, unsigned char *buf, size_t len, int secret, struct idg_err *err)
{
	struct idg_err why;
	unsigned char extra;
	size_t got = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return idg_seterr(err, "cannot open key %s: %s", path, strerror(errno));
	if (safepath_check_fd(fd, path, SAFEPATH_FILE, secret ? SAFEPATH_SECRET : 0, &why) != 0) {
		idg_seterr(err, "refusing key %s", why.msg);
		goto out;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0) {
			idg_seterr(err, "key %s is truncated (%zu of %zu bytes)", path, got, len);
			goto out;
		}
		got += (size_t)n;
	}
	if (read(fd, &extra, 1) != 0) {
		idg_seterr(err, "key %s is longer than %zu bytes", path, len);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int
keys_create_master(const char *path, struct idg_err *err)
{
	unsigned char *key;
	int rc;

	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	key = sodium_malloc(KEYS_MASTER_LEN);
	if (key == NULL)
		return idg_seterr(err, "out of memory");
	randombytes_buf(key, KEYS_MASTER_LEN);
	rc = write_new_file(path, 0400, key, KEYS_MASTER_LEN, err);
	sodium_free(key);
	return rc;
}

int
keys_create_audit(const char *secret_path, const char *public_path, struct idg_err *err)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char *sk;
	int rc = -1;

	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	if (access(public_path, F_OK) == 0)
		return idg_seterr(err, "cannot create %s: %s", public_path, strerror(EEXIST));
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL)
		return idg_seterr(err, "out of memory");
	crypto_sign_keypair(pk, sk);
	if (write_new_file(secret_path, 0400, sk, crypto_sign_SECRETKEYBYTES, err) != 0)
		goto out;
	if (write_new_file(public_path, 0444, pk, sizeof(pk), err) != 0) {
		unlink(secret_path);
		goto out;
	}
	rc = 0;
out:
	sodium_free(sk);
	return rc;
}

int
keys_create_audit_secret(const char *secret_path, struct idg_err *err)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char *sk;
	int rc;

	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL)
		return idg_seterr(err, "out of memory");
	crypto_sign_keypair(pk, sk);
	rc = write_new_file(secret_path, 0400, sk, crypto_sign_SECRETKEYBYTES, err);
	sodium_free(sk);
	return rc;
}

/* Reads a secret key file of exactly len bytes into new sodium_malloc() memory. */
static int
load_secret(const char *path, size_t len, unsigned char **out, struct idg_err *err)
{
	*out = NULL;
	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	*out = sodium_malloc(len);
	if (*out == NULL)
		return idg_seterr(err, "out of memory");
	if (read_key_file(path, *out, len, 1, err) != 0) {
		keys_free_secret(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
keys_load_audit_secret(const char *path, unsigned char **sk, struct idg_err *err)
{
	return load_secret(path, crypto_sign_SECRETKEYBYTES, sk, err);
}

int
keys_load_master(const char *path, unsigned char **key, struct idg_err *err)
{
	return load_secret(path, KEYS_MASTER_LEN, key, err);
}

int
keys_create_backup(const char *path, struct idg_err *err)
{
	unsigned char *key;
	int rc;

	if (sodium_init() < 0)
		return idg_seterr(err, "libsodium failed to initialise");
	key = sodium_malloc(KEYS_BACKUP_LEN);
	if (key == NULL)
		return idg_seterr(err, "out of memory");
	randombytes_buf(key, KEYS_BACKUP_LEN);
	rc = write_new_file(path, 0400, key, KEYS_BACKUP_LEN, err);
	sodium_free(key);
	return rc;
}

int
keys_load_backup(const char *path, unsigned char **key, struct idg_err *err)
{
	return load_secret(path, KEYS_BACKUP_LEN, key, err);
}

int
keys_load_audit_public(const char *path, unsigned char pk[crypto_sign_PUBLICKEYBYTES],
		       struct idg_err *err)
{
	return read_key_file(path, pk, crypto_sign_PUBLICKEYBYTES, 0, err);
}

void
keys_free_secret(unsigned char *key)
{
	if (key != NULL)
		sodium_free(key); /* sodium_free wipes before releasing */
}
