/*
 * pam_idgov.so's client of the auth service (pam_module/client.c) against
 * a scripted fake service on a socket of the test's own: a connection kept
 * from the handle's previous call, the service closing it, and the one
 * case where a request goes again. A request goes again only if the
 * service closed a kept connection before any reply: anything else could
 * make the service act on one login twice (a failed code counted twice).
 */
#define _GNU_SOURCE /* accept4 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

/* What the fake service does with one request. */
enum act {
	ACT_REPLY,           /* a RESULT of success; the connection stays open */
	ACT_REPLY_AND_CLOSE, /* a RESULT, then a close before the client calls again */
	ACT_DROP,            /* read the request, close without a word (an idle close) */
	ACT_INFO_AND_CLOSE,  /* an INFO, then a close: the service had begun */
	ACT_END,             /* not a request: the script is over */
};

struct fake {
	char dir[64];
	char path[96];
	int listen_fd;
	pthread_t thread;
	int running; /* the thread is started and not yet joined */
	enum act script[8];
	/* Read by the test once the thread has ended. */
	int connections;
	int requests;
	enum authproto_op ops[8];
	/* Written when ACT_REPLY_AND_CLOSE has closed: the test waits on it. */
	int closed[2];
};

static void
send_result(int fd)
{
	struct authproto_msg m;
	const char *why;

	authproto_init(&m, AUTHPROTO_RESULT);
	m.result = AUTHPROTO_R_SUCCESS;
	m.have |= AUTHPROTO_HAVE_RESULT;
	(void)authproto_send(fd, &m, authproto_now_ms() + 5000, &why);
}

static void
send_info(int fd)
{
	struct authproto_msg m;
	const char *why;

	authproto_init(&m, AUTHPROTO_INFO);
	(void)authproto_set(&m, AUTHPROTO_HAVE_TEXT, "checking");
	(void)authproto_send(fd, &m, authproto_now_ms() + 5000, &why);
}

/* Serves one connection until the client closes it or the script closes it. */
static void
serve_connection(struct fake *f, int fd, size_t *next)
{
	struct authproto_msg m;
	const char *why;
	char byte = 1;

	while (authproto_recv(fd, &m, authproto_now_ms() + 5000, &why) == 0) {
		enum act a = f->script[*next];

		f->ops[f->requests++] = m.op;
		(*next)++;
		if (a == ACT_REPLY) {
			send_result(fd);
			continue;
		}
		if (a == ACT_REPLY_AND_CLOSE) {
			send_result(fd);
			close(fd);
			if (write(f->closed[1], &byte, 1) != 1)
				abort();
			return;
		}
		if (a == ACT_INFO_AND_CLOSE)
			send_info(fd);
		break; /* ACT_DROP, ACT_INFO_AND_CLOSE, or past the script */
	}
	close(fd);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	size_t next = 0;

	while (f->script[next] != ACT_END) {
		struct pollfd pfd = {.fd = f->listen_fd, .events = POLLIN};
		int fd;

		if (poll(&pfd, 1, 5000) != 1 || (pfd.revents & (POLLERR | POLLHUP)))
			break;
		if ((fd = accept(f->listen_fd, NULL, NULL)) < 0)
			break;
		f->connections++;
		serve_connection(f, fd, &next);
	}
	return NULL;
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/idgov-test-pamclient-XXXXXX");
	if (mkdtemp(f->dir) == NULL || pipe(f->closed) != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/authd.sock", f->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(f->listen_fd, 8) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	if (f->running) { /* a test failed midway: wake the thread and wait for it */
		shutdown(f->listen_fd, SHUT_RDWR);
		pthread_join(f->thread, NULL);
	}
	close(f->listen_fd);
	close(f->closed[0]);
	close(f->closed[1]);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
start(struct fake *f, const enum act *script, size_t n)
{
	assert_true(n < sizeof(f->script) / sizeof(f->script[0]));
	memcpy(f->script, script, n * sizeof(*script));
	f->script[n] = ACT_END;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	f->running = 1;
}

/*
 * Waits for the fake service to finish its script, then counts what else
 * connected (the script no longer accepts): connections is every
 * connection the client made.
 */
static void
finish(struct fake *f)
{
	int fd;

	assert_int_equal(pthread_join(f->thread, NULL), 0);
	f->running = 0;
	while ((fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK)) >= 0 ||
	       (fd < 0 && errno == EINTR)) {
		if (fd >= 0) {
			f->connections++;
			close(fd);
		}
	}
}

static void
no_prompt_expected(void *arg, const char *text)
{
	(void)arg;
	(void)text;
}

static int
no_answer(void *arg, const char *text, char **answer)
{
	(void)arg;
	(void)text;
	*answer = NULL;
	return -1;
}

static const struct client_conv conv = {
	.prompt = no_answer, .info = no_prompt_expected, .error = no_prompt_expected};

/* One call for op, keeping the connection; returns client_call's value. */
static int
call(struct fake *f, enum authproto_op op, int *kept, enum authproto_result *result, char *why,
     size_t why_size)
{
	struct client_opts o = {.socket = f->path, .server_uid = getuid(), .timeout_ms = 5000};
	struct authproto_msg req;
	uint32_t delay;
	int rc;

	authproto_init(&req, AUTHPROTO_REQUEST);
	req.op = op;
	req.flags = AUTHPROTO_F_KEEP;
	req.have |= AUTHPROTO_HAVE_OP | AUTHPROTO_HAVE_FLAGS;
	assert_int_equal(authproto_set(&req, AUTHPROTO_HAVE_USER, "alice"), 0);
	assert_int_equal(authproto_set(&req, AUTHPROTO_HAVE_SERVICE, "sshd"), 0);
	rc = client_call(&o, &req, &conv, kept, result, &delay, why, why_size);
	if (rc != 0)
		print_message("the call failed: %s\n", why);
	return rc;
}

