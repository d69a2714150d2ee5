/*
 * Unit tests for notifications: which addresses are sent to, how headers
 * are encoded, and that no value from the directory can add a header
 * (a Bcc, a second Subject) for "sendmail -t" to act on. Invalid
 * addresses are skipped with a log line naming the user and the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "notify.h"

struct fixture {
	char dir[64], sock[96];
	int fd;
	struct logger log;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {0, 200000};

	if (f == NULL || test_mkdtemp(f->dir, sizeof(f->dir), "notify") != 0)
		return -1;
	snprintf(f->sock, sizeof(f->sock), "%s/log", f->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->sock);
	f->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		return -1;
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	log_open(&f->log, "idgov-test", f->sock, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	log_close(&f->log);
	close(f->fd);
	if (test_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* The next log line, or "" when there is none. */
static const char *
next_log(struct fixture *f)
{
	static char buf[2048];
	ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The header block of msg (up to the empty line), copied. */
static char *
headers(const char *msg)
{
	const char *end = strstr(msg, "\n\n");

	assert_non_null(end);
	return strndup(msg, (size_t)(end - msg) + 1);
}

/*
 * Every header line is "Name: value" with a name of ours, or a fold (a
 * space after the newline): no value started a line of its own.
 */
static void
assert_headers_are_ours(const char *msg)
{
	static const char *const ours[] = {"To: ",
					   "Subject: ",
					   "X-Idgov-Event: ",
					   "MIME-Version: ",
					   "Content-Type: ",
					   "Content-Transfer-Encoding: ",
					   NULL};
	char *h = headers(msg), *save = NULL;

	assert_null(strchr(h, '\r'));
	for (char *line = strtok_r(h, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		int ok = line[0] == ' ';

		for (const char *const *o = ours; !ok && *o != NULL; o++)
			ok = strncmp(line, *o, strlen(*o)) == 0;
		if (!ok)
			fail_msg("header line not ours: '%s'", line);
		for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail_msg("header byte 0x%02x in '%s'", *p, line);
		if (strlen(line) > 78 && strncmp(line, "Subject: ", 9) != 0 &&
		    strncmp(line, "To: ", 4) != 0)
			fail_msg("header line longer than 78: '%s'", line);
	}
	free(h);
}

static void
test_address_validation(void **state)
{
	static const char *const good[] = {
		"alice@example.com",  "a.b+tag@mail.example.org",      "x@localhost",
		"o'brien@example.ie", "user_1@sub-domain.example.com",
	};
	static const struct {
		const char *addr, *why;
	} bad[] = {
		{"", "is empty"},
		{"alice", "has no '@'"},
		{"a@b@c", "more than one '@'"},
		{"alice@example.com\nBcc: evil@example.net", "control character"},
		{"alice@example.com\r\nSubject: forged", "control character"},
		{"alice@example.com, evil@example.net", "comma"},
		{"alice@example.com,evil@example.net", "comma"},
		{"Alice <alice@example.com>", "space"},
		{"<alice@example.com>", "angle bracket"},
		{"al ice@example.com", "space"},
		{"\"alice\"@example.com", "quote"},
		{".alice@example.com", "local part"},
		{"al..ice@example.com", "local part"},
		{"alice@-example.com", "domain"},
		{"alice@example..com", "domain"},
		{"alice@example.com.", "domain"},
		{"alice@[127.0.0.1]", "bracket"},
		{"j\xc3\xb6rg@example.com", "not ASCII"},
		{"alice@exa\tmple.com", "control character"},
	};
	char big[300];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!notify_addr_valid(good[i], &why))
			fail_msg("'%s' refused: %s", good[i], why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (notify_addr_valid(bad[i].addr, &why))
			fail_msg("'%s' accepted", bad[i].addr);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': '%s' does not say '%s'", bad[i].addr, why, bad[i].why);
	}
	memset(big, 'a', 70);
	snprintf(big + 70, sizeof(big) - 70, "@example.com");
	assert_false(notify_addr_valid(big, &why));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	assert_false(notify_addr_valid(big, &why));
	assert_non_null(strstr(why, "longer than 254"));
	assert_false(notify_addr_valid(NULL, NULL));
}

/* The attack: a mail value with a Bcc and a forged Subject. Skipped, logged; nothing sent. */
static void
test_injected_mail_is_skipped_and_logged(void **state)
{
	struct fixture *f = *state;
	struct notify_rcpt to = {.who = "mallory",
				 .addr = "mallory@example.com\nBcc: everyone@example.net\n"
					 "Subject: you are fired"};
	char *msg = (char *)"unchanged";
	const char *line;

	assert_int_equal(notify_format(&f->log, "requested", &to, 1, "grant #1", "body", &msg), 0);
	assert_null(msg);
	line = next_log(f);
	assert_non_null(strstr(line, "not sending 'requested' to mallory"));
	assert_non_null(strstr(line, "control character"));
	assert_non_null(strstr(line, "mallory@example.com\\x0aBcc: "));
	assert_null(strchr(line, '\n'));
}

/* Valid recipients still get it; the invalid one is named in the log. */
static void
test_valid_recipients_remain(void **state)
{
	struct fixture *f = *state;
	struct notify_rcpt to[] = {
		{.who = "[notify] admin_mail",
		 .addr = "sec@example.com, bad address@example.com,ops@example.com",
		 .list = 1},
		{.who = "bob", .name = "Bob Baker", .addr = "bob@example.com"},
		{.who = "carol", .addr = "carol@example.com, evil@example.net"},
		{.who = "dave", .addr = NULL},
		{.who = "erin", .addr = ""},
	};
	char *msg = NULL;
	const char *line;

	assert_int_equal(notify_format(&f->log, "requested", to, 5, "grant #1 of admins to bob",
				       "Reason: deploy\n", &msg),
			 3);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "To: sec@example.com,\n ops@example.com,\n \"Bob Baker\" "
				    "<bob@example.com>\n"));
	assert_null(strstr(msg, "evil@"));
	assert_null(strstr(msg, "bad address"));
	assert_non_null(strstr(msg, "\nSubject: [idgov] grant #1 of admins to bob\n"));
	assert_non_null(strstr(msg, "\nX-Idgov-Event: requested\n"));
	assert_non_null(strstr(msg, "\n\nReason: deploy\n"));
	assert_headers_are_ours(msg);
	free(msg);
	line = next_log(f);
	assert_non_null(strstr(line,
			       "to [notify] admin_mail: the address 'bad address@example.com' "
			       "has a space"));
	line = next_log(f);
	assert_non_null(strstr(line, "to carol: the address 'carol@example.com, evil@example.net' "
				     "has a comma"));
	assert_string_equal(next_log(f), ""); /* no address is no error */
}

