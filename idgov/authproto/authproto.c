/*
 * The auth protocol's codec and frame I/O (authproto.h). libc only: this
 * file is linked into pam_idgov.so inside sshd, sudo and su, and into
 * idgov-authd, and is the whole of what the two share.
 *
 * The tag of a field is also its bit in authproto_msg.have, so a table of
 * allowed and required masks per message type is the grammar.
 */
#include "authproto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum tag {
	TAG_OP = 1,
	TAG_FLAGS = 2,
	TAG_RESULT = 3,
	TAG_DELAY = 4,
	TAG_PID = 5,
	TAG_RUID = 6,
	TAG_USER = 7,
	TAG_SERVICE = 8,
	TAG_RHOST = 9,
	TAG_TTY = 10,
	TAG_RUSER = 11,
	TAG_TEXT = 12,
	TAG_LAST = TAG_TEXT
};

#define BIT(t) (1u << (t))
#define TEXT_ONLY BIT(TAG_TEXT)

/* Fields each type may hold, and those it must. Index: enum authproto_type. */
static const struct {
	unsigned allowed;
	unsigned required;
} grammar[] = {
	[AUTHPROTO_REQUEST] = {BIT(TAG_OP) | BIT(TAG_FLAGS) | BIT(TAG_PID) | BIT(TAG_RUID) |
				       BIT(TAG_USER) | BIT(TAG_SERVICE) | BIT(TAG_RHOST) |
				       BIT(TAG_TTY) | BIT(TAG_RUSER) | BIT(TAG_TEXT),
			       BIT(TAG_OP) | BIT(TAG_USER) | BIT(TAG_SERVICE)},
	[AUTHPROTO_ANSWER] = {TEXT_ONLY, TEXT_ONLY},
	[AUTHPROTO_PROMPT] = {TEXT_ONLY, TEXT_ONLY},
	[AUTHPROTO_INFO] = {TEXT_ONLY, TEXT_ONLY},
	[AUTHPROTO_ERROR] = {TEXT_ONLY, TEXT_ONLY},
	[AUTHPROTO_RESULT] = {BIT(TAG_RESULT) | BIT(TAG_DELAY), BIT(TAG_RESULT)},
};

static int
type_valid(int t)
{
	return t >= AUTHPROTO_REQUEST && t <= AUTHPROTO_RESULT;
}

/* The buffer behind a text field, and its capacity (without the NUL). */
static char *
text_field(struct authproto_msg *m, unsigned tag, size_t *cap)
{
	switch (tag) {
	case TAG_USER:
		*cap = AUTHPROTO_NAME_MAX;
		return m->user;
	case TAG_SERVICE:
		*cap = AUTHPROTO_SHORT_MAX;
		return m->service;
	case TAG_RHOST:
		*cap = AUTHPROTO_NAME_MAX;
		return m->rhost;
	case TAG_TTY:
		*cap = AUTHPROTO_SHORT_MAX;
		return m->tty;
	case TAG_RUSER:
		*cap = AUTHPROTO_NAME_MAX;
		return m->ruser;
	case TAG_TEXT:
		*cap = AUTHPROTO_TEXT_MAX;
		return m->text;
	default:
		*cap = 0;
		return NULL;
	}
}

void
authproto_wipe(struct authproto_msg *m)
{
	explicit_bzero(m, sizeof(*m));
}

void
authproto_init(struct authproto_msg *m, enum authproto_type t)
{
	authproto_wipe(m);
	m->type = t;
}

int
authproto_set(struct authproto_msg *m, enum authproto_field f, const char *s)
{
	unsigned tag;
	size_t cap, n;
	char *dst;

	if (s == NULL)
		return 0;
	for (tag = 1; tag <= TAG_LAST && BIT(tag) != (unsigned)f; tag++)
		;
	if (!type_valid((int)m->type) || tag > TAG_LAST || !(grammar[m->type].allowed & BIT(tag)) ||
	    (dst = text_field(m, tag, &cap)) == NULL)
		return -1;
	if ((n = strlen(s)) > cap)
		return -1;
	memcpy(dst, s, n + 1);
	m->have |= BIT(tag);
	return 0;
}

/* The rules beyond the grammar: values in range, the password op with its authtok. */
static const char *
semantic_error(const struct authproto_msg *m)
{
	if (m->type == AUTHPROTO_REQUEST) {
		if (m->op < AUTHPROTO_OP_AUTHENTICATE || m->op > AUTHPROTO_OP_PASSWORD)
			return "unknown operation";
		if (m->flags & ~AUTHPROTO_F_ALL)
			return "unknown flags";
		if (m->user[0] == '\0')
			return "empty user";
		if ((m->op == AUTHPROTO_OP_PASSWORD) != ((m->have & BIT(TAG_TEXT)) != 0))
			return "an authtok belongs to the password operation, and it needs one";
	}
	if (m->type == AUTHPROTO_RESULT && (unsigned)m->result >= AUTHPROTO_R_COUNT)
		return "unknown result";
	return NULL;
}

