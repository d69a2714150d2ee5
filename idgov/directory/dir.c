/*
 * LDAP connection and entry parsing; see dir.h.
 *
 * Normalising DNs: group members are compared with user DNs, so both must
 * be in one canonical form. ldap_dn_normalize() parses and re-serialises a
 * DN per RFC 4514, which costs a few microseconds; a group of 50,000
 * members makes that matter. DNs made only of plain characters with no
 * spaces, escapes or multi-valued RDNs are already canonical apart from
 * case, so they take a fast path that only lower-cases them.
 */
#include "dir.h"

#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*
 * "attr=value(,attr=value)*" where attr starts with a letter and both are
 * made of letters, digits and -._@ only: such a DN has nothing that
 * RFC 4514 normalisation would change except case.
 */
static int
is_plain_dn(const char *dn)
{
	const char *p = dn;

	for (;;) {
		const char *start = p;

		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '-')
			p++;
		if (p == start || *p++ != '=')
			return 0;
		start = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '@')
			p++;
		if (p == start)
			return 0;
		if (*p == '\0')
			return 1;
		if (*p++ != ',')
			return 0;
	}
}

char *
dir_dn_normalize(const char *dn)
{
	char *out = NULL, *copy;

	if (strlen(dn) > DIR_MAX_DN)
		return NULL;
	if (is_plain_dn(dn)) {
		copy = strdup(dn);
	} else {
		if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) !=
			    LDAP_SUCCESS ||
		    out == NULL)
			return NULL;
		copy = strdup(out);
		ldap_memfree(out);
	}
	if (copy != NULL)
		idg_ascii_lower(copy);
	return copy;
}

int
dir_dn_within(const char *dn_norm, const char *base_norm)
{
	size_t ld = strlen(dn_norm), lb = strlen(base_norm);

	if (lb == 0)
		return 1;
	if (ld < lb || strcmp(dn_norm + ld - lb, base_norm) != 0)
		return 0;
	return ld == lb || dn_norm[ld - lb - 1] == ',';
}

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
	const unsigned char *b = (const unsigned char *)raw->bv_val;

	if (raw->bv_len != 16)
		return -1;
	snprintf(out, DIR_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
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
dir_attrs(const struct cfg *cfg, char *attrs[24])
{
	int n = 0;

	attrs[n++] = "objectClass";
	attrs[n++] = "entryUUID";
	attrs[n++] = "cn";
	attrs[n++] = cfg->attr_uid;
	attrs[n++] = cfg->attr_display_name;
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
bind_as_configured(LDAP *ld, const struct cfg *cfg, int *ldrc, struct idg_err *err)
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
		return idg_seterr(err, "bind to %s as %s failed: %s", cfg->dir_uri,
				  cfg->dir_bind_dn[0] ? cfg->dir_bind_dn : "anonymous",
				  ldap_err2string(rc));
	return 0;
}

/* dir_open(), and in *ldrc the LDAP result that failed (0: none). */
static int
open_rc(const struct cfg *cfg, LDAP **out, int *ldrc, struct idg_err *err)
{
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, rc, off = 0;
	struct timeval tv = {cfg->dir_timeout, 0};

	*out = NULL;
	rc = ldap_initialize(&ld, cfg->dir_uri);
	if (rc != LDAP_SUCCESS)
		return idg_seterr(err, "directory %s: %s", cfg->dir_uri, ldap_err2string(rc));
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
			return idg_seterr(err, "StartTLS with %s failed: %s", cfg->dir_uri,
					  ldap_err2string(rc));
		}
	}
	*out = ld;
	return 0;
}

int
dir_open(const struct cfg *cfg, LDAP **out, struct idg_err *err)
{
	int ldrc = 0;

	return open_rc(cfg, out, &ldrc, err);
}

/* dir_connect(), and in *ldrc the LDAP result that failed (0: none, e.g. the password file). */
static int
connect_rc(const struct cfg *cfg, LDAP **out, int *ldrc, struct idg_err *err)
{
	LDAP *ld = NULL;

	*out = NULL;
	if (open_rc(cfg, &ld, ldrc, err) != 0)
		return -1;
	if (bind_as_configured(ld, cfg, ldrc, err) != 0) {
		ldap_unbind_ext(ld, NULL, NULL);
		return -1;
	}
	*out = ld;
	return 0;
}

int
dir_connect(const struct cfg *cfg, LDAP **out, struct idg_err *err)
{
	int ldrc = 0;

	return connect_rc(cfg, out, &ldrc, err);
}

