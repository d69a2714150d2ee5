/*
 * LDAP connection and entry parsing; see dir.h.
 *
 * DNs are normalised by dn.c, so that group members, user DNs and bases
 * compare as the directory compares them.
 */
#include "dir.h"

#include "safepath.h"
#include "token.h"
#include "tokenmirror.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A number in a message: "over " IDG_STR(DIR_MAX_VALUE) " bytes". */
#define STR_(x) #x
#define IDG_STR(x) STR_(x)

int64_t
dir_generalized_time(const char *s)
{
	struct tm tm = {0};
	size_t n = strlen(s), i;
	int v[6] = {0};
	static const int width[6] = {4, 2, 2, 2, 2, 2};
	const char *p = s;

	if (n < 15 || s[n - 1] != 'Z')
		return -1;
	for (i = 0; i < 6; i++) {
		for (int k = 0; k < width[i]; k++, p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v[i] = v[i] * 10 + (*p - '0');
		}
	}
	if (*p == '.' || *p == ',') { /* a fraction of a second: skip its digits */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (*p != 'Z' || p[1] != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 ||
	    v[3] > 23 || v[4] > 59 || v[5] > 60)
		return -1;
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	return (int64_t)timegm(&tm);
}

int
dir_uuid_format(const struct berval *raw, char out[DIR_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = (const unsigned char *)raw->bv_val;
	char *o = out;

	if (raw->bv_len != 16)
		return -1;
	/* 8-4-4-4-12, by hand: snprintf's parsing of 16 conversions was most of this per entry. */
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 0xf];
	}
	*o = '\0';
	return 0;
}

/* Accepts the textual form from an entryUUID attribute; stores it lower-case. */
static int
uuid_from_text(const struct berval *v, char out[DIR_UUID_LEN + 1])
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (v->bv_len != DIR_UUID_LEN)
		return -1;
	for (i = 0; i < DIR_UUID_LEN; i++) {
		char c = v->bv_val[i];

		if (shape[i] == '-' ? c != '-'
				    : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F')))
			return -1;
		out[i] = c;
	}
	out[DIR_UUID_LEN] = '\0';
	idg_ascii_lower(out);
	return 0;
}

void
dir_attrs(const struct cfg *cfg, char *attrs[DIR_MAX_ATTRS])
{
	int n = 0;

	attrs[n++] = "objectClass";
	attrs[n++] = "entryUUID";
	attrs[n++] = "cn";
	attrs[n++] = cfg->attr_uid;
	attrs[n++] = cfg->attr_display_name;
	attrs[n++] = cfg->attr_title;
	attrs[n++] = cfg->attr_department;
	attrs[n++] = "ou";
	attrs[n++] = cfg->attr_group_description;
	attrs[n++] = cfg->attr_mail;
	attrs[n++] = cfg->attr_uid_number;
	attrs[n++] = cfg->attr_manager;
	attrs[n++] = cfg->attr_locked;
	attrs[n++] = cfg->attr_shadow_expire;
	attrs[n++] = cfg->attr_shadow_last_change;
	attrs[n++] = cfg->attr_pwd_changed_time;
	attrs[n++] = cfg->attr_group_name;
	attrs[n++] = cfg->attr_gid_number;
	attrs[n++] = cfg->attr_member;
	attrs[n++] = cfg->attr_member_uid;
	/* Optional sources of account state: an empty name is not asked for. */
	if (cfg->attr_ns_account_lock[0] != '\0')
		attrs[n++] = cfg->attr_ns_account_lock;
	if (cfg->attr_login_shell[0] != '\0')
		attrs[n++] = cfg->attr_login_shell;
	if (cfg->attr_status[0] != '\0')
		attrs[n++] = cfg->attr_status;
	/* The fleet-wide MFA token rides on the person's entry (token.h). */
	if (cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY)
		for (const char *const *t = token_attrs(); *t != NULL && n < DIR_MAX_ATTRS - 1; t++)
			attrs[n++] = idg_unconst(*t);
	attrs[n] = NULL;
}

char *
dir_sync_filter(const struct cfg *cfg)
{
	size_t n = strlen(cfg->dir_user_filter) + strlen(cfg->dir_group_filter) + 4;
	char *f = malloc(n);

	if (f != NULL)
		snprintf(f, n, "(|%s%s)", cfg->dir_user_filter, cfg->dir_group_filter);
	return f;
}

