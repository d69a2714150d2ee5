/*
 * The auth protocol: what pam_idgov.so and idgov-authd say to each other
 * over the auth socket. The module and the service share this record
 * format and nothing else, so it depends on libc alone: the module links
 * it without pulling any of idgov into the host process.
 *
 * A connection carries one PAM call. The client sends a REQUEST; the
 * service answers with any number of INFO and ERROR messages and PROMPTs
 * (each PROMPT answered by one ANSWER from the client), then exactly one
 * RESULT, and closes; unless the REQUEST had AUTHPROTO_F_KEEP, when the
 * service waits a short while (idgov-authd: 250 ms) for the client's next
 * REQUEST on the same connection, and closes if none comes. A service
 * closes such a connection without reading what may have arrived, so a
 * client whose request meets the close before any reply sends it again
 * on a new connection.
 *
 * A frame is a 32-bit big-endian payload length (1 to AUTHPROTO_FRAME_MAX)
 * followed by the payload:
 *
 *     version (1 byte, AUTHPROTO_VERSION) type (1 byte)
 *     field*: tag (1 byte) length (16-bit big-endian) value
 *
 * Decoding is strict, so that the service, which runs as root, never
 * guesses: an unknown type or tag, a field the type does not allow, a tag
 * twice, a missing required field, an integer of the wrong width, a text
 * with a NUL byte or longer than its buffer, or bytes after the last field
 * are each a refusal. Texts arrive NUL-terminated in fixed buffers; the
 * ANSWER and the REQUEST's authtok may hold a secret, so callers wipe a
 * message (authproto_wipe) when done with it.
 */
#ifndef IDGOV_AUTHPROTO_H
#define IDGOV_AUTHPROTO_H

#include <stddef.h>
#include <stdint.h>

#define AUTHPROTO_VERSION 1
#define AUTHPROTO_FRAME_MAX 4096
#define AUTHPROTO_NAME_MAX 256 /* user, rhost, ruser */
#define AUTHPROTO_SHORT_MAX 64 /* service, tty */
#define AUTHPROTO_TEXT_MAX 512 /* prompts, messages, answers, authtok */
/* Messages the service may send before its RESULT (a bound the client enforces). */
#define AUTHPROTO_MAX_MESSAGES 16

enum authproto_type {
	AUTHPROTO_REQUEST = 1, /* client: op, user, service, ... */
	AUTHPROTO_ANSWER = 2,  /* client: text (the answer to a PROMPT) */
	AUTHPROTO_PROMPT = 3,  /* service: text, asked with echo off */
	AUTHPROTO_INFO = 4,    /* service: text */
	AUTHPROTO_ERROR = 5,   /* service: text */
	AUTHPROTO_RESULT = 6,  /* service: result, delay_ms */
};

enum authproto_op {
	AUTHPROTO_OP_AUTHENTICATE = 1,
	AUTHPROTO_OP_ACCOUNT = 2,
	AUTHPROTO_OP_SESSION_OPEN = 3,
	AUTHPROTO_OP_SESSION_CLOSE = 4,
	AUTHPROTO_OP_PASSWORD = 5, /* the new password in authtok */
};

/* REQUEST flags. */
#define AUTHPROTO_F_PW_CHECK 0x1u  /* password: check the rules */
#define AUTHPROTO_F_PW_RECORD 0x2u /* password: record in the history */
#define AUTHPROTO_F_DEBUG 0x4u
/*
 * account: this login gave a password. The module sets it when its
 * authentication step in the same PAM handle found PAM_AUTHTOK set, as a
 * password module before it in the auth stack (pam_unix) leaves it; an
 * ssh key (with a code) leaves it unset. [pam] password_age decides on it.
 */
#define AUTHPROTO_F_PASSWORD_USED 0x8u
/*
 * The client may send its next call's REQUEST on this connection after
 * the RESULT (authenticate, then account, in one PAM handle). A service
 * older than this flag refuses it as unknown: module and service are
 * upgraded together.
 */
#define AUTHPROTO_F_KEEP 0x10u
#define AUTHPROTO_F_ALL 0x1fu

