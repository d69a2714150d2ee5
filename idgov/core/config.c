/*
 * idgov.conf parsing and validation.
 *
 * Every key idgov knows is one row of `keys` below: its section, its name,
 * how to parse it, where it goes in struct cfg and its default. Defaults go
 * through the same parsers as the file, so a default can never be a value
 * the file would reject. Unknown sections or keys, repeated keys, and
 * values that fail their parser are errors that name the file, the line and
 * the key. Cross-field rules are checked once the whole file has been read.
 */
#include "config.h"

#include "safepath.h"
#include "timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum key_type {
	T_STR,      /* any non-empty text */
	T_STR_OPT,  /* text, may be empty */
	T_PATH,     /* absolute path */
	T_PATH_OPT, /* absolute path or empty */
	T_URI,      /* ldap://, ldaps:// or ldapi:// URI list */
	T_URI_OPT,  /* the same, or empty */
	T_DN,       /* a distinguished name */
	T_DN_OPT,
	T_FILTER, /* a parenthesised LDAP filter */
	T_ATTR,   /* an attribute description */
	T_ATTR_OPT,
	T_INT,        /* integer within [min, max] */
	T_FRACTION,   /* decimal number within [0, 1] */
	T_TLS,        /* none | starttls | ldaps */
	T_BOOL,       /* yes | no */
	T_ALGO,       /* sha1 | sha256 | sha512 */
	T_UNENROLLED, /* deny | grace */
	T_DATE_OPT,   /* YYYY-MM-DD (UTC midnight) or empty */
	T_RHOST,      /* deny | allow */
	T_LOOKUP,     /* a dotted path of map keys: country.iso_code */
	T_DURATION,   /* 90m, 4h, 7d, 1h30m (int64_t seconds) */
	T_GROUP_MAX,  /* group=duration, ... */
	T_LOCK,       /* shadow | ppolicy */
	T_HOME,       /* absolute path, may contain %u */
	T_LOCAL,      /* ignore-system | ignore | deny */
	T_ROLE,       /* governor | host */
	T_PWAGE,      /* password-logins | all-logins */
	T_FLEETMFA,   /* local | directory */
};

struct key_def {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def; /* NULL: required */
	long min, max;
};

#define K(sec, key, type, field, def)                                                              \
	{                                                                                          \
		sec, key, type, offsetof(struct cfg, field), def, 0, 0                             \
	}
#define KI(sec, key, field, def, lo, hi)                                                           \
	{                                                                                          \
		sec, key, T_INT, offsetof(struct cfg, field), def, lo, hi                          \
	}

