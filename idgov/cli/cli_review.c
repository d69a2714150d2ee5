/*
 * idgov review ...: access review campaigns. Reviewers list and decide
 * their own items (who they are comes from the socket's peer credentials);
 * admins start, close and report. A decision file (CSV "item,decision,
 * comment" with an optional header, or a JSON array of {item, decision,
 * comment}) is parsed by the reviews library and sent whole: idgovd records all of it or
 * none.
 */
#include "cli_int.h"
#include "cli_print.h"

#include "reviews.h"
#include "safepath.h"
#include "timeparse.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DECISION_FILE_MAX (16u << 20)

static const char review_text[] =
	"usage: idgov review pending [--campaign C] [--json]        your items to decide\n"
	"       idgov review decide ITEM approve|revoke [--comment TEXT]\n"
	"       idgov review decide --all-recommended [--campaign C]\n"
	"       idgov review decide --file FILE      CSV (item,decision,comment) or JSON\n"
	"       idgov review delegate ITEM USER | --all USER [--campaign C]\n"
	"       idgov review list\n"
	"       idgov review show C | progress C      (admin)\n"
	"       idgov review start NAME               a configured campaign, now (admin)\n"
	"       idgov review start --adhoc [--scope all|privileged|groups|filter]\n"
	"                          [--groups G1,G2] [--filter F] [--duration D]\n"
	"                          [--default revoke|approve|escalate] [--fallback U]   (admin)\n"
	"       idgov review close C                  final: no decision changes after (admin)\n"
	"       idgov review report C --format csv|json|html [-o FILE]   (admin)\n";

struct ropts {
	const char *campaign, *comment, *file, *scope, *groups, *filter, *duration, *deflt;
	const char *fallback, *format, *output;
	int all, recommended, adhoc, help;
};

static int
parse(struct cli *c, int argc, char **argv, struct ropts *o)
{
	static const struct option longopts[] = {
		{"campaign", required_argument, NULL, 'C'},
		{"comment", required_argument, NULL, 'm'},
		{"file", required_argument, NULL, 'f'},
		{"scope", required_argument, NULL, 's'},
		{"groups", required_argument, NULL, 'g'},
		{"filter", required_argument, NULL, 'F'},
		{"duration", required_argument, NULL, 'd'},
		{"default", required_argument, NULL, 'D'},
		{"fallback", required_argument, NULL, 'b'},
		{"format", required_argument, NULL, 'T'},
		{"output", required_argument, NULL, 'o'},
		{"all", no_argument, NULL, 'a'},
		{"all-recommended", no_argument, NULL, 'R'},
		{"adhoc", no_argument, NULL, 'A'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			c->json = 1;
			break;
		case 'h':
			o->help = 1;
			break;
		case 'C':
			o->campaign = optarg;
			break;
		case 'm':
			o->comment = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 's':
			o->scope = optarg;
			break;
		case 'g':
			o->groups = optarg;
			break;
		case 'F':
			o->filter = optarg;
			break;
		case 'd':
			o->duration = optarg;
			break;
		case 'D':
			o->deflt = optarg;
			break;
		case 'b':
			o->fallback = optarg;
			break;
		case 'T':
			o->format = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'a':
			o->all = 1;
			break;
		case 'R':
			o->recommended = 1;
			break;
		case 'A':
			o->adhoc = 1;
			break;
		default:
			return usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
		}
	}
	return 0;
}

/* A positive number operand or option. */
static int
number(const char *s, const char *what, json_int_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = s != NULL ? strtoll(s, &end, 10) : 0;
	if (s == NULL || *s == '\0' || *end != '\0' || errno != 0 || v < 1)
		return usage_error("'%s' is not a %s number", s ? s : "", what);
	*out = v;
	return 0;
}

static void
put(json_t *args, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(args, key, json_string(value));
}

