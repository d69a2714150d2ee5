/*
 * Who may take one of idgovd's client slots, and how the trouble clients
 * cause is reported: bookkeeping without I/O, kept apart from the event
 * loop so that it can be tested on its own.
 *
 * Admission: a uid may hold at most max_per_uid slots, so one local user
 * cannot take them all. root has no per-uid limit, and the last
 * ADMIT_ROOT_SLOTS slots are root's alone: however many uids an attacker
 * controls, root can still connect and run `idgov status`.
 *
 * Reporting: refused connections, requests not sent in time and replies
 * not read in time are counted per uid and kind. The first event of a
 * burst is reported at once; the rest are only counted, and reported as
 * one summary with their number when the interval ends (and every
 * interval while the burst goes on). A flood costs a log line and an
 * audit record per uid, kind and interval, never one per connection.
 */
#ifndef IDGOV_ADMISSION_H
#define IDGOV_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ADMIT_ROOT_SLOTS 4

enum admit { ADMIT_OK, ADMIT_UID_FULL, ADMIT_TABLE_FULL };

/*
 * May uid take a slot, with used of slots taken, uid_used of them by uid?
 * ADMIT_UID_FULL: uid holds max_per_uid already; ADMIT_TABLE_FULL: no slot
 * left that uid may take.
 */
enum admit admit_check(size_t used, size_t slots, size_t uid_used, uid_t uid, int max_per_uid);

enum flood_kind {
	FLOOD_UID_FULL,   /* refused: the uid holds max_per_uid connections */
	FLOOD_TABLE_FULL, /* refused: no slot left */
	FLOOD_TIMEOUT,    /* dropped: request not received in time */
	FLOOD_SLOW,       /* dropped: reply not read in time */
	FLOOD_KINDS
};

/* The uid of a report for uids beyond what the table tracks. */
#define FLOOD_ANY_UID ((uid_t)-1)
#define FLOOD_ENTRIES 64

struct flood_entry {
	int used;
	uid_t uid;
	enum flood_kind kind;
	int64_t since;       /* start of the current interval */
	unsigned long count; /* events since the last report */
};

struct flood {
	int64_t interval;
	struct flood_entry e[FLOOD_ENTRIES];
	/* When every entry is taken (more uids in trouble at once than it
	 * tracks): counted per kind for all other uids together. */
	struct flood_entry any[FLOOD_KINDS];
};

struct flood_report {
	uid_t uid; /* FLOOD_ANY_UID: other uids */
	enum flood_kind kind;
	unsigned long count;
	int64_t seconds; /* the interval the count covers */
};

/* An empty table reporting bursts every interval (same unit as now below). */
void flood_init(struct flood *f, int64_t interval);

/*
 * Counts one event. Returns 1 when the caller should report it now (the
 * first of its burst, *out filled with a count of 1), 0 when it was only
 * counted for the next summary.
 */
int flood_note(struct flood *f, uid_t uid, enum flood_kind kind, int64_t now,
	       struct flood_report *out);

/*
 * Takes the next summary due at now: 1 with *out filled (count >= 1), 0
 * when none is due. Call until it returns 0. With all set, every count not
 * yet reported is due whatever its interval (at exit). An entry whose
 * interval passed without events is forgotten, so the next event is again
 * reported at once.
 */
int flood_due(struct flood *f, int64_t now, int all, struct flood_report *out);

#endif
