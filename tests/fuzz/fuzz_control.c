/*
 * Fuzz target: control requests, the bytes anyone on the host can send to
 * idgovd's socket, handled as the daemon handles them (with the reviews'
 * operations and a refusals table). The first byte picks the caller: root
 * (an admin), alice (a plain user), or carol (a reviewer: the manager of
 * the users in an open campaign). The rest is the request line.
 *
 * The world (store with a few mirror rows, audit key, master key, one
 * open campaign) is made once per process. Requests change it (grants,
 * decisions, audit records), so it is made anew every RESET_EVERY inputs:
 * the store cannot grow without bound, and a crash that needs earlier
 * requests still replays from a short history.
 */
#include "fuzz.h"

#include "testutil.h"

#include "control.h"
#include "reviews.h"

#define RESET_EVERY 256

static const char fuzz_conf[] =
	"[directory]\nuri = ldap://127.0.0.1:9/\nbase = dc=x\n"
	"[store]\naudit_public_key = $DIR/audit.pub\n"
	"[groups]\nprivileged = ops\n"
	"[reviews]\nfallback_reviewer = carol\n"
	"[campaign fuzz]\nscope = all\nschedule = none\nduration = 14d\ndefault = keep\n";

static const char fuzz_rows[] =
	"INSERT INTO users (uuid, dn, dn_norm, uid, status, manager_dn, uid_number, first_seen, "
	"last_changed) VALUES ('u1', 'uid=alice,dc=x', 'uid=alice,dc=x', 'alice', 'active', "
	"'uid=carol,dc=x', 1001, 0, 0), "
	"('u2', 'uid=bob,dc=x', 'uid=bob,dc=x', 'bob', 'active', 'uid=carol,dc=x', 1002, 0, 0), "
	"('u3', 'uid=carol,dc=x', 'uid=carol,dc=x', 'carol', 'active', NULL, 1003, 0, 0);"
	"INSERT INTO groups (id, uuid, dn, dn_norm, cn, privileged, first_seen, last_changed) "
	"VALUES (1, 'g1', 'cn=ops,dc=x', 'cn=ops,dc=x', 'ops', 1, 0, 0), "
	"(2, 'g2', 'cn=devs,dc=x', 'cn=devs,dc=x', 'devs', 0, 0, 0);"
	"INSERT INTO member_refs (id, kind, value) VALUES (1, 0, 'uid=alice,dc=x'), (2, 1, 'bob'), "
	"(3, 0, 'uid=carol,dc=x');"
	"INSERT INTO memberships (group_id, ref_id, since) VALUES (1, 1, 0), (2, 2, 0), (1, 3, 0);"
	/* `member` values resolved to the entries they name, as the mirror stores them. */
	"UPDATE member_refs SET target = coalesce((SELECT u.uuid FROM users u WHERE "
	"u.dn_norm = member_refs.value), (SELECT g.uuid FROM groups g WHERE g.dn_norm = "
	"member_refs.value)) WHERE kind = 0;";

static const struct caller callers[] = {
	{.uid = 0, .name = "root", .admin = 1},
	{.uid = 1001, .name = "alice", .admin = 0},
	{.uid = 1003, .name = "carol", .admin = 0},
};

static struct world {
	struct test_env env;
	struct control_ctx ctx;
	struct control_refusals refusals;
	int open, runs, verbose;
} w;

/* The daemon's sync runs elsewhere; here it does nothing, successfully. */
static int
fake_sync(void *arg, const struct sync_opts *opts, struct sync_result *res, struct idg_err *err)
{
	(void)arg;
	(void)opts;
	(void)res;
	(void)err;
	return 0;
}

static void
world_close(void)
{
	if (w.open) {
		/* Opened by the first MFA operation (control_mfa_state), closed by its owner. */
		store_close(w.ctx.mfa_state);
		w.ctx.mfa_state = NULL;
		test_env_close(&w.env);
	}
	w.open = 0;
}

static void
world_open(void)
{
	static const char start[] =
		"{\"v\":1,\"op\":\"review.start\",\"args\":{\"name\":\"fuzz\"}}";
	struct idg_err err;
	size_t n_ops;
	char *reply;
	json_t *r;

	if (test_env_open(&w.env, "fuzz-control", fuzz_conf, review_config_extensions, fuzz_rows,
			  TEST_ENV_AUDIT | TEST_ENV_MASTER_KEY) != 0)
		fuzz_die("store", "see above");
	/* The store is thrown away: commits need not reach the disk. */
	if (store_exec(w.env.st, "PRAGMA synchronous = OFF", &err) != 0)
		fuzz_die("store", err.msg);
	memset(&w.refusals, 0, sizeof(w.refusals));
	w.ctx = (struct control_ctx){.cfg = w.env.cfg,
				     .st = w.env.st,
				     .audit = w.env.audit,
				     .key = w.env.key,
				     .run_sync = fake_sync,
				     .extra_ops = review_control_ops(&n_ops),
				     .refusals = &w.refusals};
	w.ctx.n_extra_ops = n_ops;
	w.open = 1;
	/* carol reviews alice's and bob's memberships: a reviewer with items. */
	if ((reply = control_handle(&w.ctx, &callers[0], start, strlen(start))) == NULL)
		fuzz_die("review.start", "out of memory");
	if ((r = json_loads(reply, 0, NULL)) == NULL || !json_is_true(json_object_get(r, "ok")))
		fuzz_die("review.start", reply);
	json_decref(r);
	free(reply);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* IDGOV_FUZZ_VERBOSE=1: print each reply, to see what the seeds reach. */
	w.verbose = getenv("IDGOV_FUZZ_VERBOSE") != NULL;
	world_open();
	atexit(world_close);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply;
	json_t *r;

	if (size < 1)
		return 0;
	if (++w.runs % RESET_EVERY == 0) {
		world_close();
		world_open();
	}
	reply = control_handle(&w.ctx, &callers[data[0] % 3], (const char *)data + 1, size - 1);
	if (reply == NULL)
		abort(); /* NULL means out of memory, which a fuzz run is not */
	/* A reply is one line of JSON: a newline in it would split the protocol. */
	if (strchr(reply, '\n') != NULL || (r = json_loads(reply, 0, NULL)) == NULL) {
		fprintf(stderr, "reply is not one line of JSON: %s\n", reply);
		abort();
	}
	json_decref(r);
	if (w.verbose)
		printf("%s\n", reply);
	free(reply);
	/* As the daemon does about once a second: write out the windows that are over. */
	control_refusals_flush(&w.ctx, idg_now(), 0);
	return 0;
}
