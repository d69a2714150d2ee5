/*
 * idgov.conf: the INI configuration shared by idgovd, idgov and (later)
 * pam_idgov.so. Parsing is done by inih; this module owns the table of
 * known sections and keys, their defaults and their validation.
 *
 * A configuration is loaded whole into a fresh struct cfg or not at all:
 * The file is trusted by owner and place before it is read (safepath.h):
 * it names the store and the keys, so one anyone else could write, or
 * swap through a directory above it, is refused.
 *
 * cfg_load() either returns 0 with a complete, validated configuration or
 * -1 with "FILE:LINE: [section] key: reason" in the error buffer, leaving
 * nothing allocated. This is what lets the daemon keep its old
 * configuration when a SIGHUP reload finds a mistake.
 */
#ifndef IDGOV_CONFIG_H
#define IDGOV_CONFIG_H

#include "netmatch.h"
#include "schedule.h"
#include "timewin.h"
#include "util.h"

#include <stdint.h>

#define CFG_DEFAULT_PATH "/etc/idgov/idgov.conf"

enum cfg_tls { CFG_TLS_NONE, CFG_TLS_STARTTLS, CFG_TLS_LDAPS };
enum cfg_unenrolled { CFG_UNENROLLED_DENY, CFG_UNENROLLED_GRACE };
/* [pam] local_users: accounts in passwd but not in the directory. */
enum cfg_local_users {
	CFG_LOCAL_IGNORE_SYSTEM, /* uid < 1000 ignored (PAM_IGNORE), others refused */
	CFG_LOCAL_IGNORE,        /* all ignored: the other modules of the stack decide */
	CFG_LOCAL_DENY,          /* all refused */
};
/*
 * [pam] password_age: which logins the maximum password age stops. A
 * login that used no password (an ssh key and a code) cannot be asked
 * for the password it did not give; with password-logins it is let in
 * with a warning and an audit record instead.
 */
enum cfg_password_age {
	CFG_PWAGE_PASSWORD_LOGINS, /* a change is forced only when the login used a password */
	CFG_PWAGE_ALL_LOGINS,      /* every login past the maximum must change it */
};
enum cfg_scope { CFG_SCOPE_ANY, CFG_SCOPE_REMOTE, CFG_SCOPE_LOCAL };
enum cfg_lock { CFG_LOCK_SHADOW, CFG_LOCK_PPOLICY };
/* [fleet] role: the one machine that governs a directory, or one that only enforces. */
enum cfg_role { CFG_ROLE_GOVERNOR, CFG_ROLE_HOST };
/* [fleet] mfa: where MFA enrolments and their state live. */
enum cfg_fleet_mfa {
	CFG_FLEET_MFA_LOCAL,     /* this machine's store: one host alone */
	CFG_FLEET_MFA_DIRECTORY, /* the directory, fleet-wide (token.h) */
};

/* The longest [fleet] name: what the lease names its holder by. */
#define CFG_FLEET_NAME_MAX 64
/* The shortest and longest [fleet] lease_ttl, seconds. */
#define CFG_LEASE_TTL_MIN 3
#define CFG_LEASE_TTL_MAX 86400

#define CFG_MAX_RULES 64
#define CFG_MAX_EXTENSIONS 4

struct cfg;

/*
 * Sections of idgov.conf that another library owns (reviews/ owns
 * [reviews] and [campaign NAME]). The owner describes them here and the
 * program passes the description to cfg_load_with(); core then hands the
 * owner each key of its sections and keeps the owner's data in the
 * struct cfg, where cfg_extension_data() finds it. Core knows the names
 * of these sections and nothing else about them: a program that does not
 * link the owner (pam_idgov.so) skips them, so a campaign in the file
 * never refuses a login, while any other unknown section stays an error.
 */
