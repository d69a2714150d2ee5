/*
 * A string -> int64 hash map (open addressing, a word-at-a-time hash), for caching small
 * lookups in hot loops, such as member value -> member_refs.id during a sync.
 * Keys are copied. Not thread-safe; owned by one caller.
 */
#ifndef IDGOV_STRMAP_H
#define IDGOV_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

struct strmap *strmap_new(void);
void strmap_free(struct strmap *m);
/* Empties the map, keeping its memory. */
void strmap_clear(struct strmap *m);
/* 1 and *value if key is present, else 0. */
int strmap_get(const struct strmap *m, const char *key, size_t len, int64_t *value);
/*
 * The hash strmap_get() computes, for a caller that looks a key up after
 * prefetching it: computed once instead of once per call.
 */
uint64_t strmap_hash(const char *key, size_t len);
/* strmap_get() with h = strmap_hash(key, len). */
int strmap_get_hashed(const struct strmap *m, const char *key, size_t len, uint64_t h,
		      int64_t *value);
/*
 * Hints for a loop about to look up many keys, by their strmap_hash():
 * start loading the slot of a key (some lookups ahead), then, once that is
 * likely in the cache, the key stored there (fewer ahead). A table larger
 * than the cache otherwise stalls twice per lookup. Neither changes
 * anything.
 */
void strmap_prefetch(const struct strmap *m, uint64_t h);
void strmap_prefetch_key(const struct strmap *m, uint64_t h);
/* Adds or replaces; 0, or -1 when out of memory. */
int strmap_put(struct strmap *m, const char *key, size_t len, int64_t value);

#endif
