/* Unit tests for idgov.conf parsing: good files, defaults, and every kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "config.h"

static const char minimal[] = "[directory]\n"
			      "uri = ldap://127.0.0.1:3890/\n"
			      "base = dc=example,dc=com\n";

static void
expect_error(const char *text, const char *want)
{
	struct cfg *cfg = (struct cfg *)0x1;
	struct idg_err err = {{0}};

	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), -1);
	assert_null(cfg);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void
test_minimal_file_gets_defaults(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string(minimal, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->dir_uri, "ldap://127.0.0.1:3890/");
	assert_string_equal(cfg->dir_base, "dc=example,dc=com");
	assert_int_equal(cfg->dir_page_size, 500);
	assert_int_equal(cfg->dir_tls, CFG_TLS_NONE);
	assert_true(cfg->dir_max_departed_fraction > 0.099 &&
		    cfg->dir_max_departed_fraction < 0.101);
	assert_string_equal(cfg->attr_member_uid, "memberUid");
	assert_string_equal(cfg->store_path, "/var/lib/idgov/idgov.db");
	assert_string_equal(cfg->socket_path, "/run/idgov/idgov.sock");
	assert_int_equal(cfg->max_reply, 67108864);
	assert_int_equal(cfg->client_timeout, 5);
	assert_int_equal(cfg->max_clients_per_uid, 8);
	assert_string_equal(cfg->daemon_user, "root");
	assert_string_equal(cfg->admin_group, "idgov-admins");
	assert_string_equal(cfg->audit_anchor_file, "/var/lib/idgov/audit.anchor");
	assert_string_equal(cfg->audit_anchor_dn, "");
	assert_string_equal(cfg->audit_anchor_attr, "description");
	cfg_free(cfg);
}

/* [sync] reconcile: daily at 03:00 UTC by default; "daily HH:MM", cron or off; bad values refused.
 */
static void
test_sync_reconcile_schedule(void **state)
{
	char text[512];
	struct cfg *cfg;
	struct idg_err err;
	int64_t next = 0;

	(void)state;
	assert_int_equal(cfg_load_string(minimal, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->sync_reconcile, "daily 03:00");
	assert_false(cfg->sync_reconcile_sched.none);
	/* 2026-11-26 12:00 UTC -> the next run is 2026-11-27 03:00 UTC. */
	assert_int_equal(schedule_next(&cfg->sync_reconcile_sched, cfg->sync_timezone, 1795694400,
				       &next, &err),
			 0);
	assert_int_equal(next, 1795748400);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = daily 22:30\ntimezone = Europe/Paris\n",
		 minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	/* 22:30 in Paris (UTC+1 in November) is 21:30 UTC. */
	assert_int_equal(schedule_next(&cfg->sync_reconcile_sched, cfg->sync_timezone, 1795694400,
				       &next, &err),
			 0);
	assert_int_equal(next, 1795694400 + 9 * 3600 + 1800);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = off\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_true(cfg->sync_reconcile_sched.none);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = 15 */6 * * 1-5\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_false(cfg->sync_reconcile_sched.none);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = daily 24:00\n", minimal);
	expect_error(text, "[sync] reconcile: 'daily HH:MM'");
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = daily 3:00\n", minimal);
	expect_error(text, "[sync] reconcile: 'daily HH:MM'");
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = daily 03:00x\n", minimal);
	expect_error(text, "[sync] reconcile: 'daily HH:MM'");
	snprintf(text, sizeof(text), "%s[sync]\nreconcile = sometimes\n", minimal);
	expect_error(text, "[sync] reconcile:");
	snprintf(text, sizeof(text), "%s[sync]\ntimezone = Europe/Paris; rm\n", minimal);
	expect_error(text, "[sync] timezone:");
	snprintf(text, sizeof(text), "%s[sync]\ntimezone =\n", minimal);
	expect_error(text, "[sync] timezone:");
}

/* The anchor follows the audit key unless placed; it is never the store or a key. */
static void
test_audit_anchor(void **state)
{
	char text[256];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	snprintf(text, sizeof(text), "%s[store]\naudit_key = /etc/idgov/keys/audit.key\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->audit_anchor_file, "/etc/idgov/keys/audit.anchor");
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[store]\naudit_anchor = /srv/anchor\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->audit_anchor_file, "/srv/anchor");
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[store]\naudit_anchor = anchor\n", minimal);
	expect_error(text, "[store] audit_anchor:");
	snprintf(text, sizeof(text), "%s[store]\naudit_anchor = /var/lib/idgov/audit.key\n",
		 minimal);
	expect_error(text, "[store] audit_anchor: must be a file of its own");
}

/*
 * [pam] password_age: password-logins by default (a login that used no
 * password is warned, not stopped), all-logins on request; anything else,
 * another case, an empty value or a second line is refused with its line.
 */
static void
test_pam_password_age(void **state)
{
	static const char *const bad[] = {
		"all",        "password_logins",
		"All-Logins", "all-logins x",
		"",           "password-logins,all-logins",
		"1",
	};
	char text[512];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string(minimal, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->pam_password_age, CFG_PWAGE_PASSWORD_LOGINS);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[pam]\npassword_age = all-logins\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->pam_password_age, CFG_PWAGE_ALL_LOGINS);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[pam]\npassword_age = password-logins\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->pam_password_age, CFG_PWAGE_PASSWORD_LOGINS);
	cfg_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s[pam]\npassword_age = %s\n", minimal, bad[i]);
		expect_error(text,
			     "t.conf:5: [pam] password_age: must be password-logins or all-logins");
	}
	snprintf(text, sizeof(text),
		 "%s[pam]\npassword_age = all-logins\npassword_age = all-logins\n", minimal);
	expect_error(text, "t.conf:6: [pam] password_age");
	snprintf(text, sizeof(text), "%s[password]\npassword_age = all-logins\n", minimal);
	expect_error(text, "t.conf:5: [password] password_age");
}

