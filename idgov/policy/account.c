/* Account state, the whole login decision, and session records; see account.h. */
#include "account.h"

#include "casefold.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A temporary account is usable only while its grant is active and before
 * its end, whatever the directory still says: the store knows the end even
 * if locking the entry has not reached the directory yet.
 */
static int
temporary_check(struct store *st, const char *uid, int64_t now, enum account_decision *d,
		const char **rule, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    st,
		    "SELECT state = 'active' AND start_at <= ?2 AND end_at > ?2 FROM grants "
		    "WHERE kind = 'account' AND account_name = ?1 AND state NOT IN "
		    "('requested', 'denied', 'lapsed') ORDER BY id DESC LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_int(s, 0) == 0) {
		*d = ACCOUNT_ENDED;
		*rule = "account.temporary_ended";
	}
	store_release(st, s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_err(st, err, "reading grants");
}

int
account_is_temporary(struct store *st, const char *uid, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    st, "SELECT 1 FROM grants WHERE kind = 'account' AND account_name = ?1", &s,
		    err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading grants");
	return rc == SQLITE_ROW;
}

/*
 * On the services that use privilege (sudo, su), a grant whose end has
 * passed but whose removal the directory has not confirmed is refused
 * here: the directory may still list the membership, the store knows it
 * is over. The grant's end alone counts too, so this holds while idgovd
 * is down and has not even decided the expiry yet.
 */
static int
check_overdue_grants(struct store *st, const struct cfg *cfg, const char *user, const char *service,
		     int64_t now, policy_report_fn report, void *arg, struct access_verdict *v,
		     struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (service == NULL || !cfg_list_contains(cfg->grant_enforce_services, service))
		return 0;
	if (store_prepare_cached(
		    st,
		    "SELECT g.id, coalesce(g.group_cn, ''), g.end_at FROM grants g WHERE "
		    "g.grantee = ?1 AND g.kind = 'group' AND ((g.state = 'active' AND "
		    "g.end_at <= ?2) OR (g.state IN ('expired', 'revoked') AND EXISTS (SELECT "
		    "1 FROM dir_journal j WHERE j.grant_id = g.id AND j.op = 'del_member' AND "
		    "j.state != 'done'))) ORDER BY g.id LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		v->allowed = 0;
		snprintf(v->rule, sizeof(v->rule), "rule grant.overdue");
		snprintf(v->why, sizeof(v->why),
			 "grant #%lld of %.64s has ended; its removal from the directory is "
			 "still pending",
			 (long long)sqlite3_column_int64(s, 0),
			 (const char *)sqlite3_column_text(s, 1));
	}
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading grants");
	if (report != NULL)
		report(arg, "grant.overdue", "grants", rc != SQLITE_ROW,
		       rc == SQLITE_ROW ? v->why : "no ended grant is waiting for removal");
	return 0;
}

int
account_name_valid(const char *name, struct idg_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > ACCOUNT_NAME_MAX)
		return idg_seterr(err, "a user name has 1 to %d bytes", ACCOUNT_NAME_MAX);
	if (name[0] == ' ' || name[0] == '\t' || name[n - 1] == ' ' || name[n - 1] == '\t')
		return idg_seterr(err, "a user name may not begin or end with white space");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return idg_seterr(err, "a user name may not hold control characters");
	return 0;
}

/* True if name has a byte outside ASCII. */
static int
has_non_ascii(const char *name)
{
	for (; *name != '\0'; name++)
		if ((unsigned char)*name >= 0x80)
			return 1;
	return 0;
}

/*
 * The spellings of a non-ASCII name: SQLite's NOCASE folds ASCII only, so
 * a name with U+00C4 would never find a uid with U+00E4. Each uid holding a
 * non-ASCII byte (only such a uid can fold to a non-ASCII name) is folded
 * (casefold.h) and compared; a scan, but only of those uids and only for a
 * name that needs it. Counts the distinct spellings as the NOCASE query
 * does: *n of them, *exact if one is name itself, canon the exact one or
 * else the first.
 */
