/*
 * HTML output; see html.h.
 *
 * Invariant: every byte that reaches a page either comes from an
 * embedded template or passed through html_escape(). Raw values are only
 * fragments built here, by functions that themselves call html_escape()
 * on each value they hold.
 */
#include "html.h"

#include "asset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

/* Makes room for n more bytes and the NUL; 0, or -1 with b->failed set. */
static int
grow(struct buf *b, size_t n)
{
	size_t cap = b->cap == 0 ? 4096 : b->cap;
	char *p;

	if (b->failed)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	if (n > BUF_MAX) {
		b->failed = 1;
		return -1;
	}
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > BUF_MAX || (p = realloc(b->p, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	b->p[b->len] = '\0'; /* a reserved, still empty buffer is a string too */
	return 0;
}

void
buf_reserve(struct buf *b, size_t n)
{
	grow(b, n);
}

void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (big == NULL) {
			b->failed = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		buf_add(b, big, (size_t)n);
		free(big);
	}
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 if there is none. */
static size_t
utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, or a surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

void
html_escape(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		const unsigned char *run = p;
		size_t n;

		/* Printable ASCII that needs no entity, the bulk of any page: copied in one go. */
		while (*p >= 0x20 && *p < 0x7f && *p != '&' && *p != '<' && *p != '>' &&
		       *p != '"' && *p != '\'')
			p++;
		if (p > run) {
			buf_add(b, (const char *)run, (size_t)(p - run));
			continue;
		}
		switch (*p) {
		case '&':
			buf_puts(b, "&amp;");
			p++;
			continue;
		case '<':
			buf_puts(b, "&lt;");
			p++;
			continue;
		case '>':
			buf_puts(b, "&gt;");
			p++;
			continue;
		case '"':
			buf_puts(b, "&quot;");
			p++;
			continue;
		case '\'':
			buf_puts(b, "&#39;");
			p++;
			continue;
		default:
			break;
		}
		n = utf8_len(p);
		if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
			p += n == 0 ? 1 : n;
			continue;
		}
		buf_add(b, (const char *)p, n);
		p += n;
	}
}

int
html_render(struct buf *b, const char *tpl, const struct html_var *vars, size_t n_vars)
{
	const struct asset *a = asset_find(tpl);
	const char *p, *open, *close;

	if (a == NULL) {
		b->failed = 1;
		return -1;
	}
	for (p = a->data; (open = strstr(p, "{{")) != NULL; p = close + 2) {
		size_t len, i;

		buf_add(b, p, (size_t)(open - p));
		if ((close = strstr(open + 2, "}}")) == NULL) {
			b->failed = 1;
			return -1;
		}
		len = (size_t)(close - open - 2);
		for (i = 0; i < n_vars; i++)
			if (strlen(vars[i].name) == len && memcmp(vars[i].name, open + 2, len) == 0)
				break;
		if (i == n_vars || vars[i].value == NULL) {
			b->failed = 1;
			return -1;
		}
		if (vars[i].raw)
			buf_puts(b, vars[i].value);
		else
			html_escape(b, vars[i].value);
	}
	buf_puts(b, p);
	return b->failed ? -1 : 0;
}

const struct asset *
asset_find(const char *name)
{
	for (size_t i = 0; i < web_asset_count; i++)
		if (strcmp(web_assets[i].name, name) == 0)
			return &web_assets[i];
	return NULL;
}
