/*
 * A person's MFA token in the directory: reading it strictly, and writing
 * it only by compare-and-swap; see token.h for the contract.
 *
 * Each write is one LDAP modify: what it changes and, in an RFC 4528
 * assertion control (dir_modify_asserted()), what the entry must still
 * hold for the change to apply. The filters:
 *
 *   consume a step       (&(idgovTokenSecret=*)(!(idgovLastStep>=STEP)))
 *   record a failure     (&(idgovTokenSecret=*)F C L), each of F C L
 *                        (attr=VALUE AS READ) or (!(attr=*)) when absent
 *   enrol (replace 0)    (!(idgovTokenSecret=*))
 *   rewrite (replace 1)  (&(idgovTokenSecret=SEALED AS READ)
 *                          (!(idgovLastStep>=LAST+1)))
 *   stamp the login      (!(idgovLastLogin>=NOW-1d))
 *
 * Every value that goes into a filter is escaped
 * (ldap_bv2escaped_filter_value), even those this file made itself from
 * numbers: a filter is never built by pasting text. A spent recovery code
 * is deleted by value without an assertion: the directory refuses to
 * delete a value that is not there (noSuchAttribute), which is the
 * "spent elsewhere first" answer.
 *
 * "Absent" is a real state (0 failures, no lock) and a value that cannot
 * be read is an error, never taken for absent: a lock end that is not a
 * time must not read as "unlocked", a step that is not a number must not
 * read as "no step yet".
 */
#include "token.h"

#include "dir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define A_SECRET "idgovTokenSecret"
#define A_ALGORITHM "idgovTokenAlgorithm"
#define A_DIGITS "idgovTokenDigits"
#define A_PERIOD "idgovTokenPeriod"
#define A_STEP "idgovLastStep"
#define A_FAILURES "idgovFailureCount"
#define A_FAILSTART "idgovFailureWindowStart"
#define A_LOCK "idgovLockEnd"
#define A_RECOVERY "idgovRecoveryCode"
#define A_LASTLOGIN "idgovLastLogin"
#define OC_TOKEN "idgovToken"
#define OC_LOGIN "idgovLoginRecord"

/* The most wrong codes a window may count: far above any lockout threshold. */
#define FAILURES_MAX 1000000
/* TOTP steps of at most a day, as RFC 6238 allows any; the config takes 15 to 300 s. */
#define PERIOD_MAX 86400
/* The longest assertion filter built here: a sealed value escaped (3 bytes per byte) and more. */
#define FILTER_MAX (3 * FLEET_SEAL_MAX + 512)
#define DAY 86400

static const char *const attrs[] = {"objectClass", A_SECRET,   A_ALGORITHM, A_DIGITS,
				    A_PERIOD,      A_STEP,     A_FAILURES,  A_FAILSTART,
				    A_LOCK,        A_RECOVERY, A_LASTLOGIN, NULL};

const char *const *
token_attrs(void)
{
	return attrs;
}

/* --- reading --------------------------------------------------------------------------- */

/*
 * The values of attr: NULL (and *n 0) when absent. -1 when a
 * single-valued attribute has several (the schema forbids it; a
 * directory without the schema could hold them).
 */
static int
values_of(LDAP *ld, LDAPMessage *e, const char *attr, int single, struct berval ***vals, size_t *n,
	  struct idg_err *err)
{
	*vals = ldap_get_values_len(ld, e, attr);
	*n = 0;
	while (*vals != NULL && (*vals)[*n] != NULL)
		(*n)++;
	if (single && *n > 1) {
		ldap_value_free_len(*vals);
		*vals = NULL;
		return idg_seterr(err, "%s has %zu values (one at most)", attr, *n);
	}
	return 0;
}

/*
 * A decimal number from 0 to max, as LDAP's INTEGER syntax writes one:
 * digits only, no sign, no leading zero, no spaces. -1 otherwise.
 */
