/*
 * Fuzz target: what a host reads of a person's token from the directory
 * (token.h's value parsers) and the sealed secret it opens (fleetseal.h),
 * all of it writable by whoever can write the directory. The first byte
 * picks the parser, the rest is the value. What parses must be exactly
 * what idgov would write: a number prints back to the same text, a time
 * keeps its raw text, a recovery value is "ID:" and a hash; a sealed blob
 * never opens (the key is made here, the fuzzer cannot forge under it)
 * and says why without reading past the blob.
 */
#include "fuzz.h"

#include "testutil.h"

#include "fleetseal.h"
#include "token.h"

#include <inttypes.h>

/* CHECK() is compiled out of the release build the replays run in: this is not. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_token: %s does not hold\n", #cond);                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct test_env env;
static struct secret_key *key;

static const char fuzz_conf[] = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
				"[fleet]\nmfa = directory\nkey = $DIR/fleet.key\n";

static void
fuzz_cleanup(void)
{
	secret_key_free(key);
	test_env_close(&env);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct idg_err err;

	(void)argc;
	(void)argv;
	if (test_env_open(&env, "fuzz-token", fuzz_conf, NULL, NULL, 0) != 0)
		fuzz_die("config", "see above");
	if (keys_create_master(env.cfg->fleet_key_file, &err) != 0 ||
	    fleet_key_load(env.cfg, &key, &err) != 0)
		fuzz_die("fleet key", err.msg);
	atexit(fuzz_cleanup);
	return 0;
}

static void
fuzz_number(const uint8_t *s, size_t n)
{
	char back[TOKEN_NUM_MAX];
	int64_t v;

	if (token_parse_number((const char *)s, n, INT64_MAX, &v) != 0)
		return;
	CHECK(v >= 0);
	snprintf(back, sizeof(back), "%" PRId64, v);
	CHECK(strlen(back) == n && memcmp(back, s, n) == 0);
}

static void
fuzz_time(const uint8_t *s, size_t n)
{
	char raw[LEASE_TIME_MAX];
	int64_t t;

	if (token_parse_time((const char *)s, n, raw, sizeof(raw), &t) != 0)
		return;
	CHECK(strlen(raw) == n && memcmp(raw, s, n) == 0 && raw[n - 1] == 'Z');
}

static void
fuzz_recovery(const uint8_t *s, size_t n)
{
	if (token_parse_recovery((const char *)s, n) != 0)
		return;
	CHECK(n < TOKEN_RECOVERY_MAX && s[4] == ':' && memchr(s, '\0', n) == NULL);
}

static void
fuzz_open(const uint8_t *s, size_t n)
{
	unsigned char plain[FLEET_SEAL_MAX_PLAIN];
	struct idg_err err;
	size_t len = 1;

	(void)fleet_sealed_by(key, s, n);
	/* Opening would mean a forgery under a key the fuzzer never saw. */
	CHECK(fleet_open(key, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", s, n, plain, sizeof(plain),
			 &len, &err) == -1);
	CHECK(len == 0 && err.msg[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_number(data + 1, size - 1);
		break;
	case 1:
		fuzz_time(data + 1, size - 1);
		break;
	case 2:
		fuzz_recovery(data + 1, size - 1);
		break;
	case 3:
		fuzz_open(data + 1, size - 1);
		break;
	}
	return 0;
}
