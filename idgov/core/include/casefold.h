/*
 * Case folding of UTF-8 text, for comparing names the way a directory
 * compares values of case-insensitive attributes (uid, cn, ou, dc, ...):
 * "Émile" and "éMILE" fold to the same bytes.
 *
 * The input is decoded strictly (RFC 3629): overlong forms, surrogates,
 * code points above U+10FFFF and truncated or stray continuation bytes are
 * refused, never passed through or replaced, so two different byte strings
 * can never fold to the same text by way of a broken sequence. As in
 * OpenLDAP's matching rules, each code point is lower-cased on its own (so
 * "ß" stays "ß" and a final sigma stays one) and the text is then put in
 * Unicode normalisation form KC ("a" and a combining diaeresis is "ä", the
 * ligature "ﬁ" is "fi").
 */
#ifndef IDGOV_CASEFOLD_H
#define IDGOV_CASEFOLD_H

#include <stddef.h>

/*
 * Folds len bytes of in (NULs allowed: they stay as they are) into a new
 * NUL-terminated buffer the caller frees; *out_len (if not NULL) gets its
 * length. 0, or -1 (and *out NULL) when in is not well-formed UTF-8 or
 * memory runs out.
 */
int idg_casefold(const char *in, size_t len, char **out, size_t *out_len);

/* True if len bytes of s are well-formed UTF-8. */
int idg_utf8_valid(const char *s, size_t len);

#endif
