/*
 * The two crypt(3) functions the break-glass code file needs, reached
 * through this handle so that pam_idgov.so need not link libcrypt.
 *
 * Two implementations, one per library: bgcrypt_linked.c (idgov_bgcodes:
 * the CLI, tests and fuzzers, linked against libcrypt as usual) and
 * bgcrypt_loaded.c (idgov_bgcodes_loaded: pam_idgov.so, which dlopen()s
 * libcrypt only while a break-glass code is checked). Loading libcrypt
 * into every process that starts a PAM handle cost a login about 0.3 ms
 * (bench/README.md, bench/pam), for a file that is read only when the
 * auth service cannot answer.
 */
#ifndef IDGOV_BGCRYPT_H
#define IDGOV_BGCRYPT_H

#include <stddef.h>

struct bgcrypt {
	char *(*crypt_rn)(const char *phrase, const char *setting, void *data, int size);
	char *(*gensalt_rn)(const char *prefix, unsigned long count, const char *rbytes,
			    int nrbytes, char *output, int output_size);
	void *handle; /* the loaded library, or NULL */
};

/* Fills c; 0, or -1 with why (libcrypt cannot be loaded). */
int bgcrypt_open(struct bgcrypt *c, char *why, size_t why_size);

/* Releases what bgcrypt_open() took; safe on a zeroed or failed handle. */
void bgcrypt_close(struct bgcrypt *c);

#endif
