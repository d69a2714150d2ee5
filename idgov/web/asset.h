/*
 * The files under idgov/web/assets/, embedded in the binary at build time
 * (embed.cmake): templates, one stylesheet, one script. Nothing is read
 * from disk at run time, so what is served is what was built and tested.
 */
#ifndef IDGOV_WEB_ASSET_H
#define IDGOV_WEB_ASSET_H

#include <stddef.h>

struct asset {
	const char *name; /* file name, e.g. "style.css" */
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct asset web_assets[];
extern const size_t web_asset_count;

/* The asset called name, or NULL. */
const struct asset *asset_find(const char *name);

#endif
