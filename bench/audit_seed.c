/*
 * bench helper: appends COUNT audit records to an idgov store through the
 * real audit chain (audit.c: hashed, signed every [store]
 * audit_sign_every records and at the end of each transaction of 10,000,
 * the anchor raised), so that a benchmark has a chain of the size a
 * long-lived host accumulates and `backup verify` checks it as it would
 * a real one. Not installed; benchmarks only.
 *
 *   audit_seed CONFIG COUNT
 */
#include "audit.h"
#include "config.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	struct cfg *cfg = NULL;
	struct store *st = NULL;
	struct audit *a = NULL;
	struct idg_err err;
	long long count, done = 0;
	char subject[32], details[96];
	int rc = 1;

	if (argc != 3 || (count = atoll(argv[2])) <= 0) {
		fprintf(stderr, "usage: audit_seed CONFIG COUNT\n");
		return 2;
	}
	if (cfg_load(argv[1], &cfg, &err) != 0 ||
	    store_open(cfg->store_path, STORE_OPEN_EXISTING, &st, &err) != 0 ||
	    audit_open(st, cfg->audit_key_file, cfg->audit_anchor_file, cfg->audit_sign_every, NULL,
		       &a, &err) != 0)
		goto out;
	while (done < count) {
		if (store_begin(st, &err) != 0)
			goto out;
		for (int i = 0; i < 10000 && done < count; i++, done++) {
			snprintf(subject, sizeof(subject), "u%lld", done % 100000);
			snprintf(details, sizeof(details),
				 "{\"service\":\"sshd\",\"rhost\":\"10.0.%lld.%lld\"}",
				 (done / 256) % 256, done % 256);
			if (audit_append(a, subject, subject, "login.ok", details, &err) != 0) {
				store_rollback(st);
				goto out;
			}
		}
		if (audit_sign_head(a, &err) != 0 || store_commit(st, &err) != 0) {
			store_rollback(st);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "audit_seed: %s\n", err.msg);
	audit_close(a);
	store_close(st);
	cfg_free(cfg);
	return rc;
}