int
dir_check(const struct cfg *cfg, struct idg_err *err)
{
	LDAP *ld;
	int ldrc = 0;

	if (connect_rc(cfg, &ld, &ldrc, err) == 0) {
		ldap_unbind_ext(ld, NULL, NULL);
		return 0;
	}
	if (ldrc == LDAP_SERVER_DOWN || ldrc == LDAP_TIMEOUT || ldrc == LDAP_CONNECT_ERROR ||
	    ldrc == LDAP_UNAVAILABLE || ldrc == LDAP_BUSY)
		return DIR_UNREACHABLE;
	return -1;
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

/* The first value of attr as a NUL-terminated string, if it is sane text. */
static int
first_value(LDAP *ld, LDAPMessage *msg, const char *attr, char **out, struct idg_err *err)
{
	struct berval **vals = ldap_get_values_len(ld, msg, attr);
	int rc = 0;

	*out = NULL;
	if (vals == NULL || vals[0] == NULL)
		goto done;
	if (vals[0]->bv_len > DIR_MAX_VALUE || memchr(vals[0]->bv_val, '\0', vals[0]->bv_len)) {
		rc = idg_seterr(err, "attribute %s is too long or not text", attr);
		goto done;
	}
	*out = strndup(vals[0]->bv_val, vals[0]->bv_len);
	if (*out == NULL)
		rc = idg_seterr(err, "out of memory");
done:
	ldap_value_free_len(vals);
	return rc;
}

static int64_t
first_number(LDAP *ld, LDAPMessage *msg, const char *attr)
{
	struct berval **vals = ldap_get_values_len(ld, msg, attr);
	int64_t n = -1;

	if (vals != NULL && vals[0] != NULL && vals[0]->bv_len > 0 && vals[0]->bv_len < 20) {
		char buf[24], *end;
		long long v;

		memcpy(buf, vals[0]->bv_val, vals[0]->bv_len);
		buf[vals[0]->bv_len] = '\0';
		errno = 0;
		v = strtoll(buf, &end, 10);
		if (*end == '\0' && errno == 0 && v >= 0)
			n = v;
	}
	ldap_value_free_len(vals);
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

/* All values of a multi-valued attribute; DNs are normalised, bad values skipped. */
static int
all_values(LDAP *ld, LDAPMessage *msg, const char *attr, int as_dn, char ***out, size_t *n,
	   struct idg_err *err)
{
	struct berval **vals = ldap_get_values_len(ld, msg, attr);
	size_t count, i, k = 0;
	char **v;

	*out = NULL;
	*n = 0;
	if (vals == NULL)
		return 0;
	count = (size_t)ldap_count_values_len(vals);
	v = calloc(count + 1, sizeof(*v));
	if (v == NULL) {
		ldap_value_free_len(vals);
		return idg_seterr(err, "out of memory");
	}
	for (i = 0; i < count; i++) {
		char *s;

		if (vals[i]->bv_len == 0 ||
		    vals[i]->bv_len > (as_dn ? DIR_MAX_DN : DIR_MAX_VALUE) ||
		    memchr(vals[i]->bv_val, '\0', vals[i]->bv_len))
			continue;
		s = strndup(vals[i]->bv_val, vals[i]->bv_len);
		if (s != NULL && as_dn) {
			char *norm = dir_dn_normalize(s);

			free(s);
			s = norm;
		}
		if (s != NULL)
			v[k++] = s;
	}
	ldap_value_free_len(vals);
	*out = v;
	*n = sort_unique(v, k);
	return 0;
}

static enum dir_kind
classify(LDAP *ld, LDAPMessage *msg)
{
	struct berval **oc = ldap_get_values_len(ld, msg, "objectClass");
	enum dir_kind kind = DIR_OTHER;
	static const char *const groups[] = {"groupOfNames", "groupOfUniqueNames", "posixGroup",
					     "groupOfMembers"};
	static const char *const users[] = {"posixAccount", "inetOrgPerson", "person",
					    "organizationalPerson", "account"};

	for (size_t i = 0; oc != NULL && oc[i] != NULL; i++) {
		for (size_t j = 0; j < sizeof(groups) / sizeof(groups[0]); j++)
			if (oc[i]->bv_len == strlen(groups[j]) &&
			    strncasecmp(oc[i]->bv_val, groups[j], oc[i]->bv_len) == 0)
				kind = DIR_GROUP;
		for (size_t j = 0; kind == DIR_OTHER && j < sizeof(users) / sizeof(users[0]); j++)
			if (oc[i]->bv_len == strlen(users[j]) &&
			    strncasecmp(oc[i]->bv_val, users[j], oc[i]->bv_len) == 0)
				kind = DIR_USER;
	}
	ldap_value_free_len(oc);
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

static int
parse_user(const struct cfg *cfg, LDAP *ld, LDAPMessage *msg, struct dir_entry *e,
	   struct idg_err *err)
{
	char *manager = NULL, *changed = NULL;
	int rc = -1;

	/* Every value read here is freed at out, whichever read fails. */
	if (first_value(ld, msg, cfg->attr_uid, &e->uid, err) != 0 ||
	    first_value(ld, msg, cfg->attr_display_name, &e->display_name, err) != 0 ||
	    first_value(ld, msg, cfg->attr_mail, &e->mail, err) != 0 ||
	    first_value(ld, msg, cfg->attr_manager, &manager, err) != 0 ||
	    first_value(ld, msg, cfg->attr_locked, &e->locked, err) != 0 ||
	    first_value(ld, msg, cfg->attr_pwd_changed_time, &changed, err) != 0)
		goto out;
	if (e->uid == NULL) {
		idg_seterr(err, "user entry has no %s", cfg->attr_uid);
		goto out;
	}
	if (e->display_name == NULL && first_value(ld, msg, "cn", &e->display_name, err) != 0)
		goto out;
	if (manager != NULL)
		e->manager_norm = dir_dn_normalize(manager);
	e->uid_number = first_number(ld, msg, cfg->attr_uid_number);
	e->shadow_expire = first_number(ld, msg, cfg->attr_shadow_expire);
	e->shadow_last_change = first_number(ld, msg, cfg->attr_shadow_last_change);
	e->pwd_changed_at = changed != NULL ? dir_generalized_time(changed) : -1;
	rc = 0;
out:
	free(manager);
	free(changed);
	return rc;
}

static int
parse_group(const struct cfg *cfg, LDAP *ld, LDAPMessage *msg, struct dir_entry *e,
	    struct idg_err *err)
{
	if (first_value(ld, msg, cfg->attr_group_name, &e->cn, err) != 0)
		return -1;
	if (e->cn == NULL)
		return idg_seterr(err, "group entry has no %s", cfg->attr_group_name);
	e->gid_number = first_number(ld, msg, cfg->attr_gid_number);
	if (all_values(ld, msg, cfg->attr_member, 1, &e->members, &e->n_members, err) != 0 ||
	    all_values(ld, msg, cfg->attr_member_uid, 0, &e->member_uids, &e->n_member_uids, err) !=
		    0)
		return -1;
	return 0;
}

int
dir_parse_entry(const struct cfg *cfg, LDAP *ld, LDAPMessage *msg, const struct berval *uuid_raw,
		struct dir_entry *e, struct idg_err *err)
{
	char *dn;
	int rc;

	memset(e, 0, sizeof(*e));
	e->uid_number = e->shadow_expire = e->gid_number = -1;
	e->shadow_last_change = e->pwd_changed_at = -1;
	if (uuid_raw != NULL) {
		if (dir_uuid_format(uuid_raw, e->uuid) != 0)
			return idg_seterr(err, "malformed entryUUID in sync state");
	} else {
		struct berval **v = ldap_get_values_len(ld, msg, "entryUUID");

		rc = v != NULL && v[0] != NULL ? uuid_from_text(v[0], e->uuid) : -1;
		ldap_value_free_len(v);
		if (rc != 0)
			return idg_seterr(err, "entry without a valid entryUUID");
	}
	dn = ldap_get_dn(ld, msg);
	if (dn == NULL)
		return idg_seterr(err, "entry %s without a DN", e->uuid);
	e->dn = strdup(dn);
	e->dn_norm = dir_dn_normalize(dn);
	ldap_memfree(dn);
	if (e->dn == NULL || e->dn_norm == NULL) {
		idg_seterr(err, "entry %s has a malformed DN", e->uuid);
		dir_entry_free(e);
		return -1;
	}
	e->kind = classify(ld, msg);
	if (e->kind != DIR_OTHER && !base_allows(cfg, e->dn_norm, e->kind))
		e->kind = DIR_OTHER;
	rc = 0;
	if (e->kind == DIR_USER)
		rc = parse_user(cfg, ld, msg, e, err);
	else if (e->kind == DIR_GROUP)
		rc = parse_group(cfg, ld, msg, e, err);
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
	free(e->mail);
	free(e->manager_norm);
	free(e->locked);
	free(e->cn);
	free_list(e->members, e->n_members);
	free_list(e->member_uids, e->n_member_uids);
	memset(e, 0, sizeof(*e));
}