static const struct key_def keys[] = {
	K("directory", "name", T_STR, dir_name, "default"),
	K("directory", "uri", T_URI, dir_uri, NULL),
	K("directory", "base", T_DN, dir_base, NULL),
	K("directory", "user_base", T_DN_OPT, dir_user_base, ""),
	K("directory", "group_base", T_DN_OPT, dir_group_base, ""),
	K("directory", "bind_dn", T_DN_OPT, dir_bind_dn, ""),
	K("directory", "bind_password_file", T_PATH_OPT, dir_bind_password_file, ""),
	K("directory", "tls", T_TLS, dir_tls, "none"),
	K("directory", "ca_file", T_PATH_OPT, dir_ca_file, ""),
	KI("directory", "page_size", dir_page_size, "500", 1, 100000),
	KI("directory", "timeout", dir_timeout, "10", 1, 3600),
	K("directory", "user_filter", T_FILTER, dir_user_filter, "(objectClass=posixAccount)"),
	K("directory", "group_filter", T_FILTER, dir_group_filter,
	  "(|(objectClass=groupOfNames)(objectClass=posixGroup))"),
	KI("directory", "nested_depth", dir_nested_depth, "5", 0, 64),
	K("directory", "max_departed_fraction", T_FRACTION, dir_max_departed_fraction, "0.10"),
	KI("directory", "poll_interval", dir_poll_interval, "300", 1, 86400),
	KI("directory", "reconnect_max", dir_reconnect_max, "60", 1, 3600),

	/* Departures within this window count together against max_departed_fraction. */
	K("sync", "guard_window", T_DURATION, sync_guard_window, "10m"),
	/* "daily HH:MM", a five-field cron rule, or "off"; in [sync] timezone. */
	K("sync", "reconcile", T_STR, sync_reconcile, "daily 03:00"),
	K("sync", "timezone", T_STR, sync_timezone, "UTC"),

	K("users", "uid", T_ATTR, attr_uid, "uid"),
	K("users", "display_name", T_ATTR, attr_display_name, "displayName"),
	K("users", "title", T_ATTR, attr_title, "title"),
	K("users", "department", T_ATTR, attr_department, "departmentNumber"),
	K("users", "mail", T_ATTR, attr_mail, "mail"),
	K("users", "uid_number", T_ATTR, attr_uid_number, "uidNumber"),
	K("users", "manager", T_ATTR, attr_manager, "manager"),
	K("users", "locked", T_ATTR, attr_locked, "pwdAccountLockedTime"),
	K("users", "shadow_expire", T_ATTR, attr_shadow_expire, "shadowExpire"),
	K("users", "shadow_last_change", T_ATTR, attr_shadow_last_change, "shadowLastChange"),
	K("users", "pwd_changed_time", T_ATTR, attr_pwd_changed_time, "pwdChangedTime"),
	/* Account state beyond the ppolicy lock; an empty attribute name turns a source off. */
	K("users", "ns_account_lock", T_ATTR_OPT, attr_ns_account_lock, "nsAccountLock"),
	K("users", "login_shell", T_ATTR_OPT, attr_login_shell, "loginShell"),
	K("users", "nologin_shells", T_STR_OPT, nologin_shells,
	  "/usr/sbin/nologin, /sbin/nologin, /bin/false, /usr/bin/false"),
	K("users", "status", T_ATTR_OPT, attr_status, ""),
	K("users", "disabled_values", T_STR_OPT, status_disabled_values,
	  "disabled, inactive, locked, suspended, terminated"),

	K("groups", "name", T_ATTR, attr_group_name, "cn"),
	K("groups", "gid_number", T_ATTR, attr_gid_number, "gidNumber"),
	K("groups", "member", T_ATTR, attr_member, "member"),
	K("groups", "member_uid", T_ATTR, attr_member_uid, "memberUid"),
	K("groups", "description", T_ATTR, attr_group_description, "description"),
	K("groups", "privileged", T_STR_OPT, privileged_groups, ""),

	K("store", "path", T_PATH, store_path, "/var/lib/idgov/idgov.db"),
	K("store", "master_key", T_PATH, master_key_file, "/var/lib/idgov/master.key"),
	K("store", "audit_key", T_PATH, audit_key_file, "/var/lib/idgov/audit.key"),
	K("store", "audit_public_key", T_PATH, audit_pubkey_file, "/var/lib/idgov/audit.pub"),
	KI("store", "audit_sign_every", audit_sign_every, "1000", 1, 1000000),
	/* Empty: "audit.anchor" beside audit_key (default_beside()). */
	K("store", "audit_anchor", T_PATH_OPT, audit_anchor_file, ""),
	K("store", "audit_anchor_dn", T_DN_OPT, audit_anchor_dn, ""),
	K("store", "audit_anchor_attr", T_ATTR, audit_anchor_attr, "description"),
	/* Empty: "spool" beside path (default_beside()). */
	K("store", "audit_spool", T_PATH_OPT, audit_spool_dir, ""),
	/* Empty: "backup.key" beside master_key (default_beside()). */
	K("store", "backup_key", T_PATH_OPT, backup_key_file, ""),

	K("control", "socket", T_PATH, socket_path, "/run/idgov/idgov.sock"),
	KI("control", "max_request", max_request, "65536", 1024, 16777216),
	KI("control", "max_reply", max_reply, "67108864", 65536, 1073741824),
	KI("control", "client_timeout", client_timeout, "5", 1, 300),
	KI("control", "max_clients_per_uid", max_clients_per_uid, "8", 1, 64),
	K("control", "daemon_user", T_STR, daemon_user, "root"),

	K("authd", "socket", T_PATH, authd_socket, "/run/idgov/authd.sock"),
	K("authd", "state", T_PATH_OPT, authd_state, ""),
	KI("authd", "client_uid", authd_client_uid, "0", 0, 2147483646),
	KI("authd", "max_children", authd_max_children, "64", 1, 1024),

	K("log", "syslog_socket", T_PATH, log_socket, "/dev/log"),
	K("log", "ident", T_STR, log_ident, "idgov"),

	K("admin", "group", T_STR_OPT, admin_group, "idgov-admins"),

	K("mfa", "issuer", T_STR, mfa_issuer, "idgov"),
	KI("mfa", "digits", mfa_digits, "6", 6, 8),
	KI("mfa", "period", mfa_period, "30", 15, 300),
	KI("mfa", "window", mfa_window, "1", 0, 10),
	K("mfa", "algorithm", T_ALGO, mfa_algorithm, "sha1"),
	KI("mfa", "max_failures", mfa_max_failures, "5", 1, 1000),
	KI("mfa", "failure_interval", mfa_failure_interval, "900", 10, 86400),
	KI("mfa", "lockout", mfa_lockout, "900", 10, 86400 * 7),
	KI("mfa", "fail_delay_ms", mfa_fail_delay_ms, "2000", 0, 60000),
	K("mfa", "prompt", T_STR, mfa_prompt, "Verification code:"),
	K("mfa", "unenrolled", T_UNENROLLED, mfa_unenrolled, "deny"),
	K("mfa", "grace_until", T_DATE_OPT, mfa_grace_until, ""),
	K("mfa", "self_enroll", T_BOOL, mfa_self_enroll, "yes"),
	K("mfa", "reveal_enrolment", T_BOOL, mfa_reveal_enrolment, "no"),

	KI("password", "min_length", pw_min_length, "12", 1, 1024),
	KI("password", "min_classes", pw_min_classes, "3", 1, 4),
	KI("password", "history", pw_history, "12", 0, 400),
	KI("password", "min_age_days", pw_min_age_days, "1", 0, 3650),
	KI("password", "max_age_days", pw_max_age_days, "90", 0, 3650),
	KI("password", "warn_days", pw_warn_days, "14", 0, 365),
	K("password", "dictionary", T_PATH_OPT, pw_dictionary, "/var/cache/cracklib/cracklib_dict"),

	K("pam", "break_glass", T_STR_OPT, pam_break_glass, ""),
	K("pam", "local_users", T_LOCAL, pam_local_users, "ignore-system"),
	K("pam", "password_age", T_PWAGE, pam_password_age, "password-logins"),

	K("geo", "database", T_PATH_OPT, geo_database, ""),
	K("geo", "lookup_path", T_LOOKUP, geo_lookup_path, "country.iso_code"),
	K("geo", "unknown", T_RHOST, geo_unknown_allow, "deny"),

	K("policy", "remote_services", T_STR_OPT, policy_remote_services, "sshd"),
	K("policy", "missing_rhost", T_RHOST, policy_missing_rhost_allow, "deny"),

	KI("grants", "approvers", grant_approvers, "1", 1, 5),
	K("grants", "max_duration", T_DURATION, grant_max_duration, "7d"),
	K("grants", "group_max_duration", T_GROUP_MAX, grant_group_max, ""),
	K("grants", "max_pending", T_DURATION, grant_max_pending, "3d"),
	K("grants", "ending_soon", T_DURATION, grant_ending_soon, "1h"),
	K("grants", "enforce_services", T_STR_OPT, grant_enforce_services,
	  "sudo, sudo-i, su, su-l"),
	K("grants", "sudo_base", T_DN_OPT, grant_sudo_base, ""),
	K("grants", "sudo_command", T_STR, grant_sudo_command, "ALL"),
	K("grants", "sudo_host", T_STR, grant_sudo_host, "ALL"),
	KI("grants", "retry_max", grant_retry_max, "300", 1, 3600),

	K("breakglass", "group", T_STR_OPT, breakglass_group, ""),
	K("breakglass", "max_duration", T_DURATION, breakglass_max_duration, "1h"),

	K("accounts", "base", T_DN_OPT, acct_base, ""),
	KI("accounts", "uid_min", acct_uid_min, "70000", 1000, 2147483646),
	KI("accounts", "uid_max", acct_uid_max, "79999", 1000, 2147483646),
	KI("accounts", "gid_number", acct_gid_number, "100", 0, 2147483646),
	K("accounts", "home", T_HOME, acct_home, "/home/%u"),
	K("accounts", "shell", T_PATH, acct_shell, "/bin/bash"),
	K("accounts", "lock", T_LOCK, acct_lock, "shadow"),
	K("accounts", "max_duration", T_DURATION, acct_max_duration, "30d"),
	K("accounts", "retention", T_DURATION, acct_retention, "365d"),

	/* Empty name: the host name (fleet_section()). Empty lease_dn: no lease, governor alone. */
	K("fleet", "role", T_ROLE, fleet_role, "governor"),
	K("fleet", "name", T_STR_OPT, fleet_name, ""),
	K("fleet", "lease_dn", T_DN_OPT, fleet_lease_dn, ""),
	K("fleet", "lease_ttl", T_DURATION, fleet_lease_ttl, "2m"),
	/* Empty providers: [directory] uri, in its order. */
	K("fleet", "mfa", T_FLEETMFA, fleet_mfa, "local"),
	K("fleet", "key", T_PATH, fleet_key_file, "/var/lib/idgov/fleet.key"),
	K("fleet", "providers", T_URI_OPT, fleet_providers, ""),
	KI("fleet", "timeout_ms", fleet_timeout_ms, "2000", 50, 60000),
	K("fleet", "offline", T_RHOST, fleet_offline_allow, "deny"),

	K("backup", "schedule", T_STR, backup_schedule, "every 8h"),
	K("backup", "targets", T_STR_OPT, backup_targets, ""),
	K("backup", "keep", T_DURATION, backup_keep, "30d"),
	K("backup", "max_age", T_STR_OPT, backup_max_age_text, ""),

	K("notify", "command", T_STR_OPT, notify_command, ""),
	K("notify", "admin_mail", T_STR_OPT, notify_admin_mail, ""),

	/* Empty user: idgovd accepts no web frontend at all. */
	K("web", "user", T_STR_OPT, web_user, ""),
	K("web", "session_idle", T_DURATION, web_session_idle, "15m"),
	K("web", "session_max", T_DURATION, web_session_max, "8h"),
	K("web", "signin_interval", T_DURATION, web_signin_interval, "15m"),
	KI("web", "signin_max_failures", web_signin_max_failures, "5", 1, 1000),
	KI("web", "signin_max_failures_addr", web_signin_max_failures_addr, "20", 1, 100000),
	/* What idgov-web itself reads. */
	K("web", "listen", T_STR, web_listen, "0.0.0.0"),
	KI("web", "port", web_port, "8443", 1, 65535),
	K("web", "certificate", T_PATH, web_cert_file, "/etc/idgov/web.crt"),
	K("web", "private_key", T_PATH, web_key_file, "/etc/idgov/web.key"),
	K("web", "url", T_STR_OPT, web_url, ""),
	KI("web", "max_request", web_max_request, "1048576", 4096, 67108864),
	KI("web", "max_connections", web_max_connections, "512", 1, 65536),
	KI("web", "max_connections_per_addr", web_max_connections_per_addr, "32", 1, 65536),
	KI("web", "threads", web_threads, "8", 1, 64),
	K("web", "idgovd_timeout", T_DURATION, web_idgovd_timeout, "60s"),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse_ctx {
	struct cfg *cfg;
	const char *name;
	FILE *fp;
	const char *text; /* for string input */
	int line;         /* line the reader last started */
	int at_line_start;
	int err_line;
	unsigned char seen[NKEYS];
	int failed;
	struct idg_err *err;
	const struct cfg_extension *const *exts; /* NULL-terminated; NULL: none */
};

static char **
field_str(struct cfg *cfg, const struct key_def *k)
{
	return (char **)((char *)cfg + k->offset);
}

static int
valid_attr(const char *v)
{
	const char *p;

	if (*v == '\0' || strlen(v) > 128)
		return 0;
	for (p = v; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == ';'))
			return 0;
	return 1;
}