/* The backup key follows the master key; [backup] schedule, targets and max_age. */
static void
test_backup_keys(void **state)
{
	char text[512];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	snprintf(text, sizeof(text), "%s[store]\nmaster_key = /etc/idgov/keys/master.key\n",
		 minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_string_equal(cfg->backup_key_file, "/etc/idgov/keys/backup.key");
	assert_int_equal(cfg->backup_interval, 8 * 3600); /* three a day */
	assert_string_equal(cfg->backup_targets, "");     /* but no target: none made */
	assert_int_equal(cfg->backup_keep, 30 * 86400);
	assert_int_equal(cfg->backup_max_age, 0);
	cfg_free(cfg);
	snprintf(text, sizeof(text),
		 "%s[backup]\nschedule = every 1h\ntargets = /srv/a, /mnt/b\nmax_age = 2h\n",
		 minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->backup_interval, 3600);
	assert_int_equal(cfg->backup_max_age, 7200);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[backup]\nschedule = none\n", minimal);
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->backup_interval, 0);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "%s[backup]\nschedule = hourly\n", minimal);
	expect_error(text, "[backup] schedule:");
	snprintf(text, sizeof(text), "%s[backup]\ntargets = /srv/a, backups\n", minimal);
	expect_error(text, "[backup] targets:");
	snprintf(text, sizeof(text), "%s[backup]\nmax_age = soon\n", minimal);
	expect_error(text, "[backup] max_age:");
	snprintf(text, sizeof(text), "%s[store]\nbackup_key = /var/lib/idgov/master.key\n",
		 minimal);
	expect_error(text, "[store] backup_key: must be a key of its own");
}

static void
test_full_file_overrides(void **state)
{
	struct cfg *cfg;
	struct idg_err err;
	const char *text = "; comment\n"
			   "[directory]\n"
			   "uri = ldap://ldap.example.com/\n"
			   "base = dc=example,dc=com\n"
			   "user_base = ou=People,dc=example,dc=com\n"
			   "bind_dn = cn=idgov,dc=example,dc=com\n"
			   "bind_password_file = /etc/idgov/ldap.secret\n"
			   "tls = starttls\n"
			   "page_size = 1000\n"
			   "max_departed_fraction = 0.25\n"
			   "[groups]\n"
			   "privileged = admins, dba\n"
			   "[store]\n"
			   "path = /tmp/x.db\n"
			   "[control]\n"
			   "max_reply = 1048576\n"
			   "client_timeout = 10\n"
			   "max_clients_per_uid = 3\n"
			   "[admin]\n"
			   "group = wheel\n";

	(void)state;
	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->dir_tls, CFG_TLS_STARTTLS);
	assert_int_equal(cfg->dir_page_size, 1000);
	assert_string_equal(cfg->dir_user_base, "ou=People,dc=example,dc=com");
	assert_true(cfg_list_contains(cfg->privileged_groups, "dba"));
	assert_true(cfg_list_contains(cfg->privileged_groups, "ADMINS"));
	assert_false(cfg_list_contains(cfg->privileged_groups, "adm"));
	assert_string_equal(cfg->admin_group, "wheel");
	assert_int_equal(cfg->max_reply, 1048576);
	assert_int_equal(cfg->client_timeout, 10);
	assert_int_equal(cfg->max_clients_per_uid, 3);
	cfg_free(cfg);
}

