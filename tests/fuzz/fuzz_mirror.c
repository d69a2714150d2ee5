/*
 * Fuzz target: directory entries into the mirror. The directory is
 * untrusted (a compromised or misconfigured server, or a user who may
 * write their own displayName), so whatever a struct dir_entry holds must
 * be stored, refused or skipped, never crash the writer. The entry is
 * built field by field from the input, without dir_parse_entry()'s
 * checks, so the mirror is tried on entries the parser would not make.
 *
 * Input: one flag byte, then NUL-separated fields (a missing field is
 * absent, NULL or -1):
 *   uuid, dn, dn_norm, uid, display_name, mail, manager_norm, locked, cn,
 *   uid_number, shadow_expire, shadow_last_change, pwd_changed_at,
 *   gid_number, members... "" member_uids...
 * Flags: bits 0-1 the kind (3: a user again), bit 2 a refresh, bit 3 the
 * entry is then deleted (bit 5: declared present instead), bit 4 the
 * refresh is swept and the departure guard checked, bit 6 the entry is
 * disabled (the reason is the locked field, or a fixed one) and carries a
 * warning, as the parser makes for a value it could not read; bit 7 the
 * departures are forced past the guard.
 *
 * The display name field also goes through the parser's UTF-8 checks:
 * dir_utf8_cut() must never cut inside a character of valid text, nor
 * return more than it was given or allowed.
 *
 * The store is made once with a few users and groups; each input runs in
 * a transaction that is rolled back, so every input meets the same store
 * and a crash replays alone.
 */
#include "fuzz.h"

#include "testutil.h"

#include "mirror.h"

#define MAX_FIELDS 4096

static const char fuzz_conf[] = "[directory]\nuri = ldap://127.0.0.1:9/\nbase = dc=x\n"
				"[store]\naudit_public_key = $DIR/audit.pub\n"
				"[groups]\nprivileged = ops\n";

/* The uuids are in mirror.dict, so the fuzzer finds updates of these rows. */
static const char fuzz_rows[] =
	"INSERT INTO users (uuid, dn, dn_norm, uid, status, manager_dn, first_seen, last_changed) "
	"VALUES ('00000000-0000-0000-0000-000000000001', 'uid=alice,ou=people,dc=x', "
	"'uid=alice,ou=people,dc=x', 'alice', 'active', 'uid=carol,ou=people,dc=x', 0, 0), "
	"('00000000-0000-0000-0000-000000000002', 'uid=bob,ou=people,dc=x', "
	"'uid=bob,ou=people,dc=x', 'bob', 'active', NULL, 0, 0), "
	"('00000000-0000-0000-0000-000000000003', 'uid=carol,ou=people,dc=x', "
	"'uid=carol,ou=people,dc=x', 'carol', 'active', NULL, 0, 0);"
	"INSERT INTO groups (id, uuid, dn, dn_norm, cn, privileged, first_seen, last_changed) "
	"VALUES (1, '00000000-0000-0000-0000-00000000000a', 'cn=ops,ou=groups,dc=x', "
	"'cn=ops,ou=groups,dc=x', 'ops', 1, 0, 0), "
	"(2, '00000000-0000-0000-0000-00000000000b', 'cn=devs,ou=groups,dc=x', "
	"'cn=devs,ou=groups,dc=x', 'devs', 0, 0, 0);"
	"INSERT INTO member_refs (id, kind, value) VALUES (1, 0, 'uid=alice,ou=people,dc=x'), "
	"(2, 1, 'bob'), (3, 0, 'cn=ops,ou=groups,dc=x');"
	"INSERT INTO memberships (group_id, ref_id, since) VALUES (1, 1, 0), (2, 2, 0), (2, 3, 0);"
	/* `member` values resolved to the entries they name, as the mirror stores them. */
	"UPDATE member_refs SET target = coalesce((SELECT u.uuid FROM users u WHERE "
	"u.dn_norm = member_refs.value), (SELECT g.uuid FROM groups g WHERE g.dn_norm = "
	"member_refs.value)) WHERE kind = 0;";

