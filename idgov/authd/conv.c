/*
 * The service's half of a PAM conversation. pam_idgov.so relays each
 * PROMPT to the application's conversation function (sshd's
 * keyboard-interactive, a terminal) and sends back the ANSWER; INFO and
 * ERROR become pam_info()/pam_error(). Once the module is gone (it timed
 * out, the user hung up), everything after is dropped quietly and the
 * request's handler still finishes its bookkeeping.
 */
#include "authd.h"

#include "secmem.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
send_msg(struct conv *c, const struct authproto_msg *m)
{
	const char *why = NULL;

	if (c->failed)
		return -1;
	if (authproto_send(c->fd, m, authproto_now_ms() + AUTHD_SEND_TIMEOUT_MS, &why) != 0) {
		log_msg(c->log, LOG_NOTICE, "the PAM module went away: %s", why);
		c->failed = 1;
		return -1;
	}
	return 0;
}

static void send_text(struct conv *c, enum authproto_type t, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
send_text(struct conv *c, enum authproto_type t, const char *fmt, va_list ap)
{
	struct authproto_msg m;

	if (c->messages >= AUTHPROTO_MAX_MESSAGES) {
		log_msg(c->log, LOG_ERR, "conversation: too many messages, one dropped");
		return;
	}
	authproto_init(&m, t);
	/* A longer message is cut: better a short line than none. */
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	m.have |= AUTHPROTO_HAVE_TEXT;
	if (send_msg(c, &m) == 0)
		c->messages++;
	authproto_wipe(&m);
}

int
conv_prompt(struct conv *c, const char *text, char **answer)
{
	struct authproto_msg m;
	const char *why = NULL;
	size_t len;
	int rc = -1;

	*answer = NULL;
	if (c->messages >= AUTHPROTO_MAX_MESSAGES)
		return -1;
	authproto_init(&m, AUTHPROTO_PROMPT);
	if (authproto_set(&m, AUTHPROTO_HAVE_TEXT, text) != 0 || send_msg(c, &m) != 0)
		goto out;
	c->messages++;
	/* The watchdog (worker.c) leaves a person their time to answer, and no more. */
	alarm(AUTHD_ANSWER_TIMEOUT_MS / 1000 + AUTHD_WORK_TIMEOUT_S);
	rc = authproto_recv(c->fd, &m, authproto_now_ms() + AUTHD_ANSWER_TIMEOUT_MS, &why);
	alarm(AUTHD_WORK_TIMEOUT_S);
	if (rc != 0 || m.type != AUTHPROTO_ANSWER) {
		rc = -1;
		log_msg(c->log, LOG_NOTICE, "conversation: no answer to the prompt: %s",
			why != NULL ? why : "not an answer");
		c->failed = 1;
		goto out;
	}
	rc = -1;
	len = strlen(m.text);
	if ((*answer = secmem_alloc(len + 1)) == NULL)
		goto out;
	memcpy(*answer, m.text, len + 1);
	rc = 0;
out:
	authproto_wipe(&m);
	return rc;
}

void
conv_info(struct conv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_text(c, AUTHPROTO_INFO, fmt, ap);
	va_end(ap);
}

void
conv_error(struct conv *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_text(c, AUTHPROTO_ERROR, fmt, ap);
	va_end(ap);
}

void
conv_result(struct conv *c, enum authproto_result r, uint32_t delay_ms)
{
	struct authproto_msg m;

	authproto_init(&m, AUTHPROTO_RESULT);
	m.result = r;
	m.have |= AUTHPROTO_HAVE_RESULT;
	if (delay_ms > 0) {
		m.delay_ms = delay_ms;
		m.have |= AUTHPROTO_HAVE_DELAY;
	}
	(void)send_msg(c, &m);
}
