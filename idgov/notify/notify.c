/* Notifications through the configured command; see notify.h. */
#define _GNU_SOURCE
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ARGS 16

/* Splits the command on spaces into argv (pointers into buf). */
static int
split_command(const char *command, char *buf, size_t size, char *argv[MAX_ARGS + 1])
{
	int n = 0;

	if (idg_strlcpy(buf, command, size) >= size)
		return -1;
	for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_ARGS)
			return -1;
		argv[n++] = w;
	}
	argv[n] = NULL;
	return n > 0 && argv[0][0] == '/' ? 0 : -1;
}

static int
spawn(char *const argv[], int in_fd, pid_t *pid)
{
	static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	posix_spawn_file_actions_t fa;
	int rc;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return ENOMEM;
	rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rc == 0)
		rc = posix_spawn(pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int
notify_send(const struct cfg *cfg, struct logger *log, const char *event, const char *to,
	    const char *subject, const char *body)
{
	char buf[1024], *argv[MAX_ARGS + 1], *msg = NULL;
	int sv[2], rc, len;
	pid_t pid;

	if (cfg->notify_command[0] == '\0' || to == NULL || to[0] == '\0')
		return 0;
	if (split_command(cfg->notify_command, buf, sizeof(buf), argv) != 0) {
		log_msg(log, LOG_ERR, "notify: command must start with an absolute path: %s",
			cfg->notify_command);
		return -1;
	}
	len = asprintf(&msg, "To: %s\nSubject: [idgov] %s\nX-Idgov-Event: %s\n\n%s\n", to, subject,
		       event, body);
	if (len < 0)
		return -1;
	/* A socket, not a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE in the daemon. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		free(msg);
		return -1;
	}
	rc = spawn(argv, sv[1], &pid);
	close(sv[1]);
	if (rc == 0 && send(sv[0], msg, (size_t)len, MSG_NOSIGNAL) != len)
		log_msg(log, LOG_WARNING, "notify: %s did not take the whole message", argv[0]);
	close(sv[0]);
	free(msg);
	if (rc != 0) {
		log_msg(log, LOG_ERR, "notify: cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	log_msg(log, LOG_INFO, "notify: %s sent to %s (%s)", event, to, subject);
	return 0;
}
