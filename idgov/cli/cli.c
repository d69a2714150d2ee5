/*
 * idgov(1): the command line for admins, managers and users.
 *
 * Every command but `init` is a control request. It goes to idgovd over
 * its socket, where the caller's uid decides what is allowed. When no
 * daemon is running, root may still run the same request in-process on
 * the store (control_handle(), the daemon's own code path); anyone else
 * gets exit code 3.
 *
 * Exit codes: 0 ok, 1 refused or failed (including a broken audit chain),
 * 2 usage error, 3 service unavailable.
 */
#include "cli_int.h"
#include "cli_print.h"
#include "client.h"
#include "grants.h"
#include "journal.h"
#include "reviews.h"
#include "role.h"
#include "scheduler.h"
#include "config.h"
#include "control.h"
#include "init.h"
#include "webcert.h"
#include "secret.h"
#include "store.h"
#include "sync.h"
#include "log.h"
#include "notify.h"
#include "timeparse.h"

#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: idgov [-c FILE] [--json] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  init                          create the store and keys (root)\n"
	"  status                        daemon, directory connection, last sync, counts\n"
	"  sync [--full] [--force]       sync the directory into the store now (admin)\n"
	"  sync release --confirm N      apply the N departures the guard holds (admin)\n"
	"  user list [--status S]        users (admin); S is active, disabled, expired or "
	"departed\n"
	"  user show NAME                one user and their groups (admin, or yourself)\n"
	"  group list                    groups (admin)\n"
	"  group show NAME               a group's direct and effective members (admin)\n"
	"  audit list [--since T] [--limit N]   audit records (admin)\n"
	"  audit ingest                  sign spooled login events into the chain now (admin)\n"
	"  audit verify                  check the audit chain, signatures and anchor (admin)\n"
	"  audit anchor --reset --confirm SEQ\n"
	"                                re-anchor the chain at the store's head SEQ (admin)\n"
	"  mfa enroll [USER]             enrol a TOTP app (yourself; admins: anyone)\n"
	"  mfa status [USER]             enrolment, lock and recovery codes left\n"
	"  mfa recovery-codes [USER]     a new set of recovery codes (the old ones stop working)\n"
	"  mfa reset USER                remove an enrolment (admin)\n"
	"  mfa unlock USER               end an MFA lockout (admin)\n"
	"  fleet migrate                 copy this host's MFA enrolments into the directory "
	"(admin)\n"
	"  fleet join                    how to join fleet-wide MFA, and check this host "
	"(admin)\n"
	"  policy check USER [--service S] [--rhost IP] [--at TIME]\n"
	"                                explain the login decision (admin)\n"
	"  grant request|approve|deny|revoke|extend|breakglass|acknowledge|list|show\n"
	"                                time-bound group membership, approved by admins\n"
	"  account create|list|show|extend|end\n"
	"                                temporary privileged accounts, approved like grants\n"
	"  review pending|decide|delegate|list|show|progress|start|close|report\n"
	"                                access-review campaigns: decide approve or revoke\n"
	"  backup [--to DIR]             an encrypted, verified backup of the store (admin)\n"
	"  backup verify FILE            decrypt and check a backup (root)\n"
	"  restore FILE                  restore a backup while idgovd is stopped (root)\n"
	"  key list|rotate KEY|destroy-old KEY\n"
	"                                key fingerprints; a new master, audit or backup "
	"key;\n"
	"                                the old one destroyed\n"
	"  breakglass codes USER [--file PATH]\n"
	"                                single-use codes for when the auth service is down "
	"(root)\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   configuration (default " CFG_DEFAULT_PATH ")\n"
	"      --json          machine-readable output\n"
	"  -h, --help          this help; COMMAND --help for a command's own\n"
	"  -V, --version       the version\n"
	"\n"
	"exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 idgovd unavailable\n";

int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "idgov: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'idgov --help'.\n");
	return EXIT_USAGE;
}

