/*
 * The governance scheduler: one round of everything the governor does on
 * its clock, in the order that makes each step see the last one's work:
 * grants (starts, ends, lapses, notices), reviews (scheduled starts,
 * reminders, deadlines), the directory write journal those two fill, and
 * the verification of review remediations the journal has written.
 *
 * idgovd runs a round on its timer and after each request that changed
 * something; idgov runs rounds itself when root works without a daemon.
 * It is the one place that knows both grants and reviews, so neither of
 * those libraries depends on the other.
 */
#ifndef IDGOV_SCHEDULER_H
#define IDGOV_SCHEDULER_H

#include "grants.h"
#include "reviews.h"

/*
 * Runs one bounded round at now. *next gets when the next round is due
 * (0: nothing is scheduled; now: more work is waiting). Returns 0, or -1
 * with err.
 */
int governance_round(struct grants_ctx *g, struct review_ctx *r, int64_t now, int64_t *next,
		     struct idg_err *err);

#endif
