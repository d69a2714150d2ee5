/* bgcrypt.h for programs linked against libcrypt: the functions themselves. */
#include "bgcrypt.h"

#include <crypt.h>

int
bgcrypt_open(struct bgcrypt *c, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	c->crypt_rn = crypt_rn;
	c->gensalt_rn = crypt_gensalt_rn;
	c->handle = NULL;
	return 0;
}

void
bgcrypt_close(struct bgcrypt *c)
{
	c->crypt_rn = NULL;
	c->gensalt_rn = NULL;
}
