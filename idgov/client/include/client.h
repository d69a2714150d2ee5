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

#endif
