/*
 * Decision files: what a reviewer hands to "idgov review decide --file",
 * parsed into the array review_decide_many() takes. The file comes from a
 * person (or a spreadsheet), so every line either becomes one decision or
 * refuses the whole file: a line that cannot be represented is never
 * dropped in silence, since the decisions are recorded all or none.
 */
#include "reviews.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One CSV field: plain, or in double quotes with "" for a quote. Advances *p. */
static char *
csv_field(const char **p)
{
	size_t cap = strlen(*p) + 1, n = 0;
	char *out = malloc(cap);
	const char *s = *p;

	if (out == NULL)
		return NULL;
	if (*s == '"') {
		for (s++; *s != '\0'; s++) {
			if (*s == '"' && s[1] == '"')
				out[n++] = *s++;
			else if (*s == '"')
				break;
			else
				out[n++] = *s;
		}
		if (*s != '"') {
			free(out);
			return NULL;
		}
		s++;
	} else {
		while (*s != '\0' && *s != ',' && *s != '\n' && *s != '\r')
			out[n++] = *s++;
	}
	out[n] = '\0';
	*p = s;
	return out;
}

/*
 * One decision from a line's fields; NULL when a field is not UTF-8 (JSON
 * strings must be), which the caller reports rather than skipping the line.
 */
static json_t *
csv_decision(json_int_t item, const char *decision, const char *comment)
{
	json_t *d = json_pack("{s:I, s:s}", "item", item, "decision", decision);

	if (d != NULL && comment != NULL && comment[0] != '\0' &&
	    json_object_set_new(d, "comment", json_string(comment)) != 0) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* CSV lines "item,decision[,comment]", an optional header line; into a JSON array. */
static json_t *
parse_csv(const char *text, char *why, size_t whylen)
{
	json_t *a = json_array();
	const char *p = text;
	int line = 0;

	while (a != NULL && *p != '\0') {
		char *f[3] = {NULL, NULL, NULL};
		int nf = 0, ok = 1;
		json_int_t item;
		json_t *d = NULL;
		char *end = NULL;

		line++;
		while (nf < 3 && ok) {
			if ((f[nf++] = csv_field(&p)) == NULL)
				ok = 0;
			else if (*p == ',')
				p++;
			else
				break;
		}
		if (ok && *p != '\0' && *p != '\n' && *p != '\r')
			ok = 0;
		p += strspn(p, "\r\n");
		if (ok && line == 1 && f[0] != NULL && strcmp(f[0], "item") == 0) {
			for (int i = 0; i < 3; i++)
				free(f[i]);
			continue;
		}
		item = ok && f[0] != NULL ? strtoll(f[0], &end, 10) : 0;
		if (!ok || nf < 2 || f[0][0] == '\0' || *end != '\0' || item < 1) {
			snprintf(why, whylen, "line %d: expected item,decision[,comment]", line);
			json_decref(a);
			a = NULL;
		} else if ((d = csv_decision(item, f[1], nf == 3 ? f[2] : NULL)) == NULL) {
			snprintf(why, whylen, "line %d: not UTF-8 text", line);
			json_decref(a);
			a = NULL;
		} else if (json_array_append_new(a, d) != 0) {
			snprintf(why, whylen, "out of memory");
			json_decref(a);
			a = NULL;
		}
		for (int i = 0; i < 3; i++)
			free(f[i]);
	}
	if (a == NULL && why[0] == '\0')
		snprintf(why, whylen, "out of memory");
	return a;
}

json_t *
review_decisions_parse(const char *text, size_t len, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *a;
	char *copy;
	size_t lead;

	why[0] = '\0';
	for (lead = 0; lead < len && text[lead] != '\0' && strchr(" \t\r\n", text[lead]) != NULL;
	     lead++)
		;
	if (lead < len && text[lead] == '[') {
		a = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (a == NULL)
			snprintf(why, whylen, "line %d: %.160s", jerr.line, jerr.text);
		return a;
	}
	/* A NUL would end the text early and the lines after it would be lost. */
	if (memchr(text, '\0', len) != NULL) {
		snprintf(why, whylen, "a NUL byte in the file");
		return NULL;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	a = parse_csv(copy, why, whylen);
	free(copy);
	return a;
}