/* Authenticate then account on the one connection: nothing goes twice. */
static void
test_kept_connection_carries_the_next_call(void **state)
{
	static const enum act script[] = {ACT_REPLY, ACT_REPLY};
	struct fake *f = *state;
	enum authproto_result r;
	char why[256];
	int kept = -1;

	start(f, script, 2);
	assert_int_equal(call(f, AUTHPROTO_OP_AUTHENTICATE, &kept, &r, why, sizeof(why)), 0);
	assert_true(kept >= 0);
	assert_int_equal(call(f, AUTHPROTO_OP_ACCOUNT, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(r, AUTHPROTO_R_SUCCESS);
	close(kept);
	finish(f);
	assert_int_equal(f->connections, 1);
	assert_int_equal(f->requests, 2);
}

/* The service closed the kept connection between the calls: the call goes on a new one. */
static void
test_kept_connection_the_service_closed_is_replaced(void **state)
{
	static const enum act script[] = {ACT_REPLY_AND_CLOSE, ACT_REPLY};
	struct fake *f = *state;
	enum authproto_result r;
	char why[256], byte;
	int kept = -1;

	start(f, script, 2);
	assert_int_equal(call(f, AUTHPROTO_OP_AUTHENTICATE, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(read(f->closed[0], &byte, 1), 1); /* the service has closed it */
	assert_int_equal(call(f, AUTHPROTO_OP_ACCOUNT, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(r, AUTHPROTO_R_SUCCESS);
	close(kept);
	finish(f);
	assert_int_equal(f->connections, 2);
	assert_int_equal(f->requests, 2);
	assert_int_equal(f->ops[1], AUTHPROTO_OP_ACCOUNT);
}

/*
 * The service closes the kept connection as the request arrives (its
 * idle close, racing the request) and acts on nothing: the request goes
 * again, once, on a connection of its own, and the call succeeds.
 */
static void
test_request_meeting_the_close_goes_again_once(void **state)
{
	static const enum act script[] = {ACT_REPLY, ACT_DROP, ACT_REPLY};
	struct fake *f = *state;
	enum authproto_result r;
	char why[256];
	int kept = -1;

	start(f, script, 3);
	assert_int_equal(call(f, AUTHPROTO_OP_AUTHENTICATE, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(call(f, AUTHPROTO_OP_ACCOUNT, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(r, AUTHPROTO_R_SUCCESS);
	close(kept);
	finish(f);
	assert_int_equal(f->connections, 2);
	assert_int_equal(f->requests, 3);
	assert_int_equal(f->ops[1], AUTHPROTO_OP_ACCOUNT);
	assert_int_equal(f->ops[2], AUTHPROTO_OP_ACCOUNT);
}

/* The service had begun answering before it closed: never sent again, the call fails. */
static void
test_request_the_service_began_is_not_repeated(void **state)
{
	static const enum act script[] = {ACT_REPLY, ACT_INFO_AND_CLOSE};
	struct fake *f = *state;
	enum authproto_result r;
	char why[256];
	int kept = -1;

	start(f, script, 2);
	assert_int_equal(call(f, AUTHPROTO_OP_AUTHENTICATE, &kept, &r, why, sizeof(why)), 0);
	assert_int_equal(call(f, AUTHPROTO_OP_ACCOUNT, &kept, &r, why, sizeof(why)), -1);
	assert_int_equal(r, AUTHPROTO_R_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(why, "no answer"));
	assert_int_equal(kept, -1);
	finish(f);
	assert_int_equal(f->connections, 1);
	assert_int_equal(f->requests, 2);
}

/* A new connection closed without a reply is a failure, not a retry. */
static void
test_fresh_connection_closed_is_not_retried(void **state)
{
	static const enum act script[] = {ACT_DROP};
	struct fake *f = *state;
	enum authproto_result r;
	char why[256];
	int kept = -1;

	start(f, script, 1);
	assert_int_equal(call(f, AUTHPROTO_OP_AUTHENTICATE, &kept, &r, why, sizeof(why)), -1);
	assert_int_equal(kept, -1);
	finish(f);
	assert_int_equal(f->connections, 1);
	assert_int_equal(f->requests, 1);
}

/* A socket served by another uid learns nothing: not even that a request was meant. */
static void
test_socket_of_another_uid_is_refused(void **state)
{
	struct fake *f = *state;
	struct client_opts o = {.socket = f->path, .server_uid = getuid() + 1, .timeout_ms = 5000};
	struct authproto_msg req;
	enum authproto_result r;
	char why[256];
	uint32_t delay;
	int kept = -1, fd;
	ssize_t n;

	authproto_init(&req, AUTHPROTO_REQUEST);
	req.op = AUTHPROTO_OP_AUTHENTICATE;
	req.have |= AUTHPROTO_HAVE_OP;
	assert_int_equal(client_call(&o, &req, &conv, &kept, &r, &delay, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "served by uid"));
	fd = accept(f->listen_fd, NULL, NULL);
	assert_true(fd >= 0);
	n = read(fd, why, sizeof(why)); /* the client closed without sending a byte */
	assert_int_equal(n, 0);
	close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_kept_connection_carries_the_next_call),
		T(test_kept_connection_the_service_closed_is_replaced),
		T(test_request_meeting_the_close_goes_again_once),
		T(test_request_the_service_began_is_not_repeated),
		T(test_fresh_connection_closed_is_not_retried),
		T(test_socket_of_another_uid_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
