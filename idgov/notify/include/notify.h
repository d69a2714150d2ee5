/*
 * Notifications to people: a message in mail format (To, Subject,
 * X-Idgov-Event and MIME headers, a text body) written to the standard
 * input of the configured [notify] command, for example
 * "/usr/sbin/sendmail -t -i". Nothing is sent when no command is
 * configured.
 *
 * Addresses come from the directory (a user's mail), which idgov does
 * not control, and a command such as "sendmail -t" takes its recipients
 * from the headers. So a header is never made of a value as it is: each
 * address must be a plain addr-spec (notify_addr_valid(); one that is
 * not is skipped and logged with whose it was and why), display names
 * and subjects that are not printable ASCII are RFC 2047 encoded-words,
 * and no value can put a CR or LF into the header block. The only line
 * breaks in it are the folds this code makes (a newline and a space).
 *
 * The command runs without a shell: the configured text is split on
 * spaces, the first word must be an absolute path, and it gets an empty
 * environment but PATH, /dev/null for output, and no other descriptor.
 * It is not waited for; the daemon reaps its children. Never called from
 * the PAM module.
 */
#ifndef IDGOV_NOTIFY_H
#define IDGOV_NOTIFY_H

#include "config.h"
#include "log.h"

#include <stddef.h>

/* Longest address accepted (RFC 5321: 64 for the local part, 254 in all). */
#define NOTIFY_ADDR_MAX 254

/* One recipient of a message. */
struct notify_rcpt {
	const char *who;  /* whose address it is, for the log: a user name, "[notify] admin_mail" */
	const char *name; /* display name, or NULL */
	const char *addr; /* one address; with list, comma-separated addresses; NULL or "": none */
	int list;         /* only for configured lists: a value from the directory is one address */
};

/*
 * 1 if addr is an address idgov sends to: local@domain, the local part a
 * dot-atom of RFC 5322 atext (at most 64 bytes), the domain dot-separated
 * labels of letters, digits and inner hyphens; printable ASCII only, so no
 * CR, LF, control, space, comma, quote or angle bracket. Else 0, and *why
 * (if why is not NULL) says what is wrong, for the log.
 */
int notify_addr_valid(const char *addr, const char **why);

/*
 * The message for event to the valid recipients of to[0..n-1], as text
 * with LF line ends (malloc'd into *out). Invalid addresses are skipped
 * with a warning on log. Returns 1 when the message has recipients, 0 when
 * none is left (*out NULL: nothing to send), -1 when out of memory.
 */
int notify_format(struct logger *log, const char *event, const struct notify_rcpt *to, size_t n,
		  const char *subject, const char *body, char **out);

/*
 * Sends event's message to the recipients through the configured command.
 * Returns 0 if nothing was due (no command, no valid recipient) or the
 * command was started, -1 if it could not be.
 */
int notify_send(const struct cfg *cfg, struct logger *log, const char *event,
		const struct notify_rcpt *to, size_t n, const char *subject, const char *body);

/*
 * An alert for admins: "subject: body" logged at LOG_ALERT, and the
 * message sent to [notify] admin_mail. Returns what notify_send() does.
 */
int notify_alert(const struct cfg *cfg, struct logger *log, const char *event, const char *subject,
		 const char *body);

#endif
