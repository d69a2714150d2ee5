/*
 * The shared order of providers for fleet-wide MFA writes; see provider.h
 * for why every host writes to the first one that answers.
 *
 * A struct providers holds at most one bound connection, and which
 * provider it is. The rule providers_get() keeps:
 *
 *   - held on the first provider: used as it is;
 *   - held on a later one: used as it is until PROVIDERS_RETRY_FIRST
 *     seconds have passed since the earlier ones were last tried; then
 *     each earlier one is tried again (timeout_ms each), and the first
 *     that answers replaces the held connection;
 *   - none held (the first call, or after providers_drop()): each is
 *     tried in order, and the first that answers is held; except that
 *     the provider of a connection dropped after an operation timed out,
 *     or after it was made by the last providers_get(), is passed over
 *     this once: it is up but stuck (it binds, then does not answer), and
 *     trying it again at once would cost another timeout_ms for the same
 *     answer. A connection held from an earlier call that failed at once
 *     has only gone stale (the provider restarted): its provider is tried
 *     again first.
 *
 * The wait before going back bounds what a provider that is down costs
 * a login: at most one timeout_ms per earlier provider every
 * PROVIDERS_RETRY_FIRST seconds, not at every login.
 *
 * One struct belongs to one thread (an auth worker, the daemon's loop):
 * nothing here locks.
 */
#include "provider.h"

#include "dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest URI taken, as libldap would take it ("ldaps://host:port"). */
#define PROVIDER_URI_MAX 1024

struct providers {
	const struct cfg *cfg;
	char *uri[PROVIDERS_MAX];
	size_t n;
	LDAP *ld;      /* the held connection, or NULL */
	size_t held;   /* its index in uri */
	int64_t tried; /* when the providers before held were last tried */
	int fresh;     /* ld was made by the last providers_get() */
	size_t skip;   /* 1 + the provider the next try passes over, or 0 */
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
providers_new(const struct cfg *cfg, struct providers **out, struct idg_err *err)
{
	const char *list = cfg->fleet_providers[0] != '\0' ? cfg->fleet_providers : cfg->dir_uri;
	const char *key = cfg->fleet_providers[0] != '\0' ? "[fleet] providers" : "[directory] uri";
	struct providers *p;
	const char *s = list;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return idg_seterr(err, "out of memory");
	p->cfg = cfg;
	for (;;) {
		size_t len;

		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		for (len = 0; s[len] != '\0' && !is_space(s[len]); len++)
			;
		if (p->n == PROVIDERS_MAX) {
			idg_seterr(err, "%s: more than %d providers", key, PROVIDERS_MAX);
			goto fail;
		}
		if (len > PROVIDER_URI_MAX) {
			idg_seterr(err, "%s: a URI longer than %d bytes", key, PROVIDER_URI_MAX);
			goto fail;
		}
		if ((p->uri[p->n] = strndup(s, len)) == NULL) {
			idg_seterr(err, "out of memory");
			goto fail;
		}
		if (!ldap_is_ldap_url(p->uri[p->n]) && !ldap_is_ldaps_url(p->uri[p->n]) &&
		    !ldap_is_ldapi_url(p->uri[p->n])) {
			idg_seterr(err, "%s: '%.128s' is not an ldap://, ldaps:// or ldapi:// URI",
				   key, p->uri[p->n]);
			p->n++;
			goto fail;
		}
		p->n++;
		s += len;
	}
	if (p->n == 0) {
		idg_seterr(err, "%s: no provider to write MFA state to", key);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	providers_free(p);
	return -1;
}

/* Lets go of the held connection, if any. */
static void
release(struct providers *p)
{
	if (p->ld != NULL)
		ldap_unbind_ext(p->ld, NULL, NULL);
	p->ld = NULL;
	p->held = 0;
	p->fresh = 0;
}

void
providers_drop(struct providers *p)
{
	int ldrc = LDAP_SUCCESS;

	if (p->ld != NULL)
		ldap_get_option(p->ld, LDAP_OPT_RESULT_CODE, &ldrc);
	p->skip = p->ld != NULL && (p->fresh || ldrc == LDAP_TIMEOUT) ? p->held + 1 : 0;
	release(p);
}

void
providers_free(struct providers *p)
{
	if (p == NULL)
		return;
	release(p);
	for (size_t i = 0; i < p->n; i++)
		free(p->uri[i]);
	free(p);
}

size_t
providers_count(const struct providers *p)
{
	return p->n;
}

const char *
providers_uri(const struct providers *p, size_t i)
{
	return i < p->n ? p->uri[i] : "";
}

/*
 * Tries providers [0, end) in order. 0 with the first that answered held
 * (the one held before, if any, let go); DIR_UNREACHABLE when none did,
 * err naming each and why; -1 as soon as one refuses the credentials or
 * TLS: a configuration error, said at once rather than hidden behind the
 * next provider.
 */
static int
try_upto(struct providers *p, size_t end, struct idg_err *err)
{
	char why[sizeof(err->msg)] = "";
	size_t used = 0;

	for (size_t i = 0; i < end; i++) {
		struct idg_err one;
		LDAP *ld = NULL;
		int rc;

		if (i + 1 == p->skip) {
			snprintf(one.msg, sizeof(one.msg), "%s stopped answering just now",
				 p->uri[i]);
			rc = DIR_UNREACHABLE;
		} else {
			rc = dir_connect_uri(p->cfg, p->uri[i], p->cfg->fleet_timeout_ms, &ld,
					     &one);
		}
		if (rc == 0) {
			release(p);
			p->ld = ld;
			p->held = i;
			p->fresh = 1;
			return 0;
		}
		if (rc < 0)
			return idg_seterr(err, "provider %s: %s", p->uri[i], one.msg);
		/* Each provider's reason, as much of it as fits. */
		if (used < sizeof(why)) {
			int n = snprintf(why + used, sizeof(why) - used, "%s%s", used ? "; " : "",
					 one.msg);

			used += n > 0 ? (size_t)n : 0;
		}
	}
	idg_seterr(err, "no MFA provider answers: %s", why);
	return DIR_UNREACHABLE;
}

int
providers_get(struct providers *p, int64_t now, LDAP **ld, size_t *index, struct idg_err *err)
{
	int rc;

	*ld = NULL;
	*index = 0;
	p->fresh = 0;
	/* A clock set back counts as time passed: the earlier providers are not shut out for it. */
	if (p->ld != NULL && p->held > 0 &&
	    (now - p->tried >= PROVIDERS_RETRY_FIRST || now < p->tried)) {
		/* Back to an earlier one if it answers again; else keep the one held. */
		struct idg_err ignored;

		rc = try_upto(p, p->held, &ignored);
		if (rc < 0) {
			*err = ignored;
			return -1;
		}
		p->tried = now;
	} else if (p->ld == NULL) {
		rc = try_upto(p, p->n, err);
		p->skip = 0; /* passed over once: the next call tries it again */
		if (rc != 0)
			return rc;
		p->tried = now;
	}
	*ld = p->ld;
	*index = p->held;
	return 0;
}
