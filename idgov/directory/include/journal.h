/*
 * The journal of directory writes (table dir_journal, schema/005).
 *
 * Governance decides in the store and writes to the directory later:
 * a decision and the journal rows it needs are committed together
 * (journal_add inside the caller's transaction), then journal_run applies
 * the pending rows in order. A crash in between leaves rows pending, and
 * the next run applies them; since every write is idempotent (dirwrite.h),
 * a row applied just before a crash and applied again changes nothing.
 *
 * A transient failure (directory down) defers the rows that were due,
 * with a backoff capped at [grants] retry_max, and raises an alert; a
 * permanent one marks the row failed, audited and alerted. Each applied
 * row is audited as directory.write with its result.
 */
#ifndef IDGOV_JOURNAL_H
#define IDGOV_JOURNAL_H

#include "audit.h"
#include "config.h"
#include "log.h"
#include "store.h"

#include <ldap.h>
#include <stdint.h>

struct journal {
	const struct cfg *cfg;
	struct store *st;
	struct audit *audit;
	struct logger *log;
	const char *actor; /* who applies: "idgovd", or the CLI's user */
	LDAP *ld;          /* the writer's connection, opened on demand; see journal_connection() */
	int64_t alerted_at;
};

/*
 * The journal's directory connection, connected on first use. Reviews read
 * the directory through it (scope filters, verification of removals), so
 * a governance round holds one connection; after a directory error the
 * reader calls journal_close() and the next use connects again. Returns 0
 * with *ld (owned by the journal), or -1 with err.
 */
int journal_connection(struct journal *j, LDAP **ld, struct idg_err *err);

/* Adds a pending row; call inside the transaction that made the decision. */
int journal_add(struct store *st, int64_t grant_id, const char *op, const char *dn,
		const char *attr, const char *value, struct idg_err *err);

/*
 * Applies the rows due at now, up to a few hundred, so that a daemon
 * can serve requests between runs. Sets *next to when the next run is due
 * (now when due rows are left, 0 when none are pending). Returns the
 * number of rows applied or failed for good, or -1 if the store failed.
 */
int journal_run(struct journal *j, int64_t now, int64_t *next, struct idg_err *err);

/* Closes the writer's connection. */
void journal_close(struct journal *j);

#endif
