/* Idempotent directory writes; see dirwrite.h. */
#include "dirwrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum dirw_status
ldap_failure(int rc, const char *what, const char *dn, struct idg_err *err)
{
	int transient = rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
			rc == LDAP_TIMELIMIT_EXCEEDED || rc == LDAP_BUSY ||
			rc == LDAP_UNAVAILABLE || rc == LDAP_NO_MEMORY || rc == LDAP_LOCAL_ERROR ||
			rc == LDAP_OTHER;

	idg_seterr(err, "%s %s: %s", what, dn, ldap_err2string(rc));
	return transient ? DIRW_TRANSIENT : DIRW_PERMANENT;
}

/* One value added to or removed from one attribute. */
static int
modify_value(LDAP *ld, int op, const char *dn, const char *attr, const char *value)
{
	char *vals[] = {idg_unconst(value), NULL};
	LDAPMod mod = {.mod_op = op, .mod_type = idg_unconst(attr), .mod_values = vals};
	LDAPMod *mods[] = {&mod, NULL};

	return ldap_modify_ext_s(ld, dn, mods, NULL, NULL);
}

static int
bv_is(const struct berval *v, const char *word)
{
	return v->bv_len == strlen(word) && strncasecmp(v->bv_val, word, v->bv_len) == 0;
}

/* Which member attributes the group's object classes call for. */
static enum dirw_status
group_kinds(LDAP *ld, const char *group_dn, int *names, int *posix, struct idg_err *err)
{
	char *attrs[] = {"objectClass", NULL};
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	int rc;

	*names = *posix = 0;
	rc = ldap_search_ext_s(ld, group_dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL,
			       NULL, NULL, 1, &res);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return ldap_failure(rc, "reading group", group_dn, err);
	}
	e = ldap_first_entry(ld, res);
	vals = e != NULL ? ldap_get_values_len(ld, e, "objectClass") : NULL;
	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		const struct berval *v = vals[i];

		*names |= bv_is(v, "groupOfNames");
		*posix |= bv_is(v, "posixGroup");
	}
	ldap_value_free_len(vals);
	ldap_msgfree(res);
	if (!*names && !*posix) {
		idg_seterr(err, "group %s is neither a groupOfNames nor a posixGroup", group_dn);
		return DIRW_PERMANENT;
	}
	return DIRW_OK;
}

enum dirw_status
dirw_add_member(const struct cfg *cfg, LDAP *ld, const char *group_dn, const char *member_dn,
		const char *uid, char result[DIRW_RESULT_LEN], struct idg_err *err)
{
	const char *attr[2] = {cfg->attr_member, cfg->attr_member_uid};
	const char *value[2] = {member_dn, uid};
	enum dirw_status st;
	int want[2];
	size_t len = 0;

	result[0] = '\0';
	if ((st = group_kinds(ld, group_dn, &want[0], &want[1], err)) != DIRW_OK)
		return st;
	for (int i = 0; i < 2; i++) {
		int rc;

		if (!want[i])
			continue;
		rc = modify_value(ld, LDAP_MOD_ADD, group_dn, attr[i], value[i]);
		if (rc != LDAP_SUCCESS && rc != LDAP_TYPE_OR_VALUE_EXISTS)
			return ldap_failure(rc, "adding a member to", group_dn, err);
		len += (size_t)snprintf(result + len, DIRW_RESULT_LEN - len, "%s%s=%s",
					len ? "," : "", attr[i],
					rc == LDAP_SUCCESS ? "added" : "present");
		if (len >= DIRW_RESULT_LEN)
			len = DIRW_RESULT_LEN - 1;
	}
	return DIRW_OK;
}

