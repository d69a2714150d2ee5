/* idgov-web's requests to idgovd; see ctl.h. */
#include "ctl.h"

#include "client.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/*
 * Wipes every string in v in place (a password, a token, recovery codes)
 * before it is freed. core's secret_wipe_json() does the same, but lives
 * beside the key code, which this program must not carry.
 */
static void
wipe_json(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v))
		sodium_memzero(idg_unconst(json_string_value(v)), json_string_length(v));
	else if (json_is_array(v))
		json_array_foreach(v, i, item) wipe_json(item);
	else if (json_is_object(v))
		json_object_foreach(v, key, item) wipe_json(item);
}

void
ctl_call(const struct ctl *c, const char *op, json_t *args, const char *token, const char *addr,
	 struct ctl_reply *r)
{
	json_t *req = json_pack("{s:i, s:s, s:o}", "v", 1, "op", op, "args",
				args != NULL ? args : json_object());
	struct idg_err err;
	char *line = NULL, *reply = NULL;
	int unavailable;
	json_t *e;

	memset(r, 0, sizeof(*r));
	r->code = "unavailable";
	r->message = "the service is not available; try again in a moment";
	if (req != NULL && token != NULL) {
		json_object_set_new(req, "session", json_string(token));
		json_object_set_new(req, "addr", json_string(addr));
	}
	if (req != NULL)
		line = json_dumps(req, JSON_COMPACT);
	if (req != NULL) {
		wipe_json(req);
		json_decref(req);
	}
	if (line == NULL)
		return;
	if (client_call_within(c->socket, c->daemon_user, line, c->timeout_ms, &reply, &unavailable,
			       &err) != 0) {
		sodium_memzero(line, strlen(line));
		free(line);
		log_msg(c->log, LOG_ERR, "%s: %s", op, err.msg);
		return;
	}
	sodium_memzero(line, strlen(line));
	free(line);
	r->reply = jarena_loads(reply, strlen(reply), &r->arena);
	sodium_memzero(reply, strlen(reply)); /* it may hold a token or recovery codes */
	free(reply);
	if (r->reply == NULL) {
		log_msg(c->log, LOG_ERR, "%s: idgovd's reply is not JSON", op);
		return;
	}
	if (json_is_true(json_object_get(r->reply, "ok"))) {
		r->result = json_object_get(r->reply, "result");
		r->code = NULL;
		r->message = "";
		return;
	}
	e = json_object_get(r->reply, "error");
	r->code = json_string_value(json_object_get(e, "code"));
	r->message = json_string_value(json_object_get(e, "message"));
	if (r->code == NULL)
		r->code = "failed";
	if (r->message == NULL)
		r->message = "the request failed";
}

void
ctl_reply_free(struct ctl_reply *r)
{
	/* The arena, wiped whole, holds every string of the reply. */
	jarena_free(r->reply, r->arena);
	memset(r, 0, sizeof(*r));
}