/* ---- printing ---- */

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static void
print_pending(json_t *a)
{
	size_t i;
	json_t *it;

	if (json_array_size(a) == 0) {
		printf("nothing to review\n");
		return;
	}
	json_array_foreach(a, i, it)
	{
		char deadline[32], last[32];
		json_t *ll = json_object_get(it, "last_login");

		time_format(json_integer_value(json_object_get(it, "deadline")), deadline);
		if (json_is_integer(ll))
			time_format(json_integer_value(ll), last);
		else
			snprintf(last, sizeof(last), "never");
		printf("item %lld  campaign #%lld (%s, until %s)\n",
		       (long long)json_integer_value(json_object_get(it, "item")),
		       (long long)json_integer_value(json_object_get(it, "campaign")),
		       str(it, "campaign_name"), deadline);
		printf("  %s in %s%s, held as %s%s%s; from %s\n", str(it, "user"), str(it, "grp"),
		       json_is_true(json_object_get(it, "privileged")) ? " (privileged)" : "",
		       str(it, "held_as"),
		       json_is_string(json_object_get(it, "via")) ? " via " : "",
		       json_is_string(json_object_get(it, "via")) ? str(it, "via") : "",
		       str(it, "source"));
		printf("  last login: %s; recommended: %s (%s)\n", last, str(it, "recommendation"),
		       str(it, "recommend_why"));
		printf("  decision: %s%s%s\n",
		       json_is_string(json_object_get(it, "decision")) ? str(it, "decision")
								       : "undecided",
		       json_is_string(json_object_get(it, "comment")) ? " - " : "",
		       json_is_string(json_object_get(it, "comment")) ? str(it, "comment") : "");
	}
}

static void
print_count(json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		printf("%s: %lld\n", key, (long long)json_integer_value(v));
	}
}

static void
print_list(json_t *a)
{
	size_t i;
	json_t *c;

	if (json_array_size(a) == 0) {
		printf("no campaigns\n");
		return;
	}
	printf("%-5s %-20s %-7s %-20s %7s %9s\n", "ID", "NAME", "STATE", "DEADLINE", "ITEMS",
	       "UNDECIDED");
	json_array_foreach(a, i, c)
	{
		char deadline[32];

		time_format(json_integer_value(json_object_get(c, "deadline")), deadline);
		printf("%-5lld %-20s %-7s %-20s %7lld %9lld\n",
		       (long long)json_integer_value(json_object_get(c, "id")), str(c, "name"),
		       str(c, "state"), deadline,
		       (long long)json_integer_value(json_object_get(c, "items")),
		       (long long)json_integer_value(json_object_get(c, "undecided")));
	}
}

static void
print_show(json_t *c)
{
	json_t *counts = json_object_get(c, "counts"), *rv;
	char opened[32], deadline[32];
	const char *key;
	size_t i;

	time_format(json_integer_value(json_object_get(c, "opened_at")), opened);
	time_format(json_integer_value(json_object_get(c, "deadline")), deadline);
	printf("campaign #%lld: %s (%s)\n  opened:   %s by %s\n  deadline: %s\n",
	       (long long)json_integer_value(json_object_get(c, "id")), str(c, "name"),
	       str(c, "state"), opened, str(c, "opened_by"), deadline);
	json_object_foreach(counts, key, rv)
	{
		printf("  %-20s %lld\n", key, (long long)json_integer_value(rv));
	}
	printf("  %-20s %8s %8s %8s\n", "REVIEWER", "ITEMS", "DECIDED", "REVOKED");
	json_array_foreach(json_object_get(c, "reviewers"), i, rv)
	{
		printf("  %-20s %8lld %8lld %8lld\n", str(rv, "reviewer"),
		       (long long)json_integer_value(json_object_get(rv, "items")),
		       (long long)json_integer_value(json_object_get(rv, "decided")),
		       (long long)json_integer_value(json_object_get(rv, "revoked")));
	}
}

/* ---- decision files ---- */

