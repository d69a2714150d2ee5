/*
 * The departure guard: whether departures the directory reports are
 * applied or held.
 *
 * An empty or truncated search result, a wrong filter, or a mass deletion
 * by mistake all look like many users leaving at once. Departures are
 * counted over a sliding window ([sync] guard_window): those applied
 * within it (user.leaver events since the window began, or since the last
 * release or forced sync, whichever is later) plus the new ones. When
 * that count is more than [directory] max_departed_fraction of the users
 * active at the window's start and more than two, or is every one of
 * them, the new departures are held: recorded in held_departures, the
 * users left as they were, while every other change keeps flowing. Once
 * departures are held, every later one is held too, until an admin
 * releases them (`idgov sync release --confirm N`).
 *
 * The same rule holds for a refresh (its sweep is judged as one batch)
 * and for the persistent sync (each committed batch is judged with what
 * the window already holds).
 */
#ifndef IDGOV_GUARD_H
#define IDGOV_GUARD_H

#include "config.h"
#include "store.h"

#include <stdint.h>

/* Event kinds that restart the window: departures applied on purpose. */
#define GUARD_RELEASED "sync.guard_released"
#define GUARD_FORCED "sync.guard_forced"
#define GUARD_HELD "sync.departures_held"

struct guard_view {
	int64_t held;   /* departures held before this batch */
	int64_t recent; /* departures applied within the window */
	int64_t active; /* users active at the window's start: active now + recent */
	int64_t since;  /* the window's start */
	int hold;       /* the new departures must be held */
};

/*
 * Judges n_new new departures (users still active in the store, not held)
 * at time now. Reads the store inside the caller's transaction. 0, or -1
 * with err.
 */
int guard_judge(struct store *st, const struct cfg *cfg, int64_t now, int64_t n_new,
		struct guard_view *g, struct idg_err *err);

/* One sentence for logs and alerts: how many, out of what, the limit. */
void guard_describe(const struct cfg *cfg, const struct guard_view *g, int64_t n_new, char *buf,
		    size_t size);

#endif
