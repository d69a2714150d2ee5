/*
 * bgcrypt.h for pam_idgov.so: libcrypt loaded for the length of one use of
 * the break-glass file and released after it, so that no process pays for
 * it on an ordinary login and the module leaves nothing loaded behind. A
 * host process that links libcrypt itself (sshd) already has it mapped:
 * dlopen() then only counts a reference. RTLD_LOCAL keeps its symbols out
 * of the host's lookup scope.
 */
#include "bgcrypt.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef BGCRYPT_SONAME
#define BGCRYPT_SONAME "libcrypt.so.1"
#endif

int
bgcrypt_open(struct bgcrypt *c, char *why, size_t why_size)
{
	const char *err;

	memset(c, 0, sizeof(*c));
	if ((c->handle = dlopen(BGCRYPT_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		snprintf(why, why_size, "cannot load %s: %s", BGCRYPT_SONAME,
			 err != NULL ? err : "unknown error");
		return -1;
	}
	/* POSIX leaves object-to-function pointer conversion to dlsym's contract. */
	*(void **)&c->crypt_rn = dlsym(c->handle, "crypt_rn");
	*(void **)&c->gensalt_rn = dlsym(c->handle, "crypt_gensalt_rn");
	if (c->crypt_rn == NULL || c->gensalt_rn == NULL) {
		snprintf(why, why_size, "%s has no crypt_rn or crypt_gensalt_rn", BGCRYPT_SONAME);
		bgcrypt_close(c);
		return -1;
	}
	return 0;
}

void
bgcrypt_close(struct bgcrypt *c)
{
	if (c->handle != NULL)
		dlclose(c->handle);
	memset(c, 0, sizeof(*c));
}
