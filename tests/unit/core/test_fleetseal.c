/*
 * Unit tests for the fleet key seal (fleetseal.h): a secret sealed for one
 * person opens for that person under that key and under nothing else; a
 * value under another fleet key names both key ids; every byte of a blob
 * matters (flipped, cut, lengthened, relabelled); the key file is trusted
 * like the master key, and a missing one says where to get it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "fleetseal.h"

#define ALICE "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define BOB "11111111-2222-3333-4444-555555555555"

static const char conf[] = "[directory]\nuri = ldap://h/\nbase = dc=x\n"
			   "[fleet]\nmfa = directory\nkey = $DIR/fleet.key\n";

struct fixture {
	struct test_env env;
	char other_path[128];
	struct secret_key *k;     /* $DIR/fleet.key */
	struct secret_key *other; /* another fleet key */
	unsigned char plain[20];
	unsigned char blob[FLEET_SEAL_MAX];
	size_t blob_len;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct idg_err err;

	if (f == NULL || test_env_open(&f->env, "fleetseal", conf, NULL, NULL, 0) != 0)
		return -1;
	snprintf(f->other_path, sizeof(f->other_path), "%s/other.key", f->env.dir);
	if (keys_create_master(f->env.cfg->fleet_key_file, &err) != 0 ||
	    keys_create_master(f->other_path, &err) != 0 ||
	    fleet_key_load(f->env.cfg, &f->k, &err) != 0 ||
	    secret_key_load_one(f->other_path, &f->other, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	for (size_t i = 0; i < sizeof(f->plain); i++)
		f->plain[i] = (unsigned char)(0xa0 + i);
	if (fleet_seal(f->k, ALICE, f->plain, sizeof(f->plain), f->blob, &f->blob_len, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	secret_key_free(f->k);
	secret_key_free(f->other);
	test_env_close(&f->env);
	free(f);
	return 0;
}

/* Opens blob as ALICE's under k: 0 or -1, err filled. */
static int
open_as(const struct secret_key *k, const char *uuid, const unsigned char *blob, size_t len,
	struct idg_err *err)
{
	unsigned char out[FLEET_SEAL_MAX_PLAIN];
	size_t n = 99;
	int rc = fleet_open(k, uuid, blob, len, out, sizeof(out), &n, err);

	if (rc != 0)
		assert_int_equal(n, 0);
	return rc;
}

static void
test_seal_then_open_gives_the_secret_back(void **state)
{
	struct fixture *f = *state;
	unsigned char out[FLEET_SEAL_MAX_PLAIN];
	char hex[2 * FLEET_KEY_ID_LEN + 1];
	struct idg_err err;
	size_t n = 0;

	assert_int_equal(f->blob_len, FLEET_SEAL_OVERHEAD + sizeof(f->plain));
	assert_int_equal(f->blob[0], FLEET_SEAL_VERSION);
	assert_int_equal(fleet_open(f->k, ALICE, f->blob, f->blob_len, out, sizeof(out), &n, &err),
			 0);
	assert_int_equal(n, sizeof(f->plain));
	assert_memory_equal(out, f->plain, sizeof(f->plain));
	assert_int_equal(fleet_sealed_by(f->k, f->blob, f->blob_len), 1);
	/* The key id is the start of the key's fingerprint, and it is in the blob. */
	fleet_key_id_hex(f->k, hex);
	assert_int_equal(strlen(hex), 2 * FLEET_KEY_ID_LEN);
	assert_int_equal(strncmp(hex, secret_key_id(f->k), 2 * FLEET_KEY_ID_LEN), 0);
}

static void
test_seal_is_fresh_each_time(void **state)
{
	struct fixture *f = *state;
	unsigned char again[FLEET_SEAL_MAX];
	struct idg_err err;
	size_t n;

	assert_int_equal(fleet_seal(f->k, ALICE, f->plain, sizeof(f->plain), again, &n, &err), 0);
	assert_int_equal(n, f->blob_len);
	assert_memory_equal(again, f->blob, 1 + FLEET_KEY_ID_LEN);
	assert_memory_not_equal(again + 1 + FLEET_KEY_ID_LEN, f->blob + 1 + FLEET_KEY_ID_LEN,
				n - 1 - FLEET_KEY_ID_LEN);
}

static void
test_open_under_another_fleet_key_names_both_ids(void **state)
{
	struct fixture *f = *state;
	char mine[2 * FLEET_KEY_ID_LEN + 1], theirs[2 * FLEET_KEY_ID_LEN + 1];
	struct idg_err err;

	fleet_key_id_hex(f->k, mine);
	fleet_key_id_hex(f->other, theirs);
	assert_string_not_equal(mine, theirs);
	assert_int_equal(fleet_sealed_by(f->other, f->blob, f->blob_len), 0);
	assert_int_equal(open_as(f->other, ALICE, f->blob, f->blob_len, &err), -1);
	assert_non_null(strstr(err.msg, mine));
	assert_non_null(strstr(err.msg, theirs));
	assert_non_null(strstr(err.msg, "idgov fleet join"));
}

static void
test_open_for_another_person_fails(void **state)
{
	struct fixture *f = *state;
	struct idg_err err;

	assert_int_equal(open_as(f->k, BOB, f->blob, f->blob_len, &err), -1);
	assert_non_null(strstr(err.msg, "another person's entry"));
}

static void
test_uuid_case_does_not_matter_but_its_shape_does(void **state)
{
	struct fixture *f = *state;
	unsigned char blob[FLEET_SEAL_MAX];
	struct idg_err err;
	size_t n;

	/* An entryUUID in upper case is the same person (the AD is lower-case text). */
	assert_int_equal(
		open_as(f->k, "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", f->blob, f->blob_len, &err),
		0);
	assert_int_equal(fleet_seal(f->k, "not-a-uuid", f->plain, 20, blob, &n, &err), -1);
	assert_int_equal(n, 0);
	assert_int_equal(fleet_seal(f->k, ALICE "0", f->plain, 20, blob, &n, &err), -1);
	assert_int_equal(fleet_seal(f->k, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg", f->plain, 20,
				    blob, &n, &err),
			 -1);
	assert_int_equal(fleet_seal(f->k, "0f1e2d3c-4b5a-6978-8796+a5b4c3d2e1f0", f->plain, 20,
				    blob, &n, &err),
			 -1);
	assert_int_equal(open_as(f->k, "", f->blob, f->blob_len, &err), -1);
}

static void
test_every_flipped_byte_is_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char copy[FLEET_SEAL_MAX];
	struct idg_err err;

	for (size_t i = 0; i < f->blob_len; i++) {
		memcpy(copy, f->blob, f->blob_len);
		copy[i] ^= 0x01;
		assert_int_equal(open_as(f->k, ALICE, copy, f->blob_len, &err), -1);
	}
}

static void
test_truncated_or_lengthened_blobs_are_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char copy[FLEET_SEAL_MAX + 1];
	struct idg_err err;

	for (size_t len = 0; len < f->blob_len; len++) {
		assert_int_equal(open_as(f->k, ALICE, f->blob, len, &err), -1);
		if (len <= FLEET_SEAL_OVERHEAD) {
			assert_non_null(strstr(err.msg, "malformed"));
			assert_int_equal(fleet_sealed_by(f->k, f->blob, len), -1);
		}
	}
	memcpy(copy, f->blob, f->blob_len);
	copy[f->blob_len] = 0;
	assert_int_equal(open_as(f->k, ALICE, copy, f->blob_len + 1, &err), -1);
	assert_int_equal(open_as(f->k, ALICE, copy, FLEET_SEAL_MAX + 1, &err), -1);
	assert_non_null(strstr(err.msg, "malformed"));
}

static void
test_unknown_version_is_malformed_not_forged(void **state)
{
	struct fixture *f = *state;
	unsigned char copy[FLEET_SEAL_MAX];
	struct idg_err err;

	memcpy(copy, f->blob, f->blob_len);
	copy[0] = FLEET_SEAL_VERSION + 1;
	assert_int_equal(fleet_sealed_by(f->k, copy, f->blob_len), -1);
	assert_int_equal(open_as(f->k, ALICE, copy, f->blob_len, &err), -1);
	assert_non_null(strstr(err.msg, "malformed (version 2"));
	copy[0] = 0;
	assert_int_equal(open_as(f->k, ALICE, copy, f->blob_len, &err), -1);
}

static void
test_relabelled_key_id_does_not_open(void **state)
{
	struct fixture *f = *state;
	unsigned char copy[FLEET_SEAL_MAX], theirs[FLEET_SEAL_MAX];
	struct idg_err err;
	size_t n;

	/* A value under the other key, relabelled with ours: the AD holds the label. */
	assert_int_equal(fleet_seal(f->other, ALICE, f->plain, 20, theirs, &n, &err), 0);
	memcpy(copy, theirs, n);
	memcpy(copy + 1, f->blob + 1, FLEET_KEY_ID_LEN);
	assert_int_equal(fleet_sealed_by(f->k, copy, n), 1);
	assert_int_equal(open_as(f->k, ALICE, copy, n, &err), -1);
	assert_int_equal(open_as(f->other, ALICE, copy, n, &err), -1);
}

static void
test_sizes_out_of_range_are_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char big[FLEET_SEAL_MAX_PLAIN + 1] = {0}, blob[FLEET_SEAL_MAX], small[19];
	struct idg_err err;
	size_t n;

	assert_int_equal(fleet_seal(f->k, ALICE, big, 0, blob, &n, &err), -1);
	assert_int_equal(fleet_seal(f->k, ALICE, big, sizeof(big), blob, &n, &err), -1);
	assert_int_equal(fleet_seal(f->k, ALICE, big, FLEET_SEAL_MAX_PLAIN, blob, &n, &err), 0);
	assert_int_equal(n, FLEET_SEAL_MAX);
	assert_int_equal(open_as(f->k, ALICE, blob, n, &err), 0);
	/* Room for less than the secret: refused, nothing written past it. */
	assert_int_equal(
		fleet_open(f->k, ALICE, f->blob, f->blob_len, small, sizeof(small), &n, &err), -1);
	assert_non_null(strstr(err.msg, "longer"));
}

