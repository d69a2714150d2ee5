/*
 * The auth protocol's codec and frame I/O (idgov/authproto): round trips,
 * and every malformed payload the service must refuse without reading
 * past it. The service runs as root and trusts nothing a client sends
 * beyond this grammar.
 */
#include "authproto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static struct authproto_msg
full_request(void)
{
	struct authproto_msg m;

	authproto_init(&m, AUTHPROTO_REQUEST);
	m.op = AUTHPROTO_OP_PASSWORD;
	m.flags = AUTHPROTO_F_PW_CHECK | AUTHPROTO_F_DEBUG | AUTHPROTO_F_PASSWORD_USED |
		  AUTHPROTO_F_KEEP;
	m.pid = 4242;
	m.ruid = 1000;
	m.have |=
		AUTHPROTO_HAVE_OP | AUTHPROTO_HAVE_FLAGS | AUTHPROTO_HAVE_PID | AUTHPROTO_HAVE_RUID;
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_USER, "alice"), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_SERVICE, "sshd"), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_RHOST, "2001:db8::1"), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_TTY, "ssh"), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_RUSER, "root"), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_TEXT, "correct horse battery"), 0);
	return m;
}

/* Encodes m and returns the payload (after the 4-byte prefix) in buf. */
static size_t
payload_of(const struct authproto_msg *m, unsigned char *buf, size_t size)
{
	size_t len = 0;

	assert_int_equal(authproto_encode(m, buf, size, &len), 0);
	assert_true(len > 4);
	assert_int_equal(
		((size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3]),
		len - 4);
	return len - 4;
}

static void
test_request_round_trips_every_field(void **state)
{
	struct authproto_msg m = full_request(), out;
	unsigned char buf[4 + AUTHPROTO_FRAME_MAX];
	const char *why = NULL;
	size_t n;

	(void)state;
	n = payload_of(&m, buf, sizeof(buf));
	assert_int_equal(authproto_decode(buf + 4, n, &out, &why), 0);
	assert_int_equal(out.type, AUTHPROTO_REQUEST);
	assert_int_equal(out.have, m.have);
	assert_int_equal(out.op, AUTHPROTO_OP_PASSWORD);
	assert_int_equal(out.flags, m.flags);
	assert_int_equal(out.pid, 4242);
	assert_int_equal(out.ruid, 1000);
	assert_string_equal(out.user, "alice");
	assert_string_equal(out.service, "sshd");
	assert_string_equal(out.rhost, "2001:db8::1");
	assert_string_equal(out.tty, "ssh");
	assert_string_equal(out.ruser, "root");
	assert_string_equal(out.text, "correct horse battery");
}

static void
test_result_round_trips_with_delay(void **state)
{
	struct authproto_msg m, out;
	unsigned char buf[64];
	const char *why = NULL;
	size_t n;

	(void)state;
	authproto_init(&m, AUTHPROTO_RESULT);
	m.result = AUTHPROTO_R_NEW_AUTHTOK_REQD;
	m.delay_ms = 2000;
	m.have = AUTHPROTO_HAVE_RESULT | AUTHPROTO_HAVE_DELAY;
	n = payload_of(&m, buf, sizeof(buf));
	assert_int_equal(authproto_decode(buf + 4, n, &out, &why), 0);
	assert_int_equal(out.result, AUTHPROTO_R_NEW_AUTHTOK_REQD);
	assert_int_equal(out.delay_ms, 2000);
	assert_string_equal(authproto_result_name(out.result), "new_authtok_reqd");
	assert_string_equal(authproto_result_name(AUTHPROTO_R_COUNT), "unknown");
}

static void
test_set_refuses_what_does_not_fit_or_belong(void **state)
{
	struct authproto_msg m;
	char longname[AUTHPROTO_NAME_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	authproto_init(&m, AUTHPROTO_REQUEST);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_USER, longname), -1);
	longname[AUTHPROTO_NAME_MAX] = '\0';
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_USER, longname), 0);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_RHOST, NULL), 0);
	assert_false(m.have & AUTHPROTO_HAVE_RHOST);
	authproto_init(&m, AUTHPROTO_PROMPT);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_USER, "alice"), -1);
	assert_int_equal(authproto_set(&m, AUTHPROTO_HAVE_OP, "x"), -1);
}

static void
test_encode_refuses_invalid_messages(void **state)
{
	struct authproto_msg m = full_request();
	unsigned char buf[4 + AUTHPROTO_FRAME_MAX];
	size_t len = 99;

	(void)state;
	m.have &= ~(unsigned)AUTHPROTO_HAVE_SERVICE; /* required */
	assert_int_equal(authproto_encode(&m, buf, sizeof(buf), &len), -1);
	assert_int_equal(len, 0);
	m = full_request();
	m.have &= ~(unsigned)AUTHPROTO_HAVE_TEXT; /* the password op needs its authtok */
	assert_int_equal(authproto_encode(&m, buf, sizeof(buf), &len), -1);
	m = full_request();
	m.op = AUTHPROTO_OP_ACCOUNT; /* and no other op may carry one */
	assert_int_equal(authproto_encode(&m, buf, sizeof(buf), &len), -1);
	m = full_request();
	m.have |= AUTHPROTO_HAVE_RESULT; /* not a request's field */
	assert_int_equal(authproto_encode(&m, buf, sizeof(buf), &len), -1);
	m = full_request();
	assert_int_equal(authproto_encode(&m, buf, 20, &len), -1); /* does not fit */
}

