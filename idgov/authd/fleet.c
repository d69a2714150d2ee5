/*
 * The login path with [fleet] mfa = directory: a person's MFA token lives
 * in the directory (directory/token.h), its secret sealed under the fleet
 * key (core/fleetseal.h), and every host reads and writes it there, so a
 * code is accepted once fleet-wide and failures lock everywhere.
 *
 * One attempt, in order:
 *
 *   1. The user's entryUUID and DN from the mirror (users).
 *   2. A bound connection to the first provider that answers, in the
 *      order every host shares (provider.h; kept by the worker between
 *      logins). What offline logins on this host left in fleet_pending is
 *      written back first, so the token read next already holds it.
 *   3. The token, read from that provider: whether the user is enrolled,
 *      the sealed secret, the watermark, failures and lock.
 *   4. After the prompt: the secret opened with the fleet key (into
 *      guarded memory, secmem.h, wiped at once), the attempt decided on the
 *      token's values (policy/mfadecide.h), and what it changed written
 *      with a compare-and-swap: the step consumed (a consume that loses
 *      is a replay: someone used the step or a later one first), a
 *      failure recorded against the values read (TOKEN_CHANGED: read
 *      again and decide again, at most FLEET_TRIES times), a recovery
 *      value deleted (one that is gone already was spent elsewhere).
 *   5. The watermark, failures and lock the directory now holds saved in
 *      the state file (mfa_state), for the offline fallback; after a
 *      success, idgovLastLogin stamped when it is a day old (the state
 *      file notes this host's own stamp, so a day's logins cost one
 *      write, and the directory's assertion keeps it to one a day
 *      fleet-wide), once the answer has gone to the module: the login
 *      waits for one write on the provider, the step's.
 *
 * A provider that stops answering mid-way (TOKEN_DOWN) is dropped and the
 * next one tried. When none answers:
 *
 *   [fleet] offline = deny   an enrolled user is refused ("MFA cannot be
 *                            checked: no directory provider answers"),
 *                            with a log line;
 *   [fleet] offline = allow  the attempt is decided on this host alone,
 *                            from the mirror's copy of the token
 *                            (fleet_tokens) with the watermark and the
 *                            lock the higher of the mirror's and the
 *                            state file's, in one transaction on the state
 *                            file (parallel logins here serialise on it);
 *                            what it consumed is queued in fleet_pending
 *                            and the login audited as mfa.offline_login.
 *
 * So a code used on this host is never accepted here again, online or
 * off; what a partition can let through is written in README "Fleet".
 */
#include "authd.h"

#include "dir.h"
#include "fleetseal.h"
#include "mfadecide.h"
#include "provider.h"
#include "secmem.h"
#include "token.h"
#include "tokenmirror.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* How often a changed token is read and decided again before giving up. */
#define FLEET_TRIES 3
/* Offline logins written back by one login, at most (the rest by the next ones). */
#define FLEET_WRITEBACK_MAX 32
/* Spent recovery values this host remembers for one user, at most. */
#define FLEET_SPENT_MAX 32
#define FLEET_DAY 86400

/* What the state file holds for a user (zeroes when it has no row). */
struct fleet_local {
	struct mfa_token_state s;
	int64_t login_stamped_at;
};

/* 1 with uuid and dn of uid (not departed), 0 when the mirror has none, -1 on error. */
static int
find_user(struct store *st, const char *uid, char *uuid, size_t uuid_size, char *dn, size_t dn_size,
	  struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    st,
		    "SELECT uuid, dn FROM users WHERE uid = ?1 AND status <> 'departed' "
		    "LIMIT 1",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW &&
	    (idg_strlcpy(uuid, (const char *)sqlite3_column_text(s, 0), uuid_size) >= uuid_size ||
	     idg_strlcpy(dn, (const char *)sqlite3_column_text(s, 1), dn_size) >= dn_size))
		rc = SQLITE_TOOBIG;
	store_release(st, s);
	if (rc == SQLITE_TOOBIG)
		return idg_seterr(err, "the DN or uuid of %s is too long", uid);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading user");
	return rc == SQLITE_ROW;
}

