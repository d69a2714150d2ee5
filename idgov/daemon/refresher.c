/*
 * The refresh worker thread; see refresher.h.
 *
 * Ownership: the loop allocates the refresher and frees it in
 * refresher_finish(), after pthread_join(). Between start and join the
 * worker alone touches opts, res, err, rc and its own store, audit and
 * logger; the loop touches only the stop flag (atomic) and the eventfd.
 * So no lock is needed: the join is the hand-over.
 */
#define _GNU_SOURCE
#include "refresher.h"

#include "audit.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct refresher {
	const struct cfg *cfg;
	struct logger log; /* the worker's own */
	struct sync_opts opts;
	atomic_int stop;
	int efd; /* eventfd, written once when the worker is done */
	pthread_t thread;
	/* Filled by the worker, read by the loop after the join. */
	int rc;
	struct sync_result res;
	struct idg_err err;
};

static void *
worker(void *arg)
{
	struct refresher *r = arg;
	struct store *st = NULL;
	struct audit *audit = NULL;
	uint64_t one = 1;

	r->rc = -1;
	if (store_open(r->cfg->store_path, STORE_OPEN_EXISTING, &st, &r->err) == 0 &&
	    /*
	     * No anchor: the loop's handle raises the anchor file after its next
	     * commit (refresh_done() writes the records it held), so two threads
	     * never write it at once.
	     */
	    audit_open(st, r->cfg->audit_key_file, NULL, r->cfg->audit_sign_every, &r->log, &audit,
		       &r->err) == 0)
		r->rc = sync_once(r->cfg, st, audit, &r->log, &r->opts, &r->res, &r->err);
	audit_close(audit);
	store_close(st);
	/* An eventfd write of 1 cannot fail short of a bug; the loop also joins at teardown. */
	while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

int
refresher_start(const struct cfg *cfg, const struct logger *log, const struct sync_opts *opts,
		struct refresher **out, struct idg_err *err)
{
	struct refresher *r;
	int e;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return idg_seterr(err, "out of memory");
	r->cfg = cfg;
	r->opts = *opts;
	atomic_init(&r->stop, 0);
	r->opts.stop = &r->stop;
	log_open(&r->log, log->ident, log->path, log->to_stderr);
	r->log.min_stderr_level = log->min_stderr_level;
	if ((r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		idg_seterr(err, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((e = pthread_create(&r->thread, NULL, worker, r)) != 0) {
		idg_seterr(err, "cannot start the sync thread: %s", strerror(e));
		close(r->efd);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	log_close(&r->log);
	free(r);
	return -1;
}

int
refresher_fd(const struct refresher *r)
{
	return r->efd;
}

void
refresher_stop(struct refresher *r)
{
	atomic_store(&r->stop, 1);
}

int
refresher_finish(struct refresher *r, struct sync_result *res, struct idg_err *err)
{
	int rc;

	(void)pthread_join(r->thread, NULL);
	rc = r->rc;
	*res = r->res;
	*err = r->err;
	close(r->efd);
	log_close(&r->log);
	free(r);
	return rc;
}