/* A filter must be parenthesised with balanced parentheses (escapes are \XX). */
static int
valid_filter(const char *v)
{
	int depth = 0;
	const char *p;

	if (v[0] != '(')
		return 0;
	for (p = v; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			return 0;
		if (depth == 0 && p[1] != '\0')
			return 0;
	}
	return depth == 0;
}

static int
valid_dn(const char *v)
{
	return strchr(v, '=') != NULL && strlen(v) < 1024;
}

static int
valid_uri(const char *v)
{
	return strncmp(v, "ldap://", 7) == 0 || strncmp(v, "ldaps://", 8) == 0 ||
	       strncmp(v, "ldapi://", 8) == 0;
}

/*
 * One item of "group=duration, ...": the group name (spaces around '='
 * allowed) into name, the duration into *d. Returns -1 if malformed.
 */
static int
group_max_item(const char *item, size_t len, char name[256], int64_t *d)
{
	char buf[300];
	char *eq, *end, *val;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, item, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (eq == NULL)
		return -1;
	for (end = eq; end > buf && end[-1] == ' '; end--)
		;
	*end = '\0';
	for (val = eq + 1; *val == ' '; val++)
		;
	if (buf[0] == '\0' || strlen(buf) >= 256 || duration_parse(val, d, NULL) != 0)
		return -1;
	memcpy(name, buf, strlen(buf) + 1);
	return 0;
}

static int
valid_group_max(const char *v)
{
	const char *cursor = v, *item;
	char name[256];
	size_t len;
	int64_t d;

	if (v[0] == '\0')
		return 1;
	while (idg_list_next(&cursor, &item, &len))
		if (group_max_item(item, len, name, &d) != 0)
			return 0;
	return 1;
}

const char *
cfg_parse_int(const char *v, long min, long max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0)
		return "not a whole number";
	if (n < min || n > max)
		return "out of range";
	*out = (int)n;
	return NULL;
}

const char *
cfg_parse_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0) {
		*out = v[0] == 'y';
		return NULL;
	}
	return "must be yes or no";
}

