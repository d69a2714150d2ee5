/*
 * The providers a host writes fleet-wide MFA state to, in one fixed order
 * shared by every host ([fleet] providers, or [directory] uri's URIs when
 * that is empty).
 *
 * Every host writes to the first provider that answers, so while it is up
 * all compare-and-swap writes of a user's token (token.h) meet on one
 * server and a step is accepted once fleet-wide. A connection held to a
 * later provider (because an earlier one did not answer) is given up for
 * the earlier ones again once PROVIDERS_RETRY_FIRST seconds have passed,
 * so the fleet comes back together on the first provider soon after it
 * returns. Each provider gets [fleet] timeout_ms to connect and bind, and
 * each operation on the connection as long, before the next is tried.
 *
 * The connection binds with [directory] bind_dn / bind_password_file and
 * the same TLS settings as every other connection (dir.h).
 */
#ifndef IDGOV_PROVIDER_H
#define IDGOV_PROVIDER_H

#include "config.h"

#include <ldap.h>
#include <stddef.h>
#include <stdint.h>

#define PROVIDERS_MAX 16
#define PROVIDERS_RETRY_FIRST 10

struct providers;

/* Parses the provider list (at most PROVIDERS_MAX URIs). Connects to nothing yet. */
int providers_new(const struct cfg *cfg, struct providers **out, struct idg_err *err);
void providers_free(struct providers *p);

/*
 * A bound connection to the first provider in order that answers: the one
 * held when it is the first, or when the earlier ones were tried less than
 * PROVIDERS_RETRY_FIRST seconds before now. 0 with *ld (owned by p) and
 * *index; DIR_UNREACHABLE (dir.h) when none answered, err naming each; -1
 * when one refused the credentials or TLS failed (trying again will not
 * help).
 */
int providers_get(struct providers *p, int64_t now, LDAP **ld, size_t *index, struct idg_err *err);

/*
 * Gives up the held connection after an operation on it failed as
 * unreachable (token.h's TOKEN_DOWN): the next providers_get() starts
 * again from the first provider, passing over the dropped one once if its
 * operation timed out or the connection was made by the last
 * providers_get() (it bound, then did not answer: trying it again at once
 * would only cost another timeout_ms).
 */
void providers_drop(struct providers *p);

size_t providers_count(const struct providers *p);
/* The i-th URI, for messages and status. */
const char *providers_uri(const struct providers *p, size_t i);

#endif