int
cli_load_config(struct cli *c)
{
	struct idg_err err;

	if (c->cfg != NULL)
		return 0;
	if (cfg_load_with(c->config_path, review_config_extensions, &c->cfg, &err) != 0) {
		fprintf(stderr, "idgov: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int
direct_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	struct control_ctx *ctx = arg;
	int rc = sync_once(ctx->cfg, ctx->st, ctx->audit, ctx->log, opts, res, err);

	/* Without a daemon, this process alerts the hold it started (as idgovd would). */
	if (rc == 0 && res->stats.hold_started)
		(void)notify_alert(ctx->cfg, ctx->log, "sync.held",
				   "idgov: directory departures held", res->stats.hold_reason);
	return rc;
}

/*
 * A request run in this process: the control context (first, so that the
 * callbacks that take the context as their argument find it) and what
 * this process learnt of the lease for it.
 */
struct direct {
	struct control_ctx ctx;
	struct fleet_state fleet;
	int fleet_read;  /* fleet holds what the directory said for this request */
	int fleet_claim; /* and, on a governor, it was a claim */
};

/* Reads (claim 0) or claims (a governor, claim 1) the lease once per request. */
static void
direct_fleet(struct direct *dc, int claim)
{
	const struct cfg *cfg = dc->ctx.cfg;
	struct idg_err err;
	LDAP *ld = NULL;

	if (!fleet_has_lease(cfg) || (dc->fleet_read && (dc->fleet_claim || !claim)))
		return;
	if (dir_connect(cfg, &ld, &err) != 0)
		snprintf(dc->fleet.error, sizeof(dc->fleet.error), "%s", err.msg);
	else if (claim)
		(void)fleet_refresh(cfg, ld, idg_now(), &dc->fleet);
	else
		(void)fleet_observe(cfg, ld, idg_now(), &dc->fleet);
	if (ld != NULL)
		ldap_unbind_ext_s(ld, NULL, NULL);
	dc->fleet_read = 1;
	dc->fleet_claim = claim;
}

/*
 * Without a daemon, a governor that is asked to govern claims the lease
 * itself (and holds it for lease_ttl, as idgovd would between renewals);
 * a host reads it to name the governor.
 */
static int
direct_may_govern(void *arg, char *why, size_t size)
{
	struct direct *dc = arg;

	direct_fleet(dc, 1);
	return fleet_may_govern(dc->ctx.cfg, &dc->fleet, idg_now(), why, size);
}

/* What `idgov status` shows without a daemon: the lease as read, never claimed. */
static json_t *
direct_fleet_status(void *arg)
{
	struct direct *dc = arg;
	const struct cfg *cfg = dc->ctx.cfg;
	char held[IDG_ERRLEN + 64], why[IDG_ERRLEN + 128];

	direct_fleet(dc, 0);
	fleet_describe(&dc->fleet, held, sizeof(held));
	return json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:s?, s:I, s:s?}", "role",
			 cfg->fleet_role == CFG_ROLE_GOVERNOR ? "governor" : "host", "name",
			 cfg->fleet_name, "lease_dn", cfg->fleet_lease_dn, "lease_ttl",
			 (json_int_t)cfg->fleet_lease_ttl, "governing",
			 fleet_may_govern(cfg, &dc->fleet, idg_now(), why, sizeof(why)), "lease",
			 fleet_has_lease(cfg) ? held : "none configured", "holder",
			 dc->fleet.lease.found ? dc->fleet.lease.holder : NULL, "expires",
			 (json_int_t)(dc->fleet.lease.found ? dc->fleet.lease.expires : 0), "error",
			 dc->fleet.error[0] ? dc->fleet.error : NULL);
}

/* Without a daemon, root's grant changes are applied by this process at once. */
static void
direct_governance(void *arg)
{
	struct control_ctx *ctx = arg;
	char why[IDG_ERRLEN + 128];
	struct grants_ctx g = {.cfg = ctx->cfg,
			       .st = ctx->st,
			       .audit = ctx->audit,
			       .log = ctx->log,
			       .actor = "idgov",
			       .admin = 1};
	struct journal j = {.cfg = ctx->cfg,
			    .st = ctx->st,
			    .audit = ctx->audit,
			    .log = ctx->log,
			    .actor = "idgov"};
	struct review_ctx r = {.cfg = ctx->cfg,
			       .st = ctx->st,
			       .audit = ctx->audit,
			       .log = ctx->log,
			       .journal = &j,
			       .actor = "idgov",
			       .admin = 1};
	struct idg_err err;
	int64_t next;

	/* Only where governing is allowed; the request itself was checked (role.h). */
	if (!direct_may_govern(arg, why, sizeof(why)))
		return;
	/* Without a daemon to come back, run rounds while work is due now. */
	for (int round = 0; round < 10000; round++) {
		int64_t now = idg_now();

		if (governance_round(&g, &r, now, &next, &err) != 0) {
			fprintf(stderr, "idgov: %s\n", err.msg);
			break;
		}
		if (next == 0 || next > now)
			break;
	}
	journal_close(&j);
}

