/*
 * idgovd(8): mirrors the directory into the store (RFC 4533
 * refreshAndPersist, or paged polling where the server has no syncprov)
 * and answers the idgov CLI on the control socket.
 */
#include "config.h"
#include "daemon.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] = "usage: idgovd [-f] [-c FILE] [-p PIDFILE]\n"
			    "  -f, --foreground    stay in the foreground and log to stderr too\n"
			    "  -c, --config FILE   configuration (default " CFG_DEFAULT_PATH ")\n"
			    "  -p, --pidfile FILE  write the daemon's pid to FILE\n"
			    "  -h, --help          this help\n"
			    "Signals: SIGHUP reloads the configuration, SIGTERM stops cleanly.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"config", required_argument, NULL, 'c'},
		{"pidfile", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_opts opts = {.config_path = CFG_DEFAULT_PATH};
	int ch;

	while ((ch = getopt_long(argc, argv, "fc:p:h", longopts, NULL)) != -1) {
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
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	return daemon_run(&opts);
}