struct cfg_extension {
	const char *const
		*sections; /* NULL-terminated: "reviews", "campaign *" for [campaign NAME] */
	/* Allocates the data with its defaults; 0, or -1 with err. */
	int (*create)(void **data, struct idg_err *err);
	/* One key of section, on line; returns NULL, or why the value is wrong. */
	const char *(*set)(void *data, const char *section, const char *key, const char *value,
			   int line, struct idg_err *scratch);
	/* Checks across keys once the file is read (file names it in errors); 0 or -1 with err. */
	int (*validate)(void *data, const struct cfg *cfg, const char *file, struct idg_err *err);
	void (*destroy)(void *data);
};

/*
 * An access rule, from a [rule NAME] section. It applies to a login when
 * the user is listed in users or is in one of groups (both empty: every
 * user), the service is in services (empty: every service), and the scope
 * fits (remote: the login has a remote host or is a remote service; local:
 * console logins). An applicable rule must be satisfied in full.
 */
struct cfg_rule {
	char name[65];
	int line;
	char *users, *groups, *services; /* comma-separated lists */
	enum cfg_scope scope;
	struct time_window windows[TIMEWIN_MAX];
	size_t n_windows;
	char *times; /* as written, for messages */
	char *timezone;
	struct net_prefix nets[NET_MAX];
	size_t n_nets;
	char *networks;       /* as written, for messages */
	char *countries;      /* allowed country codes, comma-separated */
	char *deny_countries; /* refused country codes */
	unsigned given;       /* bit per key, to refuse repeats */
};

struct cfg {
	char *path;

	/* [directory] */
	char *dir_name; /* key of the sync state row */
	char *dir_uri;
	char *dir_base;
	char *dir_user_base;  /* optional; within base */
	char *dir_group_base; /* optional; within base */
	char *dir_bind_dn;
	char *dir_bind_password_file;
	enum cfg_tls dir_tls;
	char *dir_ca_file;
	int dir_page_size;
	int dir_timeout;
	char *dir_user_filter;
	char *dir_group_filter;
	int dir_nested_depth;
	double dir_max_departed_fraction;
	int dir_poll_interval;
	int dir_reconnect_max;

	/* [sync] */
	int64_t sync_guard_window; /* seconds over which departures count for the guard */
	char *sync_reconcile;      /* as written */
	char *sync_timezone;       /* IANA zone the schedule is read in */
	struct schedule sync_reconcile_sched; /* .none when off */

	/* [users]: directory attribute names */
	char *attr_uid;
	char *attr_display_name;
	char *attr_title;
	char *attr_department; /* falls back to ou when the entry has none */
	char *attr_mail;
	char *attr_uid_number;
	char *attr_manager;
	char *attr_locked;
	char *attr_shadow_expire;
	char *attr_shadow_last_change;
	char *attr_pwd_changed_time;
	char *attr_ns_account_lock;   /* TRUE disables; empty: not read */
	char *attr_login_shell;       /* one of nologin_shells disables; empty: not read */
	char *nologin_shells;         /* comma-separated paths */
	char *attr_status;            /* employeeType, accountStatus...; empty: not read */
	char *status_disabled_values; /* comma-separated; any value of attr_status among them */

	/* [groups] */
	char *attr_group_name;
	char *attr_gid_number;
	char *attr_member;
	char *attr_member_uid;
	char *attr_group_description;
	char *privileged_groups; /* comma-separated group names */

	/* [store] */
	char *store_path;
	char *master_key_file;
	char *audit_key_file;
	char *audit_pubkey_file;
	int audit_sign_every;
	char *audit_anchor_file; /* the head counter outside the store (anchor.h) */
	char *audit_anchor_dn;   /* directory entry idgovd publishes the head to; "": none */
	char *audit_anchor_attr; /* its attribute that holds "audit head seq=..." */
	char *audit_spool_dir;   /* events from idgov-authd and pam_idgov.so (spool.h) */
	char *backup_key_file;   /* encrypts backups; never the master key (backup.h) */

	/* [control] */
	char *socket_path;
	int max_request;
	int max_reply;           /* bytes; a larger reply becomes an error reply */
	int client_timeout;      /* seconds to send the request, and again to read the reply */
	int max_clients_per_uid; /* connections one uid may hold open (root: no limit) */
	char *daemon_user;       /* the only uid besides root the CLI accepts as idgovd */

