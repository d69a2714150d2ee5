/*
 * RFC 4533 and paged sync drivers; see sync.h.
 *
 * libldap calls our callbacks for each message, but ignores what they
 * return, so a callback that fails records the first error in the context
 * and the driver rolls the whole batch back afterwards.
 *
 * When to sweep (delete what the server did not mention):
 * - refreshOnly ends with syncDone; refreshDeletes=FALSE there means a
 *   present phase was used, so everything not mentioned is gone. So does a
 *   refresh without a cookie (slapd marks it refreshDeletes=TRUE, but it
 *   carried the whole content).
 * - In refreshAndPersist, a refreshPresent info message that does not end
 *   the refresh closes the present phase: sweep then. libldap reports the
 *   final "refresh done" without saying whether it was refreshPresent or
 *   refreshDelete, so we infer it: a refresh without a cookie sent every
 *   entry (sweep); with a cookie, a refresh that sent present states and
 *   no deletes was a present phase (sweep); one that sent deletes was a
 *   delete phase (no sweep).
 */
#include "sync.h"

#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "sync_pipe.h"

struct sync_ctx {
	const struct cfg *cfg;
	struct mirror *m;
	struct logger *log;
	LDAP *ld;
	int had_cookie;
	int saw_present, saw_delete, swept;
	int refresh_done;
	int sweep_on_result;
	atomic_int failed; /* set by either thread of a pipelined refresh */
	int calls;
	/* While a refresh runs: the mirror's work goes to the applier thread (sync_pipe.h). */
	struct sync_pipe *pipe;
	struct idg_err err;
	/* The mode recorded in sync_state, if not this sync's own (sync_opts.state_mode). */
	const char *state_mode;
	const atomic_int *stop; /* sync_opts.stop */
};

struct sync_session {
	const struct cfg *cfg;
	struct store *st;
	struct audit *audit;
	struct logger *log;
	struct mirror *m;
	ldap_sync_t ls;
	int ls_live;
	int paged;
	int force;
	struct sync_ctx ctx;
	char *filter;
	char *attrs[DIR_MAX_ATTRS];
};

/* Whether the sync failed (either thread of a pipelined refresh may say so). */
static int
has_failed(struct sync_ctx *c)
{
	return atomic_load(&c->failed);
}

/* The first error wins; c->err is read only after both threads are done with the refresh. */
static void
fail_ctx(struct sync_ctx *c, const struct idg_err *e)
{
	if (atomic_exchange(&c->failed, 1) == 0)
		c->err = *e;
}

/* Does one piece of work on the mirror. On the applier thread while a refresh is pipelined. */
static void
apply_work(void *arg, const struct sync_work *w)
{
	struct sync_ctx *c = arg;
	struct idg_err e;
	int rc = 0;

	if (has_failed(c))
		return; /* the batch is rolled back: the rest is not worth writing */
	switch (w->kind) {
	case SYNC_WORK_ENTRY:
		rc = mirror_apply(c->m, &w->e, &e);
		break;
	case SYNC_WORK_PRESENT:
		rc = mirror_present(c->m, w->uuid, &e);
		break;
	case SYNC_WORK_DELETE:
		rc = mirror_delete(c->m, w->uuid, &e);
		break;
	case SYNC_WORK_SWEEP:
		rc = mirror_sweep(c->m, &e);
		break;
	}
	if (rc != 0)
		fail_ctx(c, &e);
}

/* Hands work to the applier thread, or does it now when no refresh is pipelined. */
static void
dispatch(struct sync_ctx *c, struct sync_work *w)
{
	struct idg_err e;

	if (c->pipe != NULL && sync_pipe_push(c->pipe, w, &e) == 0)
		return; /* the pipe owns the entry now */
	if (c->pipe != NULL)
		fail_ctx(c, &e);
	else
		apply_work(c, w);
	if (w->kind == SYNC_WORK_ENTRY)
		dir_entry_free(&w->e);
}

static void
sweep(struct sync_ctx *c)
{
	struct sync_work w = {.kind = SYNC_WORK_SWEEP};

	if (c->swept || has_failed(c))
		return;
	c->swept = 1;
	dispatch(c, &w);
}

/*
 * True once another thread asked this sync to stop. The first time, the
 * context fails and the connection is shut down, so that libldap's loop
 * inside ldap_sync_init_refresh_only() returns at once with "connection
 * lost" instead of reading (and our callbacks ignoring) the rest of a large
 * refresh; the caller then rolls the transaction back.
 */
