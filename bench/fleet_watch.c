/*
 * fleet_watch: how long one directory change takes to reach the stores of
 * many idgovd agents (bench/fleet runs it; see bench/README.md).
 *
 *   fleet_watch ROUNDS WRITE_URI READ_URI BIND_DN PASSWORD_FILE USER_DN UID STATE_DIR...
 *
 * ROUNDS times: replaces the mail of USER_DN on WRITE_URI (one provider)
 * with a new value, then watches, from the moment before the modify is
 * sent, (a) READ_URI (the other provider) until it serves the value, and
 * (b) every STATE_DIR's idgov.db until its users row for UID holds it. The
 * stores are read when inotify says their directory changed (idgovd wrote
 * its WAL), and all of them every 50 ms besides, so that a missed event
 * costs at most that. One line per round, then the summary:
 *
 *   rtt_ms P50         a base search on READ_URI over an open connection
 *   write_ms P50       the modify on WRITE_URI, sent to answered
 *   replica_ms P50 P99 the change served by READ_URI
 *   store_ms P50 P99   the change in one store (every store, every round)
 *   all_ms P50 P99     the change in all the stores (the last one, each round)
 *
 * Exit 1 when a round timed out (30 s) before every store had the change.
 */
#include "bench_stats.h"

#include <errno.h>
#include <ldap.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define ROUND_TIMEOUT_MS 30000.0
#define RESCAN_MS 50.0
#define RTT_SAMPLES 200

struct store {
	sqlite3 *db;
	sqlite3_stmt *st;
	int wd;
	int dirty;
	double seen_ms; /* < 0 until the store holds the round's value */
};

static LDAP *
connect_bind(const char *uri, const char *dn, const char *pw)
{
	LDAP *ld = NULL;
	struct berval cred;
	int version = LDAP_VERSION3, rc;

	if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
		return NULL;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	cred.bv_val = (char *)(uintptr_t)pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, "fleet_watch: bind to %s: %s\n", uri, ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
}

/* 1 when USER_DN's mail on ld is value, 0 when not, -1 on an error. */
static int
directory_has(LDAP *ld, const char *dn, const char *value)
{
	char *attrs[] = {"mail", NULL};
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	int rc, found = 0;

	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			       NULL, 0, &res);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return -1;
	}
	e = ldap_first_entry(ld, res);
	if (e != NULL && (vals = ldap_get_values_len(ld, e, "mail")) != NULL) {
		found = vals[0] != NULL && vals[0]->bv_len == strlen(value) &&
			memcmp(vals[0]->bv_val, value, vals[0]->bv_len) == 0;
		ldap_value_free_len(vals);
	}
	ldap_msgfree(res);
	return found;
}

static int
store_has(struct store *s, const char *value)
{
	const unsigned char *mail;
	int found = 0;

	sqlite3_reset(s->st);
	if (sqlite3_step(s->st) == SQLITE_ROW) {
		mail = sqlite3_column_text(s->st, 0);
		found = mail != NULL && strcmp((const char *)mail, value) == 0;
	}
	sqlite3_reset(s->st);
	return found;
}

static int
read_password(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return 0;
}