int
token_parse_number(const char *s, size_t len, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = s[i] - '0';

		/* v * 10 + d <= max, asked without overflowing. */
		if (d < 0 || d > 9 || max - d < 0 || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * A GeneralizedTime in UTC, copied (NUL-terminated) into raw of size
 * bytes for a later assertion. -1 if it is not one, or does not fit.
 */
int
token_parse_time(const char *s, size_t len, char *raw, size_t size, int64_t *out)
{
	char buf[LEASE_TIME_MAX];
	int64_t t;

	if (len == 0 || len >= sizeof(buf) || len >= size || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((t = dir_generalized_time(buf)) < 0)
		return -1;
	memcpy(raw, buf, len + 1);
	*out = t;
	return 0;
}

/*
 * A recovery value "ID:HASH": ID the four characters of the code's first
 * group (upper-case letters and digits), HASH a crypto_pwhash string
 * (printable ASCII without spaces). -1 otherwise or if it does not fit.
 */
int
token_parse_recovery(const char *s, size_t len)
{
	if (len < 6 || len >= TOKEN_RECOVERY_MAX || s[4] != ':')
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return -1;
	for (size_t i = 5; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return -1;
	return 0;
}

/* An optional single number from min to max; 0 when absent. */
static int
read_number(LDAP *ld, LDAPMessage *e, const char *attr, int64_t min, int64_t max, int64_t *out,
	    char *raw, size_t raw_size, struct idg_err *err)
{
	struct berval **v;
	size_t n;
	int rc = 0;

	*out = 0;
	if (raw != NULL)
		raw[0] = '\0';
	if (values_of(ld, e, attr, 1, &v, &n, err) != 0)
		return -1;
	if (n == 1) {
		if (token_parse_number(v[0]->bv_val, v[0]->bv_len, max, out) != 0 || *out < min) {
			*out = 0;
			rc = idg_seterr(err, "%s is not a number from %" PRId64 " to %" PRId64,
					attr, min, max);
		} else if (raw != NULL && v[0]->bv_len < raw_size) {
			memcpy(raw, v[0]->bv_val, v[0]->bv_len);
			raw[v[0]->bv_len] = '\0';
		} else if (raw != NULL) {
			rc = idg_seterr(err, "%s is too long", attr);
		}
	}
	ldap_value_free_len(v);
	return rc;
}

/* An optional single GeneralizedTime; 0 (and raw "") when absent. */
static int
read_time(LDAP *ld, LDAPMessage *e, const char *attr, int64_t *out, char raw[LEASE_TIME_MAX],
	  struct idg_err *err)
{
	struct berval **v;
	size_t n;
	int rc = 0;

	*out = 0;
	raw[0] = '\0';
	if (values_of(ld, e, attr, 1, &v, &n, err) != 0)
		return -1;
	if (n == 1 && token_parse_time(v[0]->bv_val, v[0]->bv_len, raw, LEASE_TIME_MAX, out) != 0) {
		raw[0] = '\0';
		rc = idg_seterr(err, "%s is not a GeneralizedTime", attr);
	}
	ldap_value_free_len(v);
	return rc;
}

static int
read_secret(LDAP *ld, LDAPMessage *e, struct token *t, struct idg_err *err)
{
	struct berval **v;
	size_t n;
	int rc = 0;

	if (values_of(ld, e, A_SECRET, 1, &v, &n, err) != 0)
		return -1;
	if (n == 1) {
		/* The blob's inside is fleet_open()'s to judge; here only its size. */
		if (v[0]->bv_len <= FLEET_SEAL_OVERHEAD || v[0]->bv_len > FLEET_SEAL_MAX) {
			rc = idg_seterr(err, A_SECRET " is %lu bytes (a sealed secret is %d to %d)",
					(unsigned long)v[0]->bv_len, FLEET_SEAL_OVERHEAD + 1,
					FLEET_SEAL_MAX);
		} else {
			memcpy(t->sealed, v[0]->bv_val, v[0]->bv_len);
			t->sealed_len = v[0]->bv_len;
			t->enrolled = 1;
		}
	}
	ldap_value_free_len(v);
	return rc;
}

static int
read_algorithm(LDAP *ld, LDAPMessage *e, struct token *t, struct idg_err *err)
{
	static const char *const known[] = {"sha1", "sha256", "sha512"};
	struct berval **v;
	size_t n;
	int rc = 0;

	if (values_of(ld, e, A_ALGORITHM, 1, &v, &n, err) != 0)
		return -1;
	if (n == 1) {
		rc = idg_seterr(err, A_ALGORITHM " is not sha1, sha256 or sha512");
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (v[0]->bv_len == strlen(known[i]) &&
			    strncasecmp(v[0]->bv_val, known[i], v[0]->bv_len) == 0) {
				snprintf(t->algorithm, sizeof(t->algorithm), "%s", known[i]);
				rc = 0;
			}
		}
	}
	ldap_value_free_len(v);
	return rc;
}

static int
read_recovery(LDAP *ld, LDAPMessage *e, struct token *t, struct idg_err *err)
{
	struct berval **v;
	size_t n;
	int rc = 0;

	if (values_of(ld, e, A_RECOVERY, 0, &v, &n, err) != 0)
		return -1;
	if (n > TOKEN_MAX_RECOVERY)
		rc = idg_seterr(err, A_RECOVERY " has %zu values (at most %d)", n,
				TOKEN_MAX_RECOVERY);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (token_parse_recovery(v[i]->bv_val, v[i]->bv_len) != 0) {
			rc = idg_seterr(err, A_RECOVERY " value %zu is not ID:HASH", i + 1);
			break;
		}
		memcpy(t->recovery[i], v[i]->bv_val, v[i]->bv_len);
		t->recovery[i][v[i]->bv_len] = '\0';
		t->n_recovery = i + 1;
	}
	ldap_value_free_len(v);
	return rc;
}

static void
read_classes(LDAP *ld, LDAPMessage *e, struct token *t)
{
	struct berval **v = ldap_get_values_len(ld, e, "objectClass");

	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		if (v[i]->bv_len == strlen(OC_TOKEN) &&
		    strncasecmp(v[i]->bv_val, OC_TOKEN, v[i]->bv_len) == 0)
			t->has_token_class = 1;
		if (v[i]->bv_len == strlen(OC_LOGIN) &&
		    strncasecmp(v[i]->bv_val, OC_LOGIN, v[i]->bv_len) == 0)
			t->has_login_class = 1;
	}
	ldap_value_free_len(v);
}

int
token_from_entry(LDAP *ld, LDAPMessage *entry, struct token *t, struct idg_err *err)
{
	char login_raw[LEASE_TIME_MAX];
	int64_t digits, period;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	read_classes(ld, entry, t);
	if (read_secret(ld, entry, t, err) != 0 || read_algorithm(ld, entry, t, err) != 0 ||
	    read_number(ld, entry, A_DIGITS, 6, 8, &digits, NULL, 0, err) != 0 ||
	    read_number(ld, entry, A_PERIOD, 1, PERIOD_MAX, &period, NULL, 0, err) != 0 ||
	    read_number(ld, entry, A_STEP, 0, INT64_MAX, &t->last_step, NULL, 0, err) != 0 ||
	    read_number(ld, entry, A_FAILURES, 0, FAILURES_MAX, &t->failures, t->failures_raw,
			sizeof(t->failures_raw), err) != 0 ||
	    read_time(ld, entry, A_FAILSTART, &t->failure_start, t->failure_start_raw, err) != 0 ||
	    read_time(ld, entry, A_LOCK, &t->locked_until, t->locked_until_raw, err) != 0 ||
	    read_time(ld, entry, A_LASTLOGIN, &t->last_login, login_raw, err) != 0 ||
	    read_recovery(ld, entry, t, err) != 0)
		goto out;
	t->digits = (int)digits;
	t->period = (int)period;
	rc = 0;
out:
	if (rc != 0)
		sodium_memzero(t, sizeof(*t)); /* nothing half read is left for a careless caller */
	return rc;
}

/* "reading the token of DN: WHY" around the message a parser left in err. */
static int
whose(struct idg_err *err, const char *what, const char *dn)
{
	struct idg_err why = *err;

	return idg_seterr(err, "%s the token of %s: %s", what, dn, why.msg);
}

static struct timeval
timeout_of(const struct cfg *cfg)
{
	struct timeval tv = {cfg->fleet_timeout_ms / 1000, (cfg->fleet_timeout_ms % 1000) * 1000};

	return tv;
}

/* An LDAP result as this file's answer: TOKEN_DOWN for the unreachable, else -1 with err. */
static int
failed(int rc, const char *what, const char *dn, struct idg_err *err)
{
	idg_seterr(err, "%s the token of %s: %s", what, dn, ldap_err2string(rc));
	return dir_unreachable_rc(rc) ? TOKEN_DOWN : -1;
}

int
token_read(const struct cfg *cfg, LDAP *ld, const char *dn, struct token *t, struct idg_err *err)
{
	struct timeval tv = timeout_of(cfg);
	char *want[sizeof(attrs) / sizeof(attrs[0])];
	LDAPMessage *res = NULL, *e;
	int rc;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		want[i] = idg_unconst(attrs[i]);
	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", want, 0, NULL, NULL, &tv,
			       1, &res);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return failed(rc, "reading", dn, err);
	}
	if ((e = ldap_first_entry(ld, res)) == NULL) {
		ldap_msgfree(res);
		return idg_seterr(err, "reading the token of %s: the entry is not visible", dn);
	}
	rc = token_from_entry(ld, e, t, err);
	ldap_msgfree(res);
	return rc == 0 ? 0 : whose(err, "reading", dn);
}