static void
test_unknown_key_names_file_line_and_key(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nbogus = 1\n",
		     "t.conf:4: [directory] bogus: unknown key");
}

static void
test_unknown_section_is_an_error(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[nonsense]\nkey = 1\n",
		     "t.conf:5: [nonsense] key: unknown section");
}

static void
test_missing_required_key(void **state)
{
	(void)state;
	expect_error("[directory]\nbase = dc=x\n", "[directory] uri: required key is missing");
}

static void
test_malformed_values_are_rejected(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = http://h/\nbase = dc=x\n", "t.conf:2: [directory] uri:");
	expect_error("[directory]\nuri = ldap://h/\nbase = nodn\n", "t.conf:3: [directory] base:");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\npage_size = 12abc\n",
		     "t.conf:4: [directory] page_size: not a whole number");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\npage_size = 0\n",
		     "page_size: out of range");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nmax_departed_fraction = 1.5\n",
		     "max_departed_fraction: not a number between 0 and 1");
	expect_error(
		"[directory]\nuri = ldap://h/\nbase = dc=x\n[control]\nmax_clients_per_uid = 0\n",
		"t.conf:5: [control] max_clients_per_uid: out of range");
	expect_error(
		"[directory]\nuri = ldap://h/\nbase = dc=x\n[control]\nmax_clients_per_uid = 65\n",
		"max_clients_per_uid: out of range");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[control]\nmax_reply = 1024\n",
		     "max_reply: out of range");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[control]\nclient_timeout = 0\n",
		     "client_timeout: out of range");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\ntls = maybe\n",
		     "tls: must be none, starttls or ldaps");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nuser_filter = uid=*\n",
		     "user_filter: not a parenthesised LDAP filter");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nuser_filter = (a=b))(\n",
		     "user_filter: not a parenthesised LDAP filter");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[users]\nuid = u id\n",
		     "t.conf:5: [users] uid: not an attribute name");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[store]\npath = relative.db\n",
		     "[store] path: must be an absolute path");
}

#define BASE "[directory]\nuri = ldap://h/\nbase = dc=x\n"

