/*
 * application/x-www-form-urlencoded: request bodies of the pages' forms
 * and query strings. Strict: a malformed escape, a NUL byte, a field with
 * no '=' or more than FORM_MAX_FIELDS fields make the whole input
 * malformed, never half-read. Values are wiped when the form is freed (a
 * password passes through here).
 */
#ifndef IDGOV_WEB_FORM_H
#define IDGOV_WEB_FORM_H

#include <stddef.h>

#define FORM_MAX_FIELDS 20000 /* "select many" on a page of 5,000 items, and room to spare */

struct form_field {
	char *name, *value;
	size_t value_len;
};

struct form {
	struct form_field *f;
	size_t n;
};

/* Parses len bytes of s into f (zeroed first). 0, or -1 when malformed or out of memory. */
int form_parse(const char *s, size_t len, struct form *f);

/* The first value of name, or NULL. */
const char *form_get(const struct form *f, const char *name);

/* Every value of name, in order, into out (up to max); returns how many there are. */
size_t form_get_all(const struct form *f, const char *name, const char **out, size_t max);

void form_free(struct form *f);

#endif