static int
stop_requested(struct sync_ctx *c)
{
	struct idg_err e;
	ber_socket_t fd = -1;

	if (c->stop == NULL || !atomic_load(c->stop))
		return 0;
	if (!has_failed(c)) {
		idg_seterr(&e, "sync stopped");
		fail_ctx(c, &e);
		if (c->ld != NULL &&
		    ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
	}
	return 1;
}

/* An entry we cannot parse is kept as it was (stamped present), never swept away. */
static void
apply_message(struct sync_ctx *c, LDAPMessage *msg, const struct berval *uuid_raw)
{
	struct sync_work w = {.kind = SYNC_WORK_ENTRY};
	struct idg_err why;

	if (dir_parse_entry(c->cfg, c->ld, msg, uuid_raw, &w.e, &why) != 0) {
		log_msg(c->log, LOG_WARNING, "sync: skipping directory entry: %s", why.msg);
		w.kind = SYNC_WORK_PRESENT;
		if (uuid_raw == NULL || dir_uuid_format(uuid_raw, w.uuid) != 0)
			return;
	}
	dispatch(c, &w);
}

static void
uuid_op(struct sync_ctx *c, const struct berval *raw, int del)
{
	struct sync_work w = {.kind = del ? SYNC_WORK_DELETE : SYNC_WORK_PRESENT};

	if (dir_uuid_format(raw, w.uuid) != 0) {
		log_msg(c->log, LOG_WARNING, "sync: ignoring malformed entryUUID (%lu bytes)",
			(unsigned long)raw->bv_len);
		return;
	}
	dispatch(c, &w);
}

static int
on_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid, ldap_sync_refresh_t phase)
{
	struct sync_ctx *c = ls->ls_private;

	c->calls++;
	if (has_failed(c) || stop_requested(c))
		return 0;
	switch (phase) {
	case LDAP_SYNC_CAPI_PRESENT:
		c->saw_present = 1;
		uuid_op(c, uuid, 0);
		break;
	case LDAP_SYNC_CAPI_DELETE:
		c->saw_delete = 1;
		uuid_op(c, uuid, 1);
		break;
	case LDAP_SYNC_CAPI_ADD:
	case LDAP_SYNC_CAPI_MODIFY:
		apply_message(c, msg, uuid);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids, ldap_sync_refresh_t phase)
{
	struct sync_ctx *c = ls->ls_private;

	(void)msg;
	c->calls++;
	if (has_failed(c) || stop_requested(c))
		return 0;
	switch (phase) {
	case LDAP_SYNC_CAPI_PRESENTS_IDSET:
	case LDAP_SYNC_CAPI_DELETES_IDSET:
		if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET)
			c->saw_present = 1;
		else
			c->saw_delete = 1;
		for (size_t i = 0; uuids != NULL && uuids[i].bv_val != NULL; i++)
			uuid_op(c, &uuids[i], phase == LDAP_SYNC_CAPI_DELETES_IDSET);
		break;
	case LDAP_SYNC_CAPI_PRESENTS:
		sweep(c); /* the present phase is over; a delete phase follows */
		break;
	case LDAP_SYNC_CAPI_DONE:
		c->refresh_done = 1;
		if (!c->saw_delete && (!c->had_cookie || c->saw_present))
			sweep(c);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_result(ldap_sync_t *ls, LDAPMessage *msg, int refresh_deletes)
{
	struct sync_ctx *c = ls->ls_private;

	(void)msg;
	c->calls++;
	if (stop_requested(c))
		return 0;
	c->refresh_done = 1;
	/* Without a cookie the server sent the whole content, whatever refreshDeletes says. */
	if (refresh_deletes == 0 || !c->had_cookie)
		sweep(c);
	return 0;
}

static void
ctx_reset(struct sync_ctx *c, const struct cfg *cfg, struct mirror *m, struct logger *log, LDAP *ld,
	  int had_cookie)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->m = m;
	c->log = log;
	c->ld = ld;
	c->had_cookie = had_cookie;
}

static int
finish_refresh(struct mirror *m, int force, const struct berval *cookie, const char *mode,
	       struct idg_err *err)
{
	int rc = mirror_check_guard(m, force, err);

	if (rc != 0) {
		mirror_rollback(m);
		return rc;
	}
	if (mirror_save_state(m, cookie, mode, "ok", err) != 0) {
		mirror_rollback(m);
		return -1;
	}
	return mirror_commit(m, err);
}

/* ---- Paged search (no syncprov) ---- */

static int
paged_page(struct sync_ctx *c, const char *filter, char **attrs, struct berval *cookie,
	   struct idg_err *err)
{
	LDAPControl *page = NULL, *ctrls[2] = {NULL, NULL}, **resp = NULL, *pr;
	LDAPMessage *res = NULL, *e;
	ber_int_t total;
	int rc, code = 0;

	rc = ldap_create_page_control(c->ld, c->cfg->dir_page_size, cookie, 1, &page);
	if (rc != LDAP_SUCCESS)
		return idg_seterr(err, "paged search: %s", ldap_err2string(rc));
	ctrls[0] = page;
	rc = ldap_search_ext_s(c->ld, c->cfg->dir_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, ctrls,
			       NULL, NULL, 0, &res);
	ldap_control_free(page);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return idg_seterr(err, "paged search of %s failed: %s", c->cfg->dir_base,
				  ldap_err2string(rc));
	}
	for (e = ldap_first_entry(c->ld, res); e != NULL && !has_failed(c) && !stop_requested(c);
	     e = ldap_next_entry(c->ld, e))
		apply_message(c, e, NULL);
	free(cookie->bv_val);
	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	rc = ldap_parse_result(c->ld, res, &code, NULL, NULL, NULL, &resp, 0);
	if (rc == LDAP_SUCCESS && code == LDAP_SUCCESS &&
	    (pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, resp, NULL)) != NULL) {
		struct berval next = {0, NULL};

		if (ldap_parse_pageresponse_control(c->ld, pr, &total, &next) == LDAP_SUCCESS &&
		    next.bv_len > 0) {
			cookie->bv_val = malloc(next.bv_len);
			if (cookie->bv_val != NULL) {
				memcpy(cookie->bv_val, next.bv_val, next.bv_len);
				cookie->bv_len = next.bv_len;
			}
		}
		ber_memfree(next.bv_val);
	}
	ldap_controls_free(resp);
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS)
		return idg_seterr(err, "paged search of %s failed: %s", c->cfg->dir_base,
				  ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
	return 0;
}