static int
read_password_file(const char *path, char *buf, size_t size, struct idg_err *err)
{
	struct idg_err why;
	FILE *fp;
	size_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return idg_seterr(err, "cannot read bind password file %s: %s", path,
				  strerror(errno));
	/* Whoever could write it would choose whose view of the directory we mirror. */
	if (safepath_check_fd(fd, path, SAFEPATH_FILE, 0, &why) != 0) {
		close(fd);
		return idg_seterr(err, "refusing bind password file %s", why.msg);
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return idg_seterr(err, "cannot read bind password file %s: %s", path,
				  strerror(errno));
	}
	n = fread(buf, 1, size - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (n == size - 1)
		return idg_seterr(err, "bind password file %s is too long", path);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int
bind_as_configured(LDAP *ld, const struct cfg *cfg, const char *uri, int *ldrc, struct idg_err *err)
{
	struct berval cred = {0, NULL};
	char *pw = NULL;
	int rc;

	if (cfg->dir_bind_dn[0] != '\0') {
		pw = sodium_malloc(1024);
		if (pw == NULL)
			return idg_seterr(err, "out of memory");
		if (read_password_file(cfg->dir_bind_password_file, pw, 1024, err) != 0) {
			sodium_free(pw);
			return -1;
		}
		cred.bv_val = pw;
		cred.bv_len = strlen(pw);
	}
	rc = ldap_sasl_bind_s(ld, cfg->dir_bind_dn[0] ? cfg->dir_bind_dn : NULL, LDAP_SASL_SIMPLE,
			      &cred, NULL, NULL, NULL);
	if (pw != NULL)
		sodium_free(pw); /* wipes */
	*ldrc = rc;
	if (rc != LDAP_SUCCESS)
		return idg_seterr(err, "bind to %s as %s failed: %s", uri,
				  cfg->dir_bind_dn[0] ? cfg->dir_bind_dn : "anonymous",
				  ldap_err2string(rc));
	return 0;
}

/*
 * dir_open() to uri (one or several URIs, as libldap takes them) with tv
 * for connecting and for each synchronous operation, and in *ldrc the
 * LDAP result that failed (0: none).
 */
static int
open_rc(const struct cfg *cfg, const char *uri, struct timeval tv, LDAP **out, int *ldrc,
	struct idg_err *err)
{
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, rc, off = 0;

	*out = NULL;
	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS)
		return idg_seterr(err, "directory %s: %s", uri, ldap_err2string(rc));
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, &off);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (cfg->dir_tls != CFG_TLS_NONE) {
		int demand = LDAP_OPT_X_TLS_DEMAND, newctx = 0;

		ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
		if (cfg->dir_ca_file[0] != '\0')
			ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, cfg->dir_ca_file);
		ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx);
	}
	if (cfg->dir_tls == CFG_TLS_STARTTLS) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			*ldrc = rc;
			ldap_unbind_ext(ld, NULL, NULL);
			return idg_seterr(err, "StartTLS with %s failed: %s", uri,
					  ldap_err2string(rc));
		}
	}
	*out = ld;
	return 0;
}

int
dir_open(const struct cfg *cfg, LDAP **out, struct idg_err *err)
{
	struct timeval tv = {cfg->dir_timeout, 0};
	int ldrc = 0;

	return open_rc(cfg, cfg->dir_uri, tv, out, &ldrc, err);
}

/*
 * dir_connect() to uri with tv, and in *ldrc the LDAP result that failed
 * (0: none, e.g. the password file).
 */
static int
connect_rc(const struct cfg *cfg, const char *uri, struct timeval tv, LDAP **out, int *ldrc,
	   struct idg_err *err)
{
	LDAP *ld = NULL;

	*out = NULL;
	if (open_rc(cfg, uri, tv, &ld, ldrc, err) != 0)
		return -1;
	if (bind_as_configured(ld, cfg, uri, ldrc, err) != 0) {
		ldap_unbind_ext(ld, NULL, NULL);
		return -1;
	}
	*out = ld;
	return 0;
}

int
dir_connect(const struct cfg *cfg, LDAP **out, struct idg_err *err)
{
	struct timeval tv = {cfg->dir_timeout, 0};
	int ldrc = 0;

	return connect_rc(cfg, cfg->dir_uri, tv, out, &ldrc, err);
}

int
dir_unreachable_rc(int ldrc)
{
	return ldrc == LDAP_SERVER_DOWN || ldrc == LDAP_TIMEOUT || ldrc == LDAP_CONNECT_ERROR ||
	       ldrc == LDAP_UNAVAILABLE || ldrc == LDAP_BUSY;
}

int
dir_connect_uri(const struct cfg *cfg, const char *uri, int timeout_ms, LDAP **out,
		struct idg_err *err)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int ldrc = 0;

	if (connect_rc(cfg, uri, tv, out, &ldrc, err) == 0)
		return 0;
	return dir_unreachable_rc(ldrc) ? DIR_UNREACHABLE : -1;
}

int
dir_modify_asserted(LDAP *ld, const char *dn, LDAPMod **mods, const char *assertion, int permissive)
{
	LDAPControl *assert = NULL, permit, *ctrls[] = {NULL, NULL, NULL};
	int rc;

	rc = ldap_create_assertion_control(ld, idg_unconst(assertion), 1, &assert);
	if (rc != LDAP_SUCCESS)
		return rc;
	ctrls[0] = assert;
	if (permissive) {
		permit.ldctl_oid = idg_unconst(LDAP_CONTROL_X_PERMISSIVE_MODIFY);
		permit.ldctl_value.bv_len = 0;
		permit.ldctl_value.bv_val = NULL;
		permit.ldctl_iscritical = 1;
		ctrls[1] = &permit;
	}
	rc = ldap_modify_ext_s(ld, dn, mods, ctrls, NULL);
	ldap_control_free(assert);
	return rc;
}

