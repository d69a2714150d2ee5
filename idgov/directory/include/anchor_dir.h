/*
 * The audit head in the directory: a copy of the anchor (anchor.h) kept
 * off the host, in the attribute [store] audit_anchor_attr of the entry
 * [store] audit_anchor_dn, as "audit head seq=N hash=HEX sig=HEX".
 *
 * idgovd replaces it after each commit that signed a head (best-effort: a
 * failure is logged and the next signing tries again); `idgov audit
 * verify` reads it back when it is configured. Someone who can rewrite
 * the store and the files beside it on the host still cannot lower a copy
 * that lives in the directory.
 */
#ifndef IDGOV_ANCHOR_DIR_H
#define IDGOV_ANCHOR_DIR_H

#include "anchor.h"
#include "config.h"

#include <ldap.h>

/* Whether a directory copy is configured ([store] audit_anchor_dn not empty). */
int dir_anchor_configured(const struct cfg *cfg);

/*
 * Reads the copy: *found is 0 when the attribute holds no head yet (never
 * published). A value that is not a head line is an error.
 */
int dir_anchor_fetch(const struct cfg *cfg, LDAP *ld, struct anchor_head *h, int *found,
		     struct idg_err *err);

/* Replaces the copy with h. The entry must exist. */
int dir_anchor_publish(const struct cfg *cfg, LDAP *ld, const struct anchor_head *h,
		       struct idg_err *err);

#endif
