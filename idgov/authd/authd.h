/*
 * idgov-authd: the auth service. pam_idgov.so, inside sshd, sudo, su and
 * login, sends it one request per PAM call over a Unix socket that only
 * root (or the configured [authd] client_uid) may use; the service decides
 * with the policy layer and answers with prompts, messages and a result.
 * So the master key, the store and the policy libraries live in this one
 * small process, never in the PAM host processes.
 *
 *   listen.c  the socket: inherited from systemd (LISTEN_FDS) or made here;
 *             peer credentials
 *   serve.c   the accept loop: one forked child per connection, signals,
 *             configuration reloads
 *   conv.c    the conversation with the module inside one connection
 *   login.c   the requests: authenticate, account, session, password
 */
#ifndef IDGOV_AUTHD_H
#define IDGOV_AUTHD_H

#include "authproto.h"
#include "config.h"
#include "log.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct authd {
	const char *config_path;
	struct cfg *cfg;
	struct stat cfg_stat; /* of the file cfg was read from: reloaded when it changes */
	struct logger log;
	int listen_fd;
	char *own_socket; /* the path this process bound (removed at exit); NULL: inherited */
	int children;
	int foreground;
};

/* listen.c */
/*
 * The listening socket: the one systemd passes (LISTEN_PID is ours and
 * LISTEN_FDS is 1: fd 3, which must be a Unix stream socket), else a new
 * one bound at path with mode 0600 (a stale socket there is replaced; any
 * other file is refused). Fills d->listen_fd and d->own_socket.
 */
int authd_listen(struct authd *d, const char *path, struct idg_err *err);
/* 1 if the peer of fd may ask (root or client_uid), 0 if not (*uid says who), -1 on error. */
int authd_peer_allowed(int fd, uid_t client_uid, uid_t *uid, pid_t *pid);

/* serve.c */
int authd_serve(struct authd *d);

/* conv.c: the conversation with the module, inside one connection. */
struct conv {
	int fd;
	int messages;       /* sent before the result, bounded by AUTHPROTO_MAX_MESSAGES */
	int failed;         /* the module is gone: nothing more is sent */
	struct logger *log; /* may be NULL */
};
/* Asks text (echo off). *answer is sodium_malloc'd (sodium_free it). 0, or -1. */
int conv_prompt(struct conv *c, const char *text, char **answer);
void conv_info(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conv_error(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conv_result(struct conv *c, enum authproto_result r, uint32_t delay_ms);

/* login.c: answers one request; the conversation ends with its result. */
void authd_handle(const struct cfg *cfg, struct conv *c, const struct authproto_msg *req);

/* How long the service waits for a module's request, and for a person to answer a prompt. */
#define AUTHD_REQUEST_TIMEOUT_MS 5000
#define AUTHD_ANSWER_TIMEOUT_MS (300 * 1000)
/* How long a message to the module may take to leave. */
#define AUTHD_SEND_TIMEOUT_MS 5000

#endif
