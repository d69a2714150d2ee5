/*
 * Must not compile: core depends on nothing of idgov, so no other layer's
 * header is on its include path. See policy_includes_directory.c.
 */
#include "config.h"
#include "mfa.h"

int layer_probe(void);

int
layer_probe(void)
{
	return 0;
}