/* Parses one value into cfg. Returns NULL or a reason it is invalid. */
static const char *
set_value(struct cfg *cfg, const struct key_def *k, const char *v)
{
	char *end;

	switch (k->type) {
	case T_INT:
		return cfg_parse_int(v, k->min, k->max, (int *)((char *)cfg + k->offset));
	case T_FRACTION: {
		double d = strtod(v, &end);

		if (*v == '\0' || *end != '\0' || !(d >= 0.0 && d <= 1.0))
			return "not a number between 0 and 1";
		*(double *)((char *)cfg + k->offset) = d;
		return NULL;
	}
	case T_DURATION: {
		int64_t d;

		if (duration_parse(v, &d, NULL) != 0)
			return "not a duration (a number and a unit s, m, h, d or w: 90m, 4h, 7d)";
		*(int64_t *)((char *)cfg + k->offset) = d;
		return NULL;
	}
	case T_BOOL:
	case T_ALGO:
	case T_UNENROLLED:
	case T_RHOST:
	case T_LOCK:
	case T_LOCAL:
	case T_ROLE:
	case T_PWAGE:
	case T_FLEETMFA: {
		static const char *const words[][4] = {
			[T_BOOL] = {"no", "yes", NULL},
			[T_ALGO] = {"sha1", "sha256", "sha512", NULL},
			[T_UNENROLLED] = {"deny", "grace", NULL},
			[T_RHOST] = {"deny", "allow", NULL},
			[T_LOCK] = {"shadow", "ppolicy", NULL},
			[T_LOCAL] = {"ignore-system", "ignore", "deny", NULL},
			[T_ROLE] = {"governor", "host", NULL},
			[T_PWAGE] = {"password-logins", "all-logins", NULL},
			[T_FLEETMFA] = {"local", "directory", NULL},
		};
		static const char *const why[] = {
			[T_BOOL] = "must be yes or no",
			[T_ALGO] = "must be sha1, sha256 or sha512",
			[T_UNENROLLED] = "must be deny or grace",
			[T_RHOST] = "must be deny or allow",
			[T_LOCK] = "must be shadow or ppolicy",
			[T_LOCAL] = "must be ignore-system, ignore or deny",
			[T_ROLE] = "must be governor or host",
			[T_PWAGE] = "must be password-logins or all-logins",
			[T_FLEETMFA] = "must be local or directory",
		};

		for (int i = 0; words[k->type][i] != NULL; i++) {
			if (strcmp(v, words[k->type][i]) == 0) {
				*(int *)((char *)cfg + k->offset) = i;
				return NULL;
			}
		}
		return why[k->type];
	}
	case T_DATE_OPT: {
		int64_t t = 0;

		if (v[0] != '\0' && (strlen(v) != 10 || time_parse(v, 0, &t, NULL) != 0))
			return "must be a date YYYY-MM-DD";
		*(int64_t *)((char *)cfg + k->offset) = t;
		return NULL;
	}
	case T_TLS: {
		enum cfg_tls *t = (enum cfg_tls *)((char *)cfg + k->offset);

		if (strcmp(v, "none") == 0)
			*t = CFG_TLS_NONE;
		else if (strcmp(v, "starttls") == 0)
			*t = CFG_TLS_STARTTLS;
		else if (strcmp(v, "ldaps") == 0)
			*t = CFG_TLS_LDAPS;
		else
			return "must be none, starttls or ldaps";
		return NULL;
	}
	case T_STR:
		if (*v == '\0')
			return "must not be empty";
		break;
	case T_PATH:
		if (v[0] != '/')
			return "must be an absolute path";
		break;
	case T_PATH_OPT:
		if (v[0] != '\0' && v[0] != '/')
			return "must be an absolute path";
		break;
	case T_URI:
		if (!valid_uri(v))
			return "must be an ldap://, ldaps:// or ldapi:// URI";
		break;
	case T_URI_OPT:
		if (v[0] != '\0' && !valid_uri(v))
			return "must be ldap://, ldaps:// or ldapi:// URIs";
		break;
	case T_DN:
		if (!valid_dn(v))
			return "not a distinguished name";
		break;
	case T_DN_OPT:
		if (v[0] != '\0' && !valid_dn(v))
			return "not a distinguished name";
		break;
	case T_FILTER:
		if (!valid_filter(v))
			return "not a parenthesised LDAP filter";
		break;
	case T_ATTR:
		if (!valid_attr(v))
			return "not an attribute name";
		break;
	case T_ATTR_OPT:
		if (v[0] != '\0' && !valid_attr(v))
			return "not an attribute name";
		break;
	case T_LOOKUP:
		for (const char *p = v; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || *p == '_' ||
			      (*p == '.' && p != v && p[1] != '\0' && p[1] != '.')))
				return "must be map keys joined by dots, e.g. country.iso_code";
		if (v[0] == '\0' || strlen(v) > 100)
			return "must be map keys joined by dots, e.g. country.iso_code";
		break;
	case T_GROUP_MAX:
		if (!valid_group_max(v))
			return "must be a list of group=duration, e.g. admins=8h, dba=4h";
		break;
	case T_HOME:
		if (v[0] != '/' || strstr(v, "%u") == NULL || strchr(strstr(v, "%u") + 1, '%'))
			return "must be an absolute path with one %u for the account name";
		break;
	case T_STR_OPT:
		break;
	}
	{
		char **slot = field_str(cfg, k);
		char *copy = strdup(v);

		if (copy == NULL)
			return "out of memory";
		free(*slot);
		*slot = copy;
	}
	return NULL;
}

static int
fail(struct parse_ctx *ctx, const char *section, const char *key, const char *why)
{
	if (!ctx->failed) {
		ctx->failed = 1;
		ctx->err_line = ctx->line;
		if (key != NULL)
			idg_seterr(ctx->err, "%s:%d: [%s] %s: %s", ctx->name, ctx->line, section,
				   key, why);
		else
			idg_seterr(ctx->err, "%s:%d: [%s]: %s", ctx->name, ctx->line, section, why);
	}
	return 0;
}

/* ---- [rule NAME] sections ---- */

enum rule_key {
	RK_USERS,
	RK_GROUPS,
	RK_SERVICES,
	RK_SCOPE,
	RK_TIMES,
	RK_TIMEZONE,
	RK_NETWORKS,
	RK_COUNTRIES,
	RK_DENY_COUNTRIES
};
static const char *const rule_keys[] = {"users",    "groups",    "services",
					"scope",    "times",     "timezone",
					"networks", "countries", "deny_countries"};

/* "FR, DE": upper-case ISO 3166 two-letter codes. */
static int
valid_countries(const char *v)
{
	const char *p = v;

	for (;;) {
		while (*p == ' ')
			p++;
		if (p[0] < 'A' || p[0] > 'Z' || p[1] < 'A' || p[1] > 'Z')
			return 0;
		p += 2;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 1;
		if (*p++ != ',')
			return 0;
	}
}

int
cfg_valid_section_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 64)
		return 0;
	for (; *n != '\0'; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return 0;
	return 1;
}

/* The rule a key of section "rule NAME" belongs to: the last one, or a new one. */
static struct cfg_rule *
rule_for(struct parse_ctx *ctx, const char *section, const char *name, const char **why)
{
	struct cfg *c = ctx->cfg;
	const char *rname = section + 5;
	struct cfg_rule *r;

	if (c->n_rules > 0 && strcmp(c->rules[c->n_rules - 1].name, rname) == 0)
		return &c->rules[c->n_rules - 1];
	if (!cfg_valid_section_name(rname)) {
		*why = "rule names use letters, digits, - _ and . (at most 64)";
		return NULL;
	}
	for (size_t i = 0; i < c->n_rules; i++)
		if (strcmp(c->rules[i].name, rname) == 0) {
			*why = "a rule of this name is defined twice";
			return NULL;
		}
	if (c->n_rules == CFG_MAX_RULES) {
		*why = "too many rules";
		return NULL;
	}
	r = realloc(c->rules, (c->n_rules + 1) * sizeof(*r));
	if (r == NULL) {
		*why = "out of memory";
		return NULL;
	}
	c->rules = r;
	r = &c->rules[c->n_rules++];
	memset(r, 0, sizeof(*r));
	idg_strlcpy(r->name, rname, sizeof(r->name));
	r->line = ctx->line;
	(void)name;
	return r;
}

