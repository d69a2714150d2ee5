/*
 * Unit tests for workq (idgov-web's page threads): jobs are taken first in,
 * first out; a job that blocks (a page waiting for idgovd) holds its own
 * thread only, and the others' jobs go on; stopping runs every job already
 * queued (a suspended connection must be resumed); the thread count is
 * bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>

#include "workq.h"

#define NJOBS 64

struct tjob {
	struct workq_job job; /* first, as workq.h asks */
	int id;
	int blocks; /* waits for the gate before it ends */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int gate_open, started_blocked, done, order[NJOBS + 1];

static void
reset(void)
{
	pthread_mutex_lock(&mu);
	gate_open = started_blocked = done = 0;
	memset(order, -1, sizeof(order));
	pthread_mutex_unlock(&mu);
}

static void
run(struct workq_job *j)
{
	struct tjob *t = (struct tjob *)j;

	pthread_mutex_lock(&mu);
	if (t->blocks) {
		started_blocked++;
		pthread_cond_broadcast(&cv);
		while (!gate_open)
			pthread_cond_wait(&cv, &mu);
	}
	if (done <= NJOBS)
		order[done] = t->id;
	done++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
wait_until(const int *v, int at_least)
{
	pthread_mutex_lock(&mu);
	while (*v < at_least)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&mu);
	gate_open = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
test_jobs_are_taken_in_the_order_pushed(void **state)
{
	struct tjob j[6] = {{.id = 0, .blocks = 1}};
	struct workq *q;

	(void)state;
	reset();
	assert_int_equal(workq_start(1, run, &q), 0);
	assert_int_equal(workq_push(q, &j[0].job), 0);
	wait_until(&started_blocked, 1); /* the one thread is busy: the rest queue */
	for (int i = 1; i < 6; i++) {
		j[i].id = i;
		assert_int_equal(workq_push(q, &j[i].job), 0);
	}
	open_gate();
	workq_free(q);
	assert_int_equal(done, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(order[i], i);
}

static void
test_a_blocked_job_holds_only_its_own_thread(void **state)
{
	struct tjob blocked = {.id = 0, .blocks = 1}, others[3];
	struct workq *q;

	(void)state;
	reset();
	assert_int_equal(workq_start(2, run, &q), 0);
	assert_int_equal(workq_push(q, &blocked.job), 0);
	wait_until(&started_blocked, 1);
	for (int i = 0; i < 3; i++) {
		others[i] = (struct tjob){.id = i + 1};
		assert_int_equal(workq_push(q, &others[i].job), 0);
	}
	/* All three end while the first still waits (the gate is shut until after). */
	wait_until(&done, 3);
	pthread_mutex_lock(&mu);
	assert_int_equal(gate_open, 0);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);
	pthread_mutex_unlock(&mu);
	open_gate();
	workq_free(q);
	assert_int_equal(done, 4);
	assert_int_equal(order[3], 0);
}

static void
test_stop_runs_every_job_already_queued(void **state)
{
	struct tjob j[NJOBS];
	struct workq *q;

	(void)state;
	reset();
	gate_open = 1;
	assert_int_equal(workq_start(3, run, &q), 0);
	for (int i = 0; i < NJOBS; i++) {
		j[i] = (struct tjob){.id = i};
		assert_int_equal(workq_push(q, &j[i].job), 0);
	}
	workq_stop(q);
	assert_int_equal(done, NJOBS);
	/* Stopped, q still answers: a late job is refused and never run. */
	assert_int_equal(workq_push(q, &j[0].job), -1);
	workq_free(q);
	assert_int_equal(done, NJOBS);
}

static void
test_thread_count_is_bounded(void **state)
{
	struct workq *q;

	(void)state;
	memset(&q, 0x55, sizeof(q)); /* not NULL: workq_start() must clear it */
	assert_int_equal(workq_start(0, run, &q), EINVAL);
	assert_null(q);
	assert_int_equal(workq_start(65, run, &q), EINVAL);
	assert_null(q);
	assert_int_equal(workq_start(64, run, &q), 0);
	assert_non_null(q);
	workq_free(q);
	workq_stop(NULL);
	workq_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_are_taken_in_the_order_pushed),
		cmocka_unit_test(test_a_blocked_job_holds_only_its_own_thread),
		cmocka_unit_test(test_stop_runs_every_job_already_queued),
		cmocka_unit_test(test_thread_count_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