/* A hand-made payload: version, type, then fields given as (tag, length, bytes). */
struct field {
	unsigned tag;
	size_t len;
	const char *bytes;
};

static size_t
build(unsigned char *buf, unsigned version, unsigned type, const struct field *f, size_t n)
{
	size_t off = 2;

	buf[0] = (unsigned char)version;
	buf[1] = (unsigned char)type;
	for (size_t i = 0; i < n; i++) {
		buf[off] = (unsigned char)f[i].tag;
		buf[off + 1] = (unsigned char)(f[i].len >> 8);
		buf[off + 2] = (unsigned char)f[i].len;
		memcpy(buf + off + 3, f[i].bytes, f[i].len);
		off += 3 + f[i].len;
	}
	return off;
}

static void
expect_refused(const unsigned char *buf, size_t len, const char *reason)
{
	struct authproto_msg m;
	const char *why = NULL;

	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(authproto_decode(buf, len, &m, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, reason);
	/* A refused message is wiped: nothing half-decoded is left for the caller. */
	assert_int_equal(m.have, 0);
	assert_int_equal(m.user[0], '\0');
}

/* op=authenticate, user, service: the smallest valid request. */
#define OP_AUTH                                                                                    \
	{                                                                                          \
		1, 1, "\x01"                                                                       \
	}
#define USER                                                                                       \
	{                                                                                          \
		7, 5, "alice"                                                                      \
	}
#define SERVICE                                                                                    \
	{                                                                                          \
		8, 4, "sshd"                                                                       \
	}

static void
test_decode_accepts_the_smallest_request(void **state)
{
	const struct field f[] = {OP_AUTH, USER, SERVICE};
	unsigned char buf[128];
	struct authproto_msg m;
	const char *why = NULL;
	size_t n = build(buf, 1, 1, f, 3);

	(void)state;
	assert_int_equal(authproto_decode(buf, n, &m, &why), 0);
	assert_string_equal(m.user, "alice");
	assert_int_equal(m.rhost[0], '\0');
}

static void
test_decode_refuses_bad_headers(void **state)
{
	const struct field f[] = {OP_AUTH, USER, SERVICE};
	unsigned char buf[128];
	size_t n;

	(void)state;
	n = build(buf, 2, 1, f, 3);
	expect_refused(buf, n, "unknown protocol version");
	n = build(buf, 1, 0, f, 3);
	expect_refused(buf, n, "unknown message type");
	n = build(buf, 1, 7, f, 3);
	expect_refused(buf, n, "unknown message type");
	expect_refused(buf, 1, "bad frame length");
	expect_refused(buf, AUTHPROTO_FRAME_MAX + 1, "bad frame length");
}

static void
test_decode_refuses_truncation(void **state)
{
	const struct field f[] = {OP_AUTH, USER, SERVICE};
	unsigned char buf[128];
	size_t n;

	(void)state;
	n = build(buf, 1, 1, f, 3);
	expect_refused(buf, n - 1, "truncated field");
	expect_refused(buf, n - 5, "truncated field header"); /* ends 1 byte into a field header */
	/* A length that runs past the end. */
	buf[2 + 3 + 1 + 1] = 0xff;
	expect_refused(buf, n, "truncated field");
}

static void
test_decode_refuses_fields_out_of_place(void **state)
{
	unsigned char buf[128];
	size_t n;

	(void)state;
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {13, 1, "x"}};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "field not allowed in this message");
	}
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {0, 1, "x"}};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "field not allowed in this message");
	}
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {3, 1, "\x00"}}; /* result */
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "field not allowed in this message");
	}
	{
		const struct field f[] = {OP_AUTH, USER, USER, SERVICE};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "repeated field");
	}
	{
		const struct field f[] = {OP_AUTH, USER};
		n = build(buf, 1, 1, f, 2);
		expect_refused(buf, n, "missing required field");
	}
	{
		const struct field f[] = {{12, 3, "abc"}, {7, 1, "a"}}; /* an answer with a user */
		n = build(buf, 1, 2, f, 2);
		expect_refused(buf, n, "field not allowed in this message");
	}
}

