/*
 * Password rules for the PAM password stack: length and character classes
 * counted on UTF-8 characters, no user name (or its reverse), no
 * dictionary word (libcrack2), none of the last N passwords (argon2id
 * hashes in the store), and a minimum age between changes.
 */
#ifndef IDGOV_PASSWORD_H
#define IDGOV_PASSWORD_H

#include "config.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

enum pw_verdict {
	PW_OK,
	PW_NOT_UTF8,
	PW_TOO_SHORT,
	PW_TOO_FEW_CLASSES,
	PW_CONTAINS_USER,
	PW_DICTIONARY,
	PW_DICTIONARY_MISSING,
	PW_REUSED,
	PW_TOO_SOON,
};

/*
 * The rules that need no store. why receives a sentence for the user
 * (it never contains the password).
 */
enum pw_verdict password_check(const struct cfg *cfg, const char *user, const char *pw, char *why,
			       size_t why_len);

/*
 * History and minimum age, from the auth service's state file (state,
 * mfastate.h); -1 on a store error. admin skips the minimum age.
 */
int password_check_history(struct store *state, const struct cfg *cfg, const char *user,
			   const char *pw, int64_t now, int admin, enum pw_verdict *v, char *why,
			   size_t why_len, struct idg_err *err);

/*
 * Records a change in the state file: the new hash, keeping only the
 * configured number of old ones.
 */
int password_record(struct store *state, const struct cfg *cfg, const char *user, const char *pw,
		    int64_t now, struct idg_err *err);

#endif
