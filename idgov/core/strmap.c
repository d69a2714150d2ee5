/*
 * String -> int64 map; see strmap.h. Load factor stays below 1/2.
 *
 * Keys are copied into chunks of KEY_CHUNK bytes rather than one
 * allocation each: a full sync interns a million member DNs, and a malloc
 * and a free per key were a tenth of the map's cost on the way in and most
 * of the time a one-shot `idgov sync` spent exiting (freeing them one by
 * one) on the way out.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	char *key; /* NULL: empty */
	size_t len;
	uint64_t hash;
	int64_t value;
};

/* Room for keys; a key longer than a quarter of KEY_CHUNK gets a chunk of its own. */
#define KEY_CHUNK (64 * 1024)

struct chunk {
	struct chunk *next;
	size_t size, fill;
	char bytes[];
};

struct strmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t used;
	struct chunk *chunks; /* newest first: the one being filled */
};

/*
 * Eight bytes a step, then a MurmurHash3-style finaliser so that every
 * input bit reaches the low bits that pick the slot. Keys are directory
 * DNs of 30-100 bytes looked up a million times in a full sync: a byte at a
 * time (FNV-1a) spent more on hashing than on the probe.
 */
uint64_t
strmap_hash(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, len);
	h = (h ^ w) * 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

struct strmap *
strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cap = 1024;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

static void
free_chunks(struct strmap *m)
{
	while (m->chunks != NULL) {
		struct chunk *c = m->chunks;

		m->chunks = c->next;
		free(c);
	}
}

void
strmap_clear(struct strmap *m)
{
	/* Callers clear on every change that may stale a cache; an empty map costs nothing. */
	if (m->used == 0)
		return;
	memset(m->slots, 0, m->cap * sizeof(*m->slots));
	free_chunks(m);
	m->used = 0;
}

void
strmap_free(struct strmap *m)
{
	if (m == NULL)
		return;
	free_chunks(m);
	free(m->slots);
	free(m);
}

static struct slot *
find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->slots[i].key != NULL && (m->slots[i].hash != h || m->slots[i].len != len ||
					   memcmp(m->slots[i].key, key, len) != 0))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

int
strmap_get(const struct strmap *m, const char *key, size_t len, int64_t *value)
{
	return strmap_get_hashed(m, key, len, strmap_hash(key, len), value);
}

int
strmap_get_hashed(const struct strmap *m, const char *key, size_t len, uint64_t h, int64_t *value)
{
	const struct slot *s = find(m, key, len, h);

	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
}

void
strmap_prefetch(const struct strmap *m, uint64_t h)
{
	__builtin_prefetch(&m->slots[(size_t)h & (m->cap - 1)]);
}

void
strmap_prefetch_key(const struct strmap *m, uint64_t h)
{
	const struct slot *s = &m->slots[(size_t)h & (m->cap - 1)];

	if (s->key != NULL)
		__builtin_prefetch(s->key);
}

static int
grow(struct strmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	struct slot *fresh = calloc(old_cap * 2, sizeof(*fresh));

	if (fresh == NULL)
		return -1;
	m->slots = fresh;
	m->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].key != NULL)
			*find(m, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
	return 0;
}

/* A copy of key's len bytes in the map's chunks, or NULL when out of memory. */
static char *
copy_key(struct strmap *m, const char *key, size_t len)
{
	struct chunk *c = m->chunks;
	size_t need = len ? len : 1; /* a used slot's key is never NULL, even when empty */
	char *p;

	if (c == NULL || c->size - c->fill < need) {
		int own = need > KEY_CHUNK / 4;
		size_t size = own ? need : KEY_CHUNK;

		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->size = size;
		c->fill = 0;
		/* A key with a chunk of its own goes behind the one being filled. */
		if (own && m->chunks != NULL) {
			c->next = m->chunks->next;
			m->chunks->next = c;
		} else {
			c->next = m->chunks;
			m->chunks = c;
		}
	}
	p = c->bytes + c->fill;
	memcpy(p, key, len);
	c->fill += need;
	return p;
}

int
strmap_put(struct strmap *m, const char *key, size_t len, int64_t value)
{
	uint64_t h = strmap_hash(key, len);
	struct slot *s;

	if ((m->used + 1) * 2 > m->cap && grow(m) != 0)
		return -1;
	s = find(m, key, len, h);
	if (s->key == NULL) {
		if ((s->key = copy_key(m, key, len)) == NULL)
			return -1;
		s->len = len;
		s->hash = h;
		m->used++;
	}
	s->value = value;
	return 0;
}
