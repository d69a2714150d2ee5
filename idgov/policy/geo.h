/*
 * Country of a source address, from any MaxMind DB (.mmdb) file through
 * libmaxminddb. The lookup path to the two-letter country code is
 * configurable: "country.iso_code" (GeoIP2/GeoLite2) or "country_code"
 * (ip-location-db).
 *
 * Databases are opened once per process and reused: a PAM module lives in
 * sshd for months and must not map a 10 MB file per login. The cache is
 * keyed by path and reopened when the file changes (a database update).
 * It is guarded by a mutex and released when the library is unloaded.
 */
#ifndef IDGOV_GEO_H
#define IDGOV_GEO_H

#include "util.h"

enum geo_result { GEO_FOUND, GEO_UNKNOWN /* not in the database */ };

/* Looks up a numeric address; cc receives the upper-case code (3 bytes). -1 on error. */
int geo_country(const char *db_path, const char *lookup_path, const char *address, char cc[3],
		enum geo_result *r, struct idg_err *err);

/* Checks that db_path opens as a MaxMind DB (for configuration checks). */
int geo_check(const char *db_path, struct idg_err *err);

#endif
