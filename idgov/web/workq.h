/*
 * A work queue served by a fixed number of threads, first in, first out.
 *
 * idgov-web's pages wait on idgovd (a control call each). They are made by
 * these threads, not by libmicrohttpd's, so that a connection waiting for
 * idgovd holds one of these threads and no other connection: the requests
 * of every connection are taken in the order they were complete, whichever
 * of libmicrohttpd's threads read them.
 */
#ifndef IDGOV_WEB_WORKQ_H
#define IDGOV_WEB_WORKQ_H

/* A job: embedded (first) in the caller's own structure. */
struct workq_job {
	struct workq_job *next;
};

struct workq;

/*
 * Starts n threads (1..64), each calling run(job) for the jobs pushed, one
 * at a time; 0, or an errno value (EINVAL for n, or why a thread could
 * not start) with no thread left running.
 */
int workq_start(int n, void (*run)(struct workq_job *), struct workq **out);

/* Queues job; 0, or -1 when the queue is stopping (job not taken). */
int workq_push(struct workq *q, struct workq_job *job);

/*
 * Refuses new jobs from now on (workq_push() says -1), lets the threads
 * finish every job already queued, and joins them. q stays valid, so that
 * a late push is refused rather than a use after free; workq_free() frees it.
 */
void workq_stop(struct workq *q);

/* Stops q if it is not yet, and frees it; q may be NULL. */
void workq_free(struct workq *q);

#endif