/* --- writing --------------------------------------------------------------------------- */

/*
 * Appends "(attr=ESCAPED)" (or "(!(attr>=ESCAPED))" with not_ge, or
 * "(!(attr=*))" for a NULL value) to f. -1 if it does not fit or
 * escaping fails.
 */
static int
put(char *f, size_t size, const char *attr, const void *val, size_t len, int not_ge)
{
	struct berval in = {len, idg_unconst((const char *)val)}, esc = {0, NULL};
	size_t used = strlen(f);
	int n;

	if (val == NULL) {
		n = snprintf(f + used, size - used, "(!(%s=*))", attr);
	} else {
		if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
			return -1;
		n = snprintf(f + used, size - used, not_ge ? "(!(%s>=%s))" : "(%s=%s)", attr,
			     esc.bv_val);
		ber_memfree(esc.bv_val);
	}
	return n < 0 || (size_t)n >= size - used ? -1 : 0;
}

/* Appends "(attr=RAW)", or "(!(attr=*))" when raw is "" (absent as read). */
static int
put_raw(char *f, size_t size, const char *attr, const char *raw)
{
	return put(f, size, attr, raw[0] != '\0' ? raw : NULL, strlen(raw), 0);
}

/* Appends "(!(attr>=n))": the stored number is absent or below n. */
static int
put_below(char *f, size_t size, const char *attr, int64_t n)
{
	char num[TOKEN_NUM_MAX];

	snprintf(num, sizeof(num), "%" PRId64, n);
	return put(f, size, attr, num, strlen(num), 1);
}

