/*
 * A first-in, first-out queue of jobs and the threads that run them; see
 * workq.h. One mutex guards the list and the stopping flag; a condition
 * variable wakes an idle thread per job. A thread runs a job without the
 * lock held.
 */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define WORKQ_MAX 64

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workq_job *head, *tail;
	int stopping;
	int n; /* threads started */
	void (*run)(struct workq_job *);
	pthread_t threads[WORKQ_MAX];
};

/* The next job, or NULL once stopping and nothing is left. */
static struct workq_job *
take(struct workq *q)
{
	struct workq_job *j;

	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->stopping)
		pthread_cond_wait(&q->cv, &q->mu);
	if ((j = q->head) != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		j->next = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return j;
}

static void *
worker(void *arg)
{
	struct workq *q = arg;
	struct workq_job *j;

	while ((j = take(q)) != NULL)
		q->run(j);
	return NULL;
}

/* Refuses new jobs, and joins the threads started so far once they have run the rest. */
static void
stop(struct workq *q)
{
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->n; i++)
		pthread_join(q->threads[i], NULL);
	q->n = 0;
}

static void
destroy(struct workq *q)
{
	stop(q);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int
workq_start(int n, void (*run)(struct workq_job *), struct workq **out)
{
	struct workq *q;
	int rc;

	*out = NULL;
	if (n < 1 || n > WORKQ_MAX)
		return EINVAL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->run = run;
	for (; q->n < n; q->n++) {
		if ((rc = pthread_create(&q->threads[q->n], NULL, worker, q)) != 0) {
			destroy(q);
			return rc;
		}
	}
	*out = q;
	return 0;
}

int
workq_push(struct workq *q, struct workq_job *job)
{
	int rc = -1;

	job->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (!q->stopping) {
		if (q->tail != NULL)
			q->tail->next = job;
		else
			q->head = job;
		q->tail = job;
		pthread_cond_signal(&q->cv);
		rc = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void
workq_stop(struct workq *q)
{
	if (q != NULL)
		stop(q);
}

void
workq_free(struct workq *q)
{
	if (q != NULL)
		destroy(q);
}
