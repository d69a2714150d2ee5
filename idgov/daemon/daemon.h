/*
 * idgovd's event loop: one process, one poll() over the signal descriptor,
 * the control socket and its clients, a timer, and the directory's
 * persistent sync connection.
 */
#ifndef IDGOV_DAEMON_H
#define IDGOV_DAEMON_H

struct daemon_opts {
	const char *config_path;
	const char *pid_file; /* NULL: none */
	int foreground;
};

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int daemon_run(const struct daemon_opts *opts);

#endif