/* The outcome of a call, mapped to a PAM code by the module alone. */
enum authproto_result {
	AUTHPROTO_R_SUCCESS = 0,
	AUTHPROTO_R_AUTH_ERR,
	AUTHPROTO_R_USER_UNKNOWN,
	AUTHPROTO_R_AUTHINFO_UNAVAIL,
	AUTHPROTO_R_PERM_DENIED,
	AUTHPROTO_R_ACCT_EXPIRED,
	AUTHPROTO_R_NEW_AUTHTOK_REQD,
	AUTHPROTO_R_AUTHTOK_ERR,
	AUTHPROTO_R_TRY_AGAIN,
	AUTHPROTO_R_CONV_ERR,
	AUTHPROTO_R_IGNORE, /* not this module's user: the rest of the stack decides */
	AUTHPROTO_R_COUNT   /* not a result */
};

/* Which fields a message holds (struct authproto_msg.have). */
enum authproto_field {
	AUTHPROTO_HAVE_OP = 1u << 1,
	AUTHPROTO_HAVE_FLAGS = 1u << 2,
	AUTHPROTO_HAVE_RESULT = 1u << 3,
	AUTHPROTO_HAVE_DELAY = 1u << 4,
	AUTHPROTO_HAVE_PID = 1u << 5,
	AUTHPROTO_HAVE_RUID = 1u << 6,
	AUTHPROTO_HAVE_USER = 1u << 7,
	AUTHPROTO_HAVE_SERVICE = 1u << 8,
	AUTHPROTO_HAVE_RHOST = 1u << 9,
	AUTHPROTO_HAVE_TTY = 1u << 10,
	AUTHPROTO_HAVE_RUSER = 1u << 11,
	AUTHPROTO_HAVE_TEXT = 1u << 12,
};

struct authproto_msg {
	enum authproto_type type;
	unsigned have; /* AUTHPROTO_HAVE_* */
	enum authproto_op op;
	uint32_t flags;
	enum authproto_result result;
	uint32_t delay_ms; /* RESULT: the failure delay the module asks libpam for */
	uint32_t pid;      /* REQUEST: the PAM process (session records) */
	uint32_t ruid;     /* REQUEST: its real uid (root changing a password is an admin) */
	char user[AUTHPROTO_NAME_MAX + 1];
	char service[AUTHPROTO_SHORT_MAX + 1];
	char rhost[AUTHPROTO_NAME_MAX + 1];
	char tty[AUTHPROTO_SHORT_MAX + 1];
	char ruser[AUTHPROTO_NAME_MAX + 1];
	char text[AUTHPROTO_TEXT_MAX + 1];
};

/*
 * Sets *m to an empty message of type t. The string setters copy s
 * (NULL: the field stays absent) and return -1 when it does not fit or the
 * field is not one of t's.
 */
void authproto_init(struct authproto_msg *m, enum authproto_type t);
int authproto_set(struct authproto_msg *m, enum authproto_field f, const char *s);

/*
 * Encodes m into buf as one frame (length prefix included): 0 with *len,
 * or -1 when m is not a valid message of its type or does not fit.
 */
int authproto_encode(const struct authproto_msg *m, unsigned char *buf, size_t size, size_t *len);

/*
 * Decodes one payload (the bytes after the length prefix). 0, or -1 with
 * *why (a static string) saying what was wrong; *m is then wiped.
 */
int authproto_decode(const unsigned char *payload, size_t len, struct authproto_msg *m,
		     const char **why);

/* Wipes every field of m (secrets included), so the compiler cannot skip it. */
void authproto_wipe(struct authproto_msg *m);

/* A short name for a result ("success", "auth_err", ...), for logs. */
const char *authproto_result_name(enum authproto_result r);

/*
 * Frame I/O on a blocking or non-blocking stream socket, bounded by an
 * absolute deadline in CLOCK_MONOTONIC milliseconds (authproto_now_ms):
 * 0, or -1 with *why (timeout, peer closed, malformed frame, I/O error).
 * The read wipes buf before it returns a failure.
 */
int64_t authproto_now_ms(void);
int authproto_send(int fd, const struct authproto_msg *m, int64_t deadline_ms, const char **why);
int authproto_recv(int fd, struct authproto_msg *m, int64_t deadline_ms, const char **why);

#endif
