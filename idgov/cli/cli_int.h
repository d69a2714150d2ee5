/*
 * What the idgov CLI's command files share: the exit codes, the parsed
 * global options, and sending a control request.
 */
#ifndef IDGOV_CLI_INT_H
#define IDGOV_CLI_INT_H

#include "config.h"

#include <jansson.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

struct cli {
	const char *config_path;
	int json;
	struct cfg *cfg;
};

/* Prints "idgov: MESSAGE" and the --help hint; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints text to stdout; returns EXIT_OK. */
int help(const char *text);

/* Sends op(args) and returns the exit code; *result is set when it succeeded. Steals args. */
int call(struct cli *c, const char *op, json_t *args, json_t **result);
/* Loads the configuration once (idgov.conf with reviews' sections); -1 after saying why. */
int cli_load_config(struct cli *c);

/* Calls op and prints the result with fn (or as JSON with --json). */
int run(struct cli *c, const char *op, json_t *args, void (*fn)(json_t *));

/* The grant and account commands (cli_grant.c). */
int cmd_grant(struct cli *c, int argc, char **argv);
int cmd_account(struct cli *c, int argc, char **argv);
/* Backups and restore (cli_backup.c). */
int cmd_backup(struct cli *c, int argc, char **argv);
int cmd_restore(struct cli *c, int argc, char **argv);
/* The access review commands (cli_review.c). */
int cmd_review(struct cli *c, int argc, char **argv);
int cmd_breakglass(struct cli *c, int argc, char **argv);
/* Fleet-wide MFA: migrate and join (cli_fleet.c). */
int cmd_fleet(struct cli *c, int argc, char **argv);

#endif
