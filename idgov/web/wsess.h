/*
 * idgov-web's own sessions: what the browser's cookie names.
 *
 * The cookie holds only a random id of this table's; the entry holds the
 * idgovd session token (which never reaches the browser), the CSRF token
 * every form of the session carries, and who is signed in. A browser
 * gets an entry (step WSESS_ANON, with a CSRF token) when it first asks
 * for the sign-in page; each step of signing in replaces the id, so an id
 * seen before a step is worth nothing after it.
 *
 * idgovd is the authority on a session's life; this table keeps the same
 * idle and absolute limits so that a stale cookie is refused here
 * without a round trip. Ids are compared in constant time. Thread-safe:
 * libmicrohttpd calls from several threads.
 */
#ifndef IDGOV_WEB_WSESS_H
#define IDGOV_WEB_WSESS_H

#include <stddef.h>
#include <stdint.h>

#define WSESS_ID_LEN 43    /* base64url of 32 random bytes */
#define WSESS_ANON_MAX 600 /* seconds a sign-in form stays valid */

enum wsess_step { WSESS_ANON, WSESS_CODE, WSESS_ENROL, WSESS_FULL };

struct wsess {
	char id[WSESS_ID_LEN + 1];
	char csrf[WSESS_ID_LEN + 1];
	char token[WSESS_ID_LEN + 1]; /* idgovd's; empty while WSESS_ANON */
	char user[65];
	enum wsess_step step;
	int admin;
	int64_t created, last_used;
};

struct wsess_table;

/* A table of at most max entries with these limits (seconds); NULL when out of memory. */
struct wsess_table *wsess_table_new(size_t max, int64_t idle, int64_t max_age);
void wsess_table_free(struct wsess_table *t);

/*
 * A new anonymous entry (for a sign-in form). When the table is full the
 * entry used least recently makes room. Fills out; 0, or -1.
 */
int wsess_new(struct wsess_table *t, int64_t now, struct wsess *out);

/* 1 and a copy in out when id names a live entry (its last use set to now), else 0. */
int wsess_get(struct wsess_table *t, const char *id, int64_t now, struct wsess *out);

/*
 * Moves the entry id to the next step: a new id and CSRF token, idgovd's
 * new token, the user and whether they are an admin. 1 and a copy in out,
 * or 0 when id is not live.
 */
int wsess_advance(struct wsess_table *t, const char *id, int64_t now, const char *token,
		  const char *user, enum wsess_step step, int admin, struct wsess *out);

/* Forgets the entry id (sign-out, or idgovd said the session is over). */
void wsess_drop(struct wsess_table *t, const char *id);

/* 1 when given is the entry's CSRF token (constant time), else 0. */
int wsess_csrf_ok(const struct wsess *s, const char *given);

/* Live entries (for the tests and the status line). */
size_t wsess_count(struct wsess_table *t, int64_t now);

#endif
