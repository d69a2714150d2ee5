/*
 * The refresh pipeline: the thread that reads the directory parses each
 * message into a piece of work and hands it to one applier thread, which
 * alone touches the mirror (and so the store), in the order the directory
 * sent the messages. Reading the socket and parsing (BER decoding, DN
 * normalisation, sorting member values) then run beside the store's
 * writes instead of before them: in a full refresh of 100,000 users they
 * were a quarter of the time.
 *
 * Work is handed over in batches, so that the threads meet (a lock, a
 * wake-up) once per batch, not once per entry; at most SYNC_PIPE_DEPTH
 * batches wait, so a fast directory cannot fill memory ahead of a slow
 * store.
 */
#ifndef IDGOV_SYNC_PIPE_H
#define IDGOV_SYNC_PIPE_H

#include "dir.h"
#include "util.h"

#define SYNC_PIPE_BATCH 64
#define SYNC_PIPE_DEPTH 8

enum sync_work_kind {
	SYNC_WORK_ENTRY,   /* apply e */
	SYNC_WORK_PRESENT, /* uuid is still in the directory */
	SYNC_WORK_DELETE,  /* uuid is gone */
	SYNC_WORK_SWEEP,   /* whatever was not mentioned is gone */
};

struct sync_work {
	enum sync_work_kind kind;
	struct dir_entry e; /* SYNC_WORK_ENTRY: owned by the work, freed once applied */
	char uuid[DIR_UUID_LEN + 1];
};

/* Applies one piece of work; errors are the callee's to record. Runs on the applier thread. */
typedef void (*sync_apply_fn)(void *arg, const struct sync_work *w);

struct sync_pipe;

/* Starts the applier thread. */
int sync_pipe_start(sync_apply_fn apply, void *arg, struct sync_pipe **out, struct idg_err *err);
/* Queues w (its entry now belongs to the pipe), waiting while the queue is full. */
int sync_pipe_push(struct sync_pipe *p, const struct sync_work *w, struct idg_err *err);
/* Hands over what is left, waits until all of it is applied, ends the thread, frees p. */
void sync_pipe_finish(struct sync_pipe *p);

#endif