int
dir_check(const struct cfg *cfg, struct idg_err *err)
{
	struct timeval tv = {cfg->dir_timeout, 0};
	LDAP *ld;
	int ldrc = 0;

	if (connect_rc(cfg, cfg->dir_uri, tv, &ld, &ldrc, err) == 0) {
		ldap_unbind_ext(ld, NULL, NULL);
		return 0;
	}
	return dir_unreachable_rc(ldrc) ? DIR_UNREACHABLE : -1;
}

int
dir_supports_sync(LDAP *ld)
{
	char *attrs[] = {"supportedControl", NULL};
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	int found = 0;

	if (ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			      NULL, 0, &res) != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return 0;
	}
	e = ldap_first_entry(ld, res);
	vals = e != NULL ? ldap_get_values_len(ld, e, "supportedControl") : NULL;
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++)
		if (vals[i]->bv_len == strlen(LDAP_CONTROL_SYNC) &&
		    memcmp(vals[i]->bv_val, LDAP_CONTROL_SYNC, vals[i]->bv_len) == 0)
			found = 1;
	ldap_value_free_len(vals);
	ldap_msgfree(res);
	return found;
}

int
dir_utf8_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t n;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if ((size_t)(end - p) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and values past U+10FFFF are not text. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

size_t
dir_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t cut;

	if (len <= max)
		return len;
	cut = max;
	/* s[cut] is the first byte left out: back off while it continues a character. */
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return cut;
}

enum value_state { V_ABSENT, V_OK, V_LONG, V_NOT_TEXT };

/*
 * One entry's attributes, decoded once. ldap_get_values_len() decodes the
 * entry from its start on every call and copies each value; a user is read
 * through about fifteen of them, so a sync of 100,000 users decoded each
 * entry fifteen times. Here each attribute's values point into the
 * message (valid while it is, and not NUL-terminated: every reader below
 * goes by bv_len).
 */
struct entry_attr {
	struct berval name;
	BerVarray vals; /* ends with a NULL bv_val */
};

struct entry_attrs {
	struct entry_attr *a;
	size_t n, cap;
};

static void
entry_attrs_free(struct entry_attrs *ea)
{
	for (size_t i = 0; i < ea->n; i++)
		ber_memfree(ea->a[i].vals);
	free(ea->a);
	memset(ea, 0, sizeof(*ea));
}

static int
entry_attrs_read(LDAP *ld, LDAPMessage *msg, struct entry_attrs *ea, struct idg_err *err)
{
	BerElement *ber = NULL;
	struct berval name;
	BerVarray vals = NULL;
	int rc;

	memset(ea, 0, sizeof(*ea));
	if (ldap_get_dn_ber(ld, msg, &ber, &name) != LDAP_SUCCESS)
		return idg_seterr(err, "entry cannot be decoded");
	while ((rc = ldap_get_attribute_ber(ld, msg, ber, &name, &vals)) == LDAP_SUCCESS &&
	       name.bv_val != NULL) {
		if (ea->n == ea->cap) {
			size_t cap = ea->cap ? 2 * ea->cap : 16;
			struct entry_attr *bigger = realloc(ea->a, cap * sizeof(*bigger));

			if (bigger == NULL) {
				ber_memfree(vals);
				rc = LDAP_NO_MEMORY;
				break;
			}
			ea->a = bigger;
			ea->cap = cap;
		}
		ea->a[ea->n].name = name;
		ea->a[ea->n].vals = vals;
		ea->n++;
		vals = NULL;
	}
	ber_free(ber, 0);
	if (rc != LDAP_SUCCESS) {
		entry_attrs_free(ea);
		return idg_seterr(err, "entry cannot be decoded: %s", ldap_err2string(rc));
	}
	return 0;
}

/* The values of attr (compared as ldap_get_values_len does: whole name, any case), or NULL. */
static const struct berval *
entry_values(const struct entry_attrs *ea, const char *attr)
{
	size_t len = strlen(attr);

	for (size_t i = 0; i < ea->n; i++)
		if (ea->a[i].name.bv_len == len &&
		    strncasecmp(ea->a[i].name.bv_val, attr, len) == 0)
			return ea->a[i].vals;
	return NULL;
}

/*
 * The first value of attr. V_OK: *out is the whole value. V_LONG: it is
 * valid text over max bytes, and *out holds its longest prefix of at most
 * max bytes that ends on a character boundary. V_NOT_TEXT (a NUL, bytes
 * that are not UTF-8) and V_ABSENT: *out is NULL. -1 only when out of memory.
 */
