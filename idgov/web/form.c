/* application/x-www-form-urlencoded; see form.h. */
#include "form.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes n bytes of s ('+' is a space, %XX a byte) into a new string; NULL
 * if malformed: a '%' without two hex digits after it, or a NUL byte, raw
 * or as %00 (a value is a C string from here on, and must not be cut short).
 */
static char *
decode(const char *s, size_t n, size_t *out_len)
{
	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		switch (s[i]) {
		case '+':
			*o++ = ' ';
			break;
		case '%':
			hi = i + 1 < n ? hexval(s[i + 1]) : -1;
			lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
			break;
		case '\0':
			goto bad;
		default:
			*o++ = s[i];
		}
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
bad:
	sodium_memzero(out, n + 1);
	free(out);
	return NULL;
}

int
form_parse(const char *s, size_t len, struct form *f)
{
	size_t cap = 0, pos = 0;

	memset(f, 0, sizeof(*f));
	while (pos < len) {
		const char *amp = memchr(s + pos, '&', len - pos);
		size_t end = amp != NULL ? (size_t)(amp - s) : len;
		const char *eq = memchr(s + pos, '=', end - pos);
		struct form_field *fld;
		size_t name_len;

		if (end == pos) { /* "a=1&&b=2" or a trailing '&': an empty pair is allowed */
			pos = end + 1;
			continue;
		}
		if (eq == NULL || eq == s + pos || f->n == FORM_MAX_FIELDS)
			goto bad;
		if (f->n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct form_field *nf = realloc(f->f, ncap * sizeof(*nf));

			if (nf == NULL)
				goto bad;
			f->f = nf;
			cap = ncap;
		}
		fld = &f->f[f->n];
		fld->name = decode(s + pos, (size_t)(eq - (s + pos)), &name_len);
		fld->value = fld->name != NULL
				     ? decode(eq + 1, (size_t)(s + end - eq - 1), &fld->value_len)
				     : NULL;
		if (fld->value == NULL) {
			free(fld->name);
			goto bad;
		}
		f->n++;
		(void)name_len;
		pos = end + 1;
	}
	return 0;
bad:
	form_free(f);
	return -1;
}

const char *
form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}

size_t
form_get_all(const struct form *f, const char *name, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0) {
			if (n < max)
				out[n] = f->f[i].value;
			n++;
		}
	return n;
}

void
form_free(struct form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		sodium_memzero(f->f[i].value, f->f[i].value_len);
		free(f->f[i].value);
		free(f->f[i].name);
	}
	free(f->f);
	memset(f, 0, sizeof(*f));
}