	/* [authd] */
	char *authd_state;    /* the auth service's MFA state file; "": authd.db beside the store */
	char *authd_socket;   /* the auth service's socket (pam_idgov.so's socket=) */
	int authd_client_uid; /* a uid besides root that may connect (tests); 0: root only */
	int authd_max_children; /* requests served at once */

	/* [log] */
	char *log_socket;
	char *log_ident;

	/* [admin] */
	char *admin_group;

	/* [mfa] */
	char *mfa_issuer;
	int mfa_digits;
	int mfa_period;
	int mfa_window;
	int mfa_algorithm; /* enum totp_algorithm */
	int mfa_max_failures;
	int mfa_failure_interval;
	int mfa_lockout;
	int mfa_fail_delay_ms;
	char *mfa_prompt;
	enum cfg_unenrolled mfa_unenrolled;
	int64_t mfa_grace_until; /* UTC seconds; 0: none */
	int mfa_self_enroll;
	int mfa_reveal_enrolment; /* tell an unenrolled user so at once (else: the same prompt) */

	/* [password] */
	int pw_min_length;
	int pw_min_classes;
	int pw_history;
	int pw_min_age_days;
	int pw_max_age_days; /* 0: passwords do not expire */
	int pw_warn_days;
	char *pw_dictionary; /* cracklib dictionary path (no extension); empty: no check */

	/* [pam] */
	char *pam_break_glass; /* no longer used (break-glass needs codes); still parsed */
	int pam_local_users;   /* enum cfg_local_users */
	int pam_password_age;  /* enum cfg_password_age */

	/* [geo] */
	char *geo_database; /* .mmdb path; empty: none */
	char *geo_lookup_path;
	int geo_unknown_allow;

	/* [policy] */
	char *policy_remote_services; /* services that are remote logins even without a rhost */
	int policy_missing_rhost_allow;

	/* [grants] */
	int grant_approvers;          /* approvals a privileged grant needs */
	int64_t grant_max_duration;   /* seconds, for groups not in grant_group_max */
	char *grant_group_max;        /* "group=duration, ..." */
	int64_t grant_max_pending;    /* an unapproved request lapses after this */
	int64_t grant_ending_soon;    /* notice this long before an end */
	char *grant_enforce_services; /* PAM services refused while a removal is overdue */
	char *grant_sudo_base;        /* where sudoRole entries go; empty: no sudo grants */
	char *grant_sudo_command;     /* sudoCommand of those entries */
	char *grant_sudo_host;        /* sudoHost of those entries */
	int grant_retry_max;          /* longest wait between directory retries, seconds */

	/* [backup] */
	char *backup_schedule;     /* "every 8h" or "none", as written */
	int64_t backup_interval;   /* seconds between scheduled backups; 0: none */
	char *backup_targets;      /* comma-separated directories; "": no scheduled backups */
	int64_t backup_keep;       /* idgov's backups older than this are removed */
	char *backup_max_age_text; /* as written; "": no alert */
	int64_t backup_max_age;    /* alert when the newest backup is older; 0: off */

	/* [breakglass] */
	char *breakglass_group;
	int64_t breakglass_max_duration;

	/* [accounts]: temporary privileged accounts */
	char *acct_base;
	int acct_uid_min, acct_uid_max;
	int acct_gid_number;
	char *acct_home; /* %u is the account name */
	char *acct_shell;
	enum cfg_lock acct_lock;
	int64_t acct_max_duration;
	int64_t acct_retention;

	/* [notify] */
	char *notify_command; /* argv split on spaces; message on stdin; empty: none */
	char *notify_admin_mail;

