/*
 * The audit spool: how processes that must not hold the audit signing key
 * (idgov-authd's children, and the break-glass path of pam_idgov.so) hand
 * audit events to idgovd, the only process that signs the chain.
 *
 * A spool is one directory (root, 0700; [store] audit_spool). Each event is
 * one file, written 0600 under a temporary name that starts with '.',
 * fsync'd, renamed to its final name and the directory fsync'd, so a file
 * with a final name is always complete. Final names sort in the order the
 * events were made on this host:
 *
 *     <16 hex: CLOCK_REALTIME ns>-<8 hex: pid>-<8 hex: counter>.ev
 *
 * Each file holds one JSON object of at most SPOOL_RECORD_MAX bytes with
 * exactly the members v (1), time (UTC seconds), host, actor, subject,
 * action (texts, at most AUDIT_FIELD_MAX bytes, no NUL) and details (an
 * object). Anything else is malformed: idgovd moves the file to the
 * spool's "quarantine" subdirectory, alerts (LOG_ALERT) and records an
 * "audit.spool_quarantined" event, so no event is ever dropped silently.
 *
 * idgovd ingests (spool_ingest) in name order, at most batch_max events in
 * one transaction: each event is appended to the chain with its spool name,
 * host and time added to its details ("spool", "host", "at"), the head is
 * signed, the transaction commits, and only then are the files unlinked.
 * A crash between the commit and the unlinks leaves files whose names are
 * already in the chain; the next ingest finds them there and only unlinks
 * them, so nothing is appended twice.
 */
#ifndef IDGOV_SPOOL_H
#define IDGOV_SPOOL_H

#include "audit.h"
#include "util.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_RECORD_MAX 8192
#define SPOOL_HOST_MAX 255
#define SPOOL_NAME_LEN 37 /* 16 + 1 + 8 + 1 + 8 + ".ev" */
#define SPOOL_QUARANTINE "quarantine"

struct spool_event {
	int64_t time;
	char host[SPOOL_HOST_MAX + 1];
	char actor[AUDIT_FIELD_MAX + 1];
	char subject[AUDIT_FIELD_MAX + 1];
	char action[AUDIT_FIELD_MAX + 1];
	json_t *details; /* an object, owned */
};

/*
 * Writes one event into dir (created 0700 if missing; its parent must
 * exist). details is a JSON object text or NULL for {}. Longer texts are
 * cut to the limits above. 0 once the event is durable, -1 (err) with
 * nothing left behind.
 */
int spool_write(const char *dir, const char *actor, const char *subject, const char *action,
		const char *details, struct idg_err *err);

/* 1 if name is a final spool name (see above), else 0. */
int spool_name_valid(const char *name);

/*
 * Parses one record strictly: 0 with ev filled (free with
 * spool_event_clear), or -1 with the reason in err and ev empty.
 */
int spool_parse(const char *buf, size_t len, struct spool_event *ev, struct idg_err *err);
void spool_event_clear(struct spool_event *ev);

struct spool_result {
	int ingested;    /* appended to the chain */
	int duplicates;  /* already in the chain (a crash after a commit): unlinked only */
	int quarantined; /* malformed: moved aside and alerted */
	int more;        /* batch_max was reached: call again */
};

/*
 * Ingests up to batch_max events from dir into a's chain (a signing
 * handle), as described above. A missing dir is an empty spool. The
 * directory must be owned by this process's user and not reachable by
 * others (mode 0700), or nothing is read. -1 (err) leaves every file where
 * it was and the chain unchanged.
 */
int spool_ingest(struct audit *a, const char *dir, int batch_max, struct logger *log,
		 struct spool_result *res, struct idg_err *err);

#endif