static unsigned char *
put_field(unsigned char *p, const unsigned char *end, unsigned tag, const void *v, size_t n)
{
	if (p == NULL || n > 0xffff || (size_t)(end - p) < 3 + n)
		return NULL;
	p[0] = (unsigned char)tag;
	p[1] = (unsigned char)(n >> 8);
	p[2] = (unsigned char)n;
	if (n > 0)
		memcpy(p + 3, v, n);
	return p + 3 + n;
}

static unsigned char *
put_u32(unsigned char *p, const unsigned char *end, unsigned tag, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};

	return put_field(p, end, tag, b, sizeof(b));
}

int
authproto_encode(const struct authproto_msg *m, unsigned char *buf, size_t size, size_t *len)
{
	unsigned char *p, *end;
	unsigned char u8;
	size_t cap, payload;
	unsigned tag;

	*len = 0;
	if (!type_valid((int)m->type) || (m->have & ~grammar[m->type].allowed) != 0 ||
	    (m->have & grammar[m->type].required) != grammar[m->type].required ||
	    semantic_error(m) != NULL || size < 6)
		return -1;
	end = buf + (size - 4 > AUTHPROTO_FRAME_MAX ? 4 + AUTHPROTO_FRAME_MAX : size);
	p = buf + 4;
	p[0] = AUTHPROTO_VERSION;
	p[1] = (unsigned char)m->type;
	p += 2;
	for (tag = 1; tag <= TAG_LAST; tag++) {
		if (!(m->have & BIT(tag)))
			continue;
		switch (tag) {
		case TAG_OP:
			u8 = (unsigned char)m->op;
			p = put_field(p, end, tag, &u8, 1);
			break;
		case TAG_RESULT:
			u8 = (unsigned char)m->result;
			p = put_field(p, end, tag, &u8, 1);
			break;
		case TAG_FLAGS:
			p = put_u32(p, end, tag, m->flags);
			break;
		case TAG_DELAY:
			p = put_u32(p, end, tag, m->delay_ms);
			break;
		case TAG_PID:
			p = put_u32(p, end, tag, m->pid);
			break;
		case TAG_RUID:
			p = put_u32(p, end, tag, m->ruid);
			break;
		default: {
			/* A text field: the cast only lets text_field() serve both directions. */
			const char *s = text_field((struct authproto_msg *)(uintptr_t)m, tag, &cap);

			p = put_field(p, end, tag, s, strnlen(s, cap + 1));
			break;
		}
		}
		if (p == NULL)
			return -1;
	}
	payload = (size_t)(p - buf) - 4;
	buf[0] = (unsigned char)(payload >> 24);
	buf[1] = (unsigned char)(payload >> 16);
	buf[2] = (unsigned char)(payload >> 8);
	buf[3] = (unsigned char)payload;
	*len = (size_t)(p - buf);
	return 0;
}

static uint32_t
get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static int
fail(struct authproto_msg *m, const char **why, const char *reason)
{
	authproto_wipe(m);
	*why = reason;
	return -1;
}

int
authproto_decode(const unsigned char *payload, size_t len, struct authproto_msg *m,
		 const char **why)
{
	const unsigned char *p = payload, *end = payload + len;
	const char *bad;

	authproto_wipe(m);
	if (len < 2 || len > AUTHPROTO_FRAME_MAX)
		return fail(m, why, "bad frame length");
	if (p[0] != AUTHPROTO_VERSION)
		return fail(m, why, "unknown protocol version");
	if (!type_valid(p[1]))
		return fail(m, why, "unknown message type");
	m->type = (enum authproto_type)p[1];
	p += 2;
	while (p < end) {
		unsigned tag;
		size_t n, cap;
		char *dst;

		if (end - p < 3)
			return fail(m, why, "truncated field header");
		tag = p[0];
		n = (size_t)p[1] << 8 | p[2];
		p += 3;
		if ((size_t)(end - p) < n)
			return fail(m, why, "truncated field");
		if (tag < 1 || tag > TAG_LAST || !(grammar[m->type].allowed & BIT(tag)))
			return fail(m, why, "field not allowed in this message");
		if (m->have & BIT(tag))
			return fail(m, why, "repeated field");
		m->have |= BIT(tag);
		switch (tag) {
		case TAG_OP:
		case TAG_RESULT:
			if (n != 1)
				return fail(m, why, "bad integer width");
			if (tag == TAG_OP)
				m->op = (enum authproto_op)p[0];
			else
				m->result = (enum authproto_result)p[0];
			break;
		case TAG_FLAGS:
		case TAG_DELAY:
		case TAG_PID:
		case TAG_RUID:
			if (n != 4)
				return fail(m, why, "bad integer width");
			if (tag == TAG_FLAGS)
				m->flags = get_u32(p);
			else if (tag == TAG_DELAY)
				m->delay_ms = get_u32(p);
			else if (tag == TAG_PID)
				m->pid = get_u32(p);
			else
				m->ruid = get_u32(p);
			break;
		default:
			dst = text_field(m, tag, &cap);
			if (dst == NULL || n > cap)
				return fail(m, why, "text too long");
			if (n > 0 && memchr(p, '\0', n) != NULL)
				return fail(m, why, "NUL byte in a text");
			if (n > 0)
				memcpy(dst, p, n);
			dst[n] = '\0';
			break;
		}
		p += n;
	}
	if ((m->have & grammar[m->type].required) != grammar[m->type].required)
		return fail(m, why, "missing required field");
	if ((bad = semantic_error(m)) != NULL)
		return fail(m, why, bad);
	return 0;
}

