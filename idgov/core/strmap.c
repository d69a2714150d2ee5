/* String -> int64 map; see strmap.h. Load factor stays below 1/2. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	char *key; /* NULL: empty */
	size_t len;
	uint64_t hash;
	int64_t value;
};

struct strmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t used;
};

static uint64_t
fnv1a(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
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

void
strmap_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i].key = NULL;
	}
	m->used = 0;
}

void
strmap_free(struct strmap *m)
{
	if (m == NULL)
		return;
	strmap_clear(m);
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
	const struct slot *s = find(m, key, len, fnv1a(key, len));

	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
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

int
strmap_put(struct strmap *m, const char *key, size_t len, int64_t value)
{
	uint64_t h = fnv1a(key, len);
	struct slot *s;

	if ((m->used + 1) * 2 > m->cap && grow(m) != 0)
		return -1;
	s = find(m, key, len, h);
	if (s->key == NULL) {
		s->key = malloc(len ? len : 1);
		if (s->key == NULL)
			return -1;
		memcpy(s->key, key, len);
		s->len = len;
		s->hash = h;
		m->used++;
	}
	s->value = value;
	return 0;
}
