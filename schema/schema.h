/* The embedded SQL migrations, generated from schema/NNN_name.sql. */
#ifndef IDGOV_SCHEMA_H
#define IDGOV_SCHEMA_H

struct schema_migration {
	int version;      /* NNN of the file name; strictly increasing */
	const char *name; /* file name, for error messages */
	const char *sql;
};

extern const struct schema_migration schema_migrations[];
extern const unsigned schema_migration_count;

#endif