static int
paged_refresh(struct sync_ctx *c, int force, struct idg_err *err)
{
	struct berval cookie = {0, NULL};
	char *attrs[DIR_MAX_ATTRS];
	char *filter = dir_sync_filter(c->cfg);
	int rc;

	if (filter == NULL)
		return idg_seterr(err, "out of memory");
	dir_attrs(c->cfg, attrs);
	if (mirror_begin(c->m, 1, err) != 0) {
		free(filter);
		return -1;
	}
	do {
		rc = paged_page(c, filter, attrs, &cookie, err);
	} while (rc == 0 && !has_failed(c) && !stop_requested(c) && cookie.bv_len > 0);
	free(cookie.bv_val);
	free(filter);
	if (rc == 0 && !has_failed(c))
		sweep(c);
	if (rc == 0 && has_failed(c))
		rc = idg_seterr(err, "%s", c->err.msg);
	if (rc != 0) {
		mirror_rollback(c->m);
		return rc;
	}
	return finish_refresh(c->m, force, NULL, c->state_mode ? c->state_mode : "paged", err);
}

/* ---- RFC 4533 ---- */

static void
ls_setup(ldap_sync_t *ls, struct sync_ctx *c, LDAP *ld, char *filter, char **attrs)
{
	ldap_sync_initialize(ls);
	ls->ls_ld = ld;
	ls->ls_base = c->cfg->dir_base;
	ls->ls_scope = LDAP_SCOPE_SUBTREE;
	ls->ls_filter = filter;
	ls->ls_attrs = attrs;
	ls->ls_timeout = 0; /* ldap_sync_poll() never blocks: the daemon's poll() waits */
	ls->ls_search_entry = on_entry;
	ls->ls_intermediate = on_intermediate;
	ls->ls_search_result = on_result;
	ls->ls_private = c;
}

/* Frees what libldap allocated (the cookie) but not the strings or connection we own. */
static void
ls_release(ldap_sync_t *ls)
{
	ls->ls_ld = NULL;
	ls->ls_base = NULL;
	ls->ls_filter = NULL;
	ls->ls_attrs = NULL;
	ldap_sync_destroy(ls, 0);
}