/* True if the add_member result `added` says attr=added. */
static int
was_added(const char *added, const char *attr)
{
	char want[DIRW_RESULT_LEN];
	const char *p = added;
	size_t n;

	if (added == NULL)
		return 0;
	snprintf(want, sizeof(want), "%s=added", attr);
	n = strlen(want);
	while ((p = strstr(p, want)) != NULL) {
		if ((p == added || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

enum dirw_status
dirw_del_member(const struct cfg *cfg, LDAP *ld, const char *group_dn, const char *member_dn,
		const char *uid, const char *added, char result[DIRW_RESULT_LEN],
		struct idg_err *err)
{
	const char *attr[2] = {cfg->attr_member, cfg->attr_member_uid};
	const char *value[2] = {member_dn, uid};
	size_t len = 0;

	result[0] = '\0';
	for (int i = 0; i < 2; i++) {
		int rc;

		if (!was_added(added, attr[i]))
			continue;
		rc = modify_value(ld, LDAP_MOD_DELETE, group_dn, attr[i], value[i]);
		if (rc == LDAP_NO_SUCH_OBJECT) {
			snprintf(result, DIRW_RESULT_LEN, "group gone");
			return DIRW_OK;
		}
		if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_ATTRIBUTE)
			return ldap_failure(rc, "removing a member from", group_dn, err);
		len += (size_t)snprintf(result + len, DIRW_RESULT_LEN - len, "%s%s=%s",
					len ? "," : "", attr[i],
					rc == LDAP_SUCCESS ? "removed" : "absent");
		if (len >= DIRW_RESULT_LEN)
			len = DIRW_RESULT_LEN - 1;
	}
	if (len == 0)
		snprintf(result, DIRW_RESULT_LEN, "nothing added");
	return DIRW_OK;
}

static void
free_mods(LDAPMod **mods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(mods[i]->mod_values);
		free(mods[i]);
	}
	free(mods);
}

enum dirw_status
dirw_add_entry(LDAP *ld, const char *dn, json_t *attrs, char result[DIRW_RESULT_LEN],
	       struct idg_err *err)
{
	size_t n = json_object_size(attrs), i = 0;
	LDAPMod **mods;
	const char *key;
	json_t *vals;
	int rc;

	result[0] = '\0';
	if (!json_is_object(attrs) || n == 0) {
		idg_seterr(err, "entry %s has no attributes", dn);
		return DIRW_PERMANENT;
	}
	mods = calloc(n + 1, sizeof(*mods));
	if (mods == NULL)
		return ldap_failure(LDAP_NO_MEMORY, "creating", dn, err);
	json_object_foreach(attrs, key, vals)
	{
		size_t nv = json_array_size(vals);
		LDAPMod *m = calloc(1, sizeof(*m));
		char **v = calloc(nv + 1, sizeof(*v));

		if (m == NULL || v == NULL) {
			free(m);
			free(v);
			free_mods(mods, i);
			return ldap_failure(LDAP_NO_MEMORY, "creating", dn, err);
		}
		for (size_t j = 0; j < nv; j++)
			v[j] = idg_unconst(json_string_value(json_array_get(vals, j)));
		*m = (LDAPMod){
			.mod_op = LDAP_MOD_ADD, .mod_type = idg_unconst(key), .mod_values = v};
		mods[i++] = m;
	}
	rc = ldap_add_ext_s(ld, dn, mods, NULL, NULL);
	free_mods(mods, i);
	if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS)
		return ldap_failure(rc, "creating", dn, err);
	snprintf(result, DIRW_RESULT_LEN, "%s", rc == LDAP_SUCCESS ? "created" : "exists");
	return DIRW_OK;
}

enum dirw_status
dirw_replace(LDAP *ld, const char *dn, const char *attr, const char *value,
	     char result[DIRW_RESULT_LEN], struct idg_err *err)
{
	int rc = modify_value(ld, LDAP_MOD_REPLACE, dn, attr, value);

	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
		return ldap_failure(rc, "changing", dn, err);
	snprintf(result, DIRW_RESULT_LEN, "%s", rc == LDAP_SUCCESS ? "replaced" : "entry gone");
	return DIRW_OK;
}

/* The outcome of a value removal, whether it was sent alone or in a batch. */
static enum dirw_status
del_value_outcome(int rc, const char *dn, const char *attr, char result[DIRW_RESULT_LEN],
		  struct idg_err *err)
{
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_ATTRIBUTE && rc != LDAP_NO_SUCH_OBJECT)
		return ldap_failure(rc, "removing a value from", dn, err);
	snprintf(result, DIRW_RESULT_LEN, "%s=%s", attr,
		 rc == LDAP_SUCCESS          ? "removed"
		 : rc == LDAP_NO_SUCH_OBJECT ? "entry gone"
					     : "absent");
	return DIRW_OK;
}

enum dirw_status
dirw_del_value(LDAP *ld, const char *dn, const char *attr, const char *value,
	       char result[DIRW_RESULT_LEN], struct idg_err *err)
{
	return del_value_outcome(modify_value(ld, LDAP_MOD_DELETE, dn, attr, value), dn, attr,
				 result, err);
}

void
dirw_del_values(LDAP *ld, struct dirw_del *ops, size_t n, int timeout)
{
	struct timeval tv = {timeout, 0};
	int *msgid = calloc(n, sizeof(*msgid));
	size_t sent = 0;

	for (; msgid != NULL && sent < n; sent++) {
		char *vals[] = {idg_unconst(ops[sent].value), NULL};
		LDAPMod mod = {.mod_op = LDAP_MOD_DELETE,
			       .mod_type = idg_unconst(ops[sent].attr),
			       .mod_values = vals};
		LDAPMod *mods[] = {&mod, NULL};

		if (ldap_modify_ext(ld, ops[sent].dn, mods, NULL, NULL, &msgid[sent]) !=
		    LDAP_SUCCESS)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		LDAPMessage *res = NULL;
		int rc = LDAP_SERVER_DOWN, err_rc, got = 0;

		if (i < sent && (got = ldap_result(ld, msgid[i], LDAP_MSG_ALL, &tv, &res)) > 0 &&
		    ldap_parse_result(ld, res, &err_rc, NULL, NULL, NULL, NULL, 0) == LDAP_SUCCESS)
			rc = err_rc;
		else if (got == 0 && i < sent)
			rc = LDAP_TIMEOUT;
		ldap_msgfree(res);
		ops[i].status =
			del_value_outcome(rc, ops[i].dn, ops[i].attr, ops[i].result, &ops[i].err);
	}
	free(msgid);
}

enum dirw_status
dirw_delete_entry(LDAP *ld, const char *dn, char result[DIRW_RESULT_LEN], struct idg_err *err)
{
	int rc = ldap_delete_ext_s(ld, dn, NULL, NULL);

	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
		return ldap_failure(rc, "deleting", dn, err);
	snprintf(result, DIRW_RESULT_LEN, "%s", rc == LDAP_SUCCESS ? "deleted" : "absent");
	return DIRW_OK;
}
