/*
 * bench/web_load: a light closed-loop load client for idgov-web.
 *
 *   web_load -p PORT -a CAFILE -k COOKIES [-H HOST] [-n ROUNDS] PATH
 *
 * One thread, poll(), one keep-alive TLS connection (GnuTLS, the peer's
 * certificate checked against CAFILE and HOST) per line of COOKIES, each
 * carrying that session cookie. Every connection asks for PATH ROUNDS
 * times, each request sent as soon as the previous answer is complete, as
 * a browser's user clicking through would: 50 cookies are 50 sessions
 * asking at once.
 *
 * It exists because a client in Python (threads under the GIL, on the same
 * two cores as the servers) took a large share of the CPU it was meant to
 * leave to them and queued its own threads, which inflated what it timed.
 * This one spends a small fraction of a millisecond per page (it prints
 * how much) and keeps no body: it reads a response just far enough to know
 * where it ends (Content-Length, or chunked).
 *
 * Per request it records the latency (from handing the request to TLS to
 * the response's last byte) and the server's own time from the response's
 * `Server-Timing: app;dur=MS` header (idgov-web's, see bench/README.md).
 * It prints ok and error counts, p50/p99 of both and of their difference
 * (the time outside the server's own: TLS, the network, and the wait for
 * a server thread), and pages per second.
 * Any error (a cookie file that cannot be read, a refused connection, a
 * TLS failure, an answer other than 200, a connection closed early) is
 * said on stderr and the exit status is 1.
 */
#define _GNU_SOURCE /* memmem */
#include "bench_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_COOKIE 256
#define MAX_PATH 1024
#define MAX_HEAD 16384
#define MAX_LINE 128

enum rstate { R_HEAD, R_BODY, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_END, R_TRAILER, R_DONE };

struct conn {
	int fd, id;
	gnutls_session_t tls;
	char cookie[MAX_COOKIE + 1];
	char req[MAX_PATH + MAX_COOKIE + 256];
	size_t req_len;
	int rounds_done, dead, sending;
	double t0, lat_sum; /* lat_sum: this session's latencies added up, for fairness */
	/* the response being read */
	enum rstate st;
	char head[MAX_HEAD + 1];
	size_t head_len, line_len;
	char line[MAX_LINE + 1];
	unsigned long long left; /* body or chunk bytes still to come */
	size_t size;             /* the body's bytes so far */
	int status;
	double server_ms; /* < 0: no Server-Timing header */
};

struct run {
	const char *host, *path;
	double *lat, *srv, *gap; /* gap: latency less server time, request by request */
	size_t n_lat, n_srv, errors, page_size;
	int rounds;
};

static double
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* A value safe to put in a request line or a Cookie header: printable, no space or ';'. */
static int
token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 127 || *s == ';' || *s == ',')
			return 0;
	return 1;
}

static int
read_cookies(const char *file, struct conn *c, int max)
{
	char line[MAX_COOKIE + 16];
	FILE *f = fopen(file, "r");
	int n = 0, lineno = 0;

	if (f == NULL) {
		fprintf(stderr, "web_load: cannot read the cookie file %s: %s\n", file,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (!token_ok(line, MAX_COOKIE) || n == max) {
			fprintf(stderr, "web_load: %s:%d: %s\n", file, lineno,
				n == max ? "too many cookies" : "not a cookie value");
			fclose(f);
			return -1;
		}
		memcpy(c[n].cookie, line, strlen(line) + 1);
		c[n].id = n + 1;
		n++;
	}
	fclose(f);
	if (n == 0)
		fprintf(stderr, "web_load: %s holds no cookie\n", file);
	return n > 0 ? n : -1;
}

static int
tls_open(struct conn *c, const char *host, int port, gnutls_certificate_credentials_t cred)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, rc;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "web_load: %s is not a numeric IPv4 address\n", host);
		return -1;
	}
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "web_load: cannot connect to %s port %d: %s\n", host, port,
			strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (gnutls_init(&c->tls, GNUTLS_CLIENT) != 0 || gnutls_set_default_priority(c->tls) != 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred) != 0) {
		fprintf(stderr, "web_load: cannot set up a TLS session\n");
		return -1;
	}
	gnutls_session_set_verify_cert(c->tls, host, 0);
	gnutls_transport_set_int(c->tls, c->fd);
	gnutls_handshake_set_timeout(c->tls, 10000);
	do
		rc = gnutls_handshake(c->tls);
	while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
	if (rc < 0) {
		fprintf(stderr, "web_load: TLS with %s port %d failed: %s\n", host, port,
			gnutls_strerror(rc));
		return -1;
	}
	/* From here on the loop never blocks on one connection. */
	return fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