/* [fleet]: a lone governor by default; a host needs the lease's DN; names and ttls checked. */
static void
test_fleet_keys(void **state)
{
	char host[256] = "";
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(cfg_load_string(BASE, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->fleet_role, CFG_ROLE_GOVERNOR);
	assert_string_equal(cfg->fleet_name, host);
	assert_string_equal(cfg->fleet_lease_dn, "");
	assert_int_equal(cfg->fleet_lease_ttl, 120);
	assert_int_equal(cfg->fleet_mfa, CFG_FLEET_MFA_LOCAL);
	assert_string_equal(cfg->fleet_key_file, "/var/lib/idgov/fleet.key");
	assert_string_equal(cfg->fleet_providers, "");
	assert_int_equal(cfg->fleet_timeout_ms, 2000);
	assert_int_equal(cfg->fleet_offline_allow, 0);
	cfg_free(cfg);
	assert_int_equal(cfg_load_string(BASE
					 "[fleet]\nmfa = directory\nkey = /etc/idgov/fleet.key\n"
					 "providers = ldap://p1:389 ldap://p2:389\n"
					 "timeout_ms = 300\noffline = allow\n",
					 "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg->fleet_mfa, CFG_FLEET_MFA_DIRECTORY);
	assert_string_equal(cfg->fleet_key_file, "/etc/idgov/fleet.key");
	assert_string_equal(cfg->fleet_providers, "ldap://p1:389 ldap://p2:389");
	assert_int_equal(cfg->fleet_timeout_ms, 300);
	assert_int_equal(cfg->fleet_offline_allow, 1);
	cfg_free(cfg);
	assert_int_equal(cfg_load_string(BASE
					 "[fleet]\nrole = host\nname = web-01.example.com\n"
					 "lease_dn = cn=governor,ou=idgov,dc=x\nlease_ttl = 90s\n",
					 "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg->fleet_role, CFG_ROLE_HOST);
	assert_string_equal(cfg->fleet_name, "web-01.example.com");
	assert_string_equal(cfg->fleet_lease_dn, "cn=governor,ou=idgov,dc=x");
	assert_int_equal(cfg->fleet_lease_ttl, 90);
	cfg_free(cfg);
	assert_int_equal(cfg_load_string(BASE "[fleet]\nlease_ttl = 3s\nlease_dn = cn=l,dc=x\n",
					 "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg->fleet_lease_ttl, 3);
	cfg_free(cfg);

	expect_error(BASE "[fleet]\nrole = primary\n",
		     "t.conf:5: [fleet] role: must be governor or host");
	expect_error(BASE "[fleet]\nrole = Governor\n", "[fleet] role: must be governor or host");
	expect_error(BASE "[fleet]\nrole =\n", "[fleet] role: must be governor or host");
	expect_error(BASE "[fleet]\nrole = host\n", "[fleet] lease_dn: required when role = host");
	expect_error(BASE "[fleet]\nlease_dn = governor\n",
		     "t.conf:5: [fleet] lease_dn: not a distinguished name");
	expect_error(BASE "[fleet]\nlease_ttl = soon\n",
		     "t.conf:5: [fleet] lease_ttl: not a duration");
	expect_error(BASE "[fleet]\nlease_ttl = -5m\n", "[fleet] lease_ttl: not a duration");
	expect_error(BASE "[fleet]\nlease_ttl = 2s\n", "[fleet] lease_ttl: must be from 3s to 1d");
	expect_error(BASE "[fleet]\nlease_ttl = 0s\n", "[fleet] lease_ttl:");
	expect_error(BASE "[fleet]\nlease_ttl = 2d\n", "[fleet] lease_ttl: must be from 3s to 1d");
	expect_error(BASE "[fleet]\nname = two words\n", "[fleet] name: must be printable ASCII");
	expect_error(BASE "[fleet]\nname = tab\there\n", "[fleet] name: must be printable ASCII");
	expect_error(BASE "[fleet]\nname = caf\xc3\xa9\n", "[fleet] name: must be printable ASCII");
	expect_error(BASE "[fleet]\nname = "
			  "a123456789b123456789c123456789d123456789e123456789f123456789g12345\n",
		     "[fleet] name: longer than 64 bytes");
	expect_error(BASE "[fleet]\nrole = host\nrole = governor\nlease_dn = cn=l,dc=x\n",
		     "t.conf:6:");
	expect_error(BASE "[fleet]\nleader = yes\n", "t.conf:5: [fleet] leader:");
	expect_error(BASE "[fleet]\nmfa = ldap\n", "[fleet] mfa: must be local or directory");
	expect_error(BASE "[fleet]\nmfa =\n", "[fleet] mfa: must be local or directory");
	expect_error(BASE "[fleet]\nkey = fleet.key\n", "[fleet] key: must be an absolute path");
	expect_error(BASE "[fleet]\nkey =\n", "[fleet] key:");
	expect_error(BASE "[fleet]\nproviders = http://p1\n", "[fleet] providers: must be ldap://");
	expect_error(BASE "[fleet]\ntimeout_ms = 10\n", "[fleet] timeout_ms:");
	expect_error(BASE "[fleet]\ntimeout_ms = 1s\n", "[fleet] timeout_ms:");
	expect_error(BASE "[fleet]\noffline = maybe\n", "[fleet] offline: must be deny or allow");
}

static void
test_grant_keys(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string(BASE "[grants]\nmax_duration = 2d\n"
					      "group_max_duration = admins = 8h, dba=30m\n"
					      "[accounts]\nhome = /srv/%u/home\nlock = ppolicy\n",
					 "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg_group_max_duration(cfg, "admins"), 8 * 3600);
	assert_int_equal(cfg_group_max_duration(cfg, "DBA"), 1800);
	assert_int_equal(cfg_group_max_duration(cfg, "other"), 2 * 86400);
	assert_int_equal(cfg->breakglass_max_duration, 3600);
	assert_int_equal(cfg->acct_lock, CFG_LOCK_PPOLICY);
	assert_true(cfg_list_contains(cfg->grant_enforce_services, "sudo"));
	cfg_free(cfg);
	expect_error(BASE "[grants]\nmax_duration = 4x\n", "t.conf:5: [grants] max_duration: not a "
							   "duration");
	expect_error(BASE "[grants]\ngroup_max_duration = admins 8h\n",
		     "t.conf:5: [grants] group_max_duration: must be a list of group=duration");
	expect_error(BASE "[grants]\ngroup_max_duration = admins=8h,=1h\n",
		     "group_max_duration: must be a list");
	expect_error(BASE "[accounts]\nhome = /home/user\n", "[accounts] home: must be an absolute "
							     "path with one %u");
	expect_error(BASE "[accounts]\nlock = maybe\n", "lock: must be shadow or ppolicy");
	expect_error(BASE "[accounts]\nuid_min = 80000\nuid_max = 70000\n",
		     "uid_min: must not exceed uid_max");
	expect_error(BASE "[breakglass]\nmax_duration = 30d\n",
		     "[breakglass] max_duration: must not exceed [grants] max_duration");
}

/*
 * [reviews] and [campaign NAME] belong to reviews/: without its extension
 * (as in pam_idgov.so) they are skipped whatever they hold, so a campaign
 * never refuses a login; names that only look like them are still unknown.
 */
static void
test_sections_of_other_libraries_are_skipped(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string(BASE "[reviews]\ncolour = blue\n"
					      "[campaign q]\nscope = nonsense\n[mfa]\ndigits = 8\n",
					 "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg->mfa_digits, 8);
	assert_int_equal(cfg->n_ext, 0);
	cfg_free(cfg);
	expect_error(BASE "[campaignx]\nscope = all\n",
		     "t.conf:5: [campaignx] scope: unknown section");
	expect_error(BASE "[campaign]\nscope = all\n",
		     "t.conf:5: [campaign] scope: unknown section");
	expect_error(BASE "[review]\nscope = all\n", "t.conf:5: [review] scope: unknown section");
}

static void
test_repeated_key_is_an_error(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nuri = ldap://g/\nbase = dc=x\n",
		     "t.conf:3: [directory] uri: key given twice");
}

static void
test_syntax_error_names_line(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nthis line has no equals\n",
		     "t.conf:4: syntax error");
}

static void
test_broken_header_names_its_line(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[mfa\ndigits = 6\n",
		     "t.conf:4: section header without its closing ']'");
}

static void
test_cross_field_rules(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nuser_base = ou=p,dc=y\n",
		     "user_base: must be within base");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\ntls = ldaps\n",
		     "tls: ldaps needs an ldaps:// uri");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\nbind_dn = cn=a,dc=x\n",
		     "bind_password_file: required when bind_dn is set");
}

static void
test_missing_file_is_a_clear_error(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load("/nonexistent/idgov.conf", &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/idgov.conf: cannot open"));
}

/* Writes minimal and then extra to DIR/idgov.conf in a new private directory (dir, path). */
static void
conf_in_private_dir(char dir[64], char path[96], const char *extra)
{
	int fd;

	assert_int_equal(test_mkdtemp(dir, 64, "conf"), 0);
	snprintf(path, 96, "%s/idgov.conf", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, minimal, strlen(minimal)), (int)strlen(minimal));
	assert_int_equal(write(fd, extra, strlen(extra)), (int)strlen(extra));
	close(fd);
}

/* In a private directory: a configuration straight in /tmp is refused (safepath.h). */
static void
test_load_from_file(void **state)
{
	char dir[64], path[96];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	conf_in_private_dir(dir, path, "[log]\nident = x\nnope = 1\n");
	assert_int_equal(cfg_load(path, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, ":6: [log] nope: unknown key"));
	test_rmtree(dir);
}

/* The configuration names the store and the keys: only root may write it or move it. */
static void
test_untrusted_file_is_refused(void **state)
{
	char dir[64], path[96];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	conf_in_private_dir(dir, path, "");
	assert_int_equal(cfg_load(path, &cfg, &err), 0);
	cfg_free(cfg);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(cfg_load(path, &cfg, &err), -1);
	assert_null(cfg);
	assert_non_null(strstr(err.msg, "refusing configuration /tmp/idgov-test-conf-"));
	assert_non_null(strstr(err.msg, "idgov.conf: writable by group or others (mode 0666)"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(cfg_load(path, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "is writable by group or others (mode 0777)"));
	assert_int_equal(chmod(dir, 0755), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(cfg_load(path, &cfg, &err), -1);
		assert_non_null(strstr(err.msg, "idgov.conf: owned by uid 65534, not root"));
	}
	test_rmtree(dir);
}

static void
test_access_rules(void **state)
{
	struct cfg *cfg;
	struct idg_err err;
	const char *text = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
			   "[rule office-hours]\n"
			   "groups = staff\n"
			   "services = sshd, login\n"
			   "times = Mo-Fr 08:00-19:00\n"
			   "timezone = Europe/Paris\n"
			   "[rule admins-from-vpn]\n"
			   "groups = admins\n"
			   "scope = remote\n"
			   "networks = 10.8.0.0/16, 2001:db8::/32\n";

	(void)state;
	if (cfg_load_string(text, "t.conf", &cfg, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->n_rules, 2);
	assert_string_equal(cfg->rules[0].name, "office-hours");
	assert_int_equal(cfg->rules[0].n_windows, 1);
	assert_string_equal(cfg->rules[0].timezone, "Europe/Paris");
	assert_int_equal(cfg->rules[1].scope, CFG_SCOPE_REMOTE);
	assert_int_equal(cfg->rules[1].n_nets, 2);
	assert_false(cfg->policy_missing_rhost_allow);
	cfg_free(cfg);
}

static void
test_malformed_rules_name_the_line(void **state)
{
	(void)state;
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\ntimes = Mo-Fr 8-19\n",
		     "t.conf:5: [rule r1] times: 'Mo-Fr 8-19' is not a time window");
	expect_error(
		"[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\ntimes = Mo 08:00-09:00\n"
		"timezone = Mars/Base\n",
		"t.conf:6: [rule r1] timezone: not a known IANA time zone");
	expect_error(
		"[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\nnetworks = 10.0.0.1/8\n",
		"t.conf:5: [rule r1] networks: '10.0.0.1/8' has host bits set");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\ncolour = blue\n",
		     "t.conf:5: [rule r1] colour: unknown key");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\nusers = a\n",
		     "[rule r1]: the rule constrains nothing");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r1]\nnetworks = 10.0.0.0/8\n"
		     "[rule r2]\nnetworks = 10.0.0.0/8\n[rule r1]\nusers = x\n",
		     "t.conf:9: [rule r1] users: a rule of this name is defined twice");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule bad name]\nnetworks = "
		     "10.0.0.0/8\n",
		     "t.conf:5: [rule bad name] networks: rule names use");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r]\nscope = elsewhere\n",
		     "t.conf:5: [rule r] scope: must be any, remote or local");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[policy]\nmissing_rhost = maybe\n",
		     "t.conf:5: [policy] missing_rhost: must be deny or allow");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[geo]\ndatabase = /g.mmdb\n"
		     "[rule r]\ncountries = fr\n",
		     "t.conf:7: [rule r] countries: must be two-letter country codes");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[geo]\ndatabase = /g.mmdb\n"
		     "[rule r]\ndeny_countries = FR, USA\n",
		     "t.conf:7: [rule r] deny_countries: must be two-letter country codes");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[rule r]\ncountries = FR\n",
		     "[rule r]: countries need a [geo] database");
	expect_error("[directory]\nuri = ldap://h/\nbase = dc=x\n[geo]\nlookup_path = country..x\n",
		     "t.conf:5: [geo] lookup_path: must be map keys joined by dots");
}