static int
load_cookie(struct store *st, const struct cfg *cfg, int full, ldap_sync_t *ls, struct idg_err *err)
{
	struct berval stored;

	if (full)
		return 0;
	if (mirror_load_cookie(st, cfg->dir_name, &stored, err) != 0)
		return -1;
	if (stored.bv_val != NULL) {
		ber_dupbv(&ls->ls_cookie, &stored);
		free(stored.bv_val);
	}
	return 0;
}

/*
 * Runs one refresh (refreshOnly, or the refresh stage of refreshAndPersist).
 * Returns 0, -1, or LDAP_SYNC_REFRESH_REQUIRED / an LDAP error
 * code > 0 for the caller to act on (reload, fall back to paged).
 */
static int
refresh(struct sync_ctx *c, ldap_sync_t *ls, struct mirror *m, int persist, int force,
	struct idg_err *err)
{
	int rc;

	c->had_cookie = ls->ls_cookie.bv_val != NULL;
	if (mirror_begin(m, 1, err) != 0)
		return -1;
	/* Without a second thread the refresh is the same, only slower. */
	if (sync_pipe_start(apply_work, c, &c->pipe, err) != 0)
		log_msg(c->log, LOG_WARNING, "sync: %s; applying as it is read", err->msg);
	rc = persist ? ldap_sync_init_refresh_and_persist(ls) : ldap_sync_init_refresh_only(ls);
	/* Everything read is applied (or, after a failure, dropped) before the result is judged. */
	sync_pipe_finish(c->pipe);
	c->pipe = NULL;
	/* A failed callback (or a stop, which shuts the connection) explains whatever rc says. */
	if (has_failed(c) && rc != LDAP_SYNC_REFRESH_REQUIRED)
		rc = -1, *err = c->err;
	else if (rc == LDAP_SUCCESS && !c->refresh_done)
		rc = -1, idg_seterr(err, "directory ended the sync without finishing the refresh");
	else if (rc == -1)
		idg_seterr(err, "sync with %s failed: connection lost", c->cfg->dir_uri);
	if (rc != LDAP_SUCCESS) {
		mirror_rollback(m);
		if (rc > 0 && rc != LDAP_SYNC_REFRESH_REQUIRED)
			idg_seterr(err, "sync with %s failed: %s", c->cfg->dir_uri,
				   ldap_err2string(rc));
		return rc;
	}
	return finish_refresh(m, force, &ls->ls_cookie,
			      c->state_mode ? c->state_mode
			      : persist     ? "persist"
					    : "refreshOnly",
			      err);
}

static int
critical_extension_missing(int rc)
{
	return rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || rc == LDAP_UNWILLING_TO_PERFORM ||
	       rc == LDAP_PROTOCOL_ERROR;
}

/*
 * Refresh from the stored cookie; on e-syncRefreshRequired drop the cookie
 * and reload in full, once.
 */
static int
refresh_with_reload(struct sync_ctx *c, ldap_sync_t *ls, struct mirror *m, int persist, int force,
		    struct idg_err *err)
{
	int rc = refresh(c, ls, m, persist, force, err);

	if (rc == LDAP_SYNC_REFRESH_REQUIRED) {
		log_msg(c->log, LOG_NOTICE,
			"sync: directory requires a full reload (cookie too old); reloading");
		if (persist)
			ldap_abandon_ext(c->ld, ls->ls_msgid, NULL, NULL);
		ber_memfree(ls->ls_cookie.bv_val);
		ls->ls_cookie.bv_val = NULL;
		ls->ls_cookie.bv_len = 0;
		const char *state_mode = c->state_mode;
		const atomic_int *stop = c->stop;

		ctx_reset(c, c->cfg, m, c->log, c->ld, 0);
		c->state_mode = state_mode;
		c->stop = stop;
		rc = refresh(c, ls, m, persist, force, err);
		if (rc == LDAP_SYNC_REFRESH_REQUIRED)
			rc = idg_seterr(err, "directory keeps requiring a full reload");
	}
	return rc;
}

static void
fill_result(struct sync_result *res, const char *mode, struct mirror *m, int drift)
{
	if (res == NULL)
		return;
	idg_strlcpy(res->mode, mode, sizeof(res->mode));
	res->stats = *mirror_stats(m);
	res->drift = drift ? mirror_drift_report(m) : NULL;
}