/* The DN of the user whose entryUUID is uuid: 1, 0 when the mirror has none, -1 on error. */
static int
dn_of_uuid(struct store *st, const char *uuid, char *dn, size_t dn_size, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(st, "SELECT dn FROM users WHERE uuid = ?1", &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW &&
	    idg_strlcpy(dn, (const char *)sqlite3_column_text(s, 0), dn_size) >= dn_size)
		rc = SQLITE_TOOBIG;
	store_release(st, s);
	if (rc == SQLITE_TOOBIG)
		return idg_seterr(err, "the DN of %s is too long", uuid);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, err, "reading user");
	return rc == SQLITE_ROW;
}

static int
local_load(struct store *state, const char *uuid, struct fleet_local *l, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	memset(l, 0, sizeof(*l));
	if (store_prepare_cached(state,
				 "SELECT last_step, failures, failure_start, locked_until, "
				 "login_stamped_at FROM mfa_state WHERE user_uuid = ?1",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		l->s.last_step = sqlite3_column_int64(s, 0);
		l->s.failures = sqlite3_column_int64(s, 1);
		l->s.failure_start = sqlite3_column_int64(s, 2);
		l->s.locked_until = sqlite3_column_int64(s, 3);
		l->login_stamped_at = sqlite3_column_int64(s, 4);
	}
	store_release(state, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state, err, "reading MFA state");
	return 0;
}

/*
 * Saves what the directory (or, offline, this host) now holds. The
 * watermark only grows: a step this host saw used stays used here.
 */
static int
local_save(struct store *state, const char *uuid, const struct mfa_token_state *v,
	   struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare_cached(
		    state,
		    "INSERT INTO mfa_state (user_uuid, last_step, failures, failure_start, "
		    "locked_until) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_uuid) DO UPDATE "
		    "SET last_step = max(last_step, ?2), failures = ?3, failure_start = ?4, "
		    "locked_until = ?5",
		    &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v->last_step);
	sqlite3_bind_int64(s, 3, v->failures);
	sqlite3_bind_int64(s, 4, v->failure_start);
	sqlite3_bind_int64(s, 5, v->locked_until);
	rc = store_step_done(state, s, err);
	store_release(state, s);
	return rc;
}

/*
 * Runs one fixed statement on the state file with ?1 uuid, ?2 a, ?3 b
 * (text or NULL), ?4 c, as far as the statement names them.
 */
static int
state_exec(struct store *state, const char *sql, const char *uuid, int64_t a, const char *b,
	   int64_t c, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc, n;

	if (store_prepare_cached(state, sql, &s, err) != 0)
		return -1;
	n = sqlite3_bind_parameter_count(s);
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	if (n >= 2)
		sqlite3_bind_int64(s, 2, a);
	if (n >= 3 && b != NULL)
		sqlite3_bind_text(s, 3, b, -1, SQLITE_STATIC);
	if (n >= 4)
		sqlite3_bind_int64(s, 4, c);
	rc = store_step_done(state, s, err);
	store_release(state, s);
	return rc;
}

/* Remembers that this host saw value ("ID:hash") spent. */
static int
note_spent(struct store *state, const char *uuid, const char *value, int64_t now,
	   struct idg_err *err)
{
	if (strlen(value) < 6 || value[4] != ':')
		return 0;
	return state_exec(state,
			  "INSERT OR IGNORE INTO mfa_recovery_used (user_uuid, used_at, code_id, "
			  "hash) VALUES (?1, ?2, substr(?3, 1, 4), substr(?3, 6))",
			  uuid, now, value, 0, err);
}

/* The recovery values this host saw spent for uuid, as "ID:hash" (static buffers). */
static int
load_spent(struct store *state, const char *uuid, char values[][TOKEN_RECOVERY_MAX],
	   const char **ptrs, size_t *n, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	if (store_prepare_cached(state,
				 "SELECT code_id || ':' || hash FROM mfa_recovery_used "
				 "WHERE user_uuid = ?1 ORDER BY used_at DESC LIMIT 32",
				 &s, err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < FLEET_SPENT_MAX) {
		if (idg_strlcpy(values[*n], (const char *)sqlite3_column_text(s, 0),
				TOKEN_RECOVERY_MAX) >= TOKEN_RECOVERY_MAX)
			continue;
		ptrs[*n] = values[*n];
		(*n)++;
	}
	store_release(state, s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state, err, "reading spent recovery codes");
	return 0;
}

static void
audit_event(struct authd_fleet *x, const char *uid, const char *action, json_t *details)
{
	struct idg_err err;

	if (x->audit == NULL) {
		json_decref(details);
		return;
	}
	if (audit_record(x->audit, x->actor, uid, action, details, &err) != 0)
		log_msg(x->log, LOG_ERR, "mfa: cannot audit %s of %s: %s", action, uid, err.msg);
}

/*
 * A bound connection: 0 with *ld, DIR_UNREACHABLE when no provider
 * answers, -1 when one refused (credentials, TLS: trying again will not
 * help; err says which).
 */
static int
connect_provider(struct authd_fleet *x, int64_t now, LDAP **ld, struct idg_err *err)
{
	size_t index;
	int rc = providers_get(x->prov, now, ld, &index, err);

	if (rc == DIR_UNREACHABLE)
		log_msg(x->log, LOG_WARNING, "mfa: no directory provider answers: %s", err->msg);
	return rc;
}

/*
 * Writes back what offline logins left in fleet_pending, oldest first,
 * while the provider answers. A step the directory already has (or a
 * later one), a recovery value already gone, or a user no longer in the
 * mirror is dropped with a log line: there is nothing left to tell the
 * directory. 0, or TOKEN_DOWN when the provider stopped answering.
 */
static int
write_back(struct authd_fleet *x, LDAP *ld)
{
	struct {
		int64_t id, step;
		char uuid[64], recovery[TOKEN_RECOVERY_MAX];
		int has_recovery;
	} row[FLEET_WRITEBACK_MAX];
	size_t n = 0;
	sqlite3_stmt *s;
	struct idg_err err;
	char dn[2048];
	int rc;

	if (store_prepare_cached(x->state,
				 "SELECT id, user_uuid, step, recovery FROM fleet_pending ORDER BY "
				 "id LIMIT 32",
				 &s, &err) != 0) {
		log_msg(x->log, LOG_ERR, "mfa: cannot read the offline logins: %s", err.msg);
		return 0;
	}
	while (n < FLEET_WRITEBACK_MAX && sqlite3_step(s) == SQLITE_ROW) {
		row[n].id = sqlite3_column_int64(s, 0);
		idg_strlcpy(row[n].uuid, (const char *)sqlite3_column_text(s, 1),
			    sizeof(row[n].uuid));
		row[n].step = sqlite3_column_int64(s, 2);
		row[n].has_recovery = sqlite3_column_type(s, 3) != SQLITE_NULL;
		if (row[n].has_recovery)
			idg_strlcpy(row[n].recovery, (const char *)sqlite3_column_text(s, 3),
				    sizeof(row[n].recovery));
		n++;
	}
	store_release(x->state, s);
	for (size_t i = 0; i < n; i++) {
		const char *what = row[i].has_recovery ? "recovery code" : "step";

		rc = dn_of_uuid(x->st, row[i].uuid, dn, sizeof(dn), &err);
		if (rc == 0) {
			idg_seterr(&err, "the user is no longer in the mirror");
			rc = -1;
		} else if (rc == 1) {
			rc = row[i].has_recovery
				     ? token_spend_recovery(x->cfg, ld, dn, row[i].recovery, &err)
				     : token_consume_step(x->cfg, ld, dn, row[i].step, &err);
		}
		if (rc == TOKEN_DOWN)
			return TOKEN_DOWN;
		if (rc == 0)
			log_msg(x->log, LOG_NOTICE,
				"mfa: an offline login's %s of %s written back to the directory",
				what, row[i].uuid);
		else if (rc == TOKEN_CHANGED)
			log_msg(x->log, LOG_NOTICE,
				"mfa: an offline login's %s of %s dropped: the directory already "
				"holds it or a later one",
				what, row[i].uuid);
		else
			log_msg(x->log, LOG_WARNING, "mfa: an offline login's %s of %s dropped: %s",
				what, row[i].uuid, err.msg);
		if (state_exec(x->state,
			       "DELETE FROM fleet_pending WHERE id = ?2 AND user_uuid = ?1",
			       row[i].uuid, row[i].id, NULL, 0, &err) != 0) {
			log_msg(x->log, LOG_ERR, "mfa: cannot clear an offline login: %s", err.msg);
			return 0;
		}
	}
	return 0;
}

/*
 * Reads a's token from the first provider that answers, writing back the
 * offline queue on the way. 0 (a->online), DIR_UNREACHABLE, or -1.
 */
static int
read_online(struct authd_fleet *x, struct authd_fleet_attempt *a, int64_t now, struct idg_err *err)
{
	struct token *t = &x->scratch;
	LDAP *ld;
	int rc;

	for (size_t tries = 0; tries <= providers_count(x->prov); tries++) {
		rc = connect_provider(x, now, &ld, err);
		if (rc != 0)
			return rc;
		if (!x->wrote_back) {
			if (write_back(x, ld) == TOKEN_DOWN) {
				providers_drop(x->prov);
				continue;
			}
			x->wrote_back = 1;
		}
		/* Into scratch: a->tok keeps the last good copy for the offline fallback. */
		rc = token_read(x->cfg, ld, a->dn, t, err);
		if (rc == TOKEN_DOWN) {
			log_msg(x->log, LOG_WARNING, "mfa: a provider stopped answering: %s",
				err->msg);
			providers_drop(x->prov);
			continue;
		}
		if (rc != 0)
			return -1;
		a->tok = *t;
		a->online = 1;
		a->usable = 1;
		return 0;
	}
	idg_seterr(err, "every provider stopped answering");
	return DIR_UNREACHABLE;
}

/* The mirror's copy of a's token (no row: not enrolled). */
static int
read_mirror(struct authd_fleet *x, struct authd_fleet_attempt *a, struct idg_err *err)
{
	int unusable = 0, rc;

	memset(&a->tok, 0, sizeof(a->tok));
	a->online = 0;
	rc = tokenmirror_get(x->st, a->uuid, &a->tok, &unusable, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		memset(&a->tok, 0, sizeof(a->tok));
		a->usable = 0;
		return 0;
	}
	/* An unusable row keeps its lock "forever": it decides as locked, never as open. */
	a->usable = !unusable;
	if (unusable)
		a->tok.enrolled = 1;
	return 0;
}

int
authd_fleet_begin(struct authd_fleet *x, const char *uid, int64_t now,
		  struct authd_fleet_attempt *a, struct idg_err *err)
{
	int rc;

	memset(a, 0, sizeof(*a));
	rc = find_user(x->st, uid, a->uuid, sizeof(a->uuid), a->dn, sizeof(a->dn), err);
	if (rc <= 0)
		return rc < 0 ? -1 : AUTHD_FLEET_NOT_ENROLLED;
	a->found = 1;
	rc = read_online(x, a, now, err);
	if (rc < 0)
		return -1;
	if (rc == DIR_UNREACHABLE && read_mirror(x, a, err) != 0)
		return -1;
	if (!a->tok.enrolled)
		return AUTHD_FLEET_NOT_ENROLLED;
	if (!a->online && !x->cfg->fleet_offline_allow) {
		log_msg(x->log, LOG_WARNING,
			"auth: denied %s: rule fleet.offline: MFA cannot be checked, no directory "
			"provider answers ([fleet] offline = deny)",
			uid);
		return AUTHD_FLEET_OFFLINE_DENIED;
	}
	return AUTHD_FLEET_ENROLLED;
}

/* The token's secret, opened into guarded memory (*secret; the caller secmem_frees it). */
static int
open_secret(struct authd_fleet *x, const struct authd_fleet_attempt *a, unsigned char **secret,
	    size_t *len, struct idg_err *err)
{
	*secret = secmem_alloc(FLEET_SEAL_MAX_PLAIN);
	if (*secret == NULL)
		return idg_seterr(err, "out of memory");
	if (fleet_open(x->key, a->uuid, a->tok.sealed, a->tok.sealed_len, *secret,
		       FLEET_SEAL_MAX_PLAIN, len, err) != 0) {
		secmem_free(*secret);
		*secret = NULL;
		return -1;
	}
	return 0;
}

/*
 * Decides code on state with a's token (secret, parameters, recovery
 * values) and the spent values this host knows.
 */
static int
decide(struct authd_fleet *x, const struct authd_fleet_attempt *a,
       const struct mfa_token_state *state, const char *code, int64_t now, struct mfa_decision *d,
       struct idg_err *err)
{
	char spent_values[FLEET_SPENT_MAX][TOKEN_RECOVERY_MAX];
	const char *spent[FLEET_SPENT_MAX], *recovery[TOKEN_MAX_RECOVERY];
	unsigned char *secret = NULL;
	struct totp_params p;
	size_t n_spent, secret_len = 0;
	int rc;

	if (mfa_token_params(x->cfg, a->tok.algorithm, a->tok.digits, a->tok.period, &p, err) !=
		    0 ||
	    load_spent(x->state, a->uuid, spent_values, spent, &n_spent, err) != 0 ||
	    open_secret(x, a, &secret, &secret_len, err) != 0)
		return -1;
	for (size_t i = 0; i < a->tok.n_recovery && i < TOKEN_MAX_RECOVERY; i++)
		recovery[i] = a->tok.recovery[i];
	rc = mfa_decide(x->cfg, secret, secret_len, &p, state, recovery, a->tok.n_recovery, spent,
			n_spent, code, now, d, err);
	secmem_free(secret);
	return rc;
}

static struct mfa_token_state
token_state(const struct token *t)
{
	return (struct mfa_token_state){t->last_step, t->failures, t->failure_start,
					t->locked_until};
}

/*
 * After a success online: idgovLastLogin is due when neither the
 * directory's stamp nor this host's note of its own is less than a day
 * old. It is written once the answer has gone (authd_fleet_after), so the
 * login does not wait for a second write on the provider.
 */
static void
touch_login(struct authd_fleet *x, struct authd_fleet_attempt *a, int64_t now)
{
	struct authd_files *f = x->files;
	struct fleet_local l;
	struct idg_err err;

	if (f == NULL || a->tok.last_login > now - FLEET_DAY ||
	    local_load(x->state, a->uuid, &l, &err) != 0 || l.login_stamped_at > now - FLEET_DAY)
		return;
	f->touch_pending = 1;
	f->touch_now = now;
	idg_strlcpy(f->touch_uuid, a->uuid, sizeof(f->touch_uuid));
	idg_strlcpy(f->touch_dn, a->dn, sizeof(f->touch_dn));
}

void
authd_fleet_after(const struct cfg *cfg, struct authd_files *f)
{
	struct store *state;
	struct providers *p;
	struct secret_key *key;
	struct idg_err err;
	size_t index;
	LDAP *ld;
	int rc;

	if (!f->touch_pending)
		return;
	f->touch_pending = 0;
	if (authd_files_fleet(f, cfg, &key, &p, &err) != 0 ||
	    authd_files_state(f, cfg, &state, &err) != 0 ||
	    providers_get(p, f->touch_now, &ld, &index, &err) != 0) {
		log_msg(f->log, LOG_WARNING, "mfa: cannot stamp the last login of %s: %s",
			f->touch_dn, err.msg);
		return;
	}
	/* TOKEN_CHANGED: another host stamped it within the day; noted all the same. */
	rc = token_touch_login(cfg, ld, f->touch_dn, f->touch_now, &err);
	if (rc == TOKEN_DOWN)
		providers_drop(p);
	if (rc == TOKEN_DOWN || rc < 0) {
		log_msg(f->log, LOG_WARNING, "mfa: cannot stamp the last login of %s: %s",
			f->touch_dn, err.msg);
		return;
	}
	if (state_exec(state,
		       "INSERT INTO mfa_state (user_uuid, login_stamped_at) VALUES (?1, ?2) "
		       "ON CONFLICT (user_uuid) DO UPDATE SET login_stamped_at = ?2",
		       f->touch_uuid, f->touch_now, NULL, 0, &err) != 0)
		log_msg(f->log, LOG_ERR, "mfa: cannot note the last-login stamp of %s: %s",
			f->touch_dn, err.msg);
}

/* Audits a lock or a recovery code's use, as the local path does. */
static void
audit_outcome(struct authd_fleet *x, const char *uid, const struct mfa_decision *d, int offline)
{
	if (d->outcome == MFA_OK_RECOVERY)
		audit_event(x, uid, "mfa.recovery_code_used",
			    offline ? json_pack("{s:b}", "offline", 1) : NULL);
	if (d->outcome == MFA_BAD_CODE && d->locked_now) {
		log_msg(x->log, LOG_WARNING, "mfa: %s locked after %d failures%s", uid,
			x->cfg->mfa_max_failures, offline ? " (offline, on this host)" : "");
		audit_event(x, uid, "mfa.locked",
			    json_pack("{s:I, s:i, s:b}", "locked_until",
				      (json_int_t)d->next.locked_until, "failures",
				      x->cfg->mfa_max_failures, "fleet", !offline));
	}
}

/*
 * Decides on this host alone (no provider answers, [fleet] offline =
 * allow): from a's token (the mirror's copy, or the one read before the
 * provider went away) and the state file, the higher watermark and lock
 * of the two, inside one transaction on the state file.
 */
static int
verify_offline(struct authd_fleet *x, const char *uid, struct authd_fleet_attempt *a,
	       const char *code, int64_t now, enum mfa_outcome *out, struct idg_err *err)
{
	struct mfa_token_state s = token_state(&a->tok);
	struct fleet_local l;
	struct mfa_decision d;
	int rc = -1;

	if (!a->usable) {
		*out = MFA_LOCKED;
		log_msg(x->log, LOG_WARNING,
			"mfa: the mirror's copy of %s's token is unusable: refused offline", uid);
		return 0;
	}
	if (store_begin(x->state, err) != 0)
		return -1;
	if (local_load(x->state, a->uuid, &l, err) != 0)
		goto out;
	if (l.s.last_step > s.last_step)
		s.last_step = l.s.last_step;
	if (l.s.locked_until > s.locked_until)
		s.locked_until = l.s.locked_until;
	if (l.s.failure_start >= s.failure_start) {
		s.failures = l.s.failures;
		s.failure_start = l.s.failure_start;
	}
	if (decide(x, a, &s, code, now, &d, err) != 0)
		goto out;
	if (d.write && local_save(x->state, a->uuid, &d.next, err) != 0)
		goto out;
	if (d.outcome == MFA_OK &&
	    state_exec(x->state,
		       "INSERT INTO fleet_pending (user_uuid, step, recovery, queued_at) "
		       "VALUES (?1, ?2, ?3, ?4)",
		       a->uuid, d.step, NULL, now, err) != 0)
		goto out;
	if (d.outcome == MFA_OK_RECOVERY &&
	    (note_spent(x->state, a->uuid, a->tok.recovery[d.recovery], now, err) != 0 ||
	     state_exec(x->state,
			"INSERT INTO fleet_pending (user_uuid, step, recovery, queued_at) "
			"VALUES (?1, ?2, ?3, ?4)",
			a->uuid, 0, a->tok.recovery[d.recovery], now, err) != 0))
		goto out;
	rc = store_commit(x->state, err);
out:
	if (rc != 0) {
		store_rollback(x->state);
		return -1;
	}
	*out = d.outcome;
	audit_outcome(x, uid, &d, 1);
	if (d.outcome == MFA_OK || d.outcome == MFA_OK_RECOVERY) {
		log_msg(x->log, LOG_WARNING,
			"mfa: %s logged in offline (no directory provider answers; [fleet] offline "
			"= allow): %s queued for the directory",
			uid, d.outcome == MFA_OK ? "the step" : "the recovery code");
		audit_event(x, uid, "mfa.offline_login",
			    d.outcome == MFA_OK ? json_pack("{s:I}", "step", (json_int_t)d.step)
						: json_pack("{s:b}", "recovery_code", 1));
	}
	return 0;
}

/*
 * Writes an online decision with its compare-and-swap. 0 done, TOKEN_CHANGED
 * (another writer came first), TOKEN_DOWN (no provider), or -1.
 */
static int
write_decision(struct authd_fleet *x, struct authd_fleet_attempt *a, const struct mfa_decision *d,
	       int64_t now, LDAP **ld, struct idg_err *err)
{
	for (size_t tries = 0; tries <= providers_count(x->prov); tries++) {
		int rc;

		if (tries > 0) {
			rc = connect_provider(x, now, ld, err);
			if (rc == DIR_UNREACHABLE)
				return TOKEN_DOWN;
			if (rc != 0)
				return -1;
		}
		switch (d->outcome) {
		case MFA_OK:
			rc = token_consume_step(x->cfg, *ld, a->dn, d->step, err);
			break;
		case MFA_OK_RECOVERY:
			rc = token_spend_recovery(x->cfg, *ld, a->dn, a->tok.recovery[d->recovery],
						  err);
			break;
		case MFA_BAD_CODE:
			rc = token_record_failure(x->cfg, *ld, a->dn, &a->tok, d->next.failures,
						  d->next.failure_start, d->next.locked_until, err);
			break;
		default:
			return 0;
		}
		if (rc != TOKEN_DOWN)
			return rc;
		log_msg(x->log, LOG_WARNING, "mfa: a provider stopped answering: %s", err->msg);
		providers_drop(x->prov);
	}
	return TOKEN_DOWN;
}

int
authd_fleet_verify(struct authd_fleet *x, const char *uid, struct authd_fleet_attempt *a,
		   const char *code, int64_t now, enum mfa_outcome *out, struct idg_err *err)
{
	struct mfa_token_state s;
	struct fleet_local l;
	struct mfa_decision d;
	LDAP *ld = NULL;
	int rc;

	for (int tries = 0; a->online && tries < FLEET_TRIES; tries++) {
		/* The token read before the prompt; after a change, read again. */
		if (tries > 0) {
			rc = read_online(x, a, now, err);
			if (rc < 0)
				return -1;
			if (rc == DIR_UNREACHABLE) {
				a->online = 0;
				break;
			}
		}
		/* The connection held (providers_get gives it back at no cost), or the next. */
		rc = connect_provider(x, now, &ld, err);
		if (rc < 0)
			return -1;
		if (rc == DIR_UNREACHABLE) {
			a->online = 0;
			break;
		}
		if (!a->tok.enrolled) {
			*out = MFA_NOT_ENROLLED;
			return 0;
		}
		/* The watermark this host saw too: a step it saw used stays used. */
		if (local_load(x->state, a->uuid, &l, err) != 0)
			return -1;
		s = token_state(&a->tok);
		if (l.s.last_step > s.last_step)
			s.last_step = l.s.last_step;
		if (decide(x, a, &s, code, now, &d, err) != 0)
			return -1;
		rc = write_decision(x, a, &d, now, &ld, err);
		if (rc < 0)
			return -1;
		if (rc == TOKEN_DOWN) {
			a->online = 0;
			break;
		}
		if (rc == TOKEN_CHANGED && d.outcome == MFA_OK) {
			/* Someone consumed this step or a later one first: a replay, not counted.
			 */
			d.outcome = MFA_REPLAYED;
			d.next = s;
			log_msg(x->log, LOG_WARNING,
				"mfa: replayed code for %s (consumed elsewhere first; not counted)",
				uid);
		} else if (rc == TOKEN_CHANGED && d.outcome == MFA_OK_RECOVERY) {
			d.outcome = MFA_RECOVERY_REUSED;
			d.next = s;
			if (note_spent(x->state, a->uuid, a->tok.recovery[d.recovery], now, err) !=
			    0)
				return -1;
		} else if (rc == TOKEN_CHANGED) {
			continue; /* a failure or a lock written meanwhile: read and decide again */
		}
		if (d.outcome == MFA_OK_RECOVERY &&
		    note_spent(x->state, a->uuid, a->tok.recovery[d.recovery], now, err) != 0)
			return -1;
		if (local_save(x->state, a->uuid, &d.next, err) != 0)
			return -1;
		*out = d.outcome;
		audit_outcome(x, uid, &d, 0);
		if (d.outcome == MFA_REPLAYED && rc == 0)
			log_msg(x->log, LOG_WARNING, "mfa: replayed code for %s (not counted)",
				uid);
		if (d.outcome == MFA_OK || d.outcome == MFA_OK_RECOVERY)
			touch_login(x, a, now);
		return 0;
	}
	if (a->online) {
		/* Changed under us FLEET_TRIES times in a row: refused, nothing counted. */
		log_msg(x->log, LOG_WARNING,
			"mfa: the token of %s kept changing while a wrong code was recorded: "
			"refused, not counted",
			uid);
		*out = MFA_BAD_CODE;
		return 0;
	}
	if (!x->cfg->fleet_offline_allow) {
		log_msg(x->log, LOG_WARNING,
			"auth: denied %s: rule fleet.offline: MFA cannot be checked, no directory "
			"provider answers ([fleet] offline = deny)",
			uid);
		return AUTHD_FLEET_OFFLINE_DENIED;
	}
	return verify_offline(x, uid, a, code, now, out, err);
}