	/* [web]: the web frontend as idgovd sees it */
	char *web_user;              /* the only user that may act on behalf of people; "": none */
	int64_t web_session_idle;    /* a session unused this long is over */
	int64_t web_session_max;     /* and any session this long after sign-in */
	int64_t web_signin_interval; /* failed sign-in steps are counted over this */
	int web_signin_max_failures; /* per user name within the interval */
	int web_signin_max_failures_addr; /* per client address within the interval */
	/* [web]: what idgov-web reads */
	char *web_listen; /* a numeric IPv4 or IPv6 address */
	int web_port;
	char *web_cert_file; /* PEM certificate (chain) */
	char *web_key_file;  /* PEM private key, readable by idgov-web's user only */
	char *web_url;       /* how people reach it, for links in mail; "": https://HOST:PORT */
	int web_max_request; /* bytes of a request body */
	int web_max_connections;
	int web_max_connections_per_addr;
	int web_threads;
	int64_t web_idgovd_timeout; /* a control call of idgov-web's gives up after this */

	/* [fleet]: one governor per directory, proven by a lease entry (lease.h) */
	int fleet_role;          /* enum cfg_role */
	char *fleet_name;        /* this machine in the lease; "" in the file: its host name */
	char *fleet_lease_dn;    /* the lease entry; "": no lease (a lone governor) */
	int64_t fleet_lease_ttl; /* seconds a claim lasts; renewed at a third of it */
	int fleet_mfa;           /* enum cfg_fleet_mfa */
	char *fleet_key_file;    /* the fleet key: seals TOTP secrets in the directory */
	char *fleet_providers; /* the shared order of providers for MFA writes; "": [directory] uri
				*/
	int fleet_timeout_ms;  /* how long one provider may take before the next is tried */
	int fleet_offline_allow; /* MFA logins with no provider reachable: 1 allowed, 0 refused */

	/* Sections other libraries own, with their parsed data. */
	const struct cfg_extension *ext[CFG_MAX_EXTENSIONS];
	void *ext_data[CFG_MAX_EXTENSIONS];
	size_t n_ext;

	/* [rule NAME] sections, in file order */
	struct cfg_rule *rules;
	size_t n_rules;
};

/* Loads and validates path. On success *out owns a new configuration. */
int cfg_load(const char *path, struct cfg **out, struct idg_err *err);

/* Same, from a string (tests); name is used in error messages. */
int cfg_load_string(const char *text, const char *name, struct cfg **out, struct idg_err *err);

/* The same with the sections of other libraries parsed by them (exts: NULL-terminated). */
int cfg_load_with(const char *path, const struct cfg_extension *const *exts, struct cfg **out,
		  struct idg_err *err);
int cfg_load_string_with(const char *text, const char *name,
			 const struct cfg_extension *const *exts, struct cfg **out,
			 struct idg_err *err);

/* The data ext keeps in cfg, or NULL when cfg was loaded without ext. */
void *cfg_extension_data(const struct cfg *cfg, const struct cfg_extension *ext);

void cfg_free(struct cfg *cfg);

/* The longest grant of group cn: its [grants] group_max_duration, else max_duration. */
int64_t cfg_group_max_duration(const struct cfg *cfg, const char *cn);

/* The NAME of [rule NAME] and [campaign NAME]: letters, digits, - _ and ., 1 to 64. */
int cfg_valid_section_name(const char *name);

/*
 * A password that would cross the network in clear: bind_dn is set, tls is
 * none, and the URI names a host other than this machine (ldapi://,
 * localhost, 127.0.0.0/8 and ::1 are this machine). Returns 1 with a
 * warning for people in buf, else 0. Not an error, since a site may
 * protect the link otherwise (an IPsec tunnel), but it is said loudly:
 * idgovd logs it at start and reload, idgov status and sync print it.
 */
int cfg_plain_bind_warning(const struct cfg *cfg, char *buf, size_t size);

/* Value parsers shared with the owners of other sections: NULL, or why v is wrong. */
const char *cfg_parse_int(const char *v, long min, long max, int *out);
const char *cfg_parse_bool(const char *v, int *out); /* yes | no */

/* True if the comma-separated list `list` names `item` (case-insensitive). */
int cfg_list_contains(const char *list, const char *item);

#endif