static int
folded_spellings(struct store *st, const char *name, char *canon, size_t size, int *n, int *exact,
		 struct idg_err *err)
{
	sqlite3_stmt *s;
	char *want = NULL, *have = NULL;
	size_t want_len, have_len;
	int rc;

	if (idg_casefold(name, strlen(name), &want, &want_len) != 0)
		return 0; /* not UTF-8: no uid can match it */
	if (store_prepare_cached(
		    st,
		    "SELECT DISTINCT uid FROM users WHERE length(CAST(uid AS BLOB)) <> "
		    "length(uid)",
		    &s, err) != 0) {
		free(want);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *uid = (const char *)sqlite3_column_text(s, 0);

		if (uid == NULL ||
		    idg_casefold(uid, (size_t)sqlite3_column_bytes(s, 0), &have, &have_len) != 0)
			continue;
		if (have_len == want_len && memcmp(have, want, want_len) == 0) {
			int is_exact = strcmp(uid, name) == 0;

			if (*n == 0 || is_exact)
				idg_strlcpy(canon, uid, size);
			*exact |= is_exact;
			(*n)++;
		}
		free(have);
	}
	store_release(st, s);
	free(want);
	if (rc != SQLITE_DONE)
		return store_err(st, err, "looking up a user name");
	return 0;
}

int
account_canonical_uid(struct store *st, const char *name, char *canon, size_t size,
		      struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc, found = 0, exact = 0, n = 0;

	idg_strlcpy(canon, name, size);
	if (has_non_ascii(name)) {
		if (folded_spellings(st, name, canon, size, &n, &exact, err) != 0)
			return -1;
		found = n == 1 || (n > 1 && exact);
		if (!found)
			idg_strlcpy(canon, name, size);
		return found;
	}
	/*
	 * The spellings the NOCASE index of schema/008 finds, told apart here
	 * (a uid re-used after a departure has two rows of one spelling): an
	 * exact one ends the search. Neither DISTINCT nor ORDER BY, which would
	 * build a temporary b-tree on every login for the one or two rows.
	 */
	if (store_prepare_cached(st, "SELECT uid FROM users WHERE uid = ?1 COLLATE NOCASE", &s,
				 err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *spelling = (const char *)sqlite3_column_text(s, 0);

		if (spelling == NULL)
			continue;
		if (strcmp(spelling, name) == 0) {
			exact = 1;
			break;
		}
		if (n == 0) {
			idg_strlcpy(canon, spelling, size);
			n = 1;
		} else if (strcmp(spelling, canon) != 0) {
			n = 2;
		}
	}
	store_release(st, s);
	if (!exact && rc != SQLITE_DONE)
		return store_err(st, err, "looking up a user name");
	if (exact) {
		idg_strlcpy(canon, name, size);
		return 1;
	}
	/* Two spellings that differ only in case, neither exact: which one is meant is unknown. */
	found = n == 1;
	if (!found)
		idg_strlcpy(canon, name, size);
	return found;
}

int
account_check(struct store *st, const char *uid, int64_t now, enum account_decision *d,
	      const char **rule, char *reason, size_t size, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*d = ACCOUNT_OK;
	*rule = NULL;
	if (size > 0)
		reason[0] = '\0';
	/*
	 * The same state status, user list and user show print (query.h). An
	 * active row wins over departed namesakes (a uid reused after a leaver).
	 */
	if (store_prepare_cached(st,
				 "SELECT " QUERY_STATE_SQL ", " QUERY_REASON_SQL
				 " FROM users WHERE uid = :uid "
				 "ORDER BY status = 'departed' LIMIT 1",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":uid"), uid, -1, SQLITE_STATIC);
	query_bind_day(s, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		*d = ACCOUNT_UNKNOWN;
		*rule = "account.unknown";
	} else if (rc == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 0);
		const char *why = (const char *)sqlite3_column_text(s, 1);

		if (strcmp(state, "departed") == 0) {
			*d = ACCOUNT_DEPARTED;
			*rule = "account.departed";
		} else if (strcmp(state, "disabled") == 0) {
			*d = ACCOUNT_DISABLED;
			*rule = "account.disabled";
		} else if (strcmp(state, "expired") == 0) {
			*d = ACCOUNT_EXPIRED;
			*rule = "account.expired";
		}
		if (why != NULL && size > 0)
			idg_strlcpy(reason, why, size);
	}
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading account");
	if (*d == ACCOUNT_OK)
		return temporary_check(st, uid, now, d, rule, err);
	return 0;
}