/* Reads "app;dur=12.345" out of a Server-Timing value; -1 when it is not there. */
static double
server_timing(const char *v)
{
	const char *d = strstr(v, "app;dur=");
	char *end;
	double ms;

	if (d == NULL)
		return -1;
	ms = strtod(d + 8, &end);
	return end == d + 8 || ms < 0 ? -1 : ms;
}

/* Parses the status line and headers in c->head; 0, or -1 when they make no sense. */
static int
parse_head(struct conn *c)
{
	char *save = NULL, *line = strtok_r(c->head, "\r\n", &save);
	int chunked = 0, have_len = 0;

	c->server_ms = -1;
	if (line == NULL || sscanf(line, "HTTP/1.%*1[01] %3d", &c->status) != 1)
		return -1;
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':'), *v;

		if (colon == NULL)
			return -1;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Content-Length") == 0) {
			char *end;

			errno = 0;
			c->left = strtoull(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0')
				return -1;
			have_len = 1;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			chunked = strcasecmp(v, "chunked") == 0;
			if (!chunked)
				return -1;
		} else if (strcasecmp(line, "Server-Timing") == 0) {
			c->server_ms = server_timing(v);
		}
	}
	if (chunked)
		c->st = R_CHUNK_SIZE;
	else if (have_len)
		c->st = c->left > 0 ? R_BODY : R_DONE;
	else
		return -1; /* a keep-alive answer must say where it ends */
	return 0;
}

/* Collects one CRLF-ended line into c->line; 1 when it is complete. */
static int
take_line(struct conn *c, const char **p, const char *end)
{
	while (*p < end) {
		char ch = *(*p)++;

		if (ch == '\n') {
			if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
				c->line_len--;
			c->line[c->line_len] = '\0';
			c->line_len = 0;
			return 1;
		}
		if (c->line_len == MAX_LINE)
			return -1;
		c->line[c->line_len++] = ch;
	}
	return 0;
}

static int
skip_body(struct conn *c, const char **p, const char *end)
{
	size_t n = (size_t)(end - *p) < c->left ? (size_t)(end - *p) : (size_t)c->left;

	*p += n;
	c->left -= n;
	c->size += n;
	return c->left == 0;
}

/*
 * Feeds received bytes to the response parser. 0 while more is to come,
 * 1 when the response is complete (and nothing follows it), -1 when the
 * bytes are not an HTTP/1.1 response.
 */
static int
feed(struct conn *c, const char *p, size_t len)
{
	const char *end = p + len;
	char *stop;
	int r;

	while (p < end) {
		switch (c->st) {
		case R_HEAD: {
			size_t room = MAX_HEAD - c->head_len, n = len < room ? len : room;
			char *hend;

			memcpy(c->head + c->head_len, p, n);
			c->head_len += n;
			c->head[c->head_len] = '\0';
			if ((hend = memmem(c->head, c->head_len, "\r\n\r\n", 4)) == NULL) {
				if (c->head_len == MAX_HEAD)
					return -1;
				p += n;
				break;
			}
			/* What followed the head in this read is the body's start. */
			p = p + n - (size_t)(c->head + c->head_len - (hend + 4));
			hend[2] = '\0';
			if (parse_head(c) != 0)
				return -1;
			break;
		}
		case R_BODY:
		case R_CHUNK_DATA:
			if (skip_body(c, &p, end))
				c->st = c->st == R_BODY ? R_DONE : R_CHUNK_END;
			break;
		case R_CHUNK_SIZE:
			if ((r = take_line(c, &p, end)) <= 0)
				return r;
			errno = 0;
			c->left = strtoull(c->line, &stop, 16);
			if (errno != 0 || stop == c->line || (*stop != '\0' && *stop != ';'))
				return -1;
			c->st = c->left > 0 ? R_CHUNK_DATA : R_TRAILER;
			break;
		case R_CHUNK_END:
			if ((r = take_line(c, &p, end)) <= 0)
				return r;
			if (c->line[0] != '\0')
				return -1;
			c->st = R_CHUNK_SIZE;
			break;
		case R_TRAILER:
			if ((r = take_line(c, &p, end)) <= 0)
				return r;
			if (c->line[0] == '\0')
				c->st = R_DONE;
			break;
		case R_DONE:
			return -1; /* bytes after the end: nothing was asked for them */
		}
		len = (size_t)(end - p);
	}
	return c->st == R_DONE ? 1 : 0;
}

