/*
 * idgov-web's HTTP side: libmicrohttpd with TLS through GnuTLS, the
 * limits, the security headers, and turning a connection's request into
 * a struct web_req for the pages.
 *
 * Limits, each checked before a byte of the body is kept: only GET, HEAD
 * and POST; a POST's body must be a form (application/x-www-form-
 * urlencoded) of at most [web] max_request bytes (413 when Content-Length
 * says more, or when more arrives); connections at most [web]
 * max_connections, and [web] max_connections_per_addr from one address
 * (libmicrohttpd refuses the rest at accept); an idle connection is
 * closed after 30 s.
 *
 * TLS: 1.3 preferred, 1.2 the minimum (GnuTLS priority string); nothing
 * is ever served in the clear. Every response carries the same security
 * headers: a Content-Security-Policy that allows only this origin's one
 * script and one stylesheet (no inline script or style), HSTS,
 * X-Frame-Options DENY, nosniff, no referrer, and no caching of pages.
 *
 * A signed-in person's page also says how long this process took over it
 * (not the sign-in steps, whose time could tell a known user name from an
 * unknown one, nor a static asset): "Server-Timing: app;dur=MS" (W3C
 * Server-Timing), from libmicrohttpd's first call of on_request() for the
 * request (its headers read and parsed) to the response being queued, so
 * it includes the call to idgovd and the page's making. Not included: the
 * TLS handshake, the wait in the kernel's accept queue, the wait of a
 * request whose bytes have arrived while the pool thread that owns its
 * connection is still busy with another one, reading the request, and
 * writing the response.
 * It is a duration and nothing else: no name, no address, no path.
 *
 * Threads. libmicrohttpd's threads (POLL_THREADS, each with its own epoll
 * set; a connection stays with one) read requests and write responses,
 * TLS included, and never wait for idgovd. A complete request for a page
 * is suspended (libmicrohttpd's suspend/resume) and queued to [web]
 * threads page threads (workq.c), first come first served; one of them
 * makes the page, its control call to idgovd included, and resumes the
 * connection, whose thread then sends the answer. While one request waits
 * for idgovd, the other connections of the same libmicrohttpd thread go
 * on being read and answered, and the requests of all connections are
 * taken in the order they were complete. Before, the pool thread that
 * owned a connection made its pages: the dozen other connections of that
 * thread waited for each control call in turn, and at most [web] threads
 * calls were in idgovd at once. [web] threads now bounds only the calls in
 * idgovd at once (idgovd's [control] max_clients_per_uid must allow as
 * many for the web user); static assets are answered at once, in the
 * libmicrohttpd thread. The wait in the queue is inside Server-Timing.
 */
#include "web.h"

#include "safepath.h"
#include "workq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"
#define IDLE_TIMEOUT 30
#define POLL_THREADS 2

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src "
			  "'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri "
			  "'none'";

struct web_server {
	struct MHD_Daemon *d;
	struct workq *pages; /* the page threads */
	struct web_app *app;
	char *cert, *key;
};

/*
 * What one request carries across libmicrohttpd's calls. From queued to
 * made, rq and rs belong to the page thread that takes the job; the
 * connection is suspended meanwhile, and libmicrohttpd calls on_request()
 * again (in its own thread) only after that thread's resume, whose lock
 * orders its writes before the reads that follow.
 */
struct pending {
	struct workq_job job; /* first: the page queue's link */
	struct web_server *s;
	struct MHD_Connection *c;
	struct buf body;
	int too_large, bad_type;
	int made;
	struct web_req rq;
	struct web_resp rs;
	struct timespec t0; /* the first call of on_request() for it */
};

static int
read_file(const char *path, char **out, struct idg_err *err)
{
	struct stat sb;
	ssize_t n;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return idg_seterr(err, "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > (1 << 20)) {
		close(fd);
		return idg_seterr(err, "%s is empty or larger than 1 MiB", path);
	}
	if ((p = sodium_malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return idg_seterr(err, "out of memory");
	}
	n = read(fd, p, (size_t)sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		sodium_free(p);
		return idg_seterr(err, "cannot read %s", path);
	}
	p[n] = '\0';
	*out = p;
	return 0;
}

static void
client_addr(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t len = sa != NULL && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								: sizeof(struct sockaddr_in);

	if (sa == NULL || getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, size, "0.0.0.0");
	/* An IPv4 client on a dual-stack socket: show it as IPv4. */
	if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, ':') == NULL)
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static enum MHD_Result
add_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct buf *q = cls;

	(void)kind;
	/* Re-encoded into one string for form_parse(), so a query and a body are read alike. */
	if (q->len > 0)
		buf_puts(q, "&");
	for (const char *p = key; *p != '\0'; p++)
		buf_printf(q, "%%%02X", (unsigned char)*p);
	buf_puts(q, "=");
	for (const char *p = value != NULL ? value : ""; *p != '\0'; p++)
		buf_printf(q, "%%%02X", (unsigned char)*p);
	return q->failed ? MHD_NO : MHD_YES;
}

