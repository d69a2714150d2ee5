/*
 * HTML output for idgov-web: a growing buffer, the one HTML-escape
 * function every value goes through, and templates.
 *
 * A template is an embedded file (assets/, see asset.h) with {{name}}
 * placeholders. html_render() replaces each with the value of that name,
 * escaped by html_escape(); a value marked raw (html_raw()) is a fragment
 * this program built with the same buffer and escape function, never text
 * from outside. A placeholder with no value is an error, not an empty
 * string, so a misspelt name is found by the first test that renders it.
 */
#ifndef IDGOV_WEB_HTML_H
#define IDGOV_WEB_HTML_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
	int failed; /* out of memory or over BUF_MAX: the buffer is no page */
};

#define BUF_MAX (64u << 20)

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_add(struct buf *b, const char *s, size_t n);
/* Makes room for n more bytes at once, so that a page of known size is not copied as it grows. */
void buf_reserve(struct buf *b, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Appends s with & < > " ' written as entities, and any byte that is not
 * valid UTF-8 or is a control character (but tab and newline) as U+FFFD,
 * so nothing from outside can open a tag, end an attribute, or smuggle a
 * byte a browser might read otherwise.
 */
void html_escape(struct buf *b, const char *s);

struct html_var {
	const char *name;
	const char *value;
	int raw; /* value is HTML this program built: not escaped again */
};

#define html_text(n, v) ((struct html_var){(n), (v), 0})
#define html_raw(n, v) ((struct html_var){(n), (v), 1})

/*
 * Appends the template named tpl with its placeholders filled from vars.
 * 0, or -1 when the template is unknown, a placeholder has no value or is
 * not closed (b->failed is then set).
 */
int html_render(struct buf *b, const char *tpl, const struct html_var *vars, size_t n_vars);

#endif
