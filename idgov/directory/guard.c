/* The departure guard's rule; see guard.h. */
#include "guard.h"

#include <stdio.h>

static int
first_int(struct store *st, const char *sql, int64_t a, int64_t *out, struct idg_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, sql, &s, err) != 0)
		return -1;
	if (sqlite3_bind_parameter_count(s) > 0)
		sqlite3_bind_int64(s, 1, a);
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_err(st, err, "reading departures");
}

int
guard_judge(struct store *st, const struct cfg *cfg, int64_t now, int64_t n_new,
	    struct guard_view *g, struct idg_err *err)
{
	int64_t restart, total;

	g->hold = 0;
	g->since = now - cfg->sync_guard_window;
	if (first_int(st, "SELECT count(*) FROM held_departures", 0, &g->held, err) != 0 ||
	    first_int(st,
		      "SELECT coalesce(max(time), 0) FROM events WHERE kind IN "
		      "('" GUARD_RELEASED "', '" GUARD_FORCED "') AND time >= ?1",
		      g->since, &restart, err) != 0)
		return -1;
	if (restart > g->since)
		g->since = restart;
	if (first_int(st, "SELECT count(*) FROM events WHERE kind = 'user.leaver' AND time >= ?1",
		      g->since, &g->recent, err) != 0 ||
	    first_int(st, "SELECT count(*) FROM users WHERE status <> 'departed'", 0, &g->active,
		      err) != 0)
		return -1;
	g->active += g->recent;
	total = g->recent + n_new;
	if (n_new <= 0)
		return 0;
	g->hold = g->held > 0 || total >= g->active ||
		  (total > 2 && (double)total > cfg->dir_max_departed_fraction * (double)g->active);
	return 0;
}

void
guard_describe(const struct cfg *cfg, const struct guard_view *g, int64_t n_new, char *buf,
	       size_t size)
{
	if (g->held > 0)
		snprintf(buf, size,
			 "%lld more departures held beside the %lld already held; release them "
			 "with 'idgov sync release --confirm N' once the directory is checked",
			 (long long)n_new, (long long)g->held);
	else
		snprintf(
			buf, size,
			"%lld departures held: with %lld more within the last %lld s, %lld of %lld "
			"active users would be departed (limit %.0f%%); check the directory, then "
			"run 'idgov sync release --confirm %lld'",
			(long long)n_new, (long long)g->recent, (long long)cfg->sync_guard_window,
			(long long)(g->recent + n_new), (long long)g->active,
			cfg->dir_max_departed_fraction * 100, (long long)n_new);
}
