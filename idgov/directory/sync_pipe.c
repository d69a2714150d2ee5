/* The refresh pipeline; see sync_pipe.h. */
#include "sync_pipe.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct batch {
	size_t n;
	struct sync_work w[SYNC_PIPE_BATCH];
};

struct sync_pipe {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t more; /* a batch was queued, or done */
	pthread_cond_t room; /* a batch was taken */
	struct batch *queue[SYNC_PIPE_DEPTH];
	size_t head, count;
	int done;
	struct batch *filling; /* the reader's batch, not yet queued */
	sync_apply_fn apply;
	void *arg;
};

static void
apply_batch(struct sync_pipe *p, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		p->apply(p->arg, &b->w[i]);
		if (b->w[i].kind == SYNC_WORK_ENTRY)
			dir_entry_free(&b->w[i].e);
	}
	free(b);
}

static void *
applier(void *arg)
{
	struct sync_pipe *p = arg;

	for (;;) {
		struct batch *b;

		pthread_mutex_lock(&p->mu);
		while (p->count == 0 && !p->done)
			pthread_cond_wait(&p->more, &p->mu);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		b = p->queue[p->head];
		p->head = (p->head + 1) % SYNC_PIPE_DEPTH;
		p->count--;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);
		apply_batch(p, b);
	}
}

int
sync_pipe_start(sync_apply_fn apply, void *arg, struct sync_pipe **out, struct idg_err *err)
{
	struct sync_pipe *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (p == NULL)
		return idg_seterr(err, "out of memory");
	p->apply = apply;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->room, NULL);
	/* Signals are the caller's business: the applier takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&p->thread, NULL, applier, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&p->room);
		pthread_cond_destroy(&p->more);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return idg_seterr(err, "cannot start the sync's applier thread: %s", strerror(rc));
	}
	*out = p;
	return 0;
}

/* Queues the reader's batch, waiting for room. */
static void
hand_over(struct sync_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->count == SYNC_PIPE_DEPTH)
		pthread_cond_wait(&p->room, &p->mu);
	p->queue[(p->head + p->count) % SYNC_PIPE_DEPTH] = p->filling;
	p->count++;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->mu);
	p->filling = NULL;
}

int
sync_pipe_push(struct sync_pipe *p, const struct sync_work *w, struct idg_err *err)
{
	if (p->filling == NULL) {
		p->filling = malloc(sizeof(*p->filling));
		if (p->filling == NULL)
			return idg_seterr(err, "out of memory");
		p->filling->n = 0;
	}
	p->filling->w[p->filling->n++] = *w;
	if (p->filling->n == SYNC_PIPE_BATCH)
		hand_over(p);
	return 0;
}

void
sync_pipe_finish(struct sync_pipe *p)
{
	if (p == NULL)
		return;
	if (p->filling != NULL)
		hand_over(p);
	pthread_mutex_lock(&p->mu);
	p->done = 1;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
