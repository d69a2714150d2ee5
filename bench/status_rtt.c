/*
 * status_rtt SOCKET N: asks idgovd for its status N times, one request per
 * connection as idgov does, and prints for each the time from connect to
 * the whole reply in milliseconds, then "refresh" when the reply says a
 * refresh was running. What the daemon costs, without the time a shell
 * takes to start idgov and jq (bench/refresh-status prints both).
 */
#include "bench_stats.h"
#include "client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	struct idg_err err;
	int n, unavailable, running;

	if (argc != 3 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: status_rtt SOCKET N\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		double t = bench_now_ms();
		char *reply = NULL;
		json_t *r;

		if (client_call(argv[1], "root", "{\"v\":1,\"op\":\"status\"}", &reply,
				&unavailable, &err) != 0) {
			fprintf(stderr, "status_rtt: %s\n", err.msg);
			return 1;
		}
		t = bench_now_ms() - t;
		r = json_loads(reply, 0, NULL);
		running = 0;
		(void)json_unpack(r, "{s:{s:{s:{s:b}}}}", "result", "daemon", "refresh", "running",
				  &running);
		printf("%.2f%s\n", t, running ? " refresh" : "");
		json_decref(r);
		free(reply);
	}
	return 0;
}