int
sync_once(const struct cfg *cfg, struct store *st, struct audit *audit, struct logger *log,
	  const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	struct sync_ctx c;
	struct mirror *m = NULL;
	ldap_sync_t ls;
	LDAP *ld = NULL;
	char *attrs[DIR_MAX_ATTRS], *filter = NULL;
	int rc = -1, drift = opts->verify || opts->reconcile;
	int64_t returned = 0;

	if (res != NULL)
		res->drift = NULL;
	if (mirror_open(st, audit, cfg, log, &m, err) != 0)
		return -1;
	if (drift)
		mirror_set_drift(m, opts->verify ? MIRROR_DRIFT_VERIFY : MIRROR_DRIFT_REPORT);
	if (dir_connect(cfg, &ld, err) != 0)
		goto out;
	ctx_reset(&c, cfg, m, log, ld, 0);
	c.state_mode = opts->state_mode;
	c.stop = opts->stop;
	if (!dir_supports_sync(ld)) {
		log_msg(log, LOG_INFO, "sync: %s offers no RFC 4533 sync; using a paged search",
			cfg->dir_uri);
		rc = paged_refresh(&c, opts->force, err);
		fill_result(res, "paged", m, drift);
		goto out;
	}
	dir_attrs(cfg, attrs);
	if ((filter = dir_sync_filter(cfg)) == NULL) {
		rc = idg_seterr(err, "out of memory");
		goto out;
	}
	ls_setup(&ls, &c, ld, filter, attrs);
	rc = load_cookie(st, cfg, opts->full || drift, &ls, err);
	if (rc == 0)
		rc = refresh_with_reload(&c, &ls, m, 0, opts->force, err);
	ls_release(&ls);
	if (critical_extension_missing(rc)) {
		log_msg(log, LOG_INFO, "sync: %s refused the sync control; using a paged search",
			cfg->dir_uri);
		ctx_reset(&c, cfg, m, log, ld, 0);
		c.state_mode = opts->state_mode;
		c.stop = opts->stop;
		rc = paged_refresh(&c, opts->force, err);
		fill_result(res, "paged", m, drift);
		goto out;
	}
	if (rc > 0)
		rc = -1;
	fill_result(res, "refreshOnly", m, drift);
	/* Groups that name an entry back in scope were not sent (mirror.h, returned). */
	if (rc == 0 && c.had_cookie)
		returned = mirror_stats(m)->returned;
out:
	free(filter);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	mirror_close(m);
	if (returned > 0) {
		struct sync_opts full = *opts;

		log_msg(log, LOG_NOTICE,
			"sync: %lld entries are back in scope; reloading in full for the groups "
			"that name them",
			(long long)returned);
		full.full = 1;
		return sync_once(cfg, st, audit, log, &full, res, err);
	}
	return rc;
}

int
sync_session_start(const struct cfg *cfg, struct store *st, struct audit *audit, struct logger *log,
		   int force, struct sync_session **out, struct sync_result *res,
		   struct idg_err *err)
{
	struct sync_session *s = calloc(1, sizeof(*s));
	LDAP *ld = NULL;
	int rc = -1;

	*out = NULL;
	if (s == NULL)
		return idg_seterr(err, "out of memory");
	s->cfg = cfg;
	s->st = st;
	s->audit = audit;
	s->log = log;
	s->force = force;
	if (mirror_open(st, audit, cfg, log, &s->m, err) != 0 || dir_connect(cfg, &ld, err) != 0)
		goto fail;
	s->ls.ls_ld = ld; /* owned by the session from here on */
	ctx_reset(&s->ctx, cfg, s->m, log, ld, 0);
	if (!dir_supports_sync(ld)) {
		s->paged = 1;
		rc = paged_refresh(&s->ctx, force, err);
		fill_result(res, "paged", s->m, 0);
	} else if ((s->filter = dir_sync_filter(cfg)) == NULL) {
		rc = idg_seterr(err, "out of memory");
	} else {
		dir_attrs(cfg, s->attrs);
		ls_setup(&s->ls, &s->ctx, ld, s->filter, s->attrs);
		s->ls_live = 1;
		rc = load_cookie(st, cfg, 0, &s->ls, err);
		if (rc == 0)
			rc = refresh_with_reload(&s->ctx, &s->ls, s->m, 1, force, err);
		fill_result(res, "persist", s->m, 0);
	}
	if (rc == 0) {
		*out = s;
		return 0;
	}
fail:
	sync_session_stop(s);
	return rc > 0 ? -1 : rc;
}

