/*
 * Arguments of control operations: what an operation handler, here or in
 * a library that adds operations (reviews), uses to read its arguments
 * strictly and to say why a request is refused. See control_ops.h.
 */
#include "control_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_NAME 256

int
control_fail(struct reply_err *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->e.msg, sizeof(r->e.msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
control_arg_name(json_t *args, const char *key, int optional, const char **out, struct reply_err *r)
{
	return control_arg_text(args, key, optional, MAX_NAME, out, r);
}

int
control_arg_text(json_t *args, const char *key, int optional, size_t max, const char **out,
		 struct reply_err *r)
{
	json_t *v = json_object_get(args, key);
	const char *s;

	*out = NULL;
	if (v == NULL && optional)
		return 0;
	if (!json_is_string(v))
		return control_fail(r, "bad_request",
				    "argument '%s' is required and must be a string", key);
	s = json_string_value(v);
	if (s[0] == '\0' || json_string_length(v) > max || strlen(s) != json_string_length(v))
		return control_fail(r, "bad_request",
				    "argument '%s' is empty or too long (at most %zu bytes)", key,
				    max);
	/* C0, DEL and C1: nothing that could move a terminal's cursor or start a line. */
	if (!idg_text_plain(s))
		return control_fail(r, "bad_request", "argument '%s' has control characters", key);
	*out = s;
	return 0;
}

int
control_arg_bool(json_t *args, const char *key, int *out, struct reply_err *r)
{
	json_t *v = json_object_get(args, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return control_fail(r, "bad_request", "argument '%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int
control_arg_count(json_t *args, const char *key, int64_t *out, struct reply_err *r)
{
	json_t *v = json_object_get(args, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return control_fail(r, "bad_request", "argument '%s' must be a whole number >= 0",
				    key);
	*out = json_integer_value(v);
	return 0;
}