int
main(int argc, char **argv)
{
	struct store *stores;
	double *store_ms, *all_ms, *replica_ms, *write_ms, rtt[RTT_SAMPLES];
	size_t nstore_ms = 0;
	char pw[256], value[128], evbuf[4096];
	LDAP *wld, *rld;
	int rounds, nstores, ino, timed_out = 0, status = 1;
	const char *user_dn, *uid;

	if (argc < 9 || (rounds = atoi(argv[1])) <= 0) {
		fprintf(stderr,
			"usage: fleet_watch ROUNDS WRITE_URI READ_URI BIND_DN PASSWORD_FILE "
			"USER_DN UID STATE_DIR...\n");
		return 2;
	}
	user_dn = argv[6];
	uid = argv[7];
	nstores = argc - 8;
	if (read_password(argv[5], pw, sizeof(pw)) != 0) {
		fprintf(stderr, "fleet_watch: %s: %s\n", argv[5], strerror(errno));
		return 1;
	}
	wld = connect_bind(argv[2], argv[4], pw);
	rld = connect_bind(argv[3], argv[4], pw);
	if (wld == NULL || rld == NULL)
		return 1;
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	stores = calloc((size_t)nstores, sizeof(*stores));
	store_ms = calloc((size_t)nstores * (size_t)rounds, sizeof(*store_ms));
	all_ms = calloc((size_t)rounds, sizeof(*all_ms));
	replica_ms = calloc((size_t)rounds, sizeof(*replica_ms));
	write_ms = calloc((size_t)rounds, sizeof(*write_ms));
	if (ino < 0 || stores == NULL || store_ms == NULL || all_ms == NULL || replica_ms == NULL ||
	    write_ms == NULL) {
		fprintf(stderr, "fleet_watch: out of memory or inotify: %s\n", strerror(errno));
		goto out;
	}
	for (int i = 0; i < nstores; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/idgov.db", argv[8 + i]);
		if (sqlite3_open_v2(path, &stores[i].db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(stores[i].db, "SELECT mail FROM users WHERE uid = ?1", -1,
				       &stores[i].st, NULL) != SQLITE_OK ||
		    sqlite3_bind_text(stores[i].st, 1, uid, -1, SQLITE_STATIC) != SQLITE_OK) {
			fprintf(stderr, "fleet_watch: %s: %s\n", path,
				sqlite3_errmsg(stores[i].db));
			goto out;
		}
		sqlite3_busy_timeout(stores[i].db, 100);
		stores[i].wd =
			inotify_add_watch(ino, argv[8 + i], IN_MODIFY | IN_CREATE | IN_MOVED_TO);
		if (stores[i].wd < 0) {
			fprintf(stderr, "fleet_watch: watch %s: %s\n", argv[8 + i],
				strerror(errno));
			goto out;
		}
	}

	/* The directory's own round trip, on a connection already open. */
	for (int k = 0; k < RTT_SAMPLES; k++) {
		double t = bench_now_ms();

		if (directory_has(rld, user_dn, "") < 0) {
			fprintf(stderr, "fleet_watch: cannot read %s\n", user_dn);
			goto out;
		}
		rtt[k] = bench_now_ms() - t;
	}

	for (int r = 0; r < rounds; r++) {
		LDAPMod mod, *mods[2] = {&mod, NULL};
		char *vals[2] = {value, NULL};
		double t0, last_scan, round_max = 0;
		int left = nstores, replica_seen = 0, rc;

		snprintf(value, sizeof(value), "fleet-%d-%ld@example.com", r, (long)getpid());
		mod.mod_op = LDAP_MOD_REPLACE;
		mod.mod_type = (char *)(uintptr_t) "mail";
		mod.mod_values = vals;
		for (int i = 0; i < nstores; i++) {
			stores[i].seen_ms = -1;
			stores[i].dirty = 0;
		}
		while (read(ino, evbuf, sizeof(evbuf)) > 0)
			;
		t0 = bench_now_ms();
		rc = ldap_modify_ext_s(wld, user_dn, mods, NULL, NULL);
		write_ms[r] = bench_now_ms() - t0;
		if (rc != LDAP_SUCCESS) {
			fprintf(stderr, "fleet_watch: modify %s: %s\n", user_dn,
				ldap_err2string(rc));
			goto out;
		}
		last_scan = t0;
		while (left > 0 || !replica_seen) {
			struct pollfd pfd = {.fd = ino, .events = POLLIN};
			double t = bench_now_ms();
			ssize_t n;

			if (t - t0 > ROUND_TIMEOUT_MS)
				break;
			poll(&pfd, 1, replica_seen ? (int)RESCAN_MS : 1);
			while ((n = read(ino, evbuf, sizeof(evbuf))) > 0) {
				for (char *p = evbuf; p < evbuf + n;) {
					const struct inotify_event *ev = (const void *)p;

					for (int i = 0; i < nstores; i++)
						if (stores[i].wd == ev->wd)
							stores[i].dirty = 1;
					p += sizeof(*ev) + ev->len;
				}
			}
			t = bench_now_ms();
			if (t - last_scan >= RESCAN_MS) {
				for (int i = 0; i < nstores; i++)
					stores[i].dirty = 1;
				last_scan = t;
			}
			for (int i = 0; i < nstores; i++) {
				if (stores[i].seen_ms >= 0 || !stores[i].dirty)
					continue;
				stores[i].dirty = 0;
				if (store_has(&stores[i], value)) {
					stores[i].seen_ms = bench_now_ms() - t0;
					store_ms[nstore_ms++] = stores[i].seen_ms;
					if (stores[i].seen_ms > round_max)
						round_max = stores[i].seen_ms;
					left--;
				}
			}
			if (!replica_seen && directory_has(rld, user_dn, value) == 1) {
				replica_ms[r] = bench_now_ms() - t0;
				replica_seen = 1;
			}
		}
		if (left > 0 || !replica_seen) {
			printf("round %d: timed out: %d of %d stores%s\n", r + 1, nstores - left,
			       nstores, replica_seen ? "" : ", the other provider never served it");
			timed_out = 1;
			break;
		}
		all_ms[r] = round_max;
		printf("round %d: modify %.1f ms; other provider %.1f ms; all %d stores %.1f ms\n",
		       r + 1, write_ms[r], replica_ms[r], nstores, round_max);
		fflush(stdout);
		usleep(200000);
	}
	if (timed_out)
		goto out;
	printf("rtt_ms %.3f\n", bench_quantile(rtt, RTT_SAMPLES, 0.5));
	printf("write_ms %.3f\n", bench_quantile(write_ms, (size_t)rounds, 0.5));
	printf("replica_ms %.3f %.3f\n", bench_quantile(replica_ms, (size_t)rounds, 0.5),
	       bench_quantile(replica_ms, (size_t)rounds, 0.99));
	printf("store_ms %.3f %.3f\n", bench_quantile(store_ms, nstore_ms, 0.5),
	       bench_quantile(store_ms, nstore_ms, 0.99));
	printf("all_ms %.3f %.3f\n", bench_quantile(all_ms, (size_t)rounds, 0.5),
	       bench_quantile(all_ms, (size_t)rounds, 0.99));
	status = 0;
out:
	for (int i = 0; stores != NULL && i < nstores; i++) {
		sqlite3_finalize(stores[i].st);
		sqlite3_close(stores[i].db);
	}
	ldap_unbind_ext_s(wld, NULL, NULL);
	ldap_unbind_ext_s(rld, NULL, NULL);
	if (ino >= 0)
		close(ino);
	free(stores);
	free(store_ms);
	free(all_ms);
	free(replica_ms);
	free(write_ms);
	return status;
}