static const char *
set_rule_value(struct cfg_rule *r, enum rule_key k, const char *v, struct idg_err *e)
{
	char **slot = NULL;

	switch (k) {
	case RK_USERS:
		slot = &r->users;
		break;
	case RK_GROUPS:
		slot = &r->groups;
		break;
	case RK_SERVICES:
		slot = &r->services;
		break;
	case RK_SCOPE:
		if (strcmp(v, "any") == 0)
			r->scope = CFG_SCOPE_ANY;
		else if (strcmp(v, "remote") == 0)
			r->scope = CFG_SCOPE_REMOTE;
		else if (strcmp(v, "local") == 0)
			r->scope = CFG_SCOPE_LOCAL;
		else
			return "must be any, remote or local";
		return NULL;
	case RK_TIMES:
		if (timewin_parse(v, r->windows, &r->n_windows, e) != 0)
			return e->msg;
		slot = &r->times;
		break;
	case RK_TIMEZONE:
		if (timewin_zone_valid(v) != 0)
			return "not a known IANA time zone (e.g. Europe/Paris)";
		slot = &r->timezone;
		break;
	case RK_NETWORKS:
		if (net_parse_list(v, r->nets, &r->n_nets, e) != 0)
			return e->msg;
		slot = &r->networks;
		break;
	case RK_COUNTRIES:
	case RK_DENY_COUNTRIES:
		if (!valid_countries(v))
			return "must be two-letter country codes in capitals, e.g. FR, DE";
		slot = k == RK_COUNTRIES ? &r->countries : &r->deny_countries;
		break;
	}
	if (v[0] == '\0')
		return "must not be empty";
	free(*slot);
	*slot = strdup(v);
	return *slot != NULL ? NULL : "out of memory";
}

static int
rule_handler(struct parse_ctx *ctx, const char *section, const char *name, const char *value)
{
	struct idg_err scratch; /* holds a parser's reason until fail() copies it */
	const char *why = NULL;
	struct cfg_rule *r = rule_for(ctx, section, name, &why);

	if (r == NULL)
		return fail(ctx, section, name, why);
	for (size_t k = 0; k < sizeof(rule_keys) / sizeof(rule_keys[0]); k++) {
		if (strcmp(rule_keys[k], name) != 0)
			continue;
		if (r->given & (1u << k))
			return fail(ctx, section, name, "key given twice");
		r->given |= 1u << k;
		why = set_rule_value(r, (enum rule_key)k, value, &scratch);
		return why != NULL ? fail(ctx, section, name, why) : 1;
	}
	return fail(ctx, section, name, "unknown key");
}

/*
 * Sections that another library owns, by name: [reviews] and [campaign
 * NAME] belong to reviews/. Core knows only these names, so that a program
 * that does not link the owner (pam_idgov.so) skips them rather than
 * calling them unknown; a program that does (idgovd, idgov) passes the
 * owner's struct cfg_extension and every key goes to its parser. A
 * trailing " *" stands for [NAME ARG] sections.
 */
static const char *const foreign_sections[] = {"reviews", "campaign *"};

/* Does pattern ("reviews", "campaign *") name section? */
static int
section_matches(const char *pattern, const char *section)
{
	size_t n = strlen(pattern);

	if (n > 2 && strcmp(pattern + n - 2, " *") == 0)
		return strncmp(section, pattern, n - 1) == 0 && section[n - 1] != '\0';
	return strcmp(section, pattern) == 0;
}

static int
owned_elsewhere(const char *section)
{
	for (size_t i = 0; i < sizeof(foreign_sections) / sizeof(foreign_sections[0]); i++)
		if (section_matches(foreign_sections[i], section))
			return 1;
	return 0;
}

/* Is pattern one of foreign_sections, as written there? */
static int
is_foreign_pattern(const char *pattern)
{
	for (size_t i = 0; i < sizeof(foreign_sections) / sizeof(foreign_sections[0]); i++)
		if (strcmp(foreign_sections[i], pattern) == 0)
			return 1;
	return 0;
}

/* The registered extension that owns section, and its index; -1 when none is. */
static int
extension_for(const struct cfg *cfg, const char *section)
{
	for (size_t i = 0; i < cfg->n_ext; i++)
		for (const char *const *p = cfg->ext[i]->sections; *p != NULL; p++)
			if (section_matches(*p, section))
				return (int)i;
	return -1;
}

static int
extension_handler(struct parse_ctx *ctx, const char *section, const char *name, const char *value)
{
	struct idg_err scratch; /* holds a parser's reason until fail() copies it */
	int i = extension_for(ctx->cfg, section);
	const char *why;

	if (i < 0)
		return 1; /* owned by a library this program does not link */
	why = ctx->cfg->ext[i]->set(ctx->cfg->ext_data[i], section, name, value, ctx->line,
				    &scratch);
	return why != NULL ? fail(ctx, section, name, why) : 1;
}

/* Gives each extension its data, before the first line is read. */
static int
extensions_create(struct parse_ctx *ctx)
{
	struct cfg *cfg = ctx->cfg;

	for (const struct cfg_extension *const *e = ctx->exts; e != NULL && *e != NULL; e++) {
		for (const char *const *p = (*e)->sections; *p != NULL; p++)
			if (!is_foreign_pattern(*p))
				return idg_seterr(ctx->err,
						  "section [%s] is not one core leaves to "
						  "another library",
						  *p);
		if (cfg->n_ext == CFG_MAX_EXTENSIONS)
			return idg_seterr(ctx->err, "too many configuration extensions");
		cfg->ext[cfg->n_ext] = *e;
		if (((*e)->create(&cfg->ext_data[cfg->n_ext], ctx->err)) != 0)
			return -1;
		cfg->n_ext++;
	}
	return 0;
}

/* Runs each extension's checks once the whole file is read. */
static int
extensions_validate(struct parse_ctx *ctx)
{
	struct cfg *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->n_ext; i++)
		if (cfg->ext[i]->validate(cfg->ext_data[i], cfg, ctx->name, ctx->err) != 0)
			return -1;
	return 0;
}

