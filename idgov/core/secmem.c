/*
 * secmem.h: a small cache of sodium_malloc() blocks. Every block handed
 * out is in the table with its size, so secmem_free() knows how much to
 * wipe; a block that does not fit in the table is an ordinary
 * sodium_malloc() block and goes back with sodium_free().
 */
#include "secmem.h"

#include <pthread.h>
#include <sodium.h>

struct slot {
	void *p;
	size_t size;
	int busy;
};

static struct slot slots[SECMEM_KEEP];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *
secmem_alloc(size_t size)
{
	struct slot *empty = NULL;
	void *p;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < SECMEM_KEEP; i++) {
		struct slot *s = &slots[i];

		if (s->p != NULL && !s->busy && s->size == size) {
			s->busy = 1;
			pthread_mutex_unlock(&lock);
			return s->p;
		}
		if (s->p == NULL && empty == NULL)
			empty = s;
	}
	p = sodium_malloc(size);
	if (p != NULL && empty != NULL) {
		empty->p = p;
		empty->size = size;
		empty->busy = 1;
	}
	pthread_mutex_unlock(&lock);
	return p;
}

void
secmem_free(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < SECMEM_KEEP; i++) {
		if (slots[i].p == p) {
			sodium_memzero(p, slots[i].size);
			slots[i].busy = 0;
			pthread_mutex_unlock(&lock);
			return;
		}
	}
	pthread_mutex_unlock(&lock);
	sodium_free(p); /* not one of the table's: wiped by sodium_free */
}

void
secmem_release(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < SECMEM_KEEP; i++) {
		if (slots[i].p != NULL && !slots[i].busy) {
			sodium_free(slots[i].p);
			slots[i].p = NULL;
			slots[i].size = 0;
		}
	}
	pthread_mutex_unlock(&lock);
}
