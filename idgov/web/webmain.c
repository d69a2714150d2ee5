/*
 * idgov-web(8): the HTTPS pages where managers review access and people
 * sign in, enrol and decide. It holds its TLS key and nothing else: no
 * store, no MFA or audit key, no directory password. Everything it shows
 * or does goes through idgovd's control socket, as the frontend
 * ([web] user) for sign-in and on behalf of a signed-in person after.
 *
 * It refuses to run as root: run it as its own user (the systemd unit
 * does), which must be [web] user in idgovd's configuration.
 */
#include "web.h"

#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SESSIONS 4096

static void
usage(FILE *f)
{
	fprintf(f, "usage: idgov-web [-c CONFIG] [-V]\n"
		   "  -c, --config FILE  configuration (default " CFG_DEFAULT_PATH ")\n"
		   "  -V, --version      print the version\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
						 {"version", no_argument, NULL, 'V'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	const char *config = CFG_DEFAULT_PATH;
	struct web_server *server = NULL;
	struct web_app app = {0};
	struct logger log;
	struct idg_err err;
	struct cfg *cfg = NULL;
	sigset_t set;
	int ch, sig = 0;

	jarena_install(); /* before any jansson value exists */
	while ((ch = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'V':
			printf("idgov-web %s\n", IDGOV_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (geteuid() == 0) {
		fprintf(stderr, "idgov-web: refusing to run as root; run it as its own user, the "
				"one idgovd knows as [web] user\n");
		return 1;
	}
	if (sodium_init() < 0 || cfg_load(config, &cfg, &err) != 0) {
		fprintf(stderr, "idgov-web: %s\n", cfg == NULL ? err.msg : "libsodium failed");
		return 1;
	}
	/*
	 * A page is built in buffers of 64 to 256 KiB, and idgovd's reply is as large. Above
	 * glibc's default threshold each was a fresh mmap and every page of it a page fault, and
	 * a freed heap top was given back only to fault in again: keep such buffers in the heap
	 * and reuse them (a few MiB at most per thread).
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	log_open(&log, "idgov-web", cfg->log_socket, isatty(STDERR_FILENO));
	app.cfg = cfg;
	app.log = &log;
	app.ctl.socket = cfg->socket_path;
	app.ctl.daemon_user = cfg->daemon_user;
	app.ctl.timeout_ms = (int)cfg->web_idgovd_timeout * 1000;
	app.ctl.log = &log;
	app.sessions = wsess_table_new(MAX_SESSIONS, cfg->web_session_idle, cfg->web_session_max);
	/* Signals are taken by sigwait() below, never by libmicrohttpd's threads. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (app.sessions == NULL || web_start(&app, &server, &err) != 0) {
		log_msg(&log, LOG_ERR, "%s", app.sessions == NULL ? "out of memory" : err.msg);
		fprintf(stderr, "idgov-web: %s\n",
			app.sessions == NULL ? "out of memory" : err.msg);
		wsess_table_free(app.sessions);
		cfg_free(cfg);
		return 1;
	}
	log_msg(&log, LOG_NOTICE, "serving HTTPS on %s port %d", cfg->web_listen, cfg->web_port);
	/* Each page thread may hold one connection to idgovd; idgovd refuses more than this. */
	if (cfg->web_threads > cfg->max_clients_per_uid)
		log_msg(&log, LOG_WARNING,
			"[web] threads = %d is more than [control] max_clients_per_uid = %d: "
			"idgovd will refuse the calls above %d at once (pages saying the service "
			"is unavailable)",
			cfg->web_threads, cfg->max_clients_per_uid, cfg->max_clients_per_uid);
	for (;;) {
		if (sigwait(&set, &sig) != 0 || sig != SIGHUP)
			break;
		/* Nothing is reloaded: a new certificate or setting needs a restart. */
		log_msg(&log, LOG_NOTICE, "SIGHUP ignored: restart idgov-web to apply changes");
	}
	log_msg(&log, LOG_NOTICE, "stopping (signal %d)", sig);
	web_stop(server);
	wsess_table_free(app.sessions);
	log_close(&log);
	cfg_free(cfg);
	return 0;
}