/*
 * Sends one asserted modify and turns its result into this file's
 * answers: 0, TOKEN_CHANGED (assertion failed; or, with changed_rc, that
 * result too), TOKEN_DOWN or -1.
 */
static int
send_modify(LDAP *ld, const char *dn, LDAPMod **mods, const char *filter, int permissive,
	    int changed_rc, const char *what, struct idg_err *err)
{
	int rc = dir_modify_asserted(ld, dn, mods, filter, permissive);

	if (rc == LDAP_SUCCESS)
		return 0;
	if (rc == LDAP_ASSERTION_FAILED || (changed_rc != 0 && rc == changed_rc))
		return TOKEN_CHANGED;
	return failed(rc, what, dn, err);
}

/* A modify that removes attr whether or not it is there (replace with no values). */
#define REMOVE(attr)                                                                               \
	{                                                                                          \
		.mod_op = LDAP_MOD_REPLACE, .mod_type = idg_unconst(attr), .mod_values = NULL      \
	}

int
token_consume_step(const struct cfg *cfg, LDAP *ld, const char *dn, int64_t step,
		   struct idg_err *err)
{
	char num[TOKEN_NUM_MAX], filter[FILTER_MAX] = "(&(" A_SECRET "=*)";
	char *sv[] = {num, NULL};
	LDAPMod m_step = {.mod_op = LDAP_MOD_REPLACE, .mod_type = A_STEP, .mod_values = sv};
	LDAPMod m_fail = REMOVE(A_FAILURES), m_start = REMOVE(A_FAILSTART);
	LDAPMod *mods[] = {&m_step, &m_fail, &m_start, NULL};