static void
test_key_file_missing_says_where_to_get_it(void **state)
{
	struct fixture *f = *state;
	struct secret_key *k = f->other; /* not NULL: the call must clear it */
	struct idg_err err;

	assert_int_equal(unlink(f->env.cfg->fleet_key_file), 0);
	assert_int_equal(fleet_key_load(f->env.cfg, &k, &err), -1);
	assert_null(k);
	assert_non_null(
		strstr(err.msg, "is missing: copy it from the governor (idgov fleet join)"));
	assert_non_null(strstr(err.msg, f->env.cfg->fleet_key_file));
}

static void
test_key_file_readable_by_others_is_refused(void **state)
{
	struct fixture *f = *state;
	struct secret_key *k = NULL;
	struct idg_err err;

	assert_int_equal(chmod(f->env.cfg->fleet_key_file, 0440), 0);
	assert_int_equal(fleet_key_load(f->env.cfg, &k, &err), -1);
	assert_null(k);
	assert_non_null(strstr(err.msg, "refusing key"));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_seal_then_open_gives_the_secret_back),
		T(test_seal_is_fresh_each_time),
		T(test_open_under_another_fleet_key_names_both_ids),
		T(test_open_for_another_person_fails),
		T(test_uuid_case_does_not_matter_but_its_shape_does),
		T(test_every_flipped_byte_is_refused),
		T(test_truncated_or_lengthened_blobs_are_refused),
		T(test_unknown_version_is_malformed_not_forged),
		T(test_relabelled_key_id_does_not_open),
		T(test_sizes_out_of_range_are_refused),
		T(test_key_file_missing_says_where_to_get_it),
		T(test_key_file_readable_by_others_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
