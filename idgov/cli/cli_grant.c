/*
 * idgov grant ... and idgov account ...: time-bound privileges and
 * temporary privileged accounts. Arguments go to idgovd as given; the
 * daemon parses times and durations and says what is wrong with them.
 */
#include "cli_int.h"

#include "timeparse.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char grant_text[] =
	"usage: idgov grant request [--user U] --group G (--for D | --until T) [--start T]\n"
	"                           [--sudo] --reason TEXT\n"
	"       idgov grant approve ID [--comment TEXT]\n"
	"       idgov grant deny ID --comment TEXT\n"
	"       idgov grant revoke ID --reason TEXT\n"
	"       idgov grant extend ID (--for D | --until T) --reason TEXT\n"
	"       idgov grant breakglass --group G --for D --reason TEXT\n"
	"       idgov grant acknowledge ID [--comment TEXT]\n"
	"       idgov grant list [--active | --pending | --review] [--user U] [--json]\n"
	"       idgov grant show ID [--json]\n"
	"  D is a duration: 90m, 4h, 7d, 1h30m. T is 2026-11-26T08:00:00Z, 2026-11-26 or @EPOCH.\n"
	"  A privileged grant needs [grants] approvers admins other than the requester and\n"
	"  the grantee: a privileged group, a group nested in one at any depth, or --sudo.\n"
	"  grant show says why. A grant ends on its own at its end time.\n";

static const char account_text[] =
	"usage: idgov account create NAME [--owner U] --groups G1,G2 (--for D | --until T)\n"
	"                            [--start T] --reason TEXT\n"
	"       idgov account list [--json]\n"
	"       idgov account show NAME [--json]\n"
	"       idgov account extend NAME (--for D | --until T) --reason TEXT\n"
	"       idgov account end NAME --reason TEXT\n"
	"  A temporary privileged account for its owner, approved like a grant; at its end\n"
	"  it is locked and removed from its groups, and deleted after [accounts] retention.\n";

struct gopts {
	const char *user, *group, *duration, *until, *start, *reason, *comment, *owner, *groups;
	const char *filter;
	int help, sudo;
};

/* Parses options anywhere after the verb; operands are left from optind on. */
static int
parse(struct cli *c, int argc, char **argv, const char *allowed, struct gopts *o)
{
	static const struct option longopts[] = {
		{"user", required_argument, NULL, 'u'},    {"group", required_argument, NULL, 'g'},
		{"for", required_argument, NULL, 'f'},     {"until", required_argument, NULL, 't'},
		{"start", required_argument, NULL, 's'},   {"reason", required_argument, NULL, 'r'},
		{"comment", required_argument, NULL, 'm'}, {"owner", required_argument, NULL, 'o'},
		{"groups", required_argument, NULL, 'G'},  {"active", no_argument, NULL, 'A'},
		{"pending", no_argument, NULL, 'P'},       {"review", no_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},          {"sudo", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'j') {
			c->json = 1;
		} else if (ch == 'h') {
			o->help = 1;
		} else if (ch == '?' || strchr(allowed, ch) == NULL) {
			return usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
		} else if (ch == 'S') {
			o->sudo = 1;
		} else if (ch == 'A' || ch == 'P' || ch == 'R') {
			if (o->filter != NULL)
				return usage_error(
					"give at most one of --active, --pending, --review");
			o->filter = ch == 'A' ? "active" : ch == 'P' ? "pending" : "review";
		} else {
			const char **slot[] = {
				['u'] = &o->user,    ['g'] = &o->group, ['f'] = &o->duration,
				['t'] = &o->until,   ['s'] = &o->start, ['r'] = &o->reason,
				['m'] = &o->comment, ['o'] = &o->owner, ['G'] = &o->groups};

			*slot[ch] = optarg;
		}
	}
	return 0;
}

/* Adds key: value to args when value was given. */
static void
put(json_t *args, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(args, key, json_string(value));
}

static json_t *
times_args(const struct gopts *o)
{
	json_t *a = json_object();

	put(a, "for", o->duration);
	put(a, "until", o->until);
	put(a, "start", o->start);
	put(a, "reason", o->reason);
	return a;
}

/* ---- printing ---- */

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static void
when(json_t *o, const char *key, char out[32])
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		time_format(json_integer_value(v), out);
	else
		snprintf(out, 32, "-");
}

/* What a grant gives: a group, an account, or an extension of another grant. */
static void
what(json_t *g, char out[96])
{
	if (strcmp(str(g, "kind"), "account") == 0)
		snprintf(out, 96, "account %s", str(g, "account"));
	else if (strcmp(str(g, "kind"), "extend") == 0)
		snprintf(out, 96, "extends #%lld",
			 (long long)json_integer_value(json_object_get(g, "extends")));
	else
		snprintf(out, 96, "%s", str(g, "grp"));
}

