/* idgovd's replies parsed into an arena each; see jarena.h. */
#include "jarena.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

#define CHUNK_MIN (64u << 10)
#define CHUNK_MAX (64u << 20)
#define ALIGN 16

struct chunk {
	struct chunk *next;
	size_t size, used; /* of data */
	_Alignas(ALIGN) unsigned char data[];
};

struct jarena {
	struct chunk *chunks; /* the newest first */
	struct jarena *next;  /* this thread's live arenas */
};

static __thread struct jarena *filling; /* the arena a parse on this thread allocates from */
static __thread struct jarena *live;    /* this thread's arenas not yet freed */

static struct chunk *
chunk_new(size_t want)
{
	size_t size = want < CHUNK_MIN ? CHUNK_MIN : want;
	struct chunk *c;

	if (size > CHUNK_MAX || (c = malloc(sizeof(*c) + size)) == NULL)
		return NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static void *
arena_alloc(struct jarena *a, size_t n)
{
	struct chunk *c = a->chunks;
	size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (need < n)
		return NULL;
	if (c == NULL || c->size - c->used < need) {
		/* Each new chunk twice the last: a reply larger than guessed costs a few chunks. */
		if ((c = chunk_new(a->chunks != NULL && a->chunks->size * 2 > need
					   ? a->chunks->size * 2
					   : need)) == NULL)
			return NULL;
		c->next = a->chunks;
		a->chunks = c;
	}
	p = c->data + c->used;
	c->used += need;
	return p;
}

static void *
j_malloc(size_t n)
{
	return filling != NULL ? arena_alloc(filling, n) : malloc(n);
}

static int
in_live_arena(const void *p)
{
	uintptr_t b = (uintptr_t)p;

	for (const struct jarena *a = live; a != NULL; a = a->next)
		for (const struct chunk *c = a->chunks; c != NULL; c = c->next)
			if (b >= (uintptr_t)c->data && b < (uintptr_t)c->data + c->size)
				return 1;
	return 0;
}

static void
j_free(void *p)
{
	if (p != NULL && !in_live_arena(p))
		free(p);
}

void
jarena_install(void)
{
	json_set_alloc_funcs(j_malloc, j_free);
}

json_t *
jarena_loads(const char *text, size_t len, struct jarena **out)
{
	struct jarena *a = calloc(1, sizeof(*a));
	json_t *v;

	*out = NULL;
	if (a == NULL)
		return NULL;
	/* jansson's values take about three times the text: one chunk, most of the time. */
	a->chunks = chunk_new(len < CHUNK_MAX / 4 ? len * 4 : CHUNK_MAX);
	if (a->chunks == NULL) {
		free(a);
		return NULL;
	}
	a->chunks->next = NULL;
	a->next = live;
	live = a;
	filling = a;
	v = json_loadb(text, len, 0, NULL);
	filling = NULL;
	if (v == NULL) {
		jarena_free(NULL, a);
		return NULL;
	}
	*out = a;
	return v;
}

void
jarena_free(json_t *v, struct jarena *a)
{
	struct jarena **pp;
	struct chunk *c, *next;

	/* The values first: frees of arena memory are nothing, of what was added later real. */
	json_decref(v);
	if (a == NULL)
		return;
	for (pp = &live; *pp != NULL && *pp != a; pp = &(*pp)->next)
		;
	if (*pp == a)
		*pp = a->next;
	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		sodium_memzero(c->data, c->used); /* a reply may hold a token or recovery codes */
		free(c);
	}
	free(a);
}
