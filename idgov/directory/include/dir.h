/*
 * The directory (LDAP) side: connecting and binding as configured, and
 * turning an LDAP entry into a struct dir_entry that the mirror can store.
 *
 * Everything that comes from the directory is untrusted input: values are
 * length-checked, numbers are parsed strictly, DNs are normalised. No entry
 * is skipped for what one of its values holds (that would leave a lock in
 * the same change unapplied): a display value over DIR_MAX_VALUE bytes is
 * cut at a UTF-8 character boundary, one that is not UTF-8 text is stored
 * as absent, each with a warning (struct dir_warning); a security value
 * (lock, status, expiry, shell) that cannot be read disables the account
 * (disabled_reason says which), it never reads as "not set". Only an entry
 * without a usable entryUUID or DN is skipped.
 */
#ifndef IDGOV_DIR_H
#define IDGOV_DIR_H

#include "config.h"

#include <ldap.h>
#include <stdint.h>

#define DIR_UUID_LEN 36
#define DIR_MAX_DN 4096
#define DIR_MAX_VALUE 1024
/* The most of a member value that is not a usable DN (kept as unresolved) that is stored. */
#define DIR_MAX_MEMBER_RAW 8192

enum dir_kind { DIR_OTHER, DIR_USER, DIR_GROUP };

struct token; /* token.h */

/* An attribute of an entry that could not be stored as the directory holds it. */
struct dir_warning {
	const char *attr;    /* the attribute's name (the config's storage) */
	const char *problem; /* static text: "truncated to 1024 bytes", ... */
};
#define DIR_MAX_WARNINGS 8
#define DIR_REASON_MAX 160

struct dir_entry {
	enum dir_kind kind;
	char uuid[DIR_UUID_LEN + 1];
	char *dn;
	char *dn_norm;
	/* users */
	char *uid, *display_name, *mail, *manager_norm, *locked;
	char *title, *department;   /* for people who read a review: cut like display_name */
	int64_t uid_number;         /* -1: absent */
	int64_t shadow_expire;      /* -1: absent */
	int64_t shadow_last_change; /* days since the epoch; -1: absent */
	int64_t pwd_changed_at;     /* UTC seconds; -1: absent */
	/* Why the account is disabled (a lock, a status, an unreadable value); NULL: it is not. */
	char *disabled_reason;
	struct dir_warning warnings[DIR_MAX_WARNINGS];
	size_t n_warnings;
	/* groups */
	char *cn;
	char *description;  /* what the group is for, cut like display_name */
	int64_t gid_number; /* -1: absent */
	char **members; /* normalised DNs, and raw values that are not usable DNs; sorted, unique */
	size_t n_members;
	size_t n_members_raw; /* how many of members are raw (not a DN, or over DIR_MAX_DN) */
	char **member_uids;   /* sorted, unique */
	size_t n_member_uids;
	/*
	 * users, with [fleet] mfa = directory: the token.h attributes. NONE:
	 * not asked for (another mode, or not a user); ABSENT: none (the entry has no token and no
	 * last-login stamp); PRESENT: in token (malloc'd); UNREADABLE: a value is malformed (a
	 * warning says so), so the mirror's copy is marked unusable, never "unlocked".
	 */
	enum dir_token_state {
		DIR_TOKEN_NONE,
		DIR_TOKEN_ABSENT,
		DIR_TOKEN_PRESENT,
		DIR_TOKEN_UNREADABLE
	} token_state;
	struct token *token;
};

/* Connects, sets options (v3, timeouts, TLS) and binds. */
int dir_connect(const struct cfg *cfg, LDAP **out, struct idg_err *err);

/* Connects and sets the same options, StartTLS included, but does not bind. */
int dir_open(const struct cfg *cfg, LDAP **out, struct idg_err *err);