int
sync_session_fd(const struct sync_session *s)
{
	ber_socket_t fd = -1;

	if (s->paged || s->ls.ls_ld == NULL ||
	    ldap_get_option(s->ls.ls_ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS)
		return -1;
	return fd;
}

int
sync_session_is_paged(const struct sync_session *s)
{
	return s->paged;
}

/* True if bytes are waiting, in libldap's buffer or on the socket. */
static int
data_pending(LDAP *ld)
{
	Sockbuf *sb = NULL;
	ber_socket_t fd = -1;
	struct pollfd p;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL &&
	    ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, NULL))
		return 1;
	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0)
		return 0;
	p.fd = fd;
	p.events = POLLIN;
	return poll(&p, 1, 0) > 0;
}

static int
same_cookie(const struct berval *a, const struct berval *b)
{
	return a->bv_len == b->bv_len &&
	       (a->bv_len == 0 || memcmp(a->bv_val, b->bv_val, a->bv_len) == 0);
}

int
sync_session_process(struct sync_session *s, struct sync_result *res, struct idg_err *err)
{
	struct berval cookie = {0, NULL};
	int rc, before, pending, start_calls = s->ctx.calls, ended = 0, idle;

	if (mirror_begin(s->m, 0, err) != 0)
		return -1;
	if (s->ls.ls_cookie.bv_val != NULL && ber_dupbv(&cookie, &s->ls.ls_cookie) == NULL) {
		mirror_rollback(s->m);
		return idg_seterr(err, "out of memory");
	}
	/*
	 * With a zero timeout, libldap's ldap_result() may read a message into
	 * its response list and still report "timed out"; the message is handed
	 * out by the next call. ldap_sync_poll() also returns 0 both for
	 * "handled a message" and "nothing there". So keep calling while
	 * callbacks happen or bytes were waiting before the call; a call that
	 * handled nothing with nothing waiting means the queue is empty. (A
	 * message that lands in the instant between the check and the call is
	 * picked up by the daemon's once-a-second idle call.)
	 */
	do {
		pending = data_pending(s->ls.ls_ld);
		before = s->ctx.calls;
		rc = ldap_sync_poll(&s->ls);
	} while (rc == LDAP_SUCCESS && (s->ctx.calls != before || pending) && !has_failed(&s->ctx));
	idle = s->ctx.calls == start_calls && same_cookie(&cookie, &s->ls.ls_cookie);
	ber_memfree(cookie.bv_val);
	if (has_failed(&s->ctx)) {
		*err = s->ctx.err;
		atomic_store(&s->ctx.failed, 0);
		mirror_rollback(s->m);
		return -1;
	}
	if (rc != LDAP_SUCCESS) {
		ended = 1;
		if (rc == LDAP_SYNC_REFRESH_REQUIRED)
			idg_seterr(err, "directory requires a full reload");
		else
			idg_seterr(err, "persistent sync with %s ended: %s", s->cfg->dir_uri,
				   rc == -1 ? "connection lost" : ldap_err2string(rc));
	}
	fill_result(res, "persist", s->m, 0);
	if (idle && !ended) { /* nothing arrived: no write transaction */
		mirror_rollback(s->m);
		return 0;
	}
	/* What arrived before the end is valid and covered by the current cookie. */
	{
		struct idg_err e;

		if (mirror_save_state(s->m, &s->ls.ls_cookie, "persist", ended ? err->msg : "ok",
				      &e) != 0 ||
		    mirror_commit(s->m, &e) != 0) {
			*err = e;
			return -1;
		}
	}
	fill_result(res, "persist", s->m, 0); /* with what the guard decided at commit */
	return ended ? -1 : 0;
}

int
sync_session_poll_paged(struct sync_session *s, struct sync_result *res, struct idg_err *err)
{
	int rc;

	ctx_reset(&s->ctx, s->cfg, s->m, s->log, s->ls.ls_ld, 0);
	rc = paged_refresh(&s->ctx, s->force, err);
	fill_result(res, "paged", s->m, 0);
	return rc;
}

void
sync_session_stop(struct sync_session *s)
{
	LDAP *ld;

	if (s == NULL)
		return;
	ld = s->ls.ls_ld;
	if (s->ls_live)
		ls_release(&s->ls);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	mirror_close(s->m);
	free(s->filter);
	free(s);
}