	(void)cfg;
	if (step <= 0)
		return idg_seterr(err, "consuming step %" PRId64 " for %s: not a TOTP step", step,
				  dn);
	snprintf(num, sizeof(num), "%" PRId64, step);
	if (put_below(filter, sizeof(filter), A_STEP, step) != 0 ||
	    strlen(filter) + 2 > sizeof(filter))
		return idg_seterr(err, "out of memory");
	strcat(filter, ")");
	return send_modify(ld, dn, mods, filter, 0, 0, "consuming a step of", err);
}

/* The value for a number or a time, or no value (removal) for 0. */
static void
set_or_remove(LDAPMod *m, const char *attr, char *buf, size_t size, int64_t v, int is_time,
	      char *vals[2])
{
	m->mod_op = LDAP_MOD_REPLACE;
	m->mod_type = idg_unconst(attr);
	m->mod_values = NULL;
	if (v == 0)
		return;
	if (is_time)
		lease_time_format(v, buf);
	else
		snprintf(buf, size, "%" PRId64, v);
	vals[0] = buf;
	vals[1] = NULL;
	m->mod_values = vals;
}

int
token_record_failure(const struct cfg *cfg, LDAP *ld, const char *dn, const struct token *seen,
		     int64_t failures, int64_t failure_start, int64_t locked_until,
		     struct idg_err *err)
{
	char nf[TOKEN_NUM_MAX], ns[LEASE_TIME_MAX], nl[LEASE_TIME_MAX];
	char *vf[2], *vs[2], *vl[2], filter[FILTER_MAX] = "(&(" A_SECRET "=*)";
	LDAPMod m_f, m_s, m_l, *mods[] = {&m_f, &m_s, &m_l, NULL};

	(void)cfg;
	if (failures < 0 || failures > FAILURES_MAX || failure_start < 0 || locked_until < 0)
		return idg_seterr(err, "recording a failure for %s: a value out of range", dn);
	set_or_remove(&m_f, A_FAILURES, nf, sizeof(nf), failures, 0, vf);
	set_or_remove(&m_s, A_FAILSTART, ns, sizeof(ns), failure_start, 1, vs);
	set_or_remove(&m_l, A_LOCK, nl, sizeof(nl), locked_until, 1, vl);
	if (put_raw(filter, sizeof(filter), A_FAILURES, seen->failures_raw) != 0 ||
	    put_raw(filter, sizeof(filter), A_FAILSTART, seen->failure_start_raw) != 0 ||
	    put_raw(filter, sizeof(filter), A_LOCK, seen->locked_until_raw) != 0 ||
	    strlen(filter) + 2 > sizeof(filter))
		return idg_seterr(err, "recording a failure for %s: the assertion does not fit",
				  dn);
	strcat(filter, ")");
	return send_modify(ld, dn, mods, filter, 0, 0, "recording a failure in", err);
}

int
token_spend_recovery(const struct cfg *cfg, LDAP *ld, const char *dn, const char *value,
		     struct idg_err *err)
{
	char *rv[] = {idg_unconst(value), NULL};
	LDAPMod m_r = {.mod_op = LDAP_MOD_DELETE, .mod_type = A_RECOVERY, .mod_values = rv};
	LDAPMod m_fail = REMOVE(A_FAILURES), m_start = REMOVE(A_FAILSTART);
	LDAPMod *mods[] = {&m_r, &m_fail, &m_start, NULL};

	(void)cfg;
	if (token_parse_recovery(value, strlen(value)) != 0)
		return idg_seterr(err, "spending a recovery code of %s: not an ID:HASH value", dn);
	/* Already gone: noSuchAttribute. The assertion only says the token is still there. */
	return send_modify(ld, dn, mods, "(" A_SECRET "=*)", 0, LDAP_NO_SUCH_ATTRIBUTE,
			   "spending a recovery code of", err);
}

