/*
 * Writes to the directory that governance decides: group memberships
 * added and removed, entries created, locked and deleted.
 *
 * Every operation is idempotent, because the journal may replay one
 * after a crash: adding a value that is already there, or removing one
 * (or an entry) that is already gone, is success, and the result says
 * which happened. An error is either transient (the server is down, busy
 * or slow: try again later) or permanent (the server refuses the change:
 * retrying will not help).
 */
#ifndef IDGOV_DIRWRITE_H
#define IDGOV_DIRWRITE_H

#include "config.h"

#include <jansson.h>
#include <ldap.h>

enum dirw_status { DIRW_OK, DIRW_TRANSIENT, DIRW_PERMANENT };

#define DIRW_RESULT_LEN 128

/*
 * Adds a member to a group the way its object classes hold members:
 * member_dn in the member attribute of a groupOfNames, uid in the
 * memberUid of a posixGroup, both for a group that is both. result gets
 * "member=added,memberUid=present" and so on: what this call really
 * added, so that del_member removes only that.
 */
enum dirw_status dirw_add_member(const struct cfg *cfg, LDAP *ld, const char *group_dn,
				 const char *member_dn, const char *uid,
				 char result[DIRW_RESULT_LEN], struct idg_err *err);

/* Removes the values that an earlier dirw_add_member result says it added. */
enum dirw_status dirw_del_member(const struct cfg *cfg, LDAP *ld, const char *group_dn,
				 const char *member_dn, const char *uid, const char *added,
				 char result[DIRW_RESULT_LEN], struct idg_err *err);

/* Creates dn with attrs, a JSON object of attribute -> array of strings. */
enum dirw_status dirw_add_entry(LDAP *ld, const char *dn, json_t *attrs,
				char result[DIRW_RESULT_LEN], struct idg_err *err);

/* Replaces attr of dn with the single value. */
enum dirw_status dirw_replace(LDAP *ld, const char *dn, const char *attr, const char *value,
			      char result[DIRW_RESULT_LEN], struct idg_err *err);

/* Removes one value of attr from dn; already absent (or no entry) is success. */
enum dirw_status dirw_del_value(LDAP *ld, const char *dn, const char *attr, const char *value,
				char result[DIRW_RESULT_LEN], struct idg_err *err);

/* One value removal of a pipelined batch, and its outcome. */
struct dirw_del {
	const char *dn, *attr, *value;
	enum dirw_status status;
	char result[DIRW_RESULT_LEN];
	struct idg_err err;
};

/*
 * Removes many values with their requests in flight together (slapd
 * works on several at once), each judged as dirw_del_value would. On a
 * transient failure the ones after it are transient too: retry them.
 */
void dirw_del_values(LDAP *ld, struct dirw_del *ops, size_t n, int timeout);

enum dirw_status dirw_delete_entry(LDAP *ld, const char *dn, char result[DIRW_RESULT_LEN],
				   struct idg_err *err);

#endif