void *
cfg_extension_data(const struct cfg *cfg, const struct cfg_extension *ext)
{
	for (size_t i = 0; i < cfg->n_ext; i++)
		if (cfg->ext[i] == ext)
			return cfg->ext_data[i];
	return NULL;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	const char *why;
	size_t i;
	int section_known = 0;

	if (strncmp(section, "rule ", 5) == 0)
		return name != NULL ? rule_handler(ctx, section, name, value) : 1;
	if (owned_elsewhere(section))
		return name != NULL ? extension_handler(ctx, section, name, value) : 1;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		section_known = 1;
		if (name == NULL || strcmp(keys[i].name, name) != 0)
			continue;
		if (ctx->seen[i])
			return fail(ctx, section, name, "key given twice");
		ctx->seen[i] = 1;
		why = set_value(ctx->cfg, &keys[i], value);
		return why != NULL ? fail(ctx, section, name, why) : 1;
	}
	/* inih reports a section only with its first key, so that is the line we name. */
	if (!section_known)
		return fail(ctx, section, name, "unknown section");
	if (name == NULL)
		return 1; /* a known section header */
	return fail(ctx, section, name, "unknown key");
}

/*
 * inih calls the reader once per line (or per chunk of an over-long line);
 * counting here is what lets every error name its line.
 */
static char *
count_line(struct parse_ctx *ctx, char *buf)
{
	if (buf == NULL)
		return NULL;
	if (ctx->at_line_start) {
		const char *p = buf + strspn(buf, " \t");

		ctx->line++;
		/*
		 * inih skips a "[section" line without its ']' and goes on in the
		 * previous section, where the next key would be blamed instead.
		 */
		if (*p == '[' && strchr(p, ']') == NULL && !ctx->failed) {
			ctx->failed = 1;
			ctx->err_line = ctx->line;
			idg_seterr(ctx->err, "%s:%d: section header without its closing ']'",
				   ctx->name, ctx->line);
		}
	}
	ctx->at_line_start = strchr(buf, '\n') != NULL;
	return buf;
}

static char *
file_reader(char *buf, int size, void *stream)
{
	struct parse_ctx *ctx = stream;

	return count_line(ctx, fgets(buf, size, ctx->fp));
}

static char *
string_reader(char *buf, int size, void *stream)
{
	struct parse_ctx *ctx = stream;
	const char *nl;
	size_t n;

	if (*ctx->text == '\0' || size < 2)
		return NULL;
	nl = strchr(ctx->text, '\n');
	n = nl != NULL ? (size_t)(nl - ctx->text) + 1 : strlen(ctx->text);
	if (n > (size_t)size - 1)
		n = (size_t)size - 1;
	memcpy(buf, ctx->text, n);
	buf[n] = '\0';
	ctx->text += n;
	return count_line(ctx, buf);
}

/* DN suffix test on the lower-cased, space-trimmed text (good enough for config checks). */
static int
dn_within(const char *dn, const char *base)
{
	size_t ld = strlen(dn), lb = strlen(base);

	if (ld < lb || strcasecmp(dn + ld - lb, base) != 0)
		return 0;
	return ld == lb || dn[ld - lb - 1] == ',';
}

/*
 * The audit anchor lives beside the audit key unless configured: the key's
 * directory is already private to root, and a host that moved its keys
 * moves its anchor with them.
 */
/*
 * [sync] reconcile: when idgovd runs its full refresh that reports drift.
 * "daily HH:MM" is the common case; a cron rule says anything else; "off"
 * (or "none") turns it off. Parsed into sync_reconcile_sched.
 */
