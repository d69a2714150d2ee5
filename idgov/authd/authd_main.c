/*
 * idgov-authd(8): the auth service. main() reads the options and the
 * configuration (a broken file stops the start with its file:line
 * reason), takes the socket and runs the loop in serve.c.
 */
#include "authd.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "usage: idgov-authd [-f] [-c FILE] [-p PIDFILE] | --version\n"
			    "  -f, --foreground    log to stderr too\n"
			    "  -c, --config FILE   configuration (default " CFG_DEFAULT_PATH ")\n"
			    "  -p, --pidfile FILE  write the pid to FILE once the socket listens\n"
			    "  -h, --help          this help\n"
			    "  -V, --version       the version\n"
			    "Signals: SIGHUP rereads the configuration, SIGTERM stops.\n";

static int
write_pid(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
		fprintf(stderr, "idgov-authd: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},    {"config", required_argument, NULL, 'c'},
		{"pidfile", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	struct authd d = {.config_path = CFG_DEFAULT_PATH, .listen_fd = -1};
	static char config_buf[PATH_MAX];
	const char *pid_file = NULL;
	struct idg_err err;
	int ch, rc = 1;

	store_library_init();
	while ((ch = getopt_long(argc, argv, "fc:p:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			d.foreground = 1;
			break;
		case 'c':
			d.config_path = optarg;
			break;
		case 'p':
			pid_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("idgov-authd " IDGOV_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (d.config_path[0] != '/') {
		if (realpath(d.config_path, config_buf) == NULL) {
			fprintf(stderr, "idgov-authd: %s: %s\n", d.config_path, strerror(errno));
			return 1;
		}
		d.config_path = config_buf;
	}
	if (sodium_init() < 0) {
		fputs("idgov-authd: libsodium failed to initialise\n", stderr);
		return 1;
	}
	if (cfg_load(d.config_path, &d.cfg, &err) != 0) {
		fprintf(stderr, "idgov-authd: not started: %s\n", err.msg);
		return 1;
	}
	log_open(&d.log, "idgov-authd", d.cfg->log_socket, d.foreground);
	if (d.cfg->pam_break_glass[0] != '\0')
		log_msg(&d.log, LOG_WARNING,
			"[pam] break_glass is no longer used: a break-glass login needs a code "
			"(idgov breakglass codes USER, and pam_idgov.so breakglass=FILE)");
	if (authd_listen(&d, d.cfg->authd_socket, &err) != 0) {
		log_msg(&d.log, LOG_ERR, "not started: %s", err.msg);
		if (!d.foreground)
			fprintf(stderr, "idgov-authd: not started: %s\n", err.msg);
		goto out;
	}
	if (pid_file != NULL && write_pid(pid_file) != 0)
		goto out;
	log_msg(&d.log, LOG_INFO, "serving %s",
		d.own_socket ? d.own_socket : "the socket from systemd");
	rc = authd_serve(&d) == 0 ? 0 : 1;
out:
	if (d.own_socket != NULL)
		unlink(d.own_socket);
	if (pid_file != NULL)
		unlink(pid_file);
	free(d.own_socket);
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	log_close(&d.log);
	cfg_free(d.cfg);
	return rc;
}
