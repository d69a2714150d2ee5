/* Country lookups with a per-process database cache; see geo.h. */
#include "geo.h"

#include <maxminddb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GEO_CACHE 4

struct cached_db {
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	MMDB_s db;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached_db cache[GEO_CACHE];

static void
drop(struct cached_db *c)
{
	if (c->path != NULL) {
		MMDB_close(&c->db);
		free(c->path);
	}
	memset(c, 0, sizeof(*c));
}

/* Unmaps everything when the module or program goes away. */
__attribute__((destructor)) static void
geo_release_all(void)
{
	for (int i = 0; i < GEO_CACHE; i++)
		drop(&cache[i]);
}

static int
same_file(const struct cached_db *c, const struct stat *sb)
{
	return c->dev == sb->st_dev && c->ino == sb->st_ino &&
	       c->mtime.tv_sec == sb->st_mtim.tv_sec && c->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* Under cache_lock: the open database for path, (re)opened if needed. */
static MMDB_s *
open_cached(const char *path, struct idg_err *err)
{
	struct stat sb;
	struct cached_db *slot = NULL;
	int rc;

	if (stat(path, &sb) != 0) {
		idg_seterr(err, "geo database %s cannot be read", path);
		return NULL;
	}
	for (int i = 0; i < GEO_CACHE; i++) {
		if (cache[i].path != NULL && strcmp(cache[i].path, path) == 0) {
			if (same_file(&cache[i], &sb))
				return &cache[i].db;
			drop(&cache[i]); /* replaced on disk: reopen */
		}
		if (cache[i].path == NULL && slot == NULL)
			slot = &cache[i];
	}
	if (slot == NULL) {
		slot = &cache[0];
		drop(slot);
	}
	rc = MMDB_open(path, MMDB_MODE_MMAP, &slot->db);
	if (rc != MMDB_SUCCESS) {
		idg_seterr(err, "geo database %s: %s", path, MMDB_strerror(rc));
		memset(slot, 0, sizeof(*slot));
		return NULL;
	}
	slot->path = strdup(path);
	if (slot->path == NULL) {
		MMDB_close(&slot->db);
		idg_seterr(err, "out of memory");
		return NULL;
	}
	slot->dev = sb.st_dev;
	slot->ino = sb.st_ino;
	slot->mtime = sb.st_mtim;
	return &slot->db;
}

int
geo_check(const char *db_path, struct idg_err *err)
{
	int rc;

	pthread_mutex_lock(&cache_lock);
	rc = open_cached(db_path, err) != NULL ? 0 : -1;
	pthread_mutex_unlock(&cache_lock);
	return rc;
}

/* Splits "country.iso_code" into at most 4 path components for MMDB_aget_value. */
static int
split_path(const char *lookup, char *buf, size_t size, const char *parts[5])
{
	char *save = NULL;
	int n = 0;

	if (idg_strlcpy(buf, lookup, size) >= size)
		return -1;

	for (char *p = strtok_r(buf, ".", &save); p != NULL && n < 4;
	     p = strtok_r(NULL, ".", &save))
		parts[n++] = p;
	parts[n] = NULL;
	return n > 0 ? 0 : -1;
}

static int
lookup(MMDB_s *db, const char *lookup_path, const char *address, char cc[3], enum geo_result *r,
       struct idg_err *err)
{
	const char *parts[5];
	char buf[128];
	int gai, mm;
	MMDB_lookup_result_s res = MMDB_lookup_string(db, address, &gai, &mm);
	MMDB_entry_data_s data;

	if (gai != 0 || mm != MMDB_SUCCESS)
		return idg_seterr(err, "geo lookup of %s failed", address);
	*r = GEO_UNKNOWN;
	if (!res.found_entry)
		return 0;
	if (split_path(lookup_path, buf, sizeof(buf), parts) != 0)
		return idg_seterr(err, "bad geo lookup path '%s'", lookup_path);
	if (MMDB_aget_value(&res.entry, &data, parts) != MMDB_SUCCESS || !data.has_data ||
	    data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
		return 0;
	cc[0] = (char)(data.utf8_string[0] & ~0x20);
	cc[1] = (char)(data.utf8_string[1] & ~0x20);
	cc[2] = '\0';
	*r = GEO_FOUND;
	return 0;
}

int
geo_country(const char *db_path, const char *lookup_path, const char *address, char cc[3],
	    enum geo_result *r, struct idg_err *err)
{
	MMDB_s *db;
	int rc = -1;

	pthread_mutex_lock(&cache_lock);
	db = open_cached(db_path, err);
	if (db != NULL)
		rc = lookup(db, lookup_path, address, cc, r, err);
	pthread_mutex_unlock(&cache_lock);
	return rc;
}
