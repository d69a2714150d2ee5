/*
 * One round of governance; see scheduler.h. Each step returns when it is
 * next due, and the round's answer is the earliest of them. Every step is
 * bounded (grants and the journal write at most a batch, verification
 * reads at most a batch), so the daemon's loop gets control back quickly
 * and runs the next round at once while work is waiting.
 */
#include "scheduler.h"

#include "journal.h"

/* Keeps in *next the earliest of the due times seen so far (0: none). */
static void
earliest(int64_t *next, int64_t t)
{
	if (t > 0 && (*next == 0 || t < *next))
		*next = t;
}

int
governance_round(struct grants_ctx *g, struct review_ctx *r, int64_t now, int64_t *next,
		 struct idg_err *err)
{
	int64_t t;
	int rc;

	*next = 0;
	if (grants_tick(g, now, &t, err) != 0)
		return -1;
	earliest(next, t);
	if (reviews_tick(r, now, &t, err) != 0)
		return -1;
	earliest(next, t);
	if (journal_run(r->journal, now, &t, err) < 0)
		return -1;
	earliest(next, t);
	/* 1: the directory could not be read, try again soon; 2: more are waiting. */
	if ((rc = reviews_verify(r, now, err)) < 0)
		return -1;
	if (rc > 0)
		earliest(next, rc == 2 ? now : now + 5);
	return 0;
}
