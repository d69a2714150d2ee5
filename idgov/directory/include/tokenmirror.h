/*
 * The mirror's copy of each person's fleet-wide MFA token and last-login
 * stamp: the store's fleet_tokens table (schema 020), one row per user
 * whose entry carries any token.h attribute.
 *
 * The sync keeps it (mirror.c, with [fleet] mfa = directory): an entry's
 * token is written as the directory holds it, an entry without token
 * attributes deletes its row, and an entry whose token values cannot be
 * read marks the row unusable. idgovd writes a row at once after an
 * enrolment or a reset it made itself, so `idgov mfa status` does not
 * wait for the sync to echo it.
 *
 * An unusable row has no secret (sealed NULL) and a lock that never ends
 * (locked_until = TOKENMIRROR_UNUSABLE); the rest of the row (the last
 * accepted step above all) is kept as it was. Whoever decides from the
 * mirror (a login with no provider answering) therefore sees "locked",
 * never "unlocked" or a reopened step; the next readable copy from the
 * directory replaces it.
 *
 * Every row read back is untrusted input too (a store can be edited):
 * tokenmirror_get() checks each column as token.h's reader checks the
 * directory's values, and refuses the row whole.
 */
#ifndef IDGOV_TOKENMIRROR_H
#define IDGOV_TOKENMIRROR_H

#include "store.h"
#include "token.h"

#include <stdint.h>

/* locked_until of a row whose directory values could not be read. */
#define TOKENMIRROR_UNUSABLE INT64_MAX

/* 1 if t holds no token attribute and no last-login stamp: the entry has no row. */
int tokenmirror_empty(const struct token *t);

/* Writes uuid's row as t says (inside the caller's transaction, or on its own). */
int tokenmirror_put(struct store *st, const char *uuid, const struct token *t, struct idg_err *err);

/* Marks uuid's row unusable, keeping the rest of a row that exists (see above). */
int tokenmirror_put_unusable(struct store *st, const char *uuid, struct idg_err *err);

/* Deletes uuid's row (none there: nothing happens). */
int tokenmirror_delete(struct store *st, const char *uuid, struct idg_err *err);

/*
 * Reads uuid's row into t (has_token_class and the *_raw fields are left
 * empty: they describe an entry, not a row). 1 with *unusable set (1 for
 * a row marked unusable), 0 when there is no row, -1 when the row cannot
 * be read or a column is malformed (err names it).
 */
int tokenmirror_get(struct store *st, const char *uuid, struct token *t, int *unusable,
		    struct idg_err *err);

#endif