static const char *const state_words[] = {
	[ACCOUNT_OK] = "active",
	[ACCOUNT_UNKNOWN] = "not in the directory",
	[ACCOUNT_DEPARTED] = "departed (removed from the directory)",
	[ACCOUNT_DISABLED] = "disabled",
	[ACCOUNT_EXPIRED] = "expired",
	[ACCOUNT_ENDED] = "a temporary account past its end",
};

/* The user's effective group names, for rules that name groups. */
static int
user_groups(struct store *st, const struct cfg *cfg, const char *user, const char ***names,
	    size_t *n, json_t **holder, struct idg_err *err)
{
	json_t *groups = query_user_groups(st, user, cfg->dir_nested_depth, err), *g;
	size_t i;

	*names = NULL;
	*n = 0;
	*holder = groups;
	if (groups == NULL)
		return -1;
	*names = calloc(json_array_size(groups) + 1, sizeof(**names));
	if (*names == NULL)
		return idg_seterr(err, "out of memory");
	json_array_foreach(groups, i, g)
	{
		(*names)[(*n)++] = json_string_value(json_object_get(g, "name"));
	}
	return 0;
}

/* One number from sql with user bound to ?1 into *t (left as it is when there is no row). */
static int
read_time(struct store *st, const char *sql, const char *user, int64_t *t, int *found,
	  struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st, sql, &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*found = rc == SQLITE_ROW;
	if (*found && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*t = sqlite3_column_int64(s, 0);
	store_release(st, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading password age");
	return 0;
}

/*
 * The last known password change of a directory user, in UTC seconds, or
 * -1 if none is known: the later of the directory's (shadowLastChange,
 * pwdChangedTime, in the store st) and idgov's record of a change made
 * through the password stack (the state file, when given).
 */
static int
last_password_change(struct store *st, struct store *state, const char *user, int64_t *t,
		     struct idg_err *err)
{
	int64_t recorded = -1;
	int found;

	*t = -1;
	if (read_time(st,
		      "SELECT max(coalesce(shadow_last_change * 86400, -1), "
		      "coalesce(pwd_changed_at, -1)) FROM users WHERE uid = ?1 "
		      "ORDER BY status = 'departed' LIMIT 1",
		      user, t, &found, err) != 0)
		return -1;
	if (!found || state == NULL)
		return 0;
	if (read_time(state, "SELECT max(changed_at) FROM password_history WHERE uid = ?1", user,
		      &recorded, &found, err) != 0)
		return -1;
	if (recorded > *t)
		*t = recorded;
	return 0;
}

static int
check_password_age(struct store *st, struct store *state, const struct cfg *cfg, const char *user,
		   int64_t now, policy_report_fn report, void *arg, struct access_verdict *v,
		   struct idg_err *err)
{
	int64_t last, expires;
	char why[160];

	if (cfg->pw_max_age_days == 0 || last_password_change(st, state, user, &last, err) != 0)
		return cfg->pw_max_age_days == 0 ? 0 : -1;
	if (last < 0) {
		if (report != NULL)
			report(arg, "password.max_age", "age", 1,
			       "no password change is on record");
		return 0;
	}
	expires = last + (int64_t)cfg->pw_max_age_days * 86400;
	if (now >= expires) {
		v->password_expired = 1;
		snprintf(v->rule, sizeof(v->rule), "rule password.max_age");
		snprintf(why, sizeof(why), "the password is %lld days old; the maximum is %d",
			 (long long)((now - last) / 86400), cfg->pw_max_age_days);
		idg_strlcpy(v->why, why, sizeof(v->why));
	} else {
		if (expires - now <= (int64_t)cfg->pw_warn_days * 86400)
			v->password_warn_days = (int)((expires - now + 86399) / 86400);
		snprintf(why, sizeof(why), "the password expires in %lld days",
			 (long long)((expires - now + 86399) / 86400));
	}
	if (report != NULL)
		report(arg, "password.max_age", "age", !v->password_expired, why);
	return 0;
}

int
account_decide(struct store *st, struct store *state, const struct cfg *cfg, const char *user,
	       const char *service, const char *rhost, int64_t now, policy_report_fn report,
	       void *arg, struct access_verdict *v, struct idg_err *err)
{
	struct policy_input in = {user, NULL, 0, service, rhost, now};
	struct policy_decision d;
	const char *rule, **groups = NULL;
	char reason[160];
	json_t *holder = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	v->password_warn_days = -1;
	if (account_check(st, user, now, &v->state, &rule, reason, sizeof(reason), err) != 0)
		return -1;
	if (reason[0] != '\0')
		snprintf(v->why, sizeof(v->why), "the account is %s: %s", state_words[v->state],
			 reason);
	else
		snprintf(v->why, sizeof(v->why), "the account is %s", state_words[v->state]);
	if (report != NULL)
		report(arg, "account", "state", v->state == ACCOUNT_OK, v->why);
	if (v->state != ACCOUNT_OK) {
		snprintf(v->rule, sizeof(v->rule), "rule %s", rule);
		return 0;
	}
	if (user_groups(st, cfg, user, &groups, &in.n_groups, &holder, err) != 0) {
		free(groups);
		json_decref(holder);
		return -1;
	}
	in.groups = groups;
	rc = policy_evaluate(cfg, &in, report, arg, &d, err);
	free(groups);
	json_decref(holder);
	if (rc != 0)
		return -1;
	v->allowed = d.allowed;
	if (!d.allowed) {
		idg_strlcpy(v->rule, d.rule, sizeof(v->rule));
		idg_strlcpy(v->why, d.why, sizeof(v->why));
		return 0;
	}
	if (check_overdue_grants(st, cfg, user, service, now, report, arg, v, err) != 0)
		return -1;
	if (!v->allowed)
		return 0;
	return check_password_age(st, state, cfg, user, now, report, arg, v, err);
}

enum account_pwage
account_password_age(const struct cfg *cfg, const struct access_verdict *v, int password_used)
{
	if (v->state != ACCOUNT_OK || !v->allowed || !v->password_expired)
		return ACCOUNT_PWAGE_NONE;
	if (password_used || cfg->pam_password_age == CFG_PWAGE_ALL_LOGINS)
		return ACCOUNT_PWAGE_CHANGE;
	return ACCOUNT_PWAGE_WARN;
}

static void
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

int
account_session_open(struct store *st, const char *uid, const char *service, const char *rhost,
		     const char *tty, long pid, int64_t now, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st,
			  "INSERT INTO sessions (uid, service, rhost, tty, pid, opened_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, service, -1, SQLITE_STATIC);
	bind_opt(s, 3, rhost);
	bind_opt(s, 4, tty);
	sqlite3_bind_int64(s, 5, pid);
	sqlite3_bind_int64(s, 6, now);
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}

int
account_session_close(struct store *st, const char *uid, const char *service, long pid, int64_t now,
		      struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st,
			  "UPDATE sessions SET closed_at = ?4 WHERE id = (SELECT max(id) FROM "
			  "sessions WHERE uid = ?1 AND service = ?2 AND pid = ?3 AND closed_at IS "
			  "NULL)",
			  &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, pid);
	sqlite3_bind_int64(s, 4, now);
	rc = store_step_done(st, s, err);
	sqlite3_finalize(s);
	return rc;
}