/* Runs the request in this process, as the daemon would for root. */
static char *
call_direct(struct cli *c, const char *request, struct idg_err *err)
{
	struct store *st = NULL;
	struct audit *audit = NULL;
	struct secret_key *key = NULL;
	struct logger log;
	struct direct dc = {0};
	struct control_ctx *ctx = &dc.ctx;
	struct caller who;
	char *reply = NULL;

	log_open(&log, c->cfg->log_ident, c->cfg->log_socket, 0);
	if (store_open(c->cfg->store_path, STORE_OPEN_EXISTING, &st, err) != 0 ||
	    audit_open(st, c->cfg->audit_key_file, c->cfg->audit_anchor_file,
		       c->cfg->audit_sign_every, &log, &audit, err) != 0)
		goto out;
	/* Without the master key everything but MFA still works; MFA ops say why. */
	if (secret_key_load(c->cfg->master_key_file, &key, err) != 0)
		key = NULL;
	ctx->cfg = c->cfg;
	ctx->st = st;
	ctx->audit = audit;
	ctx->key = key;
	ctx->log = &log;
	ctx->run_sync = direct_sync;
	ctx->governance = direct_governance;
	ctx->may_govern = direct_may_govern;
	ctx->fleet_status = direct_fleet_status;
	ctx->extra_ops = review_control_ops(&ctx->n_extra_ops);
	ctx->arg = &dc;
	control_identify(ctx, geteuid(), &who);
	reply = control_handle(ctx, &who, request, strlen(request));
	if (reply == NULL)
		idg_seterr(err, "out of memory");
out:
	secret_key_free(key);
	audit_close(audit);
	store_close(ctx->mfa_state);
	store_close(st);
	log_close(&log);
	return reply;
}

static int
exit_for_code(const char *code)
{
	if (code != NULL && strcmp(code, "bad_request") == 0)
		return EXIT_USAGE;
	if (code != NULL && strcmp(code, "unavailable") == 0)
		return EXIT_UNAVAILABLE;
	return EXIT_FAIL;
}

int
call(struct cli *c, const char *op, json_t *args, json_t **result)
{
	struct idg_err err;
	json_t *req, *rep, *e;
	char *text, *reply = NULL;
	int unavailable, rc;

	*result = NULL;
	if (cli_load_config(c) != 0) {
		json_decref(args);
		return EXIT_FAIL;
	}
	req = json_pack("{s:i, s:s, s:o}", "v", CONTROL_VERSION, "op", op, "args", args);
	text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	secret_wipe_json(req);
	json_decref(req);
	if (text == NULL)
		return EXIT_FAIL;
	rc = client_call(c->cfg->socket_path, c->cfg->daemon_user, text, &reply, &unavailable,
			 &err);
	if (rc != 0 && unavailable && geteuid() == 0)
		reply = call_direct(c, text, &err);
	sodium_memzero(text, strlen(text)); /* a request may carry a code */
	free(text);
	if (reply == NULL) {
		fprintf(stderr, "idgov: %s\n", err.msg);
		return unavailable ? EXIT_UNAVAILABLE : EXIT_FAIL;
	}
	rep = json_loads(reply, 0, NULL);
	if (reply != NULL) /* a reply may carry a new MFA secret or recovery codes */
		sodium_memzero(reply, strlen(reply));
	free(reply);
	if (!json_is_object(rep)) {
		json_decref(rep);
		fprintf(stderr, "idgov: malformed reply from idgovd\n");
		return EXIT_FAIL;
	}
	if (json_is_true(json_object_get(rep, "ok"))) {
		*result = json_incref(json_object_get(rep, "result"));
		json_decref(rep);
		return EXIT_OK;
	}
	e = json_object_get(rep, "error");
	/* The message may quote what others wrote (a directory value, a reason). */
	fputs("idgov: ", stderr);
	print_visible_text(stderr,
			   json_is_string(json_object_get(e, "message"))
				   ? json_string_value(json_object_get(e, "message"))
				   : "(no message)",
			   0);
	fputc('\n', stderr);
	rc = exit_for_code(json_string_value(json_object_get(e, "code")));
	json_decref(rep);
	return rc;
}

/*
 * Prints a result for people with fn, on a copy whose strings are made
 * visible (cli_print.h); returns fn's answer, or fail when out of memory.
 */
static int
print_for_people(json_t *r, int (*fn)(json_t *), void (*plain)(json_t *), int fail)
{
	json_t *vis = print_visible(r);
	int rc = 0;

	if (vis == NULL) {
		fprintf(stderr, "idgov: out of memory\n");
		return fail;
	}
	if (fn != NULL)
		rc = fn(vis);
	else
		plain(vis);
	secret_wipe_json(vis); /* a copy of the result: it may hold a URI or codes */
	json_decref(vis);
	return rc;
}

int
run(struct cli *c, const char *op, json_t *args, void (*fn)(json_t *))
{
	json_t *r;
	int rc = call(c, op, args, &r);

	if (rc != EXIT_OK)
		return rc;
	if (c->json) {
		char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		printf("%s\n", s ? s : "null");
		free(s);
	} else {
		rc = print_for_people(r, NULL, fn, EXIT_FAIL);
	}
	secret_wipe_json(r); /* the otpauth URI and recovery codes go no further */
	json_decref(r);
	return rc;
}

/*
 * Like run(), for requests that answer a yes/no question (is the chain
 * intact, is the login allowed): exit 1 when the answer in result[key] is no.
 */