/* Why the grant needs two people, or "" (not privileged, or recorded before reasons were). */
static const char *
privileged_why(json_t *g)
{
	json_t *why = json_object_get(g, "privileged_reason");

	return json_is_true(json_object_get(g, "privileged")) && json_is_string(why)
		       ? json_string_value(why)
		       : "";
}

/* The state, with what the directory has still to do. */
static void
status(json_t *g, char out[96])
{
	long long pending = json_integer_value(json_object_get(g, "directory_pending"));
	long long failed = json_integer_value(json_object_get(g, "directory_failed"));

	snprintf(out, 96, "%s%s%s%s", str(g, "state"),
		 json_is_true(json_object_get(g, "overdue")) ? " (removal overdue)"
		 : pending > 0                               ? " (directory pending)"
							     : "",
		 failed > 0 ? " (directory write failed)" : "",
		 json_is_true(json_object_get(g, "needs_review")) ? " [break-glass: needs review]"
								  : "");
}

static void
print_list(json_t *a)
{
	size_t i;
	json_t *g;

	if (json_array_size(a) == 0) {
		printf("no grants\n");
		return;
	}
	printf("%-5s %-12s %-22s %-20s %-20s %s\n", "ID", "GRANTEE", "WHAT", "START", "END",
	       "STATE");
	json_array_foreach(a, i, g)
	{
		char w[96], st[96], start[32], end[32];
		const char *why = privileged_why(g);

		what(g, w);
		status(g, st);
		when(g, "start", start);
		when(g, "end", end);
		printf("%-5lld %-12s %-22s %-20s %-20s %s%s%s%s\n",
		       (long long)json_integer_value(json_object_get(g, "id")), str(g, "grantee"),
		       w, start, end, st, why[0] != '\0' ? " [privileged: " : "", why,
		       why[0] != '\0' ? "]" : "");
	}
}

static void
print_show(json_t *g)
{
	char w[96], st[96], start[32], end[32], t[32];
	size_t i;
	json_t *d;

	what(g, w);
	status(g, st);
	when(g, "start", start);
	when(g, "end", end);
	printf("grant #%lld: %s for %s\n", (long long)json_integer_value(json_object_get(g, "id")),
	       w, str(g, "grantee"));
	printf("  state:      %s\n  from:       %s\n  until:      %s\n", st, start, end);
	printf("  reason:     %s\n  requested:  by %s\n", str(g, "reason"), str(g, "requester"));
	if (json_is_true(json_object_get(g, "privileged")))
		printf("  privileged: %s (two-person rule: not the requester, not the grantee)\n",
		       privileged_why(g)[0] != '\0' ? privileged_why(g) : "yes");
	printf("  approvals:  %lld of %lld needed\n",
	       (long long)json_integer_value(json_object_get(g, "approvals")),
	       (long long)json_integer_value(json_object_get(g, "approvals_needed")));
	json_array_foreach(json_object_get(g, "decisions"), i, d)
	{
		when(d, "time", t);
		printf("    %s %s at %s%s%s\n", str(d, "actor"),
		       strcmp(str(d, "decision"), "approve") == 0 ? "approved" : "denied", t,
		       json_is_string(json_object_get(d, "comment")) ? ": " : "",
		       json_is_string(json_object_get(d, "comment")) ? str(d, "comment") : "");
	}
	if (json_is_string(json_object_get(g, "end_reason"))) {
		when(g, "ended_at", t);
		printf("  ended:      %s by %s: %s\n", t, str(g, "ended_by"), str(g, "end_reason"));
	}
	if (json_is_true(json_object_get(g, "breakglass")))
		printf("  break-glass: %s\n",
		       json_is_string(json_object_get(g, "acknowledged_by"))
			       ? "acknowledged"
			       : "needs after-the-fact review (idgov grant acknowledge)");
	json_array_foreach(json_object_get(g, "directory"), i, d)
	{
		printf("  directory:  %s %s: %s%s%s\n", str(d, "op"), str(d, "dn"), str(d, "state"),
		       json_is_string(json_object_get(d, "result")) ? ", " : "",
		       json_is_string(json_object_get(d, "result"))
			       ? str(d, "result")
			       : (json_is_string(json_object_get(d, "last_error"))
					  ? str(d, "last_error")
					  : ""));
	}
}

/* ---- commands ---- */

static int
grant_id(int argc, char **argv, json_t **args)
{
	char *end;
	long long id;

	if (argc - optind != 1)
		return usage_error("give exactly one grant ID");
	id = strtoll(argv[optind], &end, 10);
	if (*argv[optind] == '\0' || *end != '\0' || id < 1)
		return usage_error("'%s' is not a grant ID", argv[optind]);
	*args = json_pack("{s:I}", "id", (json_int_t)id);
	return 0;
}

