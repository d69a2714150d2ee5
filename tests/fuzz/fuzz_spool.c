/*
 * Fuzz target: the audit spool record parser (spool.h), which idgovd runs
 * on every file idgov-authd and pam_idgov.so leave in the spool. An
 * accepted record has every field within its bound and an object for
 * details.
 */
#include "fuzz.h"

#include "spool.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_event ev;
	struct idg_err err;

	if (spool_parse((const char *)data, size, &ev, &err) != 0)
		return 0;
	if (ev.time <= 0 || strlen(ev.actor) > AUDIT_FIELD_MAX ||
	    strlen(ev.host) > SPOOL_HOST_MAX || ev.action[0] == '\0' ||
	    !json_is_object(ev.details)) {
		fprintf(stderr, "an accepted record out of its bounds\n");
		abort();
	}
	spool_event_clear(&ev);
	return 0;
}