static void
headers(struct MHD_Response *r, const struct web_resp *rs)
{
	char cookie[160];

	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cache-Control", rs->cacheable ? "max-age=3600" : "no-store");
	MHD_add_response_header(r, "Content-Type",
				rs->content_type != NULL ? rs->content_type
							 : "text/html; charset=utf-8");
	if (rs->location[0] != '\0')
		MHD_add_response_header(r, "Location", rs->location);
	if (rs->extra_header != NULL)
		MHD_add_response_header(r, rs->extra_header, rs->extra_value);
	if (rs->cookie[0] != '\0') {
		/* __Host-: only over HTTPS, for this host and path "/", never a Domain. */
		if (strcmp(rs->cookie, "-") == 0)
			snprintf(cookie, sizeof(cookie),
				 WEB_COOKIE
				 "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
		else
			snprintf(cookie, sizeof(cookie),
				 WEB_COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
				 rs->cookie);
		MHD_add_response_header(r, "Set-Cookie", cookie);
	}
}

/* "app;dur=MS": the milliseconds since t0, three decimals. */
static void
server_timing(struct MHD_Response *r, const struct timespec *t0)
{
	struct timespec t1;
	char v[48];

	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(v, sizeof(v), "app;dur=%.3f",
		 (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6);
	MHD_add_response_header(r, "Server-Timing", v);
}

/* A page handed to libmicrohttpd without a copy, wiped and freed once it is sent. */
struct sent_body {
	char *p;
	size_t len;
};

static void
body_free(void *cls)
{
	struct sent_body *sb = cls;

	sodium_memzero(sb->p, sb->len); /* a page may show recovery codes */
	free(sb->p);
	free(sb);
}

/* The response for rs's own body: the buffer itself when it can, else a copy. */
static struct MHD_Response *
body_response(struct web_resp *rs)
{
	struct sent_body *sb;
	struct MHD_Response *r;

	if (rs->body.p == NULL || (sb = malloc(sizeof(*sb))) == NULL)
		return MHD_create_response_from_buffer(rs->body.len, rs->body.p,
						       MHD_RESPMEM_MUST_COPY);
	sb->p = rs->body.p;
	sb->len = rs->body.len;
	r = MHD_create_response_from_buffer_with_free_callback_cls(sb->len, sb->p, body_free, sb);
	if (r == NULL) {
		free(sb);
		return NULL;
	}
	buf_init(&rs->body); /* libmicrohttpd's now */
	return r;
}

/* Queues rs; t0 is when the request came to us (read only when rs->timed). */
static enum MHD_Result
reply(struct MHD_Connection *c, struct web_resp *rs, const struct timespec *t0)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (rs->data != NULL)
		r = MHD_create_response_from_buffer(rs->data_len, (void *)(uintptr_t)rs->data,
						    MHD_RESPMEM_PERSISTENT);
	else
		r = body_response(rs);
	if (r == NULL)
		return MHD_NO;
	headers(r, rs);
	if (rs->timed && t0 != NULL)
		server_timing(r, t0);
	rc = MHD_queue_response(c, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return rc;
}

/* A plain-text answer of http.c's own, before or instead of a page: never timed. */
static enum MHD_Result
simple(struct MHD_Connection *c, int status, const char *text)
{
	struct web_resp rs = {.status = status, .content_type = "text/plain; charset=utf-8"};
	enum MHD_Result rc;

	buf_init(&rs.body);
	buf_puts(&rs.body, text);
	rc = reply(c, &rs, NULL);
	buf_free(&rs.body);
	return rc;
}

/* Wipes and frees what the request and its answer hold (the pending itself stays). */
static void
pending_clear(struct pending *p)
{
	if (p->rs.body.p != NULL)
		sodium_memzero(p->rs.body.p, p->rs.body.len); /* a page may show recovery codes */
	buf_free(&p->rs.body);
	form_free(&p->rq.query);
	form_free(&p->rq.body);
}

/* The request's parts for the pages, read in libmicrohttpd's thread; 0, or -1 when malformed. */
static int
read_request(struct MHD_Connection *c, struct pending *p, const char *url, const char *method)
{
	struct web_req *rq = &p->rq;
	struct buf q;
	int post = strcmp(method, "POST") == 0, rc = 0;

	rq->method = method;
	rq->path = url;
	client_addr(c, rq->addr, sizeof(rq->addr));
	rq->cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_COOKIE);
	buf_init(&q);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query, &q);
	if (q.failed || form_parse(q.p != NULL ? q.p : "", q.len, &rq->query) != 0 ||
	    (post && form_parse(p->body.p != NULL ? p->body.p : "", p->body.len, &rq->body) != 0))
		rc = -1;
	buf_free(&q);
	if (rc != 0)
		pending_clear(p);
	return rc;
}

/* Queues the page made for p (in p->rs) and lets go of it. */
static enum MHD_Result
answer(struct MHD_Connection *c, struct pending *p)
{
	enum MHD_Result rc;

	if (p->rs.body.failed)
		rc = simple(c, 500, "the page could not be made\n");
	else
		rc = reply(c, &p->rs, &p->t0);
	pending_clear(p);
	return rc;
}