static void
test_shipped_example_parses(void **state)
{
	struct cfg *cfg;
	struct idg_err err;
	char why[1024];

	(void)state;
	if (cfg_load(IDGOV_SOURCE_DIR "/idgov.conf.example", &cfg, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(cfg_list_contains(cfg->privileged_groups, "admins"));
	/* The example a new admin copies does not send the bind password in clear. */
	assert_int_equal(cfg->dir_tls, CFG_TLS_STARTTLS);
	assert_int_equal(cfg_plain_bind_warning(cfg, why, sizeof(why)), 0);
	cfg_free(cfg);
}

/* A bind password in clear to another machine is warned about; loopback and TLS are not. */
static void
test_plain_bind_to_another_host_is_warned(void **state)
{
	static const struct {
		const char *uri, *tls, *bind;
		int warned;
	} cases[] = {
		{"ldap://ldap.example.com/", "none", "cn=admin,dc=x", 1},
		{"ldap://10.1.2.3:389/", "none", "cn=admin,dc=x", 1},
		{"ldap://localhost.evil.example/", "none", "cn=admin,dc=x", 1},
		{"ldap://127.0.0.1:3890/", "none", "cn=admin,dc=x", 0},
		{"ldap://localhost/", "none", "cn=admin,dc=x", 0},
		{"ldap://localhost", "none", "cn=admin,dc=x", 0},
		{"ldap://[::1]:389/", "none", "cn=admin,dc=x", 0},
		{"ldapi://%2Frun%2Fslapd%2Fldapi/", "none", "cn=admin,dc=x", 0},
		{"ldap://ldap.example.com/", "starttls", "cn=admin,dc=x", 0},
		{"ldaps://ldap.example.com/", "ldaps", "cn=admin,dc=x", 0},
		{"ldap://ldap.example.com/", "none", "", 0},
	};
	char text[512], why[1024];
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "[directory]\nuri = %s\nbase = dc=x\ntls = %s\nbind_dn = %s\n"
			 "bind_password_file = /etc/idgov/ldap.secret\n",
			 cases[i].uri, cases[i].tls, cases[i].bind);
		if (cfg_load_string(text, "t.conf", &cfg, &err) != 0)
			fail_msg("%s: %s", cases[i].uri, err.msg);
		if (cfg_plain_bind_warning(cfg, why, sizeof(why)) != cases[i].warned)
			fail_msg("%s with tls = %s: warned should be %d", cases[i].uri,
				 cases[i].tls, cases[i].warned);
		if (cases[i].warned)
			assert_non_null(strstr(why, "in clear text"));
		cfg_free(cfg);
	}
}

