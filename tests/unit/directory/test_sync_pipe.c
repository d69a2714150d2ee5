/* The refresh pipeline: order, back-pressure, ownership of entries, and the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sync_pipe.h"

struct seen {
	int n;
	int kinds[1000];
	char uuids[1000][DIR_UUID_LEN + 1];
	int slow; /* sleep a little per item, so the reader fills the queue */
};

static void
record(void *arg, const struct sync_work *w)
{
	struct seen *s = arg;

	if (s->slow) {
		struct timespec ts = {0, 200000};

		nanosleep(&ts, NULL);
	}
	s->kinds[s->n] = (int)w->kind;
	strcpy(s->uuids[s->n], w->kind == SYNC_WORK_ENTRY ? w->e.uuid : w->uuid);
	s->n++;
}

/* An entry with heap memory, so that a leak or a double free shows under the sanitizers. */
static struct sync_work
entry_work(int i)
{
	struct sync_work w = {.kind = SYNC_WORK_ENTRY};

	snprintf(w.e.uuid, sizeof(w.e.uuid), "e%d", i);
	w.e.kind = DIR_USER;
	w.e.dn = strdup("uid=x,dc=example");
	w.e.dn_norm = strdup("uid=x,dc=example");
	assert_non_null(w.e.dn);
	assert_non_null(w.e.dn_norm);
	return w;
}

static void
run(struct seen *s, int count)
{
	struct sync_pipe *p;
	struct idg_err err;

	assert_int_equal(sync_pipe_start(record, s, &p, &err), 0);
	for (int i = 0; i < count; i++) {
		struct sync_work w;

		if (i % 3 == 0) {
			w = entry_work(i);
		} else {
			memset(&w, 0, sizeof(w));
			w.kind = i % 3 == 1 ? SYNC_WORK_PRESENT : SYNC_WORK_DELETE;
			snprintf(w.uuid, sizeof(w.uuid), "u%d", i);
		}
		assert_int_equal(sync_pipe_push(p, &w, &err), 0);
	}
	sync_pipe_finish(p);
}

/* Everything pushed is applied once, in order, across batch boundaries and a partial last batch. */
static void
test_order_is_kept_and_nothing_is_lost(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	int count = 3 * SYNC_PIPE_BATCH + 5;

	(void)state;
	run(s, count);
	assert_int_equal(s->n, count);
	for (int i = 0; i < count; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%c%d", i % 3 == 0 ? 'e' : 'u', i);
		assert_string_equal(s->uuids[i], want);
		assert_int_equal(s->kinds[i], i % 3 == 0   ? SYNC_WORK_ENTRY
					      : i % 3 == 1 ? SYNC_WORK_PRESENT
							   : SYNC_WORK_DELETE);
	}
	free(s);
}

/* A slow applier holds the reader back (the queue is bounded) and still gets everything. */
static void
test_a_slow_applier_gets_everything(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	int count = (SYNC_PIPE_DEPTH + 3) * SYNC_PIPE_BATCH;

	(void)state;
	assert_true(count <= 1000);
	s->slow = 1;
	run(s, count);
	assert_int_equal(s->n, count);
	assert_string_equal(s->uuids[count - 1], "u703");
	free(s);
}

static void
test_an_empty_refresh_ends(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));

	(void)state;
	run(s, 0);
	assert_int_equal(s->n, 0);
	sync_pipe_finish(NULL);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_is_kept_and_nothing_is_lost),
		cmocka_unit_test(test_a_slow_applier_gets_everything),
		cmocka_unit_test(test_an_empty_refresh_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