static int
reconcile_schedule_section(struct cfg *c, const char *name, struct idg_err *err)
{
	const char *v = c->sync_reconcile;
	struct idg_err why;
	char cron[32];
	unsigned hh, mm;
	char tail;

	/*
	 * Only the zone's spelling is checked here: asking ICU whether it
	 * exists would load ICU's data into every process that reads this
	 * file, pam_idgov.so inside sshd included, for a key only idgovd
	 * uses. idgovd checks the zone itself when it starts or reloads.
	 */
	if (c->sync_timezone[0] == '\0' ||
	    strspn(c->sync_timezone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789/_+-") != strlen(c->sync_timezone))
		return idg_seterr(err, "%s: [sync] timezone: not a time zone name (e.g. UTC)",
				  name);
	if (strcmp(v, "off") == 0 || strcmp(v, "none") == 0)
		v = "none";
	else if (strncmp(v, "daily ", 6) == 0) {
		if (sscanf(v + 6, "%2u:%2u%c", &hh, &mm, &tail) != 2 || hh > 23 || mm > 59 ||
		    strlen(v + 6) != 5)
			return idg_seterr(err,
					  "%s: [sync] reconcile: 'daily HH:MM' (like daily 03:00)",
					  name);
		snprintf(cron, sizeof(cron), "%u %u * * *", mm, hh);
		v = cron;
	}
	if (schedule_parse(v, "00:00", &c->sync_reconcile_sched, &why) != 0)
		return idg_seterr(err,
				  "%s: [sync] reconcile: 'daily HH:MM', a cron rule "
				  "(minute hour day month weekday) or 'off': %s",
				  name, why.msg);
	return 0;
}

/* [backup]: "every DURATION" or "none", absolute target directories, max_age. */
static int
backup_section(struct cfg *c, const char *name, struct idg_err *err)
{
	const char *cur = c->backup_targets, *item;
	size_t len;

	c->backup_interval = 0;
	if (strcmp(c->backup_schedule, "none") != 0 &&
	    (strncmp(c->backup_schedule, "every ", 6) != 0 ||
	     duration_parse(c->backup_schedule + 6, &c->backup_interval, NULL) != 0))
		return idg_seterr(err,
				  "%s: [backup] schedule: 'every DURATION' (like every 8h) or "
				  "'none'",
				  name);
	c->backup_max_age = 0;
	if (c->backup_max_age_text[0] != '\0' &&
	    duration_parse(c->backup_max_age_text, &c->backup_max_age, NULL) != 0)
		return idg_seterr(err, "%s: [backup] max_age: not a duration (like 1h), or empty",
				  name);
	while (cur != NULL && c->backup_targets[0] != '\0' && idg_list_next(&cur, &item, &len)) {
		if (len == 0 || item[0] != '/' || len >= 4000)
			return idg_seterr(
				err,
				"%s: [backup] targets: a comma-separated list of absolute "
				"directories",
				name);
	}
	return 0;
}

/*
 * An empty *slot becomes the file name beside the file at path (an
 * absolute path: the key table checks it), e.g. audit.anchor beside the
 * audit key.
 */
static int
default_beside(char **slot, const char *path, const char *name, struct idg_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t dir = (size_t)(slash - path), size = dir + 1 + strlen(name) + 1;
	char *out;

	if ((*slot)[0] != '\0')
		return 0;
	if ((out = malloc(size)) == NULL)
		return idg_seterr(err, "out of memory");
	snprintf(out, size, "%.*s/%s", (int)dir, path, name);
	free(*slot);
	*slot = out;
	return 0;
}

/*
 * [fleet]: the name defaults to the host name; a name is what people read
 * in "run this on the governor (NAME)", so it is printable text without
 * spaces. A host finds the governor's name in the lease, so it needs
 * lease_dn; a governor without one governs alone (one machine).
 */
static int
fleet_section(struct cfg *c, const char *file, struct idg_err *err)
{
	const unsigned char *p;

	if (c->fleet_name[0] == '\0') {
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
			return idg_seterr(err, "%s: [fleet] name: not set, and no host name to use",
					  file);
		free(c->fleet_name);
		if ((c->fleet_name = strdup(host)) == NULL)
			return idg_seterr(err, "out of memory");
	}
	if (strlen(c->fleet_name) > CFG_FLEET_NAME_MAX)
		return idg_seterr(err, "%s: [fleet] name: longer than %d bytes", file,
				  CFG_FLEET_NAME_MAX);
	for (p = (const unsigned char *)c->fleet_name; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || *p >= 0x80)
			return idg_seterr(
				err, "%s: [fleet] name: must be printable ASCII without spaces",
				file);
	if (c->fleet_lease_ttl < CFG_LEASE_TTL_MIN || c->fleet_lease_ttl > CFG_LEASE_TTL_MAX)
		return idg_seterr(err, "%s: [fleet] lease_ttl: must be from %ds to 1d", file,
				  CFG_LEASE_TTL_MIN);
	if (c->fleet_role == CFG_ROLE_HOST && c->fleet_lease_dn[0] == '\0')
		return idg_seterr(err,
				  "%s: [fleet] lease_dn: required when role = host (a host reads "
				  "the governor's name from the lease)",
				  file);
	return 0;
}

static int
validate(struct parse_ctx *ctx)
{
	struct cfg *c = ctx->cfg;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].def == NULL && !ctx->seen[i])
			return idg_seterr(ctx->err, "%s: [%s] %s: required key is missing",
					  ctx->name, keys[i].section, keys[i].name);
	}
	if (c->dir_user_base[0] != '\0' && !dn_within(c->dir_user_base, c->dir_base))
		return idg_seterr(ctx->err, "%s: [directory] user_base: must be within base %s",
				  ctx->name, c->dir_base);
	if (c->dir_group_base[0] != '\0' && !dn_within(c->dir_group_base, c->dir_base))
		return idg_seterr(ctx->err, "%s: [directory] group_base: must be within base %s",
				  ctx->name, c->dir_base);
	if (c->dir_tls == CFG_TLS_LDAPS && strncmp(c->dir_uri, "ldaps://", 8) != 0)
		return idg_seterr(ctx->err, "%s: [directory] tls: ldaps needs an ldaps:// uri",
				  ctx->name);
	if (c->dir_tls == CFG_TLS_STARTTLS && strncmp(c->dir_uri, "ldap://", 7) != 0)
		return idg_seterr(ctx->err, "%s: [directory] tls: starttls needs an ldap:// uri",
				  ctx->name);
	/* The web frontend holds no key: it must never run with root's rights. */
	if (strcmp(c->web_user, "root") == 0)
		return idg_seterr(
			ctx->err,
			"%s: [web] user: must be an unprivileged user of its own, not root",
			ctx->name);
	if (c->web_idgovd_timeout < 1 || c->web_idgovd_timeout > 3600)
		return idg_seterr(ctx->err, "%s: [web] idgovd_timeout: must be 1s to 1h",
				  ctx->name);
	if (c->web_session_idle > c->web_session_max)
		return idg_seterr(ctx->err, "%s: [web] session_idle: longer than session_max",
				  ctx->name);
	for (i = 0; i < c->n_rules; i++) {
		struct cfg_rule *r = &c->rules[i];

		if (r->n_windows == 0 && r->n_nets == 0 && r->countries == NULL &&
		    r->deny_countries == NULL)
			return idg_seterr(
				ctx->err,
				"%s:%d: [rule %s]: the rule constrains nothing (give times, "
				"networks or countries)",
				ctx->name, r->line, r->name);
		if ((r->countries != NULL || r->deny_countries != NULL) &&
		    c->geo_database[0] == '\0')
			return idg_seterr(ctx->err,
					  "%s:%d: [rule %s]: countries need a [geo] database",
					  ctx->name, r->line, r->name);
		if (r->n_windows > 0 && r->timezone == NULL &&
		    (r->timezone = strdup("UTC")) == NULL)
			return idg_seterr(ctx->err, "out of memory");
	}
	if (c->mfa_unenrolled == CFG_UNENROLLED_GRACE && c->mfa_grace_until == 0)
		return idg_seterr(ctx->err,
				  "%s: [mfa] grace_until: required when unenrolled = grace",
				  ctx->name);
	if (extensions_validate(ctx) != 0)
		return -1;
	if (c->acct_uid_min > c->acct_uid_max)
		return idg_seterr(ctx->err, "%s: [accounts] uid_min: must not exceed uid_max (%d)",
				  ctx->name, c->acct_uid_max);
	if (c->breakglass_max_duration > c->grant_max_duration)
		return idg_seterr(ctx->err,
				  "%s: [breakglass] max_duration: must not exceed [grants] "
				  "max_duration (break-glass has the shortest maximum)",
				  ctx->name);
	if (c->dir_bind_dn[0] != '\0' && c->dir_bind_password_file[0] == '\0')
		return idg_seterr(
			ctx->err,
			"%s: [directory] bind_password_file: required when bind_dn is set",
			ctx->name);
	if (default_beside(&c->audit_anchor_file, c->audit_key_file, "audit.anchor", ctx->err) !=
		    0 ||
	    default_beside(&c->audit_spool_dir, c->store_path, "spool", ctx->err) != 0 ||
	    default_beside(&c->backup_key_file, c->master_key_file, "backup.key", ctx->err) != 0 ||
	    backup_section(c, ctx->name, ctx->err) != 0 ||
	    reconcile_schedule_section(c, ctx->name, ctx->err) != 0 ||
	    fleet_section(c, ctx->name, ctx->err) != 0)
		return -1;
	if (strcmp(c->backup_key_file, c->master_key_file) == 0 ||
	    strcmp(c->backup_key_file, c->audit_key_file) == 0 ||
	    strcmp(c->backup_key_file, c->store_path) == 0)
		return idg_seterr(
			ctx->err,
			"%s: [store] backup_key: must be a key of its own, not the master "
			"key, the audit key or the store",
			ctx->name);
	if (strcmp(c->audit_anchor_file, c->audit_key_file) == 0 ||
	    strcmp(c->audit_anchor_file, c->audit_pubkey_file) == 0 ||
	    strcmp(c->audit_anchor_file, c->store_path) == 0)
		return idg_seterr(ctx->err,
				  "%s: [store] audit_anchor: must be a file of its own, not the "
				  "store or a key",
				  ctx->name);
	return 0;
}