/*
 * Connects and binds once, and lets go: 0 when the directory takes the
 * configured credentials, DIR_UNREACHABLE (err says why) when it cannot be
 * reached (down, timed out: worth retrying), -1 when it refuses them or the
 * bind password file or TLS fails (retrying will not help).
 */
#define DIR_UNREACHABLE 1
int dir_check(const struct cfg *cfg, struct idg_err *err);

/*
 * Connects to the one uri given, with timeout_ms (at least 1) for the
 * connection and, on the handle returned, for each synchronous
 * operation, and binds with [directory] bind_dn / bind_password_file and
 * the TLS settings of dir_connect(). 0 with *out, DIR_UNREACHABLE (down,
 * timed out), or -1 (credentials, TLS, password file: retrying will not
 * help); err says which server and why.
 */
int dir_connect_uri(const struct cfg *cfg, const char *uri, int timeout_ms, LDAP **out,
		    struct idg_err *err);

/* True if an LDAP result code means the server could not be reached or answer in time. */
int dir_unreachable_rc(int ldrc);

/*
 * A modify that the directory applies only if the entry matches the
 * filter assertion (RFC 4528 assertion control, critical): the whole
 * modify or nothing. With permissive, also the permissive modify control
 * (adding a value that is there, or deleting one that is not, is no
 * error). Returns the LDAP result: LDAP_SUCCESS, LDAP_ASSERTION_FAILED
 * when the entry did not match, or whatever else the server or libldap
 * said.
 */
int dir_modify_asserted(LDAP *ld, const char *dn, LDAPMod **mods, const char *assertion,
			int permissive);

/* True if the server's root DSE advertises the RFC 4533 sync request control. */
int dir_supports_sync(LDAP *ld);

/* The attributes idgov asks for (NULL-terminated, static storage in cfg order). */
#define DIR_MAX_ATTRS 48
void dir_attrs(const struct cfg *cfg, char *attrs[DIR_MAX_ATTRS]);

/* The sync filter: (|user_filter group_filter). Caller frees. */
char *dir_sync_filter(const struct cfg *cfg);

/*
 * Parses an entry. uuid_raw is the 16-byte entryUUID from a sync state
 * control, or NULL to read the entryUUID attribute. Returns 0 and fills e
 * (kind DIR_OTHER for entries outside the configured user and group
 * bases), or -1 with err set for an entry that must be skipped: one
 * without a valid entryUUID or DN (or out of memory), never for a value.
 */
int dir_parse_entry(const struct cfg *cfg, LDAP *ld, LDAPMessage *msg,
		    const struct berval *uuid_raw, struct dir_entry *e, struct idg_err *err);
void dir_entry_free(struct dir_entry *e);

/* Formats a 16-byte UUID as 36 characters plus NUL. Returns -1 if len is not 16. */
int dir_uuid_format(const struct berval *raw, char out[DIR_UUID_LEN + 1]);

/*
 * Normalises a DN the way the directory matches it (dn.c: RFC 4514 form,
 * attribute types and values case-folded, multi-valued RDNs sorted).
 * Returns NULL if it is not a DN, not UTF-8, or longer than DIR_MAX_DN.
 */
char *dir_dn_normalize(const char *dn);
/* The same for the len bytes at dn (no NUL among them: NULL if there is one). */
char *dir_dn_normalize_len(const char *dn, size_t len);

/*
 * The longest prefix of s (len bytes of valid UTF-8) that fits in max bytes
 * and ends on a character boundary.
 */
size_t dir_utf8_cut(const char *s, size_t len, size_t max);
/* 1 if the len bytes at s are valid UTF-8 without a NUL, else 0. */
int dir_utf8_text(const char *s, size_t len);

/* Parses an LDAP GeneralizedTime in UTC ("20261126083000Z", fractions allowed); -1 if malformed. */
int64_t dir_generalized_time(const char *s);

/* True if dn equals base or lies below it (both normalised). */
int dir_dn_within(const char *dn_norm, const char *base_norm);

#endif
