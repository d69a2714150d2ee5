/* Notifications through the configured command; see notify.h. */
#define _GNU_SOURCE
#include "notify.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ARGS 16
#define SUBJECT_MAX 200 /* bytes of subject kept, before encoding */
#define NAME_MAX_ 96    /* bytes of display name kept, before encoding */
/* An encoded-word is at most 75 characters: "=?UTF-8?B?" and "?=" leave 63, so 60 of base64. */
#define WORD_BYTES 45

/* Splits the command on spaces into argv (pointers into buf). */
static int
split_command(const char *command, char *buf, size_t size, char *argv[MAX_ARGS + 1])
{
	int n = 0;

	if (idg_strlcpy(buf, command, size) >= size)
		return -1;
	for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_ARGS)
			return -1;
		argv[n++] = w;
	}
	argv[n] = NULL;
	return n > 0 && argv[0][0] == '/' ? 0 : -1;
}

static int
spawn(char *const argv[], int in_fd, pid_t *pid)
{
	static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	posix_spawn_file_actions_t fa;
	int rc;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return ENOMEM;
	rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rc == 0)
		rc = posix_spawn(pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* ---- addresses ---- */

static int
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Why a byte cannot be in an address, or NULL if it may (atext, '.', '@'). */
static const char *
bad_byte(unsigned char c)
{
	if (is_atext(c) || c == '.' || c == '@')
		return NULL;
	if (c < 0x20 || c == 0x7f)
		return "has a control character (such as CR or LF)";
	if (c == ' ')
		return "has a space";
	if (c == ',')
		return "has a comma (a value is one address)";
	if (c == '<' || c == '>')
		return "has an angle bracket";
	if (c >= 0x80)
		return "has a character that is not ASCII";
	return "has a quote, bracket, colon, semicolon or backslash";
}

/* A dot-atom: 1..64 bytes of atext, dots only between them. */
static int
local_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Host name labels: 1..63 letters, digits and inner hyphens each; 253 bytes at most. */
static int
domain_ok(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

int
notify_addr_valid(const char *addr, const char **why)
{
	const char *reason = NULL, *at = NULL;

	if (addr == NULL || addr[0] == '\0')
		reason = "is empty";
	else if (strlen(addr) > NOTIFY_ADDR_MAX)
		reason = "is longer than 254 bytes";
	for (const char *p = addr; reason == NULL && *p != '\0'; p++)
		reason = bad_byte((unsigned char)*p);
	if (reason == NULL && (at = strchr(addr, '@')) == NULL)
		reason = "has no '@'";
	else if (reason == NULL && strchr(at + 1, '@') != NULL)
		reason = "has more than one '@'";
	else if (reason == NULL && !local_ok(addr, (size_t)(at - addr)))
		reason = "has a local part that is not a dot-atom of 1 to 64 bytes";
	else if (reason == NULL && !domain_ok(at + 1))
		reason = "has a domain that is not a host name";
	if (why != NULL)
		*why = reason;
	return reason == NULL;
}

/* ---- the message ---- */

/* A growing text; after a failed allocation it stays failed and adds nothing. */
struct text {
	char *p;
	size_t len, size;
	int oom;
};

static void
add(struct text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->size) {
		size_t size = (t->len + n + 1) * 2;
		char *p = realloc(t->p, size);

		if (p == NULL) {
			t->oom = 1;
			return;
		}
		t->p = p;
		t->size = size;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void
adds(struct text *t, const char *s)
{
	add(t, s, strlen(s));
}

/* s made visible (no CR, LF or other control, valid UTF-8) and cut to max bytes; malloc'd. */
static char *
visible(const char *s, size_t max)
{
	size_t size = max + 1;
	char *out = malloc(size);

	if (out != NULL)
		idg_strvis(out, size, s != NULL ? s : "");
	return out;
}

static int
printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* Bytes of the UTF-8 character led by c (the text is valid UTF-8: visible() made it so). */
static size_t
char_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/*
 * RFC 2047 encoded-words ("B" encoding, UTF-8) for s, each at most 75
 * characters and whole characters only, folded onto lines of their own.
 */
static void
add_words(struct text *t, const char *s)
{
	char b64[sodium_base64_ENCODED_LEN(WORD_BYTES, sodium_base64_VARIANT_ORIGINAL)];

	while (*s != '\0') {
		size_t n = 0;

		while (s[n] != '\0' && n + char_len((unsigned char)s[n]) <= WORD_BYTES)
			n += char_len((unsigned char)s[n]);
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s, n,
				  sodium_base64_VARIANT_ORIGINAL);
		adds(t, "=?UTF-8?B?");
		adds(t, b64);
		adds(t, "?=");
		s += n;
		if (*s != '\0')
			adds(t, "\n ");
	}
}

/* A display name: a quoted-string when printable ASCII, else encoded-words. */
static void
add_phrase(struct text *t, const char *name)
{
	char *v = visible(name, NAME_MAX_);

	if (v == NULL) {
		t->oom = 1;
		return;
	}
	if (printable_ascii(v)) {
		adds(t, "\"");
		for (const char *p = v; *p != '\0'; p++)
			add(t,
			    *p == '"'    ? "\\\""
			    : *p == '\\' ? "\\\\"
					 : p,
			    *p == '"' || *p == '\\' ? 2 : 1);
		adds(t, "\"");
	} else {
		add_words(t, v);
	}
	free(v);
}

static void
skip(struct logger *log, const char *event, const char *who, const char *addr, const char *why)
{
	char shown[80];

	idg_strvis(shown, sizeof(shown), addr != NULL ? addr : "");
	log_msg(log, LOG_WARNING, "notify: not sending '%s' to %s: the address '%s'%s %s", event,
		who != NULL ? who : "?", shown, strlen(shown) == sizeof(shown) - 1 ? "..." : "",
		why);
}

/* Adds one valid address (and the recipient's name) to the To header; returns 1 if added. */
static int
add_rcpt(struct text *t, struct logger *log, const char *event, const struct notify_rcpt *r,
	 const char *addr, size_t len, int first)
{
	char one[NOTIFY_ADDR_MAX + 2];
	const char *why;

	/* One byte more than the longest address: a longer one is refused as such. */
	len = len < sizeof(one) - 1 ? len : sizeof(one) - 1;
	memcpy(one, addr, len);
	one[len] = '\0';
	if (!notify_addr_valid(one, &why)) {
		skip(log, event, r->who, one, why);
		return 0;
	}
	adds(t, first ? "To: " : ",\n ");
	if (r->name != NULL && r->name[0] != '\0' && !r->list) {
		add_phrase(t, r->name);
		adds(t, " <");
		adds(t, one);
		adds(t, ">");
	} else {
		adds(t, one);
	}
	return 1;
}

/* The To header of every valid address; returns how many there are. */
static int
add_to(struct text *t, struct logger *log, const char *event, const struct notify_rcpt *to,
       size_t n)
{
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		const char *cursor = to[i].addr, *item;
		size_t len;

		if (to[i].addr == NULL || to[i].addr[0] == '\0')
			continue;
		if (!to[i].list) {
			count += add_rcpt(t, log, event, &to[i], to[i].addr, strlen(to[i].addr),
					  count == 0);
			continue;
		}
		while (idg_list_next(&cursor, &item, &len))
			if (len > 0)
				count += add_rcpt(t, log, event, &to[i], item, len, count == 0);
	}
	if (count > 0)
		adds(t, "\n");
	return count;
}

/* The body, each line made visible: it cannot hold a control character either. */
static void
add_body(struct text *t, const char *body)
{
	while (body != NULL && *body != '\0') {
		size_t n = strcspn(body, "\n");
		char *line = strndup(body, n), *v = line != NULL ? visible(line, 4 * n) : NULL;

		if (v == NULL)
			t->oom = 1;
		else
			adds(t, v);
		adds(t, "\n");
		free(v);
		free(line);
		body += n + (body[n] == '\n');
	}
}

int
notify_format(struct logger *log, const char *event, const struct notify_rcpt *to, size_t n,
	      const char *subject, const char *body, char **out)
{
	struct text t = {NULL, 0, 0, 0};
	char *subj = visible(subject, SUBJECT_MAX);
	int count;

	*out = NULL;
	if (subj == NULL)
		return -1;
	/* The event names a kind of message; it is ours, but it goes into a header too. */
	if (event == NULL || event[0] == '\0' || !printable_ascii(event) || strlen(event) > 64)
		event = "unknown";
	count = add_to(&t, log, event, to, n);
	if (count > 0) {
		adds(&t, "Subject: [idgov] ");
		if (printable_ascii(subj))
			adds(&t, subj);
		else
			add_words(&t, subj);
		adds(&t, "\nX-Idgov-Event: ");
		adds(&t, event);
		adds(&t, "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
			 "Content-Transfer-Encoding: 8bit\n\n");
		add_body(&t, body);
	}
	free(subj);
	if (t.oom || (count > 0 && t.p == NULL)) {
		free(t.p);
		return -1;
	}
	if (count == 0) {
		free(t.p);
		return 0;
	}
	*out = t.p;
	return count;
}

int
notify_send(const struct cfg *cfg, struct logger *log, const char *event,
	    const struct notify_rcpt *to, size_t n, const char *subject, const char *body)
{
	char buf[1024], *argv[MAX_ARGS + 1], *msg = NULL;
	int sv[2], rc, count;
	size_t len;
	pid_t pid;

	if (cfg->notify_command[0] == '\0')
		return 0;
	if (split_command(cfg->notify_command, buf, sizeof(buf), argv) != 0) {
		log_msg(log, LOG_ERR, "notify: command must start with an absolute path: %s",
			cfg->notify_command);
		return -1;
	}
	count = notify_format(log, event, to, n, subject, body, &msg);
	if (count < 0) {
		log_msg(log, LOG_ERR, "notify: out of memory");
		return -1;
	}
	if (count == 0)
		return 0; /* nobody with a valid address: each was logged */
	len = strlen(msg);
	/* A socket, not a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE in the daemon. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		free(msg);
		return -1;
	}
	rc = spawn(argv, sv[1], &pid);
	close(sv[1]);
	if (rc == 0 && send(sv[0], msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		log_msg(log, LOG_WARNING, "notify: %s did not take the whole message", argv[0]);
	close(sv[0]);
	free(msg);
	if (rc != 0) {
		log_msg(log, LOG_ERR, "notify: cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	log_msg(log, LOG_INFO, "notify: %s sent to %d recipient(s) (%s)", event, count,
		subject != NULL ? subject : "");
	return 0;
}

int
notify_alert(const struct cfg *cfg, struct logger *log, const char *event, const char *subject,
	     const char *body)
{
	struct notify_rcpt to = {
		.who = "[notify] admin_mail", .addr = cfg->notify_admin_mail, .list = 1};

	log_msg(log, LOG_ALERT, "%s: %s", subject, body);
	return notify_send(cfg, log, event, &to, 1, subject, body);
}
