/*
 * Break-glass codes: the one credential that opens a host when the auth
 * service cannot answer. A root-only file holds, per line,
 *
 *     USER:HASH
 *
 * where HASH is a crypt(3) string (yescrypt, "$y$...", made with
 * crypt_gensalt as shadow makes password hashes). Each code works once:
 * using it rewrites the file without its line, under flock(2), through a
 * temporary file and rename(2), so two logins can never spend one code
 * and a crash leaves the old file or the new one, never half of either.
 *
 * pam_idgov.so (bgcodes_use, when idgov-authd cannot answer) and
 * `idgov breakglass codes USER` (bgcodes_replace) share this file format
 * and nothing else: libc and libcrypt only.
 *
 * The file is trusted only when it is a regular file owned by root (or the
 * caller's euid, for tests that run without root) with no permission for
 * group or others; anything else is refused, changing nothing.
 */
#ifndef IDGOV_BGCODES_H
#define IDGOV_BGCODES_H

#include <stddef.h>

#define BGCODES_FILE_MAX 65536 /* bytes */
#define BGCODES_LINE_MAX 512   /* bytes, newline excluded */
#define BGCODES_PER_USER 10
#define BGCODES_CODE_LEN 15 /* "XXXX-XXXX-XXXX" + NUL */
#define BGCODES_NAME_MAX 256

/*
 * Checks code for user against the file and, on a match, burns it.
 * Returns 1 (matched and burned; *left is the user's codes still unused),
 * 0 (no match: nothing changed), or -1 with why (the file is missing, not
 * trusted, malformed, or could not be rewritten: nothing changed).
 */
int bgcodes_use(const char *path, const char *user, const char *code, int *left, char *why,
		size_t why_size);

/*
 * Replaces user's codes with BGCODES_PER_USER new ones, creating the file
 * (mode 0600) if needed, and fills codes with them in clear, to be shown
 * once. 0, or -1 with why (nothing changed).
 */
int bgcodes_replace(const char *path, const char *user,
		    char codes[BGCODES_PER_USER][BGCODES_CODE_LEN], char *why, size_t why_size);

/*
 * Parses one file's text, calling fn for each USER:HASH line (user and hash
 * NUL-terminated in scratch copies). Returns the number of lines, or -1 with
 * why naming the first bad line. Exposed for the unit tests and the fuzzer.
 */
int bgcodes_parse(const char *text, size_t len,
		  int (*fn)(void *arg, const char *user, const char *hash, size_t line_start,
			    size_t line_end),
		  void *arg, char *why, size_t why_size);

#endif