/* Decodes every "=?UTF-8?B?...?=" word of a header value, in order. */
static void
decode_words(const char *value, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	while ((value = strstr(value, "=?UTF-8?B?")) != NULL) {
		const char *end = strstr(value + 10, "?=");
		size_t bin_len;

		assert_non_null(end);
		assert_true(end - value + 2 <= 75);
		assert_int_equal(sodium_base642bin((unsigned char *)out + off, size - off - 1,
						   value + 10, (size_t)(end - value - 10), NULL,
						   &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL),
				 0);
		off += bin_len;
		out[off] = '\0';
		value = end + 2;
	}
}

static void
test_non_ascii_is_encoded(void **state)
{
	struct fixture *f = *state;
	/* 40 times "ö€" (5 bytes each): 200 bytes, more than one encoded-word holds. */
	char subject[256] = "", name[] = "J\xc3\xb6rg M\xc3\xbcller", decoded[512];
	struct notify_rcpt to = {.who = "joerg", .name = name, .addr = "joerg@example.com"};
	char *msg = NULL, *h, *subj, *to_line;

	for (int i = 0; i < 40; i++)
		strcat(subject, "\xc3\xb6\xe2\x82\xac");
	assert_int_equal(
		notify_format(&f->log, "review", &to, 1, subject, "gr\xc3\xbc\xc3\x9f", &msg), 1);
	assert_headers_are_ours(msg);
	h = headers(msg);
	to_line = strstr(h, "To: ");
	assert_non_null(to_line);
	assert_non_null(strstr(to_line, " <joerg@example.com>\n"));
	*strstr(to_line, " <joerg") = '\0';
	decode_words(to_line, decoded, sizeof(decoded));
	assert_string_equal(decoded, name);
	free(h);
	h = headers(msg);
	subj = strstr(h, "Subject: [idgov] =?UTF-8?B?");
	assert_non_null(subj);
	*strstr(subj, "\nX-Idgov-Event") = '\0';
	assert_non_null(strstr(subj, "?=\n =?UTF-8?B?")); /* folded between words */
	decode_words(subj, decoded, sizeof(decoded));
	assert_string_equal(decoded, subject); /* whole characters in each word */
	free(h);
	assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8\n"));
	assert_non_null(strstr(msg, "\n\ngr\xc3\xbc\xc3\x9f\n"));
	free(msg);
}