static int
read_nth_value(const struct berval *vals, size_t i, size_t max, char **out, enum value_state *state,
	       struct idg_err *err)
{
	size_t len;

	*out = NULL;
	*state = V_ABSENT;
	if (vals == NULL || vals[i].bv_val == NULL)
		return 0;
	len = vals[i].bv_len;
	if (!dir_utf8_text(vals[i].bv_val, len)) {
		*state = V_NOT_TEXT;
		return 0;
	}
	*state = len > max ? V_LONG : V_OK;
	*out = strndup(vals[i].bv_val, dir_utf8_cut(vals[i].bv_val, len, max));
	return *out == NULL ? idg_seterr(err, "out of memory") : 0;
}

static int
read_value(const struct entry_attrs *ea, const char *attr, size_t max, char **out,
	   enum value_state *state, struct idg_err *err)
{
	return read_nth_value(entry_values(ea, attr), 0, max, out, state, err);
}

/* The value of vals that the AVA holds: the same bytes first, else the same in ASCII case. */
static int
ava_value_index(const LDAPAVA *ava, const struct berval *vals, size_t *index)
{
	const struct berval *v = &ava->la_value;

	for (int fold = 0; fold < 2; fold++)
		for (size_t i = 0; vals[i].bv_val != NULL; i++)
			if (vals[i].bv_len == v->bv_len &&
			    (fold ? strncasecmp(vals[i].bv_val, v->bv_val, v->bv_len)
				  : memcmp(vals[i].bv_val, v->bv_val, v->bv_len)) == 0) {
				*index = i;
				return 1;
			}
	return 0;
}

/*
 * Which of an entry's values of attr is its name: the one its RDN holds
 * (index into vals), else the first. A user renamed with deleteoldrdn: 0
 * keeps the old name as another value of uid, in no promised order; the
 * RDN names the entry, as nss-pam-ldapd also takes it.
 */
static size_t
rdn_value_index(const char *dn, const char *attr, const struct berval *vals)
{
	LDAPDN ldn = NULL;
	size_t index = 0, len = strlen(attr);

	if (vals == NULL || vals[0].bv_val == NULL || vals[1].bv_val == NULL)
		return 0;
	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || ldn == NULL ||
	    ldn[0] == NULL)
		goto out;
	for (size_t a = 0; ldn[0][a] != NULL; a++) {
		const LDAPAVA *ava = ldn[0][a];

		if (ava->la_attr.bv_len == len &&
		    strncasecmp(ava->la_attr.bv_val, attr, len) == 0 &&
		    !(ava->la_flags & LDAP_AVA_BINARY) && ava_value_index(ava, vals, &index))
			break;
	}
out:
	ldap_dnfree(ldn);
	return index;
}

static void
warn(struct dir_entry *e, const char *attr, const char *problem)
{
	if (e->n_warnings < DIR_MAX_WARNINGS) {
		e->warnings[e->n_warnings].attr = attr;
		e->warnings[e->n_warnings].problem = problem;
		e->n_warnings++;
	}
}