static int
run_verdict(struct cli *c, const char *op, json_t *args, const char *key, int (*fn)(json_t *))
{
	json_t *r;
	int rc = call(c, op, args, &r);

	if (rc != EXIT_OK)
		return rc;
	if (c->json) {
		char *s = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", s ? s : "null");
		free(s);
		rc = json_is_true(json_object_get(r, key)) ? EXIT_OK : EXIT_FAIL;
	} else {
		rc = print_for_people(r, fn, NULL, 1) ? EXIT_FAIL : EXIT_OK;
	}
	json_decref(r);
	return rc;
}

static void
print_reset(json_t *r)
{
	printf("MFA enrolment of %s removed; they must enrol again.\n",
	       json_string_value(json_object_get(r, "user")));
}

static void
print_unlocked(json_t *r)
{
	printf("MFA of %s unlocked.\n", json_string_value(json_object_get(r, "user")));
}

struct sub_opts {
	int full, force, help, reset, verify;
	const char *status, *since, *limit, *service, *rhost, *at, *confirm;
};

/* Parses a subcommand's options; leaves operands from optind on. */
static int
parse_sub(struct cli *c, int argc, char **argv, const char *allowed, struct sub_opts *o)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
		{"full", no_argument, NULL, 'F'},          {"force", no_argument, NULL, 'f'},
		{"verify", no_argument, NULL, 'y'},        {"status", required_argument, NULL, 's'},
		{"since", required_argument, NULL, 'S'},   {"limit", required_argument, NULL, 'n'},
		{"service", required_argument, NULL, 'v'}, {"rhost", required_argument, NULL, 'r'},
		{"at", required_argument, NULL, 'a'},      {"reset", no_argument, NULL, 'R'},
		{"confirm", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	/*
	 * Options may follow operands ("policy check alice --rhost IP"): let getopt
	 * permute. optind = 0 makes glibc start afresh, forgetting main()'s "+" mode.
	 */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'j') {
			c->json = 1;
		} else if (ch == 'h') {
			o->help = 1;
		} else if (ch == '?' || strchr(allowed, ch) == NULL) {
			return usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
		} else if (ch == 'F') {
			o->full = 1;
		} else if (ch == 'f') {
			o->force = 1;
		} else if (ch == 'y') {
			o->verify = 1;
		} else if (ch == 's') {
			o->status = optarg;
		} else if (ch == 'S') {
			o->since = optarg;
		} else if (ch == 'n') {
			o->limit = optarg;
		} else if (ch == 'v') {
			o->service = optarg;
		} else if (ch == 'r') {
			o->rhost = optarg;
		} else if (ch == 'a') {
			o->at = optarg;
		} else if (ch == 'R') {
			o->reset = 1;
		} else if (ch == 'C') {
			o->confirm = optarg;
		}
	}
	return 0;
}

int
help(const char *text)
{
	fputs(text, stdout);
	return EXIT_OK;
}

/*
 * The start of a "NOUN VERB ..." command: its options, --help, and optind
 * left at the first operand after VERB. Returns -1 to go on, or the exit code.
 */
static int
noun_prologue(struct cli *c, int argc, char **argv, const char *allowed, const char *text,
	      struct sub_opts *o)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return help(text);
	if (parse_sub(c, argc - 1, argv + 1, allowed, o) != 0)
		return EXIT_USAGE;
	if (o->help || argc < 2)
		return argc < 2 ? (fputs(text, stderr), EXIT_USAGE) : help(text);
	optind++; /* operands were counted from argv + 1 */
	return -1;
}

