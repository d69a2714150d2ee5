/*
 * The audit anchor: the newest signed head of the audit chain, kept in a
 * file outside the store ([store] audit_anchor, beside the keys).
 *
 * Signatures alone do not show that the tail of the chain was cut: delete
 * the records and signatures after any signed head and what is left is a
 * chain that verifies. The anchor remembers the highest head ever signed,
 * so `idgov audit verify` can say which records are missing.
 *
 * The file is one line,
 *
 *     idgov-audit-anchor-v1 seq=N hash=HEX sig=HEX
 *
 * (seq 0 with zero hash and signature: anchored before the first record).
 * It is created 0600 and replaced atomically (a new file, fsync, rename),
 * under an exclusive flock() of the current file so that processes signing
 * at once (idgovd, pam_idgov.so in sshd, the CLI) never move it backwards:
 * anchor_advance() only ever raises it. A file that is not a regular file,
 * is writable by group or others, or belongs to neither root nor us is
 * refused rather than trusted.
 */
#ifndef IDGOV_ANCHOR_H
#define IDGOV_ANCHOR_H

#include "util.h"

#include <sodium.h>
#include <stdint.h>

#define ANCHOR_HASH_LEN 32
/* "seq=N hash=HEX sig=HEX": also the syslog line's tail and what the directory holds. */
#define ANCHOR_HEAD_LINE_MAX 256

struct anchor_head {
	int64_t seq;
	unsigned char hash[ANCHOR_HASH_LEN];
	unsigned char sig[crypto_sign_BYTES];
};

/* What anchor_read() and anchor_advance() found. */
enum anchor_status {
	ANCHOR_OK,
	ANCHOR_MISSING, /* no file: not created yet (idgov init) or removed */
};

/* Formats "seq=N hash=HEX sig=HEX" into line (ANCHOR_HEAD_LINE_MAX). */
void anchor_head_line(const struct anchor_head *h, char line[ANCHOR_HEAD_LINE_MAX]);

/* Parses exactly what anchor_head_line() writes; -1 on anything else. */
int anchor_parse_head_line(const char *line, struct anchor_head *h);

/* Reads the anchor under a shared lock. Sets *status; -1 on a refused or unreadable file. */
int anchor_read(const char *path, struct anchor_head *h, enum anchor_status *status,
		struct idg_err *err);

/*
 * Creates the anchor at h; fails if it exists (EEXIST). The file appears
 * complete or not at all.
 */
int anchor_create(const char *path, const struct anchor_head *h, struct idg_err *err);

/*
 * Raises the anchor to h if h is above it. check(arg, current) runs under
 * the lock before the file is replaced and may refuse (-1 with err), e.g.
 * when the store does not contain the anchored head. *moved says whether
 * the file changed. A missing file is not created: *status says so.
 */
int anchor_advance(const char *path, const struct anchor_head *h,
		   int (*check)(void *arg, const struct anchor_head *current, struct idg_err *err),
		   void *arg, enum anchor_status *status, int *moved, struct idg_err *err);

/* Replaces (or creates) the anchor with h whatever it held: the explicit reset. */
int anchor_reset(const char *path, const struct anchor_head *h, struct idg_err *err);

#endif