static int
load(struct parse_ctx *ctx, int (*run)(struct parse_ctx *), struct cfg **out)
{
	struct cfg *cfg;
	size_t i;
	int rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(ctx->name)) == NULL) {
		free(cfg);
		return idg_seterr(ctx->err, "%s: out of memory", ctx->name);
	}
	ctx->cfg = cfg;
	for (i = 0; i < NKEYS; i++) {
		const char *why = set_value(cfg, &keys[i], keys[i].def ? keys[i].def : "");

		/* Required keys have no default; their empty value is only a placeholder. */
		if (why != NULL && keys[i].def != NULL) {
			cfg_free(cfg);
			return idg_seterr(ctx->err, "built-in default for %s.%s: %s",
					  keys[i].section, keys[i].name, why);
		}
	}
	if (extensions_create(ctx) != 0) {
		cfg_free(cfg);
		return -1;
	}
	ctx->line = 0;
	ctx->at_line_start = 1;
	rc = run(ctx);
	if (rc == 0 && !ctx->failed && validate(ctx) == 0) {
		*out = cfg;
		return 0;
	}
	if (rc > 0 && !ctx->failed)
		idg_seterr(ctx->err, "%s:%d: syntax error (expected [section] or key = value)",
			   ctx->name, rc);
	else if (rc < 0 && !ctx->failed)
		idg_seterr(ctx->err, "%s: out of memory while parsing", ctx->name);
	cfg_free(cfg);
	return -1;
}

static int
run_file(struct parse_ctx *ctx)
{
	return ini_parse_stream(file_reader, ctx, handler, ctx);
}

static int
run_string(struct parse_ctx *ctx)
{
	return ini_parse_stream(string_reader, ctx, handler, ctx);
}

int
cfg_load(const char *path, struct cfg **out, struct idg_err *err)
{
	return cfg_load_with(path, NULL, out, err);
}

int
cfg_load_string(const char *text, const char *name, struct cfg **out, struct idg_err *err)
{
	return cfg_load_string_with(text, name, NULL, out, err);
}

int
cfg_load_with(const char *path, const struct cfg_extension *const *exts, struct cfg **out,
	      struct idg_err *err)
{
	struct parse_ctx ctx = {.name = path, .err = err, .exts = exts};
	struct idg_err why;
	int fd, rc;

	*out = NULL;
	/* A symlinked config is followed; what is checked is the file opened. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return idg_seterr(err, "%s: cannot open: %s", path, strerror(errno));
	if (safepath_check_fd(fd, path, SAFEPATH_FILE, 0, &why) != 0) {
		close(fd);
		return idg_seterr(err, "refusing configuration %s", why.msg);
	}
	ctx.fp = fdopen(fd, "r");
	if (ctx.fp == NULL) {
		close(fd);
		return idg_seterr(err, "%s: cannot open: %s", path, strerror(errno));
	}
	rc = load(&ctx, run_file, out);
	fclose(ctx.fp);
	return rc;
}

int
cfg_load_string_with(const char *text, const char *name, const struct cfg_extension *const *exts,
		     struct cfg **out, struct idg_err *err)
{
	struct parse_ctx ctx = {.name = name, .text = text, .err = err, .exts = exts};

	return load(&ctx, run_string, out);
}

void
cfg_free(struct cfg *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		switch (keys[i].type) {
		case T_INT:
		case T_FRACTION:
		case T_TLS:
		case T_BOOL:
		case T_ALGO:
		case T_UNENROLLED:
		case T_DATE_OPT:
		case T_RHOST:
		case T_DURATION:
		case T_LOCK:
		case T_LOCAL:
		case T_ROLE:
		case T_PWAGE:
		case T_FLEETMFA:
			break;
		default:
			free(*field_str(cfg, &keys[i]));
		}
	}
	for (i = 0; i < cfg->n_rules; i++) {
		struct cfg_rule *r = &cfg->rules[i];

		free(r->users);
		free(r->groups);
		free(r->services);
		free(r->times);
		free(r->timezone);
		free(r->networks);
		free(r->countries);
		free(r->deny_countries);
	}
	free(cfg->rules);
	for (i = 0; i < cfg->n_ext; i++)
		cfg->ext[i]->destroy(cfg->ext_data[i]);
	free(cfg->path);
	free(cfg);
}

int64_t
cfg_group_max_duration(const struct cfg *cfg, const char *cn)
{
	const char *cursor = cfg->grant_group_max, *item;
	char name[256];
	size_t len;
	int64_t d;

	while (idg_list_next(&cursor, &item, &len))
		if (group_max_item(item, len, name, &d) == 0 && strcasecmp(name, cn) == 0)
			return d;
	return cfg->grant_max_duration;
}

/* Is the host of an ldap:// or ldaps:// URI this machine? ldapi:// always is. */
static int
uri_is_local(const char *uri)
{
	static const char *const local[] = {"localhost", "127.", "[::1]", "::1"};
	const char *host;

	if (strncasecmp(uri, "ldapi://", 8) == 0)
		return 1;
	if (strncasecmp(uri, "ldap://", 7) == 0)
		host = uri + 7;
	else if (strncasecmp(uri, "ldaps://", 8) == 0)
		host = uri + 8;
	else
		return 0;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		size_t n = strlen(local[i]);

		/* A prefix: "127." matches 127.0.0.1; names must end where the host does. */
		if (strncasecmp(host, local[i], n) == 0 &&
		    (local[i][n - 1] == '.' || strchr(":/", host[n]) != NULL))
			return 1;
	}
	return 0;
}

int
cfg_plain_bind_warning(const struct cfg *cfg, char *buf, size_t size)
{
	if (cfg->dir_bind_dn[0] == '\0' || cfg->dir_tls != CFG_TLS_NONE ||
	    strncasecmp(cfg->dir_uri, "ldaps://", 8) == 0 || uri_is_local(cfg->dir_uri))
		return 0;
	snprintf(buf, size,
		 "WARNING: %s: the directory password of %s goes to %s in clear text "
		 "([directory] tls = none); use tls = starttls or an ldaps:// uri",
		 cfg->path, cfg->dir_bind_dn, cfg->dir_uri);
	return 1;
}

int
cfg_list_contains(const char *list, const char *item)
{
	const char *cursor = list, *p;
	size_t len, n = strlen(item);

	while (idg_list_next(&cursor, &p, &len))
		if (len == n && len > 0 && strncasecmp(p, item, n) == 0)
			return 1;
	return 0;
}