const char *
authproto_result_name(enum authproto_result r)
{
	static const char *const names[] = {
		[AUTHPROTO_R_SUCCESS] = "success",
		[AUTHPROTO_R_AUTH_ERR] = "auth_err",
		[AUTHPROTO_R_USER_UNKNOWN] = "user_unknown",
		[AUTHPROTO_R_AUTHINFO_UNAVAIL] = "authinfo_unavail",
		[AUTHPROTO_R_PERM_DENIED] = "perm_denied",
		[AUTHPROTO_R_ACCT_EXPIRED] = "acct_expired",
		[AUTHPROTO_R_NEW_AUTHTOK_REQD] = "new_authtok_reqd",
		[AUTHPROTO_R_AUTHTOK_ERR] = "authtok_err",
		[AUTHPROTO_R_TRY_AGAIN] = "try_again",
		[AUTHPROTO_R_CONV_ERR] = "conv_err",
		[AUTHPROTO_R_IGNORE] = "ignore",
	};

	return (unsigned)r < AUTHPROTO_R_COUNT ? names[r] : "unknown";
}

int64_t
authproto_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes: 0, or -1 with *why. */
static int
wait_fd(int fd, short events, int64_t deadline_ms, const char **why)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left;
	int rc;

	for (;;) {
		left = deadline_ms - authproto_now_ms();
		if (left <= 0) {
			*why = "timed out";
			return -1;
		}
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR) {
			*why = "poll failed";
			return -1;
		}
	}
}

int
authproto_send(int fd, const struct authproto_msg *m, int64_t deadline_ms, const char **why)
{
	unsigned char buf[4 + AUTHPROTO_FRAME_MAX];
	size_t len, off = 0;
	ssize_t n;
	int rc = -1;

	if (authproto_encode(m, buf, sizeof(buf), &len) != 0) {
		*why = "message cannot be encoded";
		goto out;
	}
	/*
	 * A frame nearly always fits in the socket's buffer at once: send
	 * first, and wait for room only when the send says there is none.
	 */
	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline_ms, why) != 0)
				goto out;
			continue;
		}
		if (n <= 0) {
			*why = "peer closed the connection";
			goto out;
		}
		off += (size_t)n;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/*
 * Reads exactly len bytes before the deadline. waited: whether to poll
 * before the first read. A frame's length is waited for (the peer is
 * usually still working); its payload was sent with it, so it is read at
 * once, and waited for only if it is not there yet.
 */
static int
read_full(int fd, unsigned char *buf, size_t len, int waited, int64_t deadline_ms, const char **why)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		if (waited && wait_fd(fd, POLLIN, deadline_ms, why) != 0)
			return -1;
		waited = 1;
		n = recv(fd, buf + off, len - off, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			*why = n == 0 ? "peer closed the connection" : "read failed";
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
authproto_recv(int fd, struct authproto_msg *m, int64_t deadline_ms, const char **why)
{
	unsigned char hdr[4], buf[AUTHPROTO_FRAME_MAX];
	uint32_t len;
	int rc = -1;

	authproto_wipe(m);
	if (read_full(fd, hdr, sizeof(hdr), 1, deadline_ms, why) != 0)
		goto out;
	len = get_u32(hdr);
	if (len < 2 || len > AUTHPROTO_FRAME_MAX) {
		*why = "bad frame length";
		goto out;
	}
	if (read_full(fd, buf, len, 0, deadline_ms, why) != 0)
		goto out;
	rc = authproto_decode(buf, len, m, why);
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}