static void
test_decode_refuses_bad_values(void **state)
{
	unsigned char buf[AUTHPROTO_FRAME_MAX];
	char big[AUTHPROTO_TEXT_MAX + 1];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big));
	{
		const struct field f[] = {{1, 2, "\x00\x01"}, USER, SERVICE};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "bad integer width");
	}
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {5, 3, "\x00\x00\x01"}};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "bad integer width");
	}
	{
		const struct field f[] = {{1, 1, "\x06"}, USER, SERVICE};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "unknown operation");
	}
	{
		const struct field f[] = {{1, 1, "\x00"}, USER, SERVICE};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "unknown operation");
	}
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {2, 4, "\x00\x00\x00\x20"}};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n, "unknown flags");
	}
	{
		const struct field f[] = {OP_AUTH, {7, 0, ""}, SERVICE};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "empty user");
	}
	{
		const struct field f[] = {OP_AUTH, {7, 5, "al\0ce"}, SERVICE};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "NUL byte in a text");
	}
	{
		const struct field f[] = {OP_AUTH, USER, {8, AUTHPROTO_SHORT_MAX + 1, big}};
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n, "text too long");
	}
	{
		const struct field f[] = {{12, AUTHPROTO_TEXT_MAX + 1, big}};
		n = build(buf, 1, 3, f, 1);
		expect_refused(buf, n, "text too long");
	}
	{
		const struct field f[] = {
			{1, 1, "\x05"}, USER, SERVICE}; /* password without authtok */
		n = build(buf, 1, 1, f, 3);
		expect_refused(buf, n,
			       "an authtok belongs to the password operation, and it needs one");
	}
	{
		const struct field f[] = {OP_AUTH, USER, SERVICE, {12, 2, "pw"}};
		n = build(buf, 1, 1, f, 4);
		expect_refused(buf, n,
			       "an authtok belongs to the password operation, and it needs one");
	}
	{
		const struct field f[] = {{3, 1, "\x0b"}};
		n = build(buf, 1, 6, f, 1);
		expect_refused(buf, n, "unknown result");
	}
	{
		const struct field f[] = {
			{4, 4, "\x00\x00\x00\x01"}}; /* a result without its result */
		n = build(buf, 1, 6, f, 1);
		expect_refused(buf, n, "missing required field");
	}
	/* The longest text that fits is taken whole. */
	{
		const struct field f[] = {{12, AUTHPROTO_TEXT_MAX, big}};
		struct authproto_msg m;
		const char *why = NULL;

		n = build(buf, 1, 3, f, 1);
		assert_int_equal(authproto_decode(buf, n, &m, &why), 0);
		assert_int_equal(strlen(m.text), AUTHPROTO_TEXT_MAX);
	}
}

static void
test_frames_cross_a_socket(void **state)
{
	struct authproto_msg m = full_request(), out;
	const char *why = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(authproto_send(sv[0], &m, authproto_now_ms() + 5000, &why), 0);
	assert_int_equal(authproto_recv(sv[1], &out, authproto_now_ms() + 5000, &why), 0);
	assert_string_equal(out.text, "correct horse battery");
	/* Nothing more arrives: the wait ends at the deadline, already passed here. */
	assert_int_equal(authproto_recv(sv[1], &out, authproto_now_ms() - 1, &why), -1);
	assert_string_equal(why, "timed out");
	close(sv[0]);
	assert_int_equal(authproto_recv(sv[1], &out, authproto_now_ms() + 5000, &why), -1);
	assert_string_equal(why, "peer closed the connection");
	close(sv[1]);
}

static void
test_recv_refuses_an_oversized_frame_before_reading_it(void **state)
{
	unsigned char hdr[4] = {0, 0, 0x10, 0x01}; /* 4097 */
	struct authproto_msg out;
	const char *why = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], hdr, sizeof(hdr)), 4);
	assert_int_equal(authproto_recv(sv[1], &out, authproto_now_ms() + 5000, &why), -1);
	assert_string_equal(why, "bad frame length");
	hdr[2] = 0;
	hdr[3] = 1; /* 1: shorter than a header */
	assert_int_equal(write(sv[0], hdr, sizeof(hdr)), 4);
	assert_int_equal(authproto_recv(sv[1], &out, authproto_now_ms() + 5000, &why), -1);
	assert_string_equal(why, "bad frame length");
	close(sv[0]);
	close(sv[1]);
}

static void
test_wipe_clears_secrets(void **state)
{
	struct authproto_msg m = full_request();

	(void)state;
	authproto_wipe(&m);
	for (size_t i = 0; i < sizeof(m.text); i++)
		assert_int_equal(m.text[i], 0);
	assert_int_equal(m.have, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trips_every_field),
		cmocka_unit_test(test_result_round_trips_with_delay),
		cmocka_unit_test(test_set_refuses_what_does_not_fit_or_belong),
		cmocka_unit_test(test_encode_refuses_invalid_messages),
		cmocka_unit_test(test_decode_accepts_the_smallest_request),
		cmocka_unit_test(test_decode_refuses_bad_headers),
		cmocka_unit_test(test_decode_refuses_truncation),
		cmocka_unit_test(test_decode_refuses_fields_out_of_place),
		cmocka_unit_test(test_decode_refuses_bad_values),
		cmocka_unit_test(test_frames_cross_a_socket),
		cmocka_unit_test(test_recv_refuses_an_oversized_frame_before_reading_it),
		cmocka_unit_test(test_wipe_clears_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