static void
conn_fail(struct run *run, struct conn *c, const char *why)
{
	/* The cookie is a signed-in session: never printed. */
	fprintf(stderr, "web_load: connection %d: %s\n", c->id, why);
	run->errors += (size_t)(run->rounds - c->rounds_done);
	c->dead = 1;
}

static void
conn_send(struct run *run, struct conn *c)
{
	ssize_t n;

	if (!c->sending) {
		c->t0 = bench_now_ms();
		c->st = R_HEAD;
		c->head_len = c->line_len = c->size = 0;
		c->sending = 1;
	}
	/* GnuTLS wants the same buffer again after GNUTLS_E_AGAIN. */
	n = gnutls_record_send(c->tls, c->req, c->req_len);
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
		return;
	if (n < 0 || (size_t)n != c->req_len) {
		conn_fail(run, c, n < 0 ? gnutls_strerror((int)n) : "short TLS write");
		return;
	}
	c->sending = 0;
}

static void
response_done(struct run *run, struct conn *c, double t1)
{
	char why[64];

	if (c->status != 200) {
		snprintf(why, sizeof(why), "HTTP status %d", c->status);
		conn_fail(run, c, why);
		return;
	}
	if (run->page_size == 0)
		run->page_size = c->size;
	run->lat[run->n_lat++] = t1 - c->t0;
	c->lat_sum += t1 - c->t0;
	if (c->server_ms >= 0) {
		run->gap[run->n_srv] = t1 - c->t0 - c->server_ms;
		run->srv[run->n_srv++] = c->server_ms;
	}
	if (++c->rounds_done < run->rounds)
		conn_send(run, c);
}

static void
conn_recv(struct run *run, struct conn *c)
{
	char buf[16384];
	ssize_t n;
	int r;

	for (;;) {
		n = gnutls_record_recv(c->tls, buf, sizeof(buf));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return;
		if (n <= 0) {
			conn_fail(run, c,
				  n == 0 ? "the server closed the connection"
					 : gnutls_strerror((int)n));
			return;
		}
		if ((r = feed(c, buf, (size_t)n)) < 0) {
			conn_fail(run, c, "not an HTTP/1.1 response");
			return;
		}
		if (r == 1) {
			response_done(run, c, bench_now_ms());
			if (c->dead || c->rounds_done == run->rounds)
				return;
		}
	}
}

static void
loop(struct run *run, struct conn *c, int n)
{
	struct pollfd pfd[MAX_CONNS];
	int live;

	for (int i = 0; i < n; i++)
		conn_send(run, &c[i]);
	for (;;) {
		live = 0;
		for (int i = 0; i < n; i++) {
			int active = !c[i].dead && c[i].rounds_done < run->rounds;

			pfd[i].fd = active ? c[i].fd : -1;
			pfd[i].events = c[i].sending ? POLLOUT : POLLIN;
			live += active;
		}
		if (live == 0)
			return;
		if (poll(pfd, (nfds_t)n, 30000) <= 0) {
			fprintf(stderr, "web_load: no answer for 30 s\n");
			for (int i = 0; i < n; i++)
				if (pfd[i].fd >= 0)
					conn_fail(run, &c[i], "no answer");
			return;
		}
		for (int i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (c[i].sending)
				conn_send(run, &c[i]);
			else
				conn_recv(run, &c[i]);
		}
	}
}

/*
 * How evenly the sessions were served: each session's mean latency, and
 * the least, the median and the most of those means. A server that
 * serves some connections later than others (one pool thread holding
 * more of them) shows as a spread here that the overall p50 and p99
 * alone do not tell apart from noise.
 */
static void
fairness(const struct conn *c, int n)
{
	double *m = calloc((size_t)n, sizeof(double));
	size_t k = 0;

	if (m == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (c[i].rounds_done > 0)
			m[k++] = c[i].lat_sum / c[i].rounds_done;
	if (k > 0)
		printf("; session means min %.1f, p50 %.1f, max %.1f ms", bench_quantile(m, k, 0.0),
		       bench_quantile(m, k, 0.50), bench_quantile(m, k, 1.0));
	free(m);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: web_load -p PORT -a CAFILE -k COOKIES [-H HOST] [-n ROUNDS] PATH\n"
		   "  one keep-alive TLS connection per cookie (one per line in COOKIES),\n"
		   "  each asking for PATH ROUNDS times (default 10), one after another\n");
}

