/*
 * idgov breakglass codes USER [--file PATH]: a new set of break-glass codes
 * for USER, printed once. pam_idgov.so (breakglass=PATH) accepts each code
 * once, and only when idgov-authd cannot answer. Root only: the file is
 * root's, mode 0600, and holds yescrypt hashes, never a code.
 */
#include "bgcodes.h"
#include "cli_int.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BREAKGLASS_DEFAULT_FILE "/etc/idgov/breakglass"

static const char usage_text[] =
	"usage: idgov breakglass codes USER [--file PATH]\n"
	"  A new set of single-use break-glass codes for USER (the old ones stop\n"
	"  working), shown once. They let USER in only when the auth service\n"
	"  cannot answer (pam_idgov breakglass=PATH). Root only. PATH defaults\n"
	"  to " BREAKGLASS_DEFAULT_FILE ".\n";

int
cmd_breakglass(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char codes[BGCODES_PER_USER][BGCODES_CODE_LEN];
	const char *file = BREAKGLASS_DEFAULT_FILE, *user;
	char why[512];
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'f')
			file = optarg;
		else if (ch == 'j')
			c->json = 1;
		else if (ch == 'h')
			return help(usage_text);
		else
			return usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
	}
	if (argc - optind != 2 || strcmp(argv[optind], "codes") != 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	user = argv[optind + 1];
	if (file[0] != '/')
		return usage_error("--file must be an absolute path");
	if (geteuid() != 0) {
		fprintf(stderr, "idgov: only root may write break-glass codes (%s)\n", file);
		return EXIT_FAIL;
	}
	if (bgcodes_replace(file, user, codes, why, sizeof(why)) != 0) {
		fprintf(stderr, "idgov: break-glass codes for %s not changed: %s\n", user, why);
		return EXIT_FAIL;
	}
	if (c->json) {
		json_t *j = json_pack("{s:s, s:s, s:[]}", "user", user, "file", file, "codes");

		for (int i = 0; j != NULL && i < BGCODES_PER_USER; i++)
			json_array_append_new(json_object_get(j, "codes"), json_string(codes[i]));
		if (j != NULL)
			json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else {
		printf("Break-glass codes for %s (each works once, and only while the auth\n"
		       "service cannot answer; the old ones no longer work):\n\n",
		       user);
		for (int i = 0; i < BGCODES_PER_USER; i++)
			printf("  %s\n", codes[i]);
		printf("\nThey are not shown again. Print them, seal them in an envelope, and "
		       "keep\n"
		       "it where your break-glass procedure says; %s holds only their hashes.\n",
		       file);
	}
	explicit_bzero(codes, sizeof(codes));
	return EXIT_OK;
}