static char *
read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *buf = NULL;
	ssize_t n;

	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size > DECISION_FILE_MAX ||
	    (buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/*
 * Sends one chunk of a batch (batch 0 opens it); *batch gets its number.
 * Steals chunk.
 */
static int
send_chunk(struct cli *c, json_t *chunk, int64_t *batch)
{
	json_t *args = json_pack("{s:o}", "decisions", chunk), *r;
	int rc;

	if (args != NULL && *batch > 0)
		json_object_set_new(args, "batch", json_integer(*batch));
	if ((rc = call(c, "review.batch_add", args, &r)) != EXIT_OK)
		return rc;
	*batch = json_integer_value(json_object_get(r, "batch"));
	json_decref(r);
	return EXIT_OK;
}

/*
 * Decisions that fit one request go as one; more go as a batch of chunks,
 * each under [control] max_request, committed at the end: the file is
 * recorded whole or not at all either way. Steals decisions.
 */
static int
send_decisions(struct cli *c, json_t *decisions)
{
	size_t limit, size, i, used = 0;
	json_t *chunk = NULL, *d;
	int64_t batch = 0;
	int rc = EXIT_OK;

	if (cli_load_config(c) != 0) {
		json_decref(decisions);
		return EXIT_FAIL;
	}
	/* Room for the request's envelope around the decisions. */
	limit = c->cfg->max_request > 2048 ? (size_t)c->cfg->max_request - 1024 : 1024;
	size = json_dumpb(decisions, NULL, 0, JSON_COMPACT);
	if (size > 0 && size < limit)
		return run(c, "review.decide_many", json_pack("{s:o}", "decisions", decisions),
			   print_count);
	json_array_foreach(decisions, i, d)
	{
		size_t one = json_dumpb(d, NULL, 0, JSON_COMPACT) + 1;

		if (chunk != NULL && used + one >= limit) {
			if ((rc = send_chunk(c, chunk, &batch)) != EXIT_OK)
				break;
			chunk = NULL;
		}
		if (chunk == NULL) {
			chunk = json_array();
			used = 2;
		}
		json_array_append(chunk, d);
		used += one;
	}
	if (rc == EXIT_OK && chunk != NULL)
		rc = send_chunk(c, chunk, &batch);
	else
		json_decref(chunk);
	json_decref(decisions);
	if (rc != EXIT_OK) {
		fprintf(stderr, "idgov: nothing was recorded\n");
		return rc;
	}
	return run(c, "review.batch_commit", json_pack("{s:I}", "batch", (json_int_t)batch),
		   print_count);
}

static int
decide_file(struct cli *c, const char *path)
{
	char why[256] = "";
	size_t len = 0;
	char *text = read_file(path, &len);
	json_t *decisions;

	if (text == NULL) {
		fprintf(stderr, "idgov: cannot read %s (a regular file up to 16 MiB)\n", path);
		return EXIT_FAIL;
	}
	decisions = review_decisions_parse(text, len, why, sizeof(why));
	free(text);
	if (decisions == NULL)
		return usage_error("%s: %s", path, why);
	return send_decisions(c, decisions);
}

/* ---- commands ---- */

static int
write_report(json_t *r, const char *output)
{
	const char *content = json_string_value(json_object_get(r, "content"));
	size_t len = content != NULL ? strlen(content) : 0;
	struct idg_err err;

	if (content == NULL)
		return EXIT_FAIL;
	if (output == NULL) {
		/* On a terminal, values in the report cannot send escape sequences. */
		if (isatty(STDOUT_FILENO))
			print_visible_text(stdout, content, 1);
		else
			fputs(content, stdout);
		return EXIT_OK;
	}
	/*
	 * Who holds what access is sensitive: the report is private to its
	 * writer. It replaces whatever was at that name (a file another user
	 * made there in a shared directory is not written into, and does not
	 * stay theirs); a FIFO, device or directory there is refused.
	 */
	if (safepath_write_file(output, 0600, content, len, &err) != 0) {
		fprintf(stderr, "idgov: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int
report(struct cli *c, json_int_t id, const struct ropts *o)
{
	json_t *r;
	int rc;

	if (o->format == NULL)
		return usage_error("review report needs --format csv|json|html");
	rc = call(c, "review.report", json_pack("{s:I, s:s}", "campaign", id, "format", o->format),
		  &r);
	if (rc == EXIT_OK)
		rc = write_report(r, o->output);
	json_decref(r);
	return rc;
}

static int
start(struct cli *c, int argc, char **argv, const struct ropts *o)
{
	json_t *args = json_object();

	if (o->adhoc) {
		if (argc != optind)
			return json_decref(args), usage_error("review start --adhoc takes no NAME");
		json_object_set_new(args, "adhoc", json_true());
		put(args, "scope", o->scope);
		put(args, "groups", o->groups);
		put(args, "filter", o->filter);
		put(args, "duration", o->duration);
		put(args, "default", o->deflt);
		put(args, "fallback", o->fallback);
	} else if (argc - optind == 1) {
		put(args, "name", argv[optind]);
	} else {
		json_decref(args);
		return usage_error("review start needs a campaign NAME or --adhoc");
	}
	return run(c, "review.start", args, print_show);
}

static int
decide(struct cli *c, int argc, char **argv, const struct ropts *o)
{
	json_int_t item = 0, campaign = 0;

	if (o->file != NULL)
		return argc == optind ? decide_file(c, o->file)
				      : usage_error("--file takes no ITEM");
	if (o->recommended) {
		json_t *args = json_object();

		if (o->campaign != NULL && number(o->campaign, "campaign", &campaign) != 0)
			return json_decref(args), EXIT_USAGE;
		if (o->campaign != NULL)
			json_object_set_new(args, "campaign", json_integer(campaign));
		return run(c, "review.decide_recommended", args, print_count);
	}
	if (argc - optind != 2)
		return usage_error("review decide needs ITEM and approve or revoke");
	if (number(argv[optind], "item", &item) != 0)
		return EXIT_USAGE;
	if (strcmp(argv[optind + 1], "approve") != 0 && strcmp(argv[optind + 1], "revoke") != 0)
		return usage_error("a decision is approve or revoke, not '%s'", argv[optind + 1]);
	{
		json_t *args = json_pack("{s:I, s:s}", "item", item, "decision", argv[optind + 1]);

		put(args, "comment", o->comment);
		return run(c, "review.decide", args, print_count);
	}
}

static int
delegate(struct cli *c, int argc, char **argv, const struct ropts *o)
{
	json_int_t item = 0, campaign = 0;
	json_t *args;

	if (o->all ? argc - optind != 1 : argc - optind != 2)
		return usage_error("review delegate needs ITEM USER, or --all USER");
	if (!o->all && number(argv[optind], "item", &item) != 0)
		return EXIT_USAGE;
	args = json_pack("{s:s}", "to", argv[argc - 1]);
	if (o->all)
		json_object_set_new(args, "all", json_true());
	else
		json_object_set_new(args, "item", json_integer(item));
	if (o->campaign != NULL) {
		if (number(o->campaign, "campaign", &campaign) != 0)
			return json_decref(args), EXIT_USAGE;
		json_object_set_new(args, "campaign", json_integer(campaign));
	}
	return run(c, "review.delegate", args, print_count);
}

int
cmd_review(struct cli *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct ropts o;
	json_int_t id = 0;

	if (argc < 2)
		return fputs(review_text, stderr), EXIT_USAGE;
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return help(review_text);
	if (parse(c, argc - 1, argv + 1, &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help(review_text);
	optind++;
	if (strcmp(verb, "pending") == 0) {
		json_t *args = json_object();

		if (o.campaign != NULL && number(o.campaign, "campaign", &id) != 0)
			return json_decref(args), EXIT_USAGE;
		if (o.campaign != NULL)
			json_object_set_new(args, "campaign", json_integer(id));
		return run(c, "review.pending", args, print_pending);
	}
	if (strcmp(verb, "decide") == 0)
		return decide(c, argc, argv, &o);
	if (strcmp(verb, "delegate") == 0)
		return delegate(c, argc, argv, &o);
	if (strcmp(verb, "start") == 0)
		return start(c, argc, argv, &o);
	if (strcmp(verb, "list") == 0)
		return run(c, "review.list", json_object(), print_list);
	if (strcmp(verb, "show") != 0 && strcmp(verb, "progress") != 0 &&
	    strcmp(verb, "close") != 0 && strcmp(verb, "report") != 0)
		return usage_error("unknown 'review' command '%s'", verb);
	if (argc - optind != 1 || number(argv[optind], "campaign", &id) != 0)
		return argc - optind != 1 ? usage_error("review %s needs a campaign number", verb)
					  : EXIT_USAGE;
	if (strcmp(verb, "report") == 0)
		return report(c, id, &o);
	return run(c, strcmp(verb, "close") == 0 ? "review.close" : "review.show",
		   json_pack("{s:I}", "campaign", id), print_show);
}