/* [web] idgovd_timeout: a duration from 1s to 1h, 60s when not given. */
static void
test_web_idgovd_timeout(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	assert_int_equal(cfg_load_string(BASE, "t.conf", &cfg, &err), 0);
	assert_int_equal(cfg->web_idgovd_timeout, 60);
	cfg_free(cfg);
	assert_int_equal(cfg_load_string(BASE "[web]\nidgovd_timeout = 1h\n", "t.conf", &cfg, &err),
			 0);
	assert_int_equal(cfg->web_idgovd_timeout, 3600);
	cfg_free(cfg);
	expect_error(BASE "[web]\nidgovd_timeout = 0s\n", "[web] idgovd_timeout: not a duration");
	expect_error(BASE "[web]\nidgovd_timeout = 2h\n", "[web] idgovd_timeout: must be 1s to 1h");
	expect_error(BASE "[web]\nidgovd_timeout = 30\n", "[web] idgovd_timeout: not a duration");
	expect_error(BASE "[web]\nidgovd_timeout = -1s\n", "[web] idgovd_timeout: not a duration");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_file_gets_defaults),
		cmocka_unit_test(test_full_file_overrides),
		cmocka_unit_test(test_unknown_key_names_file_line_and_key),
		cmocka_unit_test(test_unknown_section_is_an_error),
		cmocka_unit_test(test_missing_required_key),
		cmocka_unit_test(test_malformed_values_are_rejected),
		cmocka_unit_test(test_repeated_key_is_an_error),
		cmocka_unit_test(test_grant_keys),
		cmocka_unit_test(test_sections_of_other_libraries_are_skipped),
		cmocka_unit_test(test_syntax_error_names_line),
		cmocka_unit_test(test_broken_header_names_its_line),
		cmocka_unit_test(test_cross_field_rules),
		cmocka_unit_test(test_missing_file_is_a_clear_error),
		cmocka_unit_test(test_load_from_file),
		cmocka_unit_test(test_untrusted_file_is_refused),
		cmocka_unit_test(test_shipped_example_parses),
		cmocka_unit_test(test_plain_bind_to_another_host_is_warned),
		cmocka_unit_test(test_access_rules),
		cmocka_unit_test(test_audit_anchor),
		cmocka_unit_test(test_backup_keys),
		cmocka_unit_test(test_fleet_keys),
		cmocka_unit_test(test_pam_password_age),
		cmocka_unit_test(test_sync_reconcile_schedule),
		cmocka_unit_test(test_malformed_rules_name_the_line),
		cmocka_unit_test(test_web_idgovd_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
