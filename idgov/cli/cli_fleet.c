/*
 * idgov fleet migrate | join: moving a host's MFA enrolments into the
 * directory, and joining a host to the fleet-wide MFA of its directory
 * ([fleet] mfa = directory). Both are admin requests to idgovd
 * (fleet.migrate, fleet.check; control_fleet_ops.c), run in-process by
 * root when no daemon runs.
 */
#include "cli_int.h"
#include "cli_print.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: idgov fleet migrate\n"
	"       idgov fleet join\n"
	"  migrate  copy this host's confirmed MFA enrolments into the directory\n"
	"           (sealed under the fleet key); people already enrolled there are\n"
	"           skipped, or reported as conflicts; safe to run again (admin)\n"
	"  join     how to join this host to fleet-wide MFA, then check it: the\n"
	"           fleet key file, its key id against the mirror's tokens, a\n"
	"           directory provider, [fleet] mfa; exit 0 only when all pass\n";

static long long
num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static void
print_migrate(json_t *r)
{
	json_t *users = json_object_get(r, "users"), *u;
	size_t i;

	printf("%lld local enrolments: %lld migrated, %lld already in the directory, %lld "
	       "conflicts\n",
	       num(r, "enrolments"), num(r, "migrated"), num(r, "skipped"), num(r, "conflicts"));
	json_array_foreach(users, i, u)
	{
		if (strcmp(str(u, "outcome"), "skipped") == 0)
			continue;
		printf("  %-10s ", str(u, "outcome"));
		print_visible_text(stdout, str(u, "user"), 0);
		putchar('\n');
	}
	if (num(r, "conflicts") > 0)
		printf("A conflict is a person enrolled in the directory with another secret:\n"
		       "the directory's enrolment stands (idgov mfa reset USER, then enrol, to "
		       "change it).\n");
	printf("Fleet key id: %s\n", str(r, "key_id"));
}

static void
print_steps(const char *config_path, const struct cfg *cfg)
{
	printf("Joining this host to fleet-wide MFA:\n"
	       "\n"
	       "  1. Copy the fleet key from the governor (idgov init made it there) over a\n"
	       "     channel you trust, to %s on this host, and make it root's\n"
	       "     and private:\n"
	       "         chown root:root %s && chmod 0400 %s\n"
	       "     The same file on every host; never put it in the directory.\n"
	       "  2. In %s set:\n"
	       "         [fleet]\n"
	       "         role = host\n"
	       "         lease_dn = (the governor's lease entry, as on every machine)\n"
	       "         mfa = directory\n"
	       "         key = %s\n"
	       "         providers = ldap://provider1/ ldap://provider2/\n"
	       "     providers: the same URIs in the same order on every host (empty: the\n"
	       "     [directory] uri); this host's [directory] bind_dn may write only the\n"
	       "     token and last-login attributes (schema/ldap/idgov-acl.ldif).\n"
	       "  3. Restart idgovd and idgov-authd, then run 'idgov fleet join' again.\n"
	       "\n"
	       "Checks:\n",
	       cfg->fleet_key_file, cfg->fleet_key_file, cfg->fleet_key_file, config_path,
	       cfg->fleet_key_file);
}

static int
print_checks(json_t *r)
{
	json_t *checks = json_object_get(r, "checks"), *ch;
	size_t i;

	json_array_foreach(checks, i, ch)
	{
		printf("  %s  %s: ", json_is_true(json_object_get(ch, "pass")) ? "PASS" : "FAIL",
		       str(ch, "check"));
		print_visible_text(stdout, str(ch, "detail"), 0);
		putchar('\n');
	}
	if (json_is_true(json_object_get(r, "pass")))
		printf("\nThis host is ready: MFA enrolments are fleet-wide.\n");
	else
		printf("\nNot ready: fix what failed and run 'idgov fleet join' again.\n");
	return json_is_true(json_object_get(r, "pass")) ? EXIT_OK : EXIT_FAIL;
}

static int
join(struct cli *c)
{
	json_t *r;
	int rc;

	if (cli_load_config(c) != 0)
		return EXIT_FAIL;
	if (!c->json)
		print_steps(c->config_path, c->cfg);
	rc = call(c, "fleet.check", json_object(), &r);
	if (rc != EXIT_OK)
		return rc;
	if (c->json) {
		char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", s != NULL ? s : "null");
		free(s);
		rc = json_is_true(json_object_get(r, "pass")) ? EXIT_OK : EXIT_FAIL;
	} else {
		rc = print_checks(r);
	}
	json_decref(r);
	return rc;
}

int
cmd_fleet(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'j')
			c->json = 1;
		else if (ch == 'h')
			return help(usage_text);
		else
			return usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
	}
	if (argc - optind != 1) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "migrate") == 0)
		return run(c, "fleet.migrate", json_object(), print_migrate);
	if (strcmp(argv[optind], "join") == 0)
		return join(c);
	return usage_error("unknown 'fleet' command '%s'", argv[optind]);
}
