/* The caller's side of the control socket (idgov, idgov-web): one request, one reply. */
#ifndef IDGOV_CLIENT_H
#define IDGOV_CLIENT_H

#include "util.h"

/*
 * Sends request (one JSON line, without newline) and reads the reply line.
 * Before sending anything, checks that the server (SO_PEERCRED) is root
 * or daemon_user, and refuses any other (not "unavailable": no fallback).
 * Returns 0 with *reply malloc'd; or -1 with err set, and *unavailable
 * set when no daemon listens on socket_path (so the caller may fall back).
 */
int client_call(const char *socket_path, const char *daemon_user, const char *request, char **reply,
		int *unavailable, struct idg_err *err);

/*
 * client_call(), giving up when idgovd takes more than timeout_ms (> 0)
 * to accept, to read a part of the request or to send a part of its
 * reply: a stopped or hung idgovd then costs a page of idgov-web that
 * long, not a thread for good. A timeout is not "unavailable".
 */
int client_call_within(const char *socket_path, const char *daemon_user, const char *request,
		       int timeout_ms, char **reply, int *unavailable, struct idg_err *err);

#endif
