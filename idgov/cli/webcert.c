/* idgov init's certificate for idgov-web; see webcert.h. */
#include "webcert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VALID_DAYS 825

/* The host of "https://HOST[:PORT][/...]" ([v6] allowed), or "" when there is none. */
static void
url_host(const char *url, char *out, size_t size)
{
	const char *p = strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	if (*p == '[') {
		n = strcspn(p + 1, "]");
		if (p[1 + n] == ']' && n < size)
			snprintf(out, size, "%.*s", (int)n, p + 1);
		return;
	}
	n = strcspn(p, ":/");
	if (n > 0 && n < size)
		snprintf(out, size, "%.*s", (int)n, p);
}

static int
add_name(gnutls_x509_crt_t crt, const char *name)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
							    GNUTLS_FSAN_APPEND);
	if (inet_pton(AF_INET6, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
							    GNUTLS_FSAN_APPEND);
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
						    (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
}

/*
 * Writes data to path, created exclusively with mode and owned by uid/gid
 * from the start (fchown before a byte is written), unless uid is ours.
 */
static int
write_new(const char *path, const gnutls_datum_t *d, mode_t mode, uid_t uid, gid_t gid,
	  struct idg_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	ssize_t n;

	if (fd < 0)
		return idg_seterr(err, "cannot create %s: %s", path, strerror(errno));
	if (uid != geteuid() && fchown(fd, uid, gid) != 0) {
		idg_seterr(err, "cannot give %s to its user: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	n = write(fd, d->data, d->size);
	if (n != (ssize_t)d->size || fsync(fd) != 0) {
		close(fd);
		unlink(path);
		return idg_seterr(err, "cannot write %s", path);
	}
	close(fd);
	return 0;
}

/*
 * idgov-web runs as [web] user and refuses root, so the private key must be
 * that user's to read: its uid and gid.
 */
static int
web_owner(const struct cfg *cfg, uid_t *uid, gid_t *gid, struct idg_err *err)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getpwnam_r(cfg->web_user, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
		return idg_seterr(err,
				  "[web] user %s does not exist (the idgov-web package makes it)",
				  cfg->web_user);
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

static int
make(const struct cfg *cfg, struct idg_err *err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t key_pem = {NULL, 0}, crt_pem = {NULL, 0};
	unsigned char serial[16];
	char host[256] = "", own[256] = "";
	time_t now = time(NULL);
	uid_t owner = geteuid(); /* set by web_owner() */
	gid_t group = getegid();
	int rc = -1, g;

	if (web_owner(cfg, &owner, &group, err) != 0)
		return -1;
	url_host(cfg->web_url, host, sizeof(host));
	if (gethostname(own, sizeof(own) - 1) != 0)
		own[0] = '\0';
	if (host[0] == '\0')
		snprintf(host, sizeof(host), "%s", own[0] != '\0' ? own : "localhost");
	gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f; /* a positive serial number */
	if ((g = gnutls_x509_privkey_init(&key)) < 0 ||
	    (g = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
					      0)) < 0 ||
	    (g = gnutls_x509_crt_init(&crt)) < 0 || (g = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (g = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (g = gnutls_x509_crt_set_activation_time(crt, now - 300)) < 0 ||
	    (g = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)VALID_DAYS * 86400)) < 0 ||
	    (g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host,
					       (unsigned)strlen(host))) < 0 ||
	    (g = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (g = add_name(crt, host)) < 0 ||
	    (own[0] != '\0' && strcmp(own, host) != 0 && (g = add_name(crt, own)) < 0) ||
	    (strcmp(host, "localhost") != 0 && (g = add_name(crt, "localhost")) < 0) ||
	    (strcmp(host, "127.0.0.1") != 0 && (g = add_name(crt, "127.0.0.1")) < 0) ||
	    (strcmp(host, "::1") != 0 && (g = add_name(crt, "::1")) < 0) ||
	    (g = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (g = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem)) < 0 ||
	    (g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem)) < 0) {
		idg_seterr(err, "cannot make a certificate for idgov-web: %s", gnutls_strerror(g));
		goto out;
	}
	if (write_new(cfg->web_key_file, &key_pem, 0600, owner, group, err) != 0)
		goto out;
	if (write_new(cfg->web_cert_file, &crt_pem, 0644, geteuid(), getegid(), err) != 0) {
		unlink(cfg->web_key_file);
		goto out;
	}
	rc = 0;
out:
	if (key_pem.data != NULL) {
		gnutls_memset(key_pem.data, 0, key_pem.size);
		gnutls_free(key_pem.data);
	}
	gnutls_free(crt_pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int
webcert_ensure(const struct cfg *cfg, int *made, struct idg_err *err)
{
	int have_cert = access(cfg->web_cert_file, F_OK) == 0;
	int have_key = access(cfg->web_key_file, F_OK) == 0;

	*made = 0;
	if (cfg->web_user[0] == '\0' || (have_cert && have_key))
		return 0;
	if (have_cert != have_key)
		return idg_seterr(err,
				  "only one of %s and %s exists; restore the other or remove both",
				  cfg->web_cert_file, cfg->web_key_file);
	if (make(cfg, err) != 0)
		return -1;
	*made = 1;
	return 0;
}
