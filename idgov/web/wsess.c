/*
 * idgov-web's session table; see wsess.h.
 *
 * A plain array under one mutex. An id is 32 bytes: the first two are
 * the index of its entry, the other 30 random (240 bits). A lookup reads
 * the index from the id and compares the whole id with that one entry's
 * in constant time: one comparison per request whatever the table holds
 * (scanning all 4,096 entries under the lock cost about 5% of the
 * server's time under bench/web), and no timing signal about how near a
 * guess is to a real id. The index is no secret: it is in the owner's
 * own cookie, and knowing it leaves 240 bits to guess.
 */
#include "wsess.h"

#include <pthread.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsess_table {
	pthread_mutex_t lock;
	struct wsess *e; /* an entry with id[0] == '\0' is free */
	size_t max;
	int64_t idle, max_age;
};

/* A random id for entry slot (SIZE_MAX: no entry, as for a CSRF token). */
static void
random_id(char out[WSESS_ID_LEN + 1], size_t slot)
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	if (slot != SIZE_MAX) {
		raw[0] = (unsigned char)(slot >> 8);
		raw[1] = (unsigned char)slot;
	}
	sodium_bin2base64(out, WSESS_ID_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

struct wsess_table *
wsess_table_new(size_t max, int64_t idle, int64_t max_age)
{
	struct wsess_table *t = calloc(1, sizeof(*t));

	if (t == NULL || max == 0 || max > 65536 || (t->e = calloc(max, sizeof(*t->e))) == NULL) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->max = max;
	t->idle = idle;
	t->max_age = max_age;
	return t;
}

void
wsess_table_free(struct wsess_table *t)
{
	if (t == NULL)
		return;
	sodium_memzero(t->e, t->max * sizeof(*t->e));
	free(t->e);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int
live(const struct wsess_table *t, const struct wsess *e, int64_t now)
{
	int64_t idle = e->step == WSESS_ANON ? WSESS_ANON_MAX : t->idle;

	return e->id[0] != '\0' && now >= e->last_used && now - e->last_used < idle &&
	       now - e->created < t->max_age;
}

/* The entry whose id is id, live or not; NULL if none. One comparison, in constant time. */
static struct wsess *
lookup(struct wsess_table *t, const char *id)
{
	unsigned char raw[32];
	size_t len = 0, slot;

	if (strlen(id) != WSESS_ID_LEN ||
	    sodium_base642bin(raw, sizeof(raw), id, WSESS_ID_LEN, NULL, &len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len != sizeof(raw))
		return NULL;
	slot = (size_t)raw[0] << 8 | raw[1];
	sodium_memzero(raw, sizeof(raw));
	if (slot >= t->max || t->e[slot].id[0] == '\0' ||
	    sodium_memcmp(t->e[slot].id, id, WSESS_ID_LEN) != 0)
		return NULL;
	return &t->e[slot];
}

/* The live entry whose id is id; NULL if none (an entry found over its limits goes). */
static struct wsess *
find(struct wsess_table *t, const char *id, int64_t now)
{
	struct wsess *found = lookup(t, id);

	if (found != NULL && !live(t, found, now)) {
		sodium_memzero(found, sizeof(*found));
		return NULL;
	}
	return found;
}

int
wsess_new(struct wsess_table *t, int64_t now, struct wsess *out)
{
	struct wsess *slot = NULL;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->max; i++) {
		struct wsess *e = &t->e[i];

		if (e->id[0] != '\0' && !live(t, e, now))
			sodium_memzero(e, sizeof(*e));
		if (slot == NULL ||
		    (slot->id[0] != '\0' && (e->id[0] == '\0' || e->last_used < slot->last_used)))
			slot = e;
	}
	if (slot == NULL) { /* a table of no sessions */
		pthread_mutex_unlock(&t->lock);
		return -1;
	}
	sodium_memzero(slot, sizeof(*slot));
	random_id(slot->id, (size_t)(slot - t->e));
	random_id(slot->csrf, SIZE_MAX);
	slot->step = WSESS_ANON;
	slot->created = slot->last_used = now;
	*out = *slot;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int
wsess_get(struct wsess_table *t, const char *id, int64_t now, struct wsess *out)
{
	struct wsess *e;

	pthread_mutex_lock(&t->lock);
	e = find(t, id, now);
	if (e != NULL) {
		e->last_used = now;
		*out = *e;
	}
	pthread_mutex_unlock(&t->lock);
	return e != NULL;
}

int
wsess_advance(struct wsess_table *t, const char *id, int64_t now, const char *token,
	      const char *user, enum wsess_step step, int admin, struct wsess *out)
{
	struct wsess *e;

	pthread_mutex_lock(&t->lock);
	e = find(t, id, now);
	if (e != NULL) {
		random_id(e->id, (size_t)(e - t->e));
		random_id(e->csrf, SIZE_MAX);
		snprintf(e->token, sizeof(e->token), "%s", token);
		snprintf(e->user, sizeof(e->user), "%s", user);
		if (e->step == WSESS_ANON)
			e->created = now; /* the absolute limit runs from the password */
		e->step = step;
		e->admin = admin;
		e->last_used = now;
		*out = *e;
	}
	pthread_mutex_unlock(&t->lock);
	return e != NULL;
}

void
wsess_drop(struct wsess_table *t, const char *id)
{
	struct wsess *e;

	pthread_mutex_lock(&t->lock);
	if ((e = lookup(t, id)) != NULL)
		sodium_memzero(e, sizeof(*e));
	pthread_mutex_unlock(&t->lock);
}

int
wsess_csrf_ok(const struct wsess *s, const char *given)
{
	return given != NULL && strlen(given) == WSESS_ID_LEN &&
	       sodium_memcmp(s->csrf, given, WSESS_ID_LEN) == 0;
}

size_t
wsess_count(struct wsess_table *t, int64_t now)
{
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->max; i++)
		n += live(t, &t->e[i], now) ? 1u : 0u;
	pthread_mutex_unlock(&t->lock);
	return n;
}
