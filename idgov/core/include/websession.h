/*
 * Sessions of people signed in through the web frontend (idgov-web).
 *
 * idgovd issues a session once it has verified a person's directory
 * password; the frontend keeps the token and sends it with every request
 * it makes on that person's behalf. The token is 32 random bytes written
 * as 43 characters of unpadded base64url; the store keeps only its
 * BLAKE2b-256 hash, so reading the store (or a backup) never yields a
 * usable token, and a lookup by hash gives an attacker nothing to time.
 *
 * A session has a step: WEBSESSION_CODE after the password (it may only
 * offer the code), WEBSESSION_ENROL for a person with no MFA enrolment
 * yet (it may only enrol), WEBSESSION_FULL after both factors. Moving to
 * another step ends the old token and issues a new one, so a token seen
 * before the second factor is worth nothing after it.
 *
 * Failed sign-in steps are counted per user and per client address over
 * a window, for throttling.
 *
 * Every function takes "now" from its caller, so tests drive the clock.
 * Functions return 0 or -1 with err, except websession_check() (below).
 */
#ifndef IDGOV_WEBSESSION_H
#define IDGOV_WEBSESSION_H

#include "store.h"

#include <stdint.h>

#define WEBSESSION_TOKEN_LEN 43 /* base64url (no padding) of 32 bytes */
#define WEBSESSION_MAX_USER 256
#define WEBSESSION_MAX_ADDR 64

enum websession_step { WEBSESSION_CODE, WEBSESSION_ENROL, WEBSESSION_FULL };

struct websession {
	char user[WEBSESSION_MAX_USER + 1];
	char addr[WEBSESSION_MAX_ADDR + 1];
	enum websession_step step;
	int64_t created;
	int64_t expires; /* the absolute limit */
};

/* The step's name as stored and shown ("code", "enrol", "full"). */
const char *websession_step_name(enum websession_step step);

/*
 * Issues a session for user from addr at step, usable until now + lifetime
 * at most. token receives the token (NUL-terminated); the caller wipes it
 * when done. Sessions that are over are removed on the way.
 */
int websession_issue(struct store *st, const char *user, const char *addr,
		     enum websession_step step, int64_t now, int64_t lifetime,
		     char token[WEBSESSION_TOKEN_LEN + 1], struct idg_err *err);

/*
 * Looks up token: 1 when it names a session that is not ended, was used
 * within idle seconds and is before its absolute limit (its last use is
 * then set to now and s filled); 0 when it does not (unknown, malformed,
 * ended, idle or past its limit); -1 on a store error.
 */
int websession_check(struct store *st, const char *token, int64_t now, int64_t idle,
		     struct websession *s, struct idg_err *err);

/* Ends the session of token (nothing when there is none). */
int websession_end(struct store *st, const char *token, int64_t now, struct idg_err *err);

/* Ends every open session of user (a password change, an admin's reset). *n: how many. */
int websession_end_user(struct store *st, const char *user, int64_t now, int *n,
			struct idg_err *err);

/*
 * Ends the session of old_token (which the caller has checked) and issues
 * a new one for the same person and address at step, ending no later than
 * now + lifetime.
 */
int websession_advance(struct store *st, const char *old_token, const struct websession *s,
		       enum websession_step step, int64_t now, int64_t lifetime,
		       char token[WEBSESSION_TOKEN_LEN + 1], struct idg_err *err);

/* Counts the failed steps of user and from addr at or after since. */
int websession_failures(struct store *st, const char *user, const char *addr, int64_t since,
			int64_t *by_user, int64_t *by_addr, struct idg_err *err);

/* Records a failed step; rows from before forget_before go. */
int websession_note_failure(struct store *st, const char *user, const char *addr, int64_t now,
			    int64_t forget_before, struct idg_err *err);

/* Forgets user's failed steps (after they signed in). */
int websession_clear_failures(struct store *st, const char *user, struct idg_err *err);

#endif