/* CR, LF and escapes in a subject, a name or the body never reach the message raw. */
static void
test_controls_in_values_are_not_raw(void **state)
{
	struct fixture *f = *state;
	struct notify_rcpt to = {
		.who = "bob", .name = "Bob\r\nBcc: evil@example.net", .addr = "bob@example.com"};
	char *msg = NULL;

	assert_int_equal(notify_format(&f->log, "ended", &to, 1,
				       "grant #2\r\nBcc: evil@example.net",
				       "reason: x\r\nline two\x1b[2J\n", &msg),
			 1);
	assert_headers_are_ours(msg);
	assert_non_null(strstr(msg, "Subject: [idgov] grant #2\\x0d\\x0aBcc: evil@example.net\n"));
	assert_non_null(
		strstr(msg, "To: \"Bob\\\\x0d\\\\x0aBcc: evil@example.net\" <bob@example.com>"));
	assert_non_null(strstr(msg, "\n\nreason: x\\x0d\nline two\\x1b[2J\n"));
	assert_null(strchr(msg, '\r'));
	assert_null(strchr(msg, '\x1b'));
	free(msg);
	/* A name with quotes and backslashes stays one quoted-string. */
	to.name = "Bob \"The Builder\" \\o/";
	assert_int_equal(notify_format(&f->log, "ended", &to, 1, "s", "b", &msg), 1);
	assert_non_null(strstr(msg, "To: \"Bob \\\"The Builder\\\" \\\\o/\" <bob@example.com>\n"));
	free(msg);
}

/* Through the command: what a directory value holds cannot reach it as a header. */
static void
test_send_writes_only_checked_headers(void **state)
{
	struct fixture *f = *state;
	char conf[512], out[160], text[4096] = "";
	struct cfg *cfg;
	struct idg_err err;
	struct notify_rcpt to[] = {
		{.who = "mallory", .addr = "m@example.com\nBcc: all@example.net"},
		{.who = "bob", .addr = "bob@example.com"},
	};
	FILE *fp;
	size_t n;

	snprintf(out, sizeof(out), "%s/mail", f->dir);
	snprintf(conf, sizeof(conf),
		 "[directory]\nuri = ldap://h/\nbase = dc=x\n[notify]\ncommand = /usr/bin/tee "
		 "%s\n",
		 out);
	assert_int_equal(cfg_load_string(conf, "t.conf", &cfg, &err), 0);
	assert_int_equal(notify_send(cfg, &f->log, "requested", to, 2, "grant #1", "hello"), 0);
	while (wait(NULL) > 0)
		;
	fp = fopen(out, "r");
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	assert_non_null(strstr(text, "To: bob@example.com\n"));
	assert_null(strstr(text, "Bcc"));
	assert_headers_are_ours(text);
	/* Nobody valid: nothing is started. */
	unlink(out);
	assert_int_equal(notify_send(cfg, &f->log, "requested", to, 1, "grant #1", "hello"), 0);
	assert_int_equal(wait(NULL), -1);
	assert_int_equal(access(out, F_OK), -1);
	cfg_free(cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_address_validation),
		T(test_injected_mail_is_skipped_and_logged),
		T(test_valid_recipients_remain),
		T(test_non_ascii_is_encoded),
		T(test_controls_in_values_are_not_raw),
		T(test_send_writes_only_checked_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
