/*
 * Must not compile: policy may use core only, so the directory layer's
 * headers are not on its include path. tests/CMakeLists.txt builds this
 * with the policy library's include directories and expects the build to
 * fail; if it ever compiles, a wall between layers has fallen.
 */
#include "account.h"
#include "dir.h"

int layer_probe(void);

int
layer_probe(void)
{
	return 0;
}
