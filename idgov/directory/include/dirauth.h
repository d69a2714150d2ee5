/*
 * Verifying a person's directory password, for web sign-in: the DN is
 * found by a search for the user name (escaped into the filter) over the
 * configured user base with idgovd's own connection, and the password is
 * checked by a simple bind as that DN on a separate connection that is
 * dropped straight after. idgovd's connection is never rebound, and the
 * password is never compared by idgov itself: the directory (with its
 * password policy, lockouts and hashes) decides.
 */
#ifndef IDGOV_DIRAUTH_H
#define IDGOV_DIRAUTH_H

#include "config.h"

#define DIRAUTH_MAX_PASSWORD 1024

enum dirauth_result {
	DIRAUTH_OK,
	DIRAUTH_REFUSED, /* no such user, several, an empty or wrong password, a locked account */
};

/*
 * Checks password for user name. 0 with *res, or -1 with err when the
 * directory could not be asked (down, our own bind refused): not the
 * person's fault, and not counted against them.
 */
int dirauth_verify(const struct cfg *cfg, const char *name, const char *password,
		   enum dirauth_result *res, struct idg_err *err);

/* The filter that finds name: (&USER_FILTER(UID_ATTR=escaped name)). Caller frees; NULL: no memory.
 */
char *dirauth_filter(const struct cfg *cfg, const char *name);

#endif
