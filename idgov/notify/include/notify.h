/*
 * Notifications to people: a message in mail format (To, Subject,
 * X-Idgov-Event headers, a text body) written to the standard input of
 * the configured [notify] command, for example "/usr/sbin/sendmail -t".
 * Nothing is sent when no command is configured.
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

/* to: comma-separated addresses; empty or NULL: nobody to tell, nothing sent. Returns 0 if
 * nothing was due or the command was started. */
int notify_send(const struct cfg *cfg, struct logger *log, const char *event, const char *to,
		const char *subject, const char *body);

#endif
