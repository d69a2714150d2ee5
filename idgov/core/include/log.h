/*
 * Logging to syslog (LOG_AUTHPRIV) over a configurable datagram socket.
 *
 * We write RFC 3164 lines to the socket ourselves instead of calling
 * glibc's syslog(): the destination becomes a per-logger setting (tests
 * point it at their own socket), nothing is global, and a missing
 * /dev/log drops the line quietly instead of falling back to a console.
 * A logger may also echo every line to stderr (foreground daemon, CLI).
 */
#ifndef IDGOV_LOG_H
#define IDGOV_LOG_H

#include <syslog.h>

struct logger {
	int fd; /* datagram socket, or -1 */
	char path[108];
	char ident[32];
	int to_stderr;        /* echo to stderr */
	int min_stderr_level; /* echo only lines at or above this severity (LOG_*) */
};

/* Never fails: a logger that cannot reach its socket still echoes to stderr. */
void log_open(struct logger *lg, const char *ident, const char *socket_path, int to_stderr);
void log_close(struct logger *lg);

/* lg may be NULL (library callers without a logger): the line is dropped. */
void log_msg(struct logger *lg, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