/* Checks what token_write() is about to put in the directory. */
static int
check_enrolment(const struct token *t, const char *dn, struct idg_err *err)
{
	if (t->sealed_len <= FLEET_SEAL_OVERHEAD || t->sealed_len > FLEET_SEAL_MAX ||
	    t->sealed[0] != FLEET_SEAL_VERSION)
		return idg_seterr(err, "writing the token of %s: the sealed secret is malformed",
				  dn);
	if (strcmp(t->algorithm, "sha1") != 0 && strcmp(t->algorithm, "sha256") != 0 &&
	    strcmp(t->algorithm, "sha512") != 0)
		return idg_seterr(err, "writing the token of %s: algorithm '%.8s' is unknown", dn,
				  t->algorithm);
	if (t->digits < 6 || t->digits > 8 || t->period < 1 || t->period > PERIOD_MAX ||
	    t->last_step < 0 || t->n_recovery > TOKEN_MAX_RECOVERY)
		return idg_seterr(err, "writing the token of %s: a value out of range", dn);
	for (size_t i = 0; i < t->n_recovery; i++) {
		size_t len = strnlen(t->recovery[i], TOKEN_RECOVERY_MAX);

		if (len == TOKEN_RECOVERY_MAX || token_parse_recovery(t->recovery[i], len) != 0)
			return idg_seterr(err,
					  "writing the token of %s: recovery value %zu is not "
					  "ID:HASH",
					  dn, i + 1);
	}
	return 0;
}

int
token_write(const struct cfg *cfg, LDAP *ld, const char *dn, const struct token *t, int replace,
	    struct idg_err *err)
{
	char digits[TOKEN_NUM_MAX], period[TOKEN_NUM_MAX], step[TOKEN_NUM_MAX];
	char *oc[] = {OC_TOKEN, NULL}, *alg[] = {idg_unconst(t->algorithm), NULL};
	char *dv[] = {digits, NULL}, *pv[] = {period, NULL}, *stv[2];
	char *rv[TOKEN_MAX_RECOVERY + 1], filter[FILTER_MAX] = "";
	struct berval secret = {t->sealed_len, idg_unconst((const char *)t->sealed)};
	struct berval *sv[] = {&secret, NULL};
	LDAPMod m_oc = {.mod_op = LDAP_MOD_ADD, .mod_type = "objectClass", .mod_values = oc};
	LDAPMod m_sec = {.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES, .mod_type = A_SECRET};
	LDAPMod m_alg = {.mod_op = LDAP_MOD_REPLACE, .mod_type = A_ALGORITHM, .mod_values = alg};
	LDAPMod m_dig = {.mod_op = LDAP_MOD_REPLACE, .mod_type = A_DIGITS, .mod_values = dv};
	LDAPMod m_per = {.mod_op = LDAP_MOD_REPLACE, .mod_type = A_PERIOD, .mod_values = pv};
	LDAPMod m_step, m_rec = REMOVE(A_RECOVERY);
	LDAPMod m_fail = REMOVE(A_FAILURES), m_start = REMOVE(A_FAILSTART), m_lock = REMOVE(A_LOCK);
	LDAPMod *mods[] = {&m_oc,  &m_sec,  &m_alg,   &m_dig,  &m_per, &m_step,
			   &m_rec, &m_fail, &m_start, &m_lock, NULL};
	int rc;

	(void)cfg;
	if (check_enrolment(t, dn, err) != 0)
		return -1;
	m_sec.mod_vals.modv_bvals = sv;
	snprintf(digits, sizeof(digits), "%d", t->digits);
	snprintf(period, sizeof(period), "%d", t->period);
	set_or_remove(&m_step, A_STEP, step, sizeof(step), t->last_step, 0, stv);
	for (size_t i = 0; i < t->n_recovery; i++)
		rv[i] = idg_unconst(t->recovery[i]);
	rv[t->n_recovery] = NULL;
	if (t->n_recovery > 0)
		m_rec.mod_values = rv;
	/*
	 * A new enrolment starts with no failures and no lock; new recovery
	 * codes leave the failure state to the logins that own it.
	 */
	if (replace)
		mods[7] = NULL;
	if (!replace) {
		rc = put(filter, sizeof(filter), A_SECRET, NULL, 0, 0);
	} else {
		/* Still the secret read, and no step past the one written back. */
		snprintf(filter, sizeof(filter), "(&");
		rc = put(filter, sizeof(filter), A_SECRET, t->sealed, t->sealed_len, 0);
		if (rc == 0 && t->last_step < INT64_MAX)
			rc = put_below(filter, sizeof(filter), A_STEP, t->last_step + 1);
		if (rc == 0 && strlen(filter) + 2 <= sizeof(filter))
			strcat(filter, ")");
		else
			rc = -1;
	}
	if (rc != 0)
		return idg_seterr(err, "writing the token of %s: the assertion does not fit", dn);
	return send_modify(ld, dn, mods, filter, 1, 0, "writing", err);
}