/* The first reason wins: it is the one an admin fixes first. */
static int disable(struct dir_entry *e, struct idg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
disable(struct dir_entry *e, struct idg_err *err, const char *fmt, ...)
{
	char buf[DIR_REASON_MAX];
	va_list ap;

	if (e->disabled_reason != NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->disabled_reason = strdup(buf);
	return e->disabled_reason == NULL ? idg_seterr(err, "out of memory") : 0;
}

/*
 * A value people read (a display name): cut at a character boundary when
 * over DIR_MAX_VALUE, absent when not text; either with a warning.
 */
static int
display_value(const struct entry_attrs *ea, struct dir_entry *e, const char *attr, char **out,
	      struct idg_err *err)
{
	enum value_state st;

	if (read_value(ea, attr, DIR_MAX_VALUE, out, &st, err) != 0)
		return -1;
	if (st == V_LONG)
		warn(e, attr, "over " IDG_STR(DIR_MAX_VALUE) " bytes: stored truncated");
	else if (st == V_NOT_TEXT)
		warn(e, attr, "not UTF-8 text: stored as absent");
	return 0;
}

/*
 * A value that is wrong when cut (an address, a DN, a time): absent with a
 * warning when over max or not text.
 */
static int
whole_value(const struct entry_attrs *ea, struct dir_entry *e, const char *attr, size_t max,
	    char **out, struct idg_err *err)
{
	enum value_state st;

	if (read_value(ea, attr, max, out, &st, err) != 0)
		return -1;
	if (st == V_LONG) {
		free(*out);
		*out = NULL;
		warn(e, attr,
		     max == DIR_MAX_DN ? "over " IDG_STR(DIR_MAX_DN) " bytes: stored as absent"
				       : "over " IDG_STR(DIR_MAX_VALUE) " bytes: stored as absent");
	} else if (st == V_NOT_TEXT) {
		warn(e, attr, "not UTF-8 text: stored as absent");
	}
	return 0;
}

/*
 * A value that decides whether the account may be used: one that cannot
 * be read disables the account, it never reads as "not set".
 */
static int
security_value(const struct entry_attrs *ea, struct dir_entry *e, const char *attr, char **out,
	       struct idg_err *err)
{
	enum value_state st;

	if (read_value(ea, attr, DIR_MAX_VALUE, out, &st, err) != 0)
		return -1;
	if (st == V_LONG || st == V_NOT_TEXT) {
		free(*out);
		*out = NULL;
		return disable(e, err, "%s cannot be read (%s)", attr,
			       st == V_LONG ? "over " IDG_STR(DIR_MAX_VALUE) " bytes" : "not text");
	}
	return 0;
}

enum number_state { N_ABSENT, N_OK, N_BAD };

/* The first value of attr as a decimal integer >= -1 (-1 is shadow(5)'s "none"). */
static enum number_state
read_number(const struct entry_attrs *ea, const char *attr, int64_t *n)
{
	const struct berval *vals = entry_values(ea, attr);
	enum number_state st = N_ABSENT;

	*n = -1;
	if (vals != NULL && vals[0].bv_val != NULL) {
		char buf[24], *end;
		long long v;

		st = N_BAD;
		if (vals[0].bv_len > 0 && vals[0].bv_len < 20) {
			memcpy(buf, vals[0].bv_val, vals[0].bv_len);
			buf[vals[0].bv_len] = '\0';
			errno = 0;
			v = strtoll(buf, &end, 10);
			if (*end == '\0' && errno == 0 && v >= -1 && buf[0] != ' ' &&
			    buf[0] != '+') {
				*n = v;
				st = N_OK;
			}
		}
	}
	return st;
}

/* A number people read or that only adds information (uidNumber): absent when malformed. */
static int64_t
info_number(const struct entry_attrs *ea, struct dir_entry *e, const char *attr)
{
	int64_t n;

	if (read_number(ea, attr, &n) == N_BAD)
		warn(e, attr, "not a number: stored as absent");
	return n;
}

static int64_t
first_number(const struct entry_attrs *ea, const char *attr)
{
	int64_t n;

	read_number(ea, attr, &n);
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes duplicates in place; returns the new count. */
static size_t
sort_unique(char **v, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n; i++) {
		if (out > 0 && strcmp(v[out - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

/*
 * A member value that is not a DN this code can normalise (it does not
 * parse, is not UTF-8, holds a NUL, or is longer than DIR_MAX_DN), made
 * into text that can be stored, logged and shown: NULs become "\\00",
 * controls and broken bytes "\\xNN" (idg_strvis), and at most
 * DIR_MAX_MEMBER_RAW bytes of it are kept. The mirror keeps it as an
 * unresolved member, so it is counted and listed, never dropped unseen.
 */
static char *
raw_member_value(const struct berval *bv)
{
	size_t n = bv->bv_len > DIR_MAX_MEMBER_RAW ? DIR_MAX_MEMBER_RAW : bv->bv_len, o = 0;
	char *plain = malloc(3 * n + 1), *vis;

	if (plain == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (bv->bv_val[i] == '\0') {
			memcpy(plain + o, "\\00", 3);
			o += 3;
		} else {
			plain[o++] = bv->bv_val[i];
		}
	}
	plain[o] = '\0';
	vis = malloc(DIR_MAX_MEMBER_RAW + 1);
	if (vis != NULL)
		(void)idg_strvis(vis, DIR_MAX_MEMBER_RAW + 1, plain);
	free(plain);
	return vis;
}

/*
 * uniqueMember's syntax is NameAndOptionalUID (RFC 4517 3.3.21): a DN,
 * optionally followed by "#" and a bit string ("#'0101'B") that the DN
 * itself does not escape. The member is the DN, so the bit string is cut
 * off before it is normalised; as in OpenLDAP, a "#" not followed by a
 * well-formed bit string up to the end is part of the DN.
 */
static size_t
without_optional_uid(const char *value, size_t len)
{
	size_t hash = len, p, escapes = 0;

	while (hash > 0 && value[hash - 1] != '#')
		hash--;
	if (hash < 2 || hash + 1 >= len || value[hash] != '\'')
		return len;
	hash--; /* value[hash] is the '#' */
	for (p = hash; p > 0 && value[p - 1] == '\\'; p--)
		escapes++;
	if (escapes % 2 == 1) /* "\#": the DN's own, escaped */
		return len;
	for (p = hash + 2; p < len && (value[p] == '0' || value[p] == '1'); p++)
		;
	if (p + 2 == len && value[p] == '\'' && value[p + 1] == 'B')
		return hash;
	return len;
}

/*
 * All values of a multi-valued attribute. DN values are normalised; one
 * that cannot be is kept in its raw form (raw_member_value) and counted in
 * *n_raw, so that the mirror stores it as unresolved. Other values that are
 * empty, too long or hold a NUL are skipped.
 */
static int
all_values(const struct entry_attrs *ea, const char *attr, int as_dn, char ***out, size_t *n,
	   size_t *n_raw, struct idg_err *err)
{
	const struct berval *vals = entry_values(ea, attr);
	size_t count = 0, i, k = 0;
	char **v;

	*out = NULL;
	*n = 0;
	if (n_raw != NULL)
		*n_raw = 0;
	if (vals == NULL)
		return 0;
	while (vals[count].bv_val != NULL)
		count++;
	v = calloc(count + 1, sizeof(*v));
	if (v == NULL)
		return idg_seterr(err, "out of memory");
	for (i = 0; i < count; i++) {
		int usable = vals[i].bv_len > 0 &&
			     vals[i].bv_len <= (as_dn ? DIR_MAX_DN : DIR_MAX_VALUE) &&
			     memchr(vals[i].bv_val, '\0', vals[i].bv_len) == NULL;
		char *s = NULL;

		if (vals[i].bv_len == 0 || (!usable && !as_dn))
			continue;
		if (usable && as_dn) {
			size_t len = vals[i].bv_len;

			if (strcasecmp(attr, "uniqueMember") == 0)
				len = without_optional_uid(vals[i].bv_val, len);
			s = dir_dn_normalize_len(vals[i].bv_val, len);
			usable = s != NULL;
		} else if (usable) {
			s = strndup(vals[i].bv_val, vals[i].bv_len);
		}
		if (!usable && as_dn) {
			s = raw_member_value(&vals[i]);
			if (s != NULL && n_raw != NULL)
				(*n_raw)++;
		}
		if (s == NULL) {
			for (size_t j = 0; j < k; j++)
				free(v[j]);
			free(v);
			return idg_seterr(err, "out of memory reading %s", attr);
		}
		v[k++] = s;
	}
	*out = v;
	*n = sort_unique(v, k);
	return 0;
}

static enum dir_kind
classify(const struct entry_attrs *ea)
{
	const struct berval *oc = entry_values(ea, "objectClass");
	enum dir_kind kind = DIR_OTHER;
	static const char *const groups[] = {"groupOfNames", "groupOfUniqueNames", "posixGroup",
					     "groupOfMembers"};
	static const char *const users[] = {"posixAccount", "inetOrgPerson", "person",
					    "organizationalPerson", "account"};

	for (size_t i = 0; oc != NULL && oc[i].bv_val != NULL; i++) {
		for (size_t j = 0; j < sizeof(groups) / sizeof(groups[0]); j++)
			if (oc[i].bv_len == strlen(groups[j]) &&
			    strncasecmp(oc[i].bv_val, groups[j], oc[i].bv_len) == 0)
				kind = DIR_GROUP;
		for (size_t j = 0; kind == DIR_OTHER && j < sizeof(users) / sizeof(users[0]); j++)
			if (oc[i].bv_len == strlen(users[j]) &&
			    strncasecmp(oc[i].bv_val, users[j], oc[i].bv_len) == 0)
				kind = DIR_USER;
	}
	return kind;
}

static int
base_allows(const struct cfg *cfg, const char *dn_norm, enum dir_kind kind)
{
	const char *base = kind == DIR_USER ? cfg->dir_user_base : cfg->dir_group_base;
	char *norm;
	int ok;

	if (base[0] == '\0')
		return 1;
	norm = dir_dn_normalize(base);
	ok = norm != NULL && dir_dn_within(dn_norm, norm);
	free(norm);
	return ok;
}

/* 389-ds and others: nsAccountLock TRUE disables; anything but TRUE or FALSE cannot be read. */
static int
ns_account_lock(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
		struct idg_err *err)
{
	const char *attr = cfg->attr_ns_account_lock;
	char *v = NULL;
	int rc = 0;

	if (security_value(ea, e, attr, &v, err) != 0)
		return -1;
	if (v != NULL && strcasecmp(v, "TRUE") == 0)
		rc = disable(e, err, "%s is TRUE", attr);
	else if (v != NULL && strcasecmp(v, "FALSE") != 0)
		rc = disable(e, err, "%s cannot be read (neither TRUE nor FALSE)", attr);
	free(v);
	return rc;
}

/*
 * A status attribute (employeeType, accountStatus): any of its values
 * among [users] disabled_values disables; so does a value that cannot be
 * read, since it could have been one of them.
 */
static int
status_value(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
	     struct idg_err *err)
{
	const char *attr = cfg->attr_status;
	const struct berval *vals = entry_values(ea, attr);
	int rc = 0;

	for (size_t i = 0; vals != NULL && vals[i].bv_val != NULL && rc == 0; i++) {
		char buf[DIR_MAX_VALUE + 1];
		size_t len = vals[i].bv_len;

		if (len > DIR_MAX_VALUE || !dir_utf8_text(vals[i].bv_val, len)) {
			rc = disable(e, err, "%s cannot be read (%s)", attr,
				     len > DIR_MAX_VALUE ? "over " IDG_STR(DIR_MAX_VALUE) " bytes"
							 : "not text");
			break;
		}
		memcpy(buf, vals[i].bv_val, len);
		buf[len] = '\0';
		if (cfg_list_contains(cfg->status_disabled_values, buf))
			rc = disable(e, err, "%s is %.64s", attr, buf);
	}
	return rc;
}

/* A login shell among [users] nologin_shells disables: the directory means "no logins". */
static int
login_shell(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
	    struct idg_err *err)
{
	char *v = NULL;
	int rc = 0;

	if (security_value(ea, e, cfg->attr_login_shell, &v, err) != 0)
		return -1;
	if (v != NULL && cfg_list_contains(cfg->nologin_shells, v))
		rc = disable(e, err, "login shell %.64s", v);
	free(v);
	return rc;
}

/*
 * What a user entry says about the account's state. Each source that says
 * "disabled" gives the reason; one that cannot be read disables too.
 */
static int
parse_user_state(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
		 struct idg_err *err)
{
	if (security_value(ea, e, cfg->attr_locked, &e->locked, err) != 0)
		return -1;
	if (e->locked != NULL && disable(e, err, "locked by ppolicy (%s)", cfg->attr_locked) != 0)
		return -1;
	if (cfg->attr_ns_account_lock[0] != '\0' && ns_account_lock(cfg, ea, e, err) != 0)
		return -1;
	if (cfg->attr_status[0] != '\0' && status_value(cfg, ea, e, err) != 0)
		return -1;
	if (cfg->attr_login_shell[0] != '\0' && login_shell(cfg, ea, e, err) != 0)
		return -1;
	if (read_number(ea, cfg->attr_shadow_expire, &e->shadow_expire) == N_BAD &&
	    disable(e, err, "%s cannot be read (not a day number)", cfg->attr_shadow_expire) != 0)
		return -1;
	return 0;
}

static int
parse_user(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
	   struct idg_err *err)
{
	const struct berval *uids = entry_values(ea, cfg->attr_uid);
	char *manager = NULL, *changed = NULL;
	enum value_state uid_state;
	int rc = -1;

	/* Every value read here is freed at out (or by dir_entry_free), whichever read fails. */
	if (read_nth_value(uids, rdn_value_index(e->dn, cfg->attr_uid, uids), DIR_MAX_VALUE,
			   &e->uid, &uid_state, err) != 0 ||
	    display_value(ea, e, cfg->attr_display_name, &e->display_name, err) != 0 ||
	    display_value(ea, e, cfg->attr_title, &e->title, err) != 0 ||
	    display_value(ea, e, cfg->attr_department, &e->department, err) != 0 ||
	    whole_value(ea, e, cfg->attr_mail, DIR_MAX_VALUE, &e->mail, err) != 0 ||
	    whole_value(ea, e, cfg->attr_manager, DIR_MAX_DN, &manager, err) != 0 ||
	    whole_value(ea, e, cfg->attr_pwd_changed_time, DIR_MAX_VALUE, &changed, err) != 0 ||
	    parse_user_state(cfg, ea, e, err) != 0)
		goto out;
	if (uid_state == V_ABSENT) {
		idg_seterr(err, "user entry has no %s", cfg->attr_uid);
		goto out;
	}
	if (uid_state != V_OK) {
		/*
		 * A name cannot be cut or guessed: the entry is stored without
		 * one (the mirror keeps the name it had), and disabled.
		 */
		free(e->uid);
		e->uid = NULL;
		if (disable(e, err, "%s cannot be read (%s)", cfg->attr_uid,
			    uid_state == V_LONG ? "over " IDG_STR(DIR_MAX_VALUE) " bytes"
						: "not text") != 0)
			goto out;
	}
	if (e->display_name == NULL && display_value(ea, e, "cn", &e->display_name, err) != 0)
		goto out;
	if (e->department == NULL && display_value(ea, e, "ou", &e->department, err) != 0)
		goto out;
	if (manager != NULL && (e->manager_norm = dir_dn_normalize(manager)) == NULL)
		warn(e, cfg->attr_manager, "not a DN: stored as absent");
	e->uid_number = info_number(ea, e, cfg->attr_uid_number);
	e->shadow_last_change = info_number(ea, e, cfg->attr_shadow_last_change);
	if (changed != NULL && (e->pwd_changed_at = dir_generalized_time(changed)) < 0)
		warn(e, cfg->attr_pwd_changed_time, "not a GeneralizedTime: stored as absent");
	rc = 0;
out:
	free(manager);
	free(changed);
	return rc;
}

/*
 * The person's fleet-wide MFA token. A value that cannot be read is a
 * warning and an unreadable token, never a skipped entry (the rest of the
 * entry, a lock above all, must still be applied) and never "no token"
 * (that would unlock a lock or reopen a spent step).
 */
static int
parse_token(LDAP *ld, LDAPMessage *msg, struct dir_entry *e, struct idg_err *err)
{
	struct idg_err why;

	if ((e->token = calloc(1, sizeof(*e->token))) == NULL)
		return idg_seterr(err, "out of memory");
	if (token_from_entry(ld, msg, e->token, &why) != 0) {
		free(e->token);
		e->token = NULL;
		e->token_state = DIR_TOKEN_UNREADABLE;
		warn(e, "idgovToken", "a value cannot be read: the token is unusable until fixed");
		return 0;
	}
	if (tokenmirror_empty(e->token)) {
		free(e->token);
		e->token = NULL;
		e->token_state = DIR_TOKEN_ABSENT;
	} else {
		e->token_state = DIR_TOKEN_PRESENT;
	}
	return 0;
}

static int
parse_group(const struct cfg *cfg, const struct entry_attrs *ea, struct dir_entry *e,
	    struct idg_err *err)
{
	enum value_state st;

	if (read_value(ea, cfg->attr_group_name, DIR_MAX_VALUE, &e->cn, &st, err) != 0)
		return -1;
	if (st == V_ABSENT)
		return idg_seterr(err, "group entry has no %s", cfg->attr_group_name);
	if (st != V_OK) {
		/* Its members still count: the mirror keeps the name it had. */
		free(e->cn);
		e->cn = NULL;
		warn(e, cfg->attr_group_name, "cannot be read: the stored name is kept");
	}
	if (display_value(ea, e, cfg->attr_group_description, &e->description, err) != 0)
		return -1;
	e->gid_number = first_number(ea, cfg->attr_gid_number);
	if (all_values(ea, cfg->attr_member, 1, &e->members, &e->n_members, &e->n_members_raw,
		       err) != 0 ||
	    all_values(ea, cfg->attr_member_uid, 0, &e->member_uids, &e->n_member_uids, NULL,
		       err) != 0)
		return -1;
	return 0;
}

int
dir_parse_entry(const struct cfg *cfg, LDAP *ld, LDAPMessage *msg, const struct berval *uuid_raw,
		struct dir_entry *e, struct idg_err *err)
{
	struct entry_attrs ea;
	char *dn;
	int rc;

	memset(e, 0, sizeof(*e));
	e->uid_number = e->shadow_expire = e->gid_number = -1;
	e->shadow_last_change = e->pwd_changed_at = -1;
	if (entry_attrs_read(ld, msg, &ea, err) != 0)
		return -1;
	if (uuid_raw != NULL) {
		if (dir_uuid_format(uuid_raw, e->uuid) != 0) {
			entry_attrs_free(&ea);
			return idg_seterr(err, "malformed entryUUID in sync state");
		}
	} else {
		const struct berval *v = entry_values(&ea, "entryUUID");

		if (v == NULL || v[0].bv_val == NULL || uuid_from_text(&v[0], e->uuid) != 0) {
			entry_attrs_free(&ea);
			return idg_seterr(err, "entry without a valid entryUUID");
		}
	}
	dn = ldap_get_dn(ld, msg);
	if (dn == NULL) {
		entry_attrs_free(&ea);
		return idg_seterr(err, "entry %s without a DN", e->uuid);
	}
	e->dn = strdup(dn);
	e->dn_norm = dir_dn_normalize(dn);
	ldap_memfree(dn);
	if (e->dn == NULL || e->dn_norm == NULL) {
		entry_attrs_free(&ea);
		idg_seterr(err, "entry %s has a malformed DN", e->uuid);
		dir_entry_free(e);
		return -1;
	}
	e->kind = classify(&ea);
	if (e->kind != DIR_OTHER && !base_allows(cfg, e->dn_norm, e->kind))
		e->kind = DIR_OTHER;
	rc = 0;
	if (e->kind == DIR_USER)
		rc = parse_user(cfg, &ea, e, err);
	if (rc == 0 && e->kind == DIR_USER && cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY)
		rc = parse_token(ld, msg, e, err);
	else if (e->kind == DIR_GROUP)
		rc = parse_group(cfg, &ea, e, err);
	entry_attrs_free(&ea);
	if (rc != 0) {
		struct idg_err why = *err;

		idg_seterr(err, "%s: %s", e->dn, why.msg);
		dir_entry_free(e);
		return -1;
	}
	return 0;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
dir_entry_free(struct dir_entry *e)
{
	free(e->dn);
	free(e->dn_norm);
	free(e->uid);
	free(e->display_name);
	free(e->title);
	free(e->department);
	free(e->description);
	free(e->mail);
	free(e->manager_norm);
	free(e->locked);
	free(e->disabled_reason);
	free(e->cn);
	free_list(e->members, e->n_members);
	free_list(e->member_uids, e->n_member_uids);
	if (e->token != NULL) /* a sealed secret and recovery hashes: not left in freed memory */
		sodium_memzero(e->token, sizeof(*e->token));
	free(e->token);
	memset(e, 0, sizeof(*e));
}