static struct test_env env;
static struct mirror *mirror;

static void
fuzz_cleanup(void)
{
	mirror_close(mirror);
	test_env_close(&env);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct idg_err err;

	(void)argc;
	(void)argv;
	if (test_env_open(&env, "fuzz-mirror", fuzz_conf, NULL, fuzz_rows, TEST_ENV_AUDIT) != 0)
		fuzz_die("store", "see above");
	/* Nothing is committed, so nothing needs to reach the disk. */
	if (store_exec(env.st, "PRAGMA synchronous = OFF", &err) != 0 ||
	    mirror_open(env.st, env.audit, env.cfg, NULL, &mirror, &err) != 0)
		fuzz_die("mirror", err.msg);
	atexit(fuzz_cleanup);
	return 0;
}

static int64_t
number(char *s)
{
	return s != NULL && *s != '\0' ? strtoll(s, NULL, 10) : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *field[MAX_FIELDS];
	struct dir_entry e = {0};
	struct idg_err err;
	size_t n = 0, i;
	unsigned flags;
	char *buf, *p, *end;

	if (size < 1)
		return 0;
	flags = data[0];
	buf = fuzz_string(data + 1, size - 1);
	end = buf + size - 1;
	for (p = buf; p <= end && n < MAX_FIELDS; p += strlen(p) + 1)
		field[n++] = p;
	for (i = n; i < 14; i++)
		field[i] = NULL;

	e.kind = (flags & 3) == 1 || (flags & 3) == 3 ? DIR_USER
		 : (flags & 3) == 2                   ? DIR_GROUP
						      : DIR_OTHER;
	if (field[0] != NULL)
		snprintf(e.uuid, sizeof(e.uuid), "%s", field[0]);
	e.dn = field[1];
	e.dn_norm = field[2];
	e.uid = field[3];
	e.display_name = field[4];
	e.mail = field[5];
	e.manager_norm = field[6];
	e.locked = field[7];
	e.cn = field[8];
	e.uid_number = number(field[9]);
	e.shadow_expire = number(field[10]);
	e.shadow_last_change = number(field[11]);
	e.pwd_changed_at = number(field[12]);
	e.gid_number = number(field[13]);
	/* Members up to an empty field, member uids after it. */
	if (n > 14) {
		e.members = &field[14];
		for (i = 14; i < n && field[i][0] != '\0'; i++)
			e.n_members++;
		if (i + 1 < n) {
			e.member_uids = &field[i + 1];
			e.n_member_uids = n - i - 1;
		}
	}

	if (flags & 0x40) {
		e.disabled_reason = e.locked != NULL ? e.locked : idg_unconst("fuzz");
		e.warnings[0] = (struct dir_warning){"displayName", "fuzz"};
		e.n_warnings = 1;
	}
	if (e.display_name != NULL) {
		size_t len = strlen(e.display_name), max = (size_t)(flags & 0x3f);
		size_t cut = dir_utf8_cut(e.display_name, len, max);

		if (cut > len || (len > max && cut > max) || (len <= max && cut != len))
			abort();
		if (dir_utf8_text(e.display_name, len) && !dir_utf8_text(e.display_name, cut))
			abort();
	}

	if (mirror_begin(mirror, (flags & 4) != 0, &err) != 0)
		fuzz_die("mirror_begin", err.msg);
	(void)mirror_apply(mirror, &e, &err);
	if (flags & 0x20)
		(void)mirror_present(mirror, e.uuid, &err);
	else if (flags & 8)
		(void)mirror_delete(mirror, e.uuid, &err);
	if ((flags & 0x14) == 0x14 && mirror_sweep(mirror, &err) == 0)
		(void)mirror_check_guard(mirror, (flags & 0x80) != 0, &err);
	(void)mirror_stats(mirror);
	mirror_rollback(mirror);
	if (mirror_in_transaction(mirror))
		abort();
	free(buf);
	return 0;
}