int
token_clear(const struct cfg *cfg, LDAP *ld, const char *dn, struct idg_err *err)
{
	char *oc[] = {OC_TOKEN, NULL};
	LDAPMod m_oc = {.mod_op = LDAP_MOD_DELETE, .mod_type = "objectClass", .mod_values = oc};
	LDAPMod m[] = {REMOVE(A_SECRET),    REMOVE(A_ALGORITHM), REMOVE(A_DIGITS),
		       REMOVE(A_PERIOD),    REMOVE(A_STEP),      REMOVE(A_FAILURES),
		       REMOVE(A_FAILSTART), REMOVE(A_LOCK),      REMOVE(A_RECOVERY)};
	LDAPMod *mods[] = {&m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
			   &m[6], &m[7], &m[8], &m_oc, NULL};
	int rc;

	(void)cfg;
	/*
	 * Clearing a token that is not there is done, not an error. slapd's
	 * permissive modify does not soften the delete of an object class
	 * value that is absent (noSuchAttribute): then the attributes alone
	 * are removed (replace with no values never fails on absence).
	 */
	rc = send_modify(ld, dn, mods, "(objectClass=*)", 1, LDAP_NO_SUCH_ATTRIBUTE, "clearing",
			 err);
	if (rc == TOKEN_CHANGED) {
		mods[9] = NULL;
		rc = send_modify(ld, dn, mods, "(objectClass=*)", 1, 0, "clearing", err);
	}
	return rc == TOKEN_CHANGED ? idg_seterr(err, "clearing the token of %s: refused", dn) : rc;
}

int
token_unlock(const struct cfg *cfg, LDAP *ld, const char *dn, struct idg_err *err)
{
	LDAPMod m[] = {REMOVE(A_LOCK), REMOVE(A_FAILURES), REMOVE(A_FAILSTART)};
	LDAPMod *mods[] = {&m[0], &m[1], &m[2], NULL};
	int rc;

	(void)cfg;
	rc = send_modify(ld, dn, mods, "(objectClass=*)", 0, 0, "unlocking", err);
	return rc == TOKEN_CHANGED ? idg_seterr(err, "unlocking the token of %s: refused", dn) : rc;
}

int
token_touch_login(const struct cfg *cfg, LDAP *ld, const char *dn, int64_t now, struct idg_err *err)
{
	char stamp[LEASE_TIME_MAX], since[LEASE_TIME_MAX], filter[FILTER_MAX] = "";
	char *oc[] = {OC_LOGIN, NULL}, *lv[] = {stamp, NULL};
	LDAPMod m_oc = {.mod_op = LDAP_MOD_ADD, .mod_type = "objectClass", .mod_values = oc};
	LDAPMod m_l = {.mod_op = LDAP_MOD_REPLACE, .mod_type = A_LASTLOGIN, .mod_values = lv};
	LDAPMod *mods[] = {&m_oc, &m_l, NULL};

	(void)cfg;
	if (now <= DAY)
		return idg_seterr(err, "stamping the last login of %s: the clock is wrong", dn);
	lease_time_format(now, stamp);
	lease_time_format(now - DAY, since);
	if (put(filter, sizeof(filter), A_LASTLOGIN, since, strlen(since), 1) != 0)
		return idg_seterr(err, "out of memory");
	return send_modify(ld, dn, mods, filter, 1, 0, "stamping the last login in", err);
}