int
main(int argc, char **argv)
{
	static struct conn c[MAX_CONNS];
	struct run run = {.host = "127.0.0.1", .rounds = 10};
	gnutls_certificate_credentials_t cred;
	const char *cafile = NULL, *cookies = NULL;
	double t_start, t_end, cpu0;
	int port = 0, n, ch, rc = 1;

	while ((ch = getopt(argc, argv, "p:a:k:H:n:h")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'a':
			cafile = optarg;
			break;
		case 'k':
			cookies = optarg;
			break;
		case 'H':
			run.host = optarg;
			break;
		case 'n':
			run.rounds = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || port <= 0 || port > 65535 || cafile == NULL || cookies == NULL ||
	    run.rounds <= 0 || run.rounds > 100000) {
		usage(stderr);
		return 2;
	}
	run.path = argv[optind];
	if (run.path[0] != '/' || !token_ok(run.path, MAX_PATH)) {
		fprintf(stderr, "web_load: the path must start with / and hold no space\n");
		return 2;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		c[i].fd = -1;
	if ((n = read_cookies(cookies, c, MAX_CONNS)) < 0)
		return 1;
	gnutls_global_init();
	if (gnutls_certificate_allocate_credentials(&cred) != 0)
		return 1;
	if (gnutls_certificate_set_x509_trust_file(cred, cafile, GNUTLS_X509_FMT_PEM) <= 0) {
		fprintf(stderr, "web_load: no CA certificate in %s\n", cafile);
		n = 0;
		goto out;
	}
	run.lat = calloc((size_t)n * (size_t)run.rounds, sizeof(double));
	run.srv = calloc((size_t)n * (size_t)run.rounds, sizeof(double));
	run.gap = calloc((size_t)n * (size_t)run.rounds, sizeof(double));
	if (run.lat == NULL || run.srv == NULL || run.gap == NULL) {
		fprintf(stderr, "web_load: out of memory\n");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (tls_open(&c[i], run.host, port, cred) != 0)
			goto out;
	}
	for (int i = 0; i < n; i++) {
		char req[sizeof(c[i].req)]; /* written apart: the cookie is read from c[i] too */

		c[i].req_len = (size_t)snprintf(req, sizeof(req),
						"GET %s HTTP/1.1\r\nHost: %s:%d\r\nCookie: "
						"__Host-idgov=%s\r\nAccept: text/html\r\n\r\n",
						run.path, run.host, port, c[i].cookie);
		if (c[i].req_len >= sizeof(req))
			goto out; /* cannot be: the path, the host and the cookie are bounded */
		memcpy(c[i].req, req, c[i].req_len + 1);
	}
	cpu0 = cpu_ms();
	t_start = bench_now_ms();
	loop(&run, c, n);
	t_end = bench_now_ms();
	printf("%zu ok, %zu errors; %zu KiB pages", run.n_lat, run.errors, run.page_size / 1024);
	if (run.n_lat > 0)
		printf("; latency p50 %.1f ms, p99 %.1f ms",
		       bench_quantile(run.lat, run.n_lat, 0.50),
		       bench_quantile(run.lat, run.n_lat, 0.99));
	if (run.n_srv > 0)
		printf("; server time p50 %.1f ms, p99 %.1f ms; outside it p50 %.1f ms, p99 %.1f "
		       "ms",
		       bench_quantile(run.srv, run.n_srv, 0.50),
		       bench_quantile(run.srv, run.n_srv, 0.99),
		       bench_quantile(run.gap, run.n_srv, 0.50),
		       bench_quantile(run.gap, run.n_srv, 0.99));
	else
		printf("; server time not sent");
	fairness(c, n);
	printf("; %.1f pages/s; web_load CPU %.2f ms a page\n",
	       (double)run.n_lat * 1e3 / (t_end - t_start),
	       run.n_lat > 0 ? (cpu_ms() - cpu0) / (double)run.n_lat : 0.0);
	rc = run.errors > 0 || run.n_lat != (size_t)n * (size_t)run.rounds;
out:
	for (int i = 0; i < n; i++) {
		if (c[i].tls != NULL)
			gnutls_deinit(c[i].tls);
		if (c[i].fd >= 0)
			close(c[i].fd);
	}
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	free(run.lat);
	free(run.srv);
	free(run.gap);
	return rc;
}
