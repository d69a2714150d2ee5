/*
 * idgovd(8): mirrors the directory into the store (RFC 4533
 * refreshAndPersist, or paged polling where the server has no syncprov)
 * and answers the idgov CLI on the control socket.
 */
#include "config.h"
#include "daemon.h"
#include "store.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "usage: idgovd [-f] [-c FILE] [-p PIDFILE] | --version\n"
			    "  -f, --foreground    stay in the foreground and log to stderr too\n"
			    "  -c, --config FILE   configuration (default " CFG_DEFAULT_PATH ")\n"
			    "  -p, --pidfile FILE  write the daemon's pid to FILE\n"
			    "  -h, --help          this help\n"
			    "  -V, --version       the version\n"
			    "Signals: SIGHUP reloads the configuration, SIGTERM stops cleanly.\n";

/*
 * The daemon moves to / and rereads its configuration on SIGHUP: a path
 * given relative to where it started is made absolute first. Symlinks are
 * kept, not resolved, so that safepath checks the link's directories too.
 */
static const char *
absolute(const char *path, char buf[PATH_MAX])
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return path;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (size_t)snprintf(buf, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX) {
		fprintf(stderr, "idgovd: cannot make %s an absolute path\n", path);
		return NULL;
	}
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},    {"config", required_argument, NULL, 'c'},
		{"pidfile", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	struct daemon_opts opts = {.config_path = CFG_DEFAULT_PATH};
	static char config_buf[PATH_MAX], pid_buf[PATH_MAX];
	int ch;

	store_library_init();
	while ((ch = getopt_long(argc, argv, "fc:p:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			opts.foreground = 1;
			break;
		case 'c':
			opts.config_path = optarg;
			break;
		case 'p':
			opts.pid_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("idgovd " IDGOV_VERSION);
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
	if ((opts.config_path = absolute(opts.config_path, config_buf)) == NULL ||
	    (opts.pid_file != NULL && (opts.pid_file = absolute(opts.pid_file, pid_buf)) == NULL))
		return 1;
	return daemon_run(&opts);
}