/* A page thread's job: the page, then the connection handed back to its thread. */
static void
make_page(struct workq_job *j)
{
	struct pending *p = (struct pending *)j;

	pages_handle(p->s->app, &p->rq, &p->rs);
	p->made = 1;
	MHD_resume_connection(p->c);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct web_server *s = cls;
	struct pending *p = *state;
	int post = strcmp(method, "POST") == 0;

	(void)version;
	if (p == NULL) {
		const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

		if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return simple(c, 405, "method not allowed\n");
		if (len != NULL &&
		    strtoull(len, NULL, 10) > (unsigned long long)s->app->cfg->web_max_request)
			return simple(c, 413, "request too large\n");
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return MHD_NO;
		p->s = s;
		p->c = c;
		buf_init(&p->body);
		buf_init(&p->rs.body);
		clock_gettime(CLOCK_MONOTONIC, &p->t0);
		p->bad_type = post && (type == NULL ||
				       strncmp(type, "application/x-www-form-urlencoded", 33) != 0);
		*state = p;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (p->body.len + *upload_size > (size_t)s->app->cfg->web_max_request)
			p->too_large = 1;
		else if (!p->bad_type)
			buf_add(&p->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (p->too_large)
		return simple(c, 413, "request too large\n");
	if (p->bad_type)
		return simple(c, 415, "a form is expected\n");
	if (!post && p->body.len > 0)
		return simple(c, 400, "a GET has no body\n");

	if (p->made)
		return answer(c, p);
	if (read_request(c, p, url, method) != 0)
		return simple(c, 400, "malformed form or query\n");
	if (pages_local(&p->rq)) {
		pages_handle(s->app, &p->rq, &p->rs);
		return answer(c, p);
	}
	/* Suspended before it is queued: a page thread's resume must find it suspended. */
	MHD_suspend_connection(c);
	if (workq_push(s->pages, &p->job) != 0) {
		/* Stopping: no page thread will take it. */
		p->rs.status = 503;
		p->rs.content_type = "text/plain; charset=utf-8";
		buf_puts(&p->rs.body, "the service is stopping\n");
		p->made = 1;
		MHD_resume_connection(c);
	}
	return MHD_YES;
}

static void
on_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why)
{
	struct pending *p = *state;

	(void)cls;
	(void)c;
	(void)why;
	if (p == NULL)
		return;
	if (p->body.p != NULL)
		sodium_memzero(p->body.p, p->body.len); /* a password */
	buf_free(&p->body);
	pending_clear(p);
	free(p);
	*state = NULL;
}

static int
start_pages(struct web_server *s, int n, struct idg_err *err)
{
	int rc = workq_start(n, make_page, &s->pages);

	if (rc != 0)
		return idg_seterr(err, "cannot start [web] threads = %d: %s", n, strerror(rc));
	return 0;
}

int
web_start(struct web_app *app, struct web_server **out, struct idg_err *err)
{
	const struct cfg *cfg = app->cfg;
	struct sockaddr_storage ss;
	struct web_server *s;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME;
	size_t ss_len;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, cfg->web_listen, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cfg->web_port);
		ss_len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, cfg->web_listen, &((struct sockaddr_in6 *)&ss)->sin6_addr) ==
		   1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)cfg->web_port);
		ss_len = sizeof(struct sockaddr_in6);
		flags |= MHD_USE_IPv6;
	} else {
		return idg_seterr(err, "[web] listen: %s is not a numeric IPv4 or IPv6 address",
				  cfg->web_listen);
	}
	(void)ss_len;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return idg_seterr(err, "out of memory");
	s->app = app;
	if (read_file(cfg->web_cert_file, &s->cert, err) != 0 ||
	    read_file(cfg->web_key_file, &s->key, err) != 0 ||
	    start_pages(s, cfg->web_threads, err) != 0) {
		web_stop(s);
		return -1;
	}
	s->d = MHD_start_daemon(
		flags, (uint16_t)cfg->web_port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_HTTPS_MEM_CERT, s->cert,
		MHD_OPTION_HTTPS_MEM_KEY, s->key, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->web_max_connections_per_addr,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned)POLL_THREADS, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
		MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_END);
	/* libmicrohttpd has parsed the key into GnuTLS: our copy goes. */
	sodium_free(s->key);
	s->key = NULL;
	if (s->d == NULL) {
		web_stop(s);
		return idg_seterr(
			err,
			"cannot serve HTTPS on %s port %d (in use, no permission, or a bad "
			"certificate or key in %s, %s)",
			cfg->web_listen, cfg->web_port, cfg->web_cert_file, cfg->web_key_file);
	}
	*out = s;
	return 0;
}

void
web_stop(struct web_server *s)
{
	if (s == NULL)
		return;
	/*
	 * The page threads first: they make every page already queued and
	 * resume its connection (a later request is answered 503 at once), so
	 * that no connection is left suspended, which libmicrohttpd cannot stop.
	 */
	workq_stop(s->pages);
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	workq_free(s->pages); /* only now: until libmicrohttpd stopped, a request could come */
	if (s->cert != NULL)
		sodium_free(s->cert);
	if (s->key != NULL)
		sodium_free(s->key);
	free(s);
}
