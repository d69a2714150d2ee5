/*
 * The module's side of the audit spool (the format is described in
 * idgov/core/include/spool.h, which idgovd reads): a break-glass use is
 * written as one event file that idgovd signs into the audit chain as
 * "login.breakglass". libc only.
 */
#ifndef PAM_IDGOV_SPOOL_H
#define PAM_IDGOV_SPOOL_H

#include <stddef.h>

#define DEFAULT_SPOOL "/var/lib/idgov/spool"

/*
 * Writes the event durably (0600 temporary file, fsync, rename, fsync of
 * the directory). Texts are cut to 255 bytes and bytes outside printable
 * ASCII are written as '?'. 0, or -1 with the reason in why.
 */
int pam_spool_breakglass(const char *dir, const char *user, const char *service, const char *rhost,
			 int left, char *why, size_t whylen);

#endif