static int
grant_verb(struct cli *c, const char *verb, int argc, char **argv, const struct gopts *o)
{
	json_t *args = NULL;

	if (strcmp(verb, "request") == 0 || strcmp(verb, "breakglass") == 0) {
		if (argc != optind)
			return usage_error("grant %s takes options only (got '%s')", verb,
					   argv[optind]);
		args = times_args(o);
		put(args, "group", o->group);
		if (verb[0] == 'r')
			put(args, "user", o->user);
		if (o->sudo)
			json_object_set_new(args, "sudo", json_true());
		return run(c, verb[0] == 'r' ? "grant.request" : "grant.breakglass", args,
			   print_show);
	}
	if (strcmp(verb, "list") == 0) {
		if (argc != optind)
			return usage_error("grant list takes options only");
		args = json_object();
		put(args, "filter", o->filter);
		put(args, "user", o->user);
		return run(c, "grant.list", args, print_list);
	}
	if (grant_id(argc, argv, &args) != 0)
		return EXIT_USAGE;
	if (strcmp(verb, "approve") == 0 || strcmp(verb, "deny") == 0 ||
	    strcmp(verb, "acknowledge") == 0) {
		char op[32];

		put(args, "comment", o->comment);
		snprintf(op, sizeof(op), "grant.%s", verb);
		return run(c, op, args, print_show);
	}
	if (strcmp(verb, "revoke") == 0) {
		put(args, "reason", o->reason);
		return run(c, "grant.revoke", args, print_show);
	}
	if (strcmp(verb, "extend") == 0) {
		json_object_update_new(args, times_args(o));
		return run(c, "grant.extend", args, print_show);
	}
	if (strcmp(verb, "show") == 0)
		return run(c, "grant.show", args, print_show);
	json_decref(args);
	return usage_error("unknown 'grant' command '%s'", verb);
}

/* Options each verb accepts (getopt codes); others are usage errors. */
static const char *
grant_allowed(const char *verb)
{
	static const struct {
		const char *verb, *opts;
	} table[] = {
		{"request", "ugftsrS"}, {"approve", "m"},  {"deny", "m"},
		{"revoke", "r"},        {"extend", "ftr"}, {"breakglass", "gfr"},
		{"acknowledge", "m"},   {"list", "APRu"},  {"show", ""},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].verb, verb) == 0)
			return table[i].opts;
	return "";
}

int
cmd_grant(struct cli *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct gopts o;

	if (argc < 2)
		return fputs(grant_text, stderr), EXIT_USAGE;
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return help(grant_text);
	if (parse(c, argc - 1, argv + 1, grant_allowed(verb), &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help(grant_text);
	optind++; /* operands were counted from argv + 1 */
	return grant_verb(c, verb, argc, argv, &o);
}

static int
account_name(int argc, char **argv, json_t **args)
{
	if (argc - optind != 1)
		return usage_error("give exactly one account NAME");
	*args = json_pack("{s:s}", "name", argv[optind]);
	return 0;
}

static int
account_verb(struct cli *c, const char *verb, int argc, char **argv, const struct gopts *o)
{
	json_t *args = NULL;

	if (strcmp(verb, "list") == 0) {
		if (argc != optind)
			return usage_error("account list takes no operands");
		return run(c, "grant.list", json_pack("{s:s}", "kind", "account"), print_list);
	}
	if (account_name(argc, argv, &args) != 0)
		return EXIT_USAGE;
	if (strcmp(verb, "create") == 0) {
		json_object_update_new(args, times_args(o));
		put(args, "owner", o->owner);
		put(args, "groups", o->groups);
		return run(c, "account.create", args, print_show);
	}
	if (strcmp(verb, "extend") == 0) {
		json_object_update_new(args, times_args(o));
		return run(c, "account.extend", args, print_show);
	}
	if (strcmp(verb, "end") == 0) {
		put(args, "reason", o->reason);
		return run(c, "account.end", args, print_show);
	}
	if (strcmp(verb, "show") == 0)
		return run(c, "account.show", args, print_show);
	json_decref(args);
	return usage_error("unknown 'account' command '%s'", verb);
}

int
cmd_account(struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *verb, *opts;
	} table[] = {
		{"create", "oGftsr"}, {"extend", "ftr"}, {"end", "r"}, {"list", ""}, {"show", ""}};
	const char *verb = argc > 1 ? argv[1] : "", *allowed = "";
	struct gopts o;

	if (argc < 2)
		return fputs(account_text, stderr), EXIT_USAGE;
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return help(account_text);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].verb, verb) == 0)
			allowed = table[i].opts;
	if (parse(c, argc - 1, argv + 1, allowed, &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help(account_text);
	optind++;
	return account_verb(c, verb, argc, argv, &o);
}