static int
cmd_init(struct cli *c, int argc, char **argv)
{
	struct init_report rep;
	struct sub_opts o;
	struct idg_err err;
	int made = 0;

	if (parse_sub(c, argc, argv, "", &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help("usage: idgov init\n  Creates the store, the master key and the audit "
			    "signing key where missing,\n  and on a governor with [fleet] mfa = "
			    "directory the fleet key.\n  Existing keys are never replaced.\n");
	if (optind != argc)
		return usage_error("init takes no arguments (got '%s')", argv[optind]);
	if (cli_load_config(c) != 0)
		return EXIT_FAIL;
	if (init_host(c->cfg, &rep, &err) != 0) {
		fprintf(stderr, "idgov: init failed: %s\n", err.msg);
		return EXIT_FAIL;
	}
	printf("store       %s (%s)\n", c->cfg->store_path, rep.store_created ? "created" : "kept");
	printf("master key  %s (%s)\n", c->cfg->master_key_file,
	       rep.master_key_created ? "created" : "kept");
	printf("audit key   %s (%s)\n", c->cfg->audit_key_file,
	       rep.audit_key_created ? "created" : "kept");
	printf("anchor      %s (%s)\n", c->cfg->audit_anchor_file,
	       rep.anchor_created ? "created" : "kept");
	printf("backup key  %s (%s)\n", c->cfg->backup_key_file,
	       rep.backup_key_created ? "created; keep a copy off this host" : "kept");
	if (c->cfg->fleet_role == CFG_ROLE_GOVERNOR && c->cfg->fleet_mfa == CFG_FLEET_MFA_DIRECTORY)
		printf("fleet key   %s (%s)\n", c->cfg->fleet_key_file,
		       rep.fleet_key_created
			       ? "created; every host needs a copy (root, 0400): idgov fleet join"
			       : "kept; every host needs a copy (root, 0400): idgov fleet join");
	if (webcert_ensure(c->cfg, &made, &err) != 0) {
		fprintf(stderr, "idgov: init failed: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (c->cfg->web_user[0] != '\0')
		printf("web TLS     %s (%s)\n", c->cfg->web_cert_file,
		       made ? "self-signed, created; give the key to the web user" : "kept");
	return EXIT_OK;
}

/* After status and sync: a bind password that crosses the network in clear is said on stderr. */
static int
warn_plain_bind(struct cli *c, int rc)
{
	char why[1024];

	if (c->cfg != NULL && cfg_plain_bind_warning(c->cfg, why, sizeof(why)))
		fprintf(stderr, "idgov: %s\n", why);
	return rc;
}

/* Healthy unless idgovd runs without its directory (down, or a departure guard holds). */
static int
status_healthy(json_t *r)
{
	json_t *conn = json_object_get(json_object_get(r, "daemon"), "connection");
	json_t *held = json_object_get(json_object_get(r, "counts"), "departures_held");

	/* Departures held by the guard wait for an admin: unhealthy until released. */
	if (json_integer_value(held) > 0)
		return 0;
	return !(json_is_string(conn) && strcmp(json_string_value(conn), "disconnected") == 0);
}

static int
print_status_verdict(json_t *r)
{
	print_status(r);
	return !status_healthy(r);
}

static int
cmd_status(struct cli *c, int argc, char **argv)
{
	struct sub_opts o;
	json_t *r;
	int rc;

	if (parse_sub(c, argc, argv, "", &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help("usage: idgov status [--json]\n");
	if (optind != argc)
		return usage_error("status takes no arguments (got '%s')", argv[optind]);
	/* Exit 1 when disconnected or holding departures, so that monitoring needs no parsing. */
	if ((rc = call(c, "status", json_object(), &r)) != EXIT_OK)
		return warn_plain_bind(c, rc);
	if (c->json) {
		char *text = json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", text ? text : "null");
		free(text);
		rc = status_healthy(r) ? EXIT_OK : EXIT_FAIL;
	} else {
		rc = print_for_people(r, print_status_verdict, NULL, 1) ? EXIT_FAIL : EXIT_OK;
	}
	json_decref(r);
	return warn_plain_bind(c, rc);
}

static void
print_release(json_t *r)
{
	printf("released %lld held departures\n",
	       (long long)json_integer_value(json_object_get(r, "released")));
}

static int
cmd_sync_release(struct cli *c, int argc, char **argv)
{
	struct sub_opts o;
	long long n;
	char *end;

	if (parse_sub(c, argc, argv, "C", &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help("usage: idgov sync release --confirm N [--json]\n"
			    "  Applies the departures the guard holds; N must equal their number\n"
			    "  ('idgov status' shows it).\n");
	if (optind != argc)
		return usage_error("sync release takes no arguments (got '%s')", argv[optind]);
	if (o.confirm == NULL)
		return usage_error("sync release needs --confirm N, the number of held departures");
	n = strtoll(o.confirm, &end, 10);
	if (*o.confirm == '\0' || *end != '\0' || n < 0)
		return usage_error("--confirm needs a number of departures, not '%s'", o.confirm);
	return run(c, "sync.release", json_pack("{s:I}", "confirm", (json_int_t)n), print_release);
}

/* sync --verify: the differences, and exit 1 when there are any. */
static int
cmd_sync_verify(struct cli *c)
{
	json_t *r, *drift;
	int rc = call(c, "sync", json_pack("{s:b}", "verify", 1), &r);

	if (rc != EXIT_OK)
		return rc;
	drift = json_object_get(r, "drift");
	if (!json_is_integer(json_object_get(drift, "total"))) {
		json_decref(r);
		fprintf(stderr, "idgov: the daemon did not report differences; is it older?\n");
		return EXIT_FAIL;
	}
	if (c->json) {
		char *s = json_dumps(drift, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", s ? s : "null");
		free(s);
	} else if (print_for_people(drift, NULL, print_sync_verify, EXIT_FAIL) != 0) {
		json_decref(r);
		return EXIT_FAIL;
	}
	rc = json_integer_value(json_object_get(drift, "total")) > 0 ? EXIT_FAIL : EXIT_OK;
	json_decref(r);
	return rc;
}

static int
cmd_sync(struct cli *c, int argc, char **argv)
{
	struct sub_opts o;

	if (argc > 1 && strcmp(argv[1], "release") == 0)
		return cmd_sync_release(c, argc - 1, argv + 1);
	if (parse_sub(c, argc, argv, "Ffy", &o) != 0)
		return EXIT_USAGE;
	if (o.help)
		return help(
			"usage: idgov sync [--full] [--force] [--json]\n"
			"       idgov sync --verify [--json]\n"
			"       idgov sync release --confirm N [--json]\n"
			"  --full    reload everything instead of resuming from the cookie\n"
			"  --force   apply departures the guard would hold (recorded as forced)\n"
			"  --verify  compare the directory with the mirror, change nothing;\n"
			"            exit 1 and list the differences if there are any\n"
			"  release   apply the N departures the guard holds\n");
	if (optind != argc)
		return usage_error("sync takes no arguments (got '%s')", argv[optind]);
	if (o.verify && (o.full || o.force))
		return usage_error("sync --verify takes neither --full nor --force");
	if (o.verify)
		return warn_plain_bind(c, cmd_sync_verify(c));
	return warn_plain_bind(c, run(c, "sync",
				      json_pack("{s:b, s:b}", "full", o.full, "force", o.force),
				      print_sync));
}

static int
cmd_named(struct cli *c, int argc, char **argv, const char *op, void (*fn)(json_t *))
{
	if (argc - optind != 1)
		return usage_error("%s needs exactly one NAME", op);
	return run(c, op, json_pack("{s:s}", "name", argv[optind]), fn);
}

static int
cmd_user(struct cli *c, int argc, char **argv)
{
	static const char text[] =
		"usage: idgov user list [--status active|disabled|expired|departed]\n"
		"       idgov user show NAME\n";
	struct sub_opts o;
	int rc;
	const char *verb = argc > 1 ? argv[1] : "";

	if ((rc = noun_prologue(c, argc, argv, "s", text, &o)) >= 0)
		return rc;
	if (strcmp(verb, "list") == 0) {
		if (optind != argc)
			return usage_error("user list takes no NAME (got '%s')", argv[optind]);
		return run(c, "user.list",
			   o.status ? json_pack("{s:s}", "status", o.status) : json_object(),
			   print_user_list);
	}
	if (strcmp(verb, "show") == 0 && o.status == NULL)
		return cmd_named(c, argc, argv, "user.show", print_user_show);
	return usage_error("unknown 'user' command '%s'", verb);
}

static int
cmd_group(struct cli *c, int argc, char **argv)
{
	static const char text[] = "usage: idgov group list\n       idgov group show NAME\n";
	struct sub_opts o;
	int rc;
	const char *verb = argc > 1 ? argv[1] : "";

	if ((rc = noun_prologue(c, argc, argv, "", text, &o)) >= 0)
		return rc;
	if (strcmp(verb, "list") == 0) {
		if (optind != argc)
			return usage_error("group list takes no NAME (got '%s')", argv[optind]);
		return run(c, "group.list", json_object(), print_group_list);
	}
	if (strcmp(verb, "show") == 0)
		return cmd_named(c, argc, argv, "group.show", print_group_show);
	return usage_error("unknown 'group' command '%s'", verb);
}

static int
audit_list_args(const struct sub_opts *o, json_t **args)
{
	struct idg_err err;
	int64_t since = 0, limit = 0;
	char *end;

	if (o->since != NULL && time_parse(o->since, idg_now(), &since, &err) != 0)
		return usage_error("--since: %s", err.msg);
	if (o->limit != NULL) {
		limit = strtoll(o->limit, &end, 10);
		if (*o->limit == '\0' || *end != '\0' || limit <= 0)
			return usage_error("--limit needs a whole number above 0, not '%s'",
					   o->limit);
	}
	*args = json_pack("{s:I, s:I}", "since", (json_int_t)since, "limit", (json_int_t)limit);
	return EXIT_OK;
}

static void
print_anchor_reset(json_t *r)
{
	printf("audit chain re-anchored at record %lld in %s\n",
	       (long long)json_integer_value(json_object_get(r, "seq")),
	       json_string_value(json_object_get(r, "anchor")));
}

/*
 * "audit anchor --reset --confirm SEQ": moving the anchor back is what a
 * cut chain would need, so it takes both flags and the head the admin saw.
 */
static int
audit_anchor(struct cli *c, const struct sub_opts *o)
{
	char *end;
	long long seq;

	if (!o->reset)
		return usage_error("'audit anchor' needs --reset (and --confirm SEQ)");
	if (o->confirm == NULL)
		return usage_error("'audit anchor --reset' needs --confirm SEQ, the store's head "
				   "(see 'idgov audit verify')");
	seq = strtoll(o->confirm, &end, 10);
	if (*o->confirm == '\0' || *end != '\0' || seq < 0)
		return usage_error("--confirm needs a record number, not '%s'", o->confirm);
	return run(c, "audit.anchor_reset", json_pack("{s:I}", "confirm", (json_int_t)seq),
		   print_anchor_reset);
}

static int
cmd_audit(struct cli *c, int argc, char **argv)
{
	static const char text[] = "usage: idgov audit list [--since TIME] [--limit N]\n"
				   "       idgov audit verify\n"
				   "       idgov audit ingest\n"
				   "       idgov audit anchor --reset --confirm SEQ\n"
				   "  TIME: 2026-11-26, 2026-11-26T08:00:00Z, @EPOCH, or an age "
				   "(7d, 24h, 30m)\n"
				   "  SEQ: the store's newest signed record, which the anchor will "
				   "name\n";
	struct sub_opts o;
	const char *verb = argc > 1 ? argv[1] : "";
	json_t *args = NULL;
	int rc;

	if ((rc = noun_prologue(c, argc, argv, "SnRC", text, &o)) >= 0)
		return rc;
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if ((o.reset || o.confirm) && strcmp(verb, "anchor") != 0)
		return usage_error("--reset and --confirm belong to 'audit anchor'");
	if (strcmp(verb, "anchor") == 0) {
		if (o.since || o.limit)
			return usage_error("'audit anchor' takes no --since or --limit");
		return audit_anchor(c, &o);
	}
	if (strcmp(verb, "list") == 0) {
		if ((rc = audit_list_args(&o, &args)) != EXIT_OK)
			return rc;
		return run(c, "audit.list", args, print_audit_list);
	}
	if (strcmp(verb, "ingest") == 0) {
		if (o.since || o.limit)
			return usage_error("'audit ingest' takes no --since or --limit");
		return run(c, "audit.ingest", json_object(), print_audit_ingest);
	}
	if (strcmp(verb, "verify") != 0 || o.since || o.limit)
		return usage_error("unknown 'audit' command '%s'", verb);
	return run_verdict(c, "audit.verify", json_object(), "ok", print_audit_verify);
}

static int
cmd_key(struct cli *c, int argc, char **argv)
{
	static const char text[] = "usage: idgov key list\n"
				   "       idgov key rotate master|audit|backup\n"
				   "       idgov key destroy-old master|audit|backup\n";
	struct sub_opts o;
	const char *verb = argc > 1 ? argv[1] : "";
	int rc;

	if ((rc = noun_prologue(c, argc, argv, "", text, &o)) >= 0)
		return rc;
	if (strcmp(verb, "list") == 0) {
		if (optind != argc)
			return usage_error("unexpected argument '%s'", argv[optind]);
		return run(c, "key.list", json_object(), print_key_list);
	}
	if (strcmp(verb, "rotate") != 0 && strcmp(verb, "destroy-old") != 0)
		return usage_error("unknown 'key' command '%s'", verb);
	if (optind + 1 != argc)
		return usage_error("'key %s' takes one key name (master, audit, backup)", verb);
	if (strcmp(verb, "rotate") == 0)
		return run(c, "key.rotate", json_pack("{s:s}", "name", argv[optind]),
			   print_key_rotate);
	return run(c, "key.destroy_old", json_pack("{s:s}", "name", argv[optind]),
		   print_key_destroy_old);
}

/* The optional USER operand as request args. */
static json_t *
optional_name(int argc, char **argv)
{
	return optind < argc ? json_pack("{s:s}", "name", argv[optind]) : json_object();
}

/* Reads one line (a code) from stdin after prompt, without its newline. */
static int
read_code(const char *prompt, char *buf, size_t size)
{
	size_t n;

	printf("%s", prompt);
	fflush(stdout);
	if (fgets(buf, (int)size, stdin) == NULL)
		return -1;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int
mfa_enroll(struct cli *c, int argc, char **argv)
{
	json_t *r, *args;
	char code[64];
	int rc = call(c, "mfa.enroll.begin", optional_name(argc, argv), &r);

	if (rc != EXIT_OK)
		return rc;
	printf("Add this account to your authenticator app: scan the code, or enter the URI.\n\n");
	print_qr(json_string_value(json_object_get(r, "uri")));
	putchar('\n');
	print_visible_text(stdout,
			   json_is_string(json_object_get(r, "uri"))
				   ? json_string_value(json_object_get(r, "uri"))
				   : "-",
			   0);
	printf("\n\n");
	args = json_pack("{s:s}", "name", json_string_value(json_object_get(r, "user")));
	secret_wipe_json(r);
	json_decref(r);
	if (read_code("Enter the code your app shows now to confirm: ", code, sizeof(code)) != 0) {
		json_decref(args);
		fprintf(stderr, "idgov: no code given; the enrolment is not active yet\n");
		return EXIT_FAIL;
	}
	json_object_set_new(args, "code", json_string(code));
	sodium_memzero(code, sizeof(code));
	rc = run(c, "mfa.enroll.confirm", args, print_recovery_codes);
	if (rc == EXIT_OK && !c->json)
		printf("\nMFA is now active.\n");
	return rc;
}

/*
 * New recovery codes. For oneself (no USER) idgovd wants a current code
 * from the app, so a stolen session cannot mint them; root and an admin
 * acting for someone else need none.
 */
static int
mfa_recovery_codes(struct cli *c, int argc, char **argv)
{
	json_t *args = optional_name(argc, argv);
	char code[64];

	if (optind >= argc && geteuid() != 0) {
		if (read_code("Enter the code your app shows now: ", code, sizeof(code)) != 0) {
			json_decref(args);
			fprintf(stderr,
				"idgov: no code given; your recovery codes are unchanged\n");
			return EXIT_FAIL;
		}
		json_object_set_new(args, "code", json_string(code));
		sodium_memzero(code, sizeof(code));
	}
	return run(c, "mfa.recovery_codes", args, print_recovery_codes);
}

static int
cmd_mfa(struct cli *c, int argc, char **argv)
{
	static const char text[] = "usage: idgov mfa enroll [USER]\n"
				   "       idgov mfa status [USER]\n"
				   "       idgov mfa recovery-codes [USER]\n"
				   "       idgov mfa reset USER\n"
				   "       idgov mfa unlock USER\n";
	struct sub_opts o;
	int rc;
	const char *verb = argc > 1 ? argv[1] : "";

	if ((rc = noun_prologue(c, argc, argv, "", text, &o)) >= 0)
		return rc;
	if (argc - optind > 1)
		return usage_error("too many arguments for 'mfa %s'", verb);
	if (strcmp(verb, "enroll") == 0)
		return mfa_enroll(c, argc, argv);
	if (strcmp(verb, "status") == 0)
		return run(c, "mfa.status", optional_name(argc, argv), print_mfa_status);
	if (strcmp(verb, "recovery-codes") == 0)
		return mfa_recovery_codes(c, argc, argv);
	if (strcmp(verb, "reset") == 0 || strcmp(verb, "unlock") == 0) {
		char op[16];

		if (optind >= argc)
			return usage_error("'mfa %s' needs a USER", verb);
		snprintf(op, sizeof(op), "mfa.%s", verb);
		return run(c, op, optional_name(argc, argv),
			   verb[0] == 'r' ? print_reset : print_unlocked);
	}
	return usage_error("unknown 'mfa' command '%s'", verb);
}

static int
cmd_policy(struct cli *c, int argc, char **argv)
{
	static const char text[] =
		"usage: idgov policy check USER [--service S] [--rhost IP] [--at TIME]\n"
		"  The decision pam_idgov would make for this login, rule by rule, without\n"
		"  side effects. S defaults to sshd; TIME as for audit list (default now).\n";
	struct sub_opts o;
	struct idg_err err;
	int64_t at = 0;
	json_t *args;
	int rc;

	if ((rc = noun_prologue(c, argc, argv, "vra", text, &o)) >= 0)
		return rc;
	if (strcmp(argv[1], "check") != 0)
		return usage_error("unknown 'policy' command '%s'", argv[1]);
	if (argc - optind != 1)
		return usage_error("policy check needs exactly one USER");
	if (o.at != NULL && time_parse(o.at, idg_now(), &at, &err) != 0)
		return usage_error("--at: %s", err.msg);
	args = json_pack("{s:s, s:I}", "name", argv[optind], "at", (json_int_t)at);
	if (o.service != NULL)
		json_object_set_new(args, "service", json_string(o.service));
	if (o.rhost != NULL)
		json_object_set_new(args, "rhost", json_string(o.rhost));
	return run_verdict(c, "policy.check", args, "allowed", print_policy_check);
}

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} commands[] = {
	{"init", cmd_init},       {"status", cmd_status},   {"sync", cmd_sync},
	{"user", cmd_user},       {"group", cmd_group},     {"audit", cmd_audit},
	{"mfa", cmd_mfa},         {"policy", cmd_policy},   {"grant", cmd_grant},
	{"account", cmd_account}, {"review", cmd_review},   {"key", cmd_key},
	{"backup", cmd_backup},   {"restore", cmd_restore}, {"breakglass", cmd_breakglass},
	{"fleet", cmd_fleet},
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = {.config_path = CFG_DEFAULT_PATH};
	int ch, rc = -1;

	opterr = 0;
	store_library_init();
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		if (ch == 'c')
			c.config_path = optarg;
		else if (ch == 'j')
			c.json = 1;
		else if (ch == 'h')
			return help(usage_text);
		else if (ch == 'V')
			return help("idgov " IDGOV_VERSION "\n");
		else
			return usage_error("unknown option '%s'", argv[optind - 1]);
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, argv[optind]) == 0)
			rc = commands[i].fn(&c, argc - optind, argv + optind);
	if (rc < 0)
		rc = usage_error("unknown command '%s'", argv[optind]);
	cfg_free(c.cfg);
	return rc;
}
