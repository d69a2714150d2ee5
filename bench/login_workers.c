/*
 * bench helper: concurrent TOTP logins through the real libpam. It forks
 * WORKERS processes (as that many sshd children would be); worker i logs
 * in users i, i + WORKERS, i + 2 * WORKERS, ... of USERS-FILE one after
 * another, each as one pam_authenticate() + pam_acct_mgmt() transaction
 * (pam_start_confdir: no root, no /etc) answered with a fresh TOTP code
 * computed at that moment. Each user logs in once, so replay protection
 * never turns a valid code away.
 *
 *   login_workers CONFDIR SERVICE USERS-FILE WORKERS [PACE-MS]
 *
 * USERS-FILE lines are "uid base32-secret". With PACE-MS, a worker starts
 * its logins that many milliseconds apart (when a login takes longer, the
 * next starts at once), so that the logins spread over a known stretch of
 * time instead of bunching at its start. Prints one line per login,
 * "uid pam-code microseconds end-unix-ms", in the order they end (each
 * line is one write(2) of less than PIPE_BUF bytes, so the workers' lines
 * never mix). Exits 0 when every worker ran.
 */
#include <liboath/oath.h>
#include "pam_answer.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_USERS 100000

struct user {
	char uid[64];
	char b32[64];
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long long
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_us(double us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = (time_t)(us / 1e6);
	ts.tv_nsec = (long)((us - (double)ts.tv_sec * 1e6) * 1e3);
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One login: 0 when it ran (rc says how it ended), -1 when the secret is unusable. */
static int
login(const char *confdir, const char *service, const struct user *u, int *rc, double *us)
{
	struct pam_conv c = {pam_answer_conv, NULL};
	pam_handle_t *h = NULL;
	char code[16], *secret;
	size_t len;
	double start;

	if (oath_base32_decode(u->b32, strlen(u->b32), &secret, &len) != OATH_OK)
		return -1;
	start = now_us();
	oath_totp_generate(secret, len, time(NULL), 30, 0, 6, code);
	free(secret);
	pam_answer = code;
	*rc = pam_start_confdir(service, u->uid, &c, confdir, &h);
	if (*rc == PAM_SUCCESS)
		*rc = pam_authenticate(h, PAM_SILENT);
	if (*rc == PAM_SUCCESS)
		*rc = pam_acct_mgmt(h, PAM_SILENT);
	pam_end(h, *rc);
	pam_answer = NULL; /* code is this call's: never left behind */
	*us = now_us() - start;
	return 0;
}

static int
worker(const char *confdir, const char *service, const struct user *users, int n, int first,
       int step, double pace_us)
{
	double next = now_us();

	for (int i = first; i < n; i += step) {
		char line[160];
		double us;
		int rc, len;

		sleep_us(next - now_us());
		next += pace_us;
		if (login(confdir, service, &users[i], &rc, &us) != 0)
			return 2;
		len = snprintf(line, sizeof(line), "%s %d %.0f %lld\n", users[i].uid, rc, us,
			       unix_ms());
		if (len < 0 || (size_t)len >= sizeof(line) || write(1, line, (size_t)len) != len)
			return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct user *users;
	int n = 0, workers, failed = 0;
	double pace_us = 0;
	FILE *f;

	if ((argc != 5 && argc != 6) || (workers = atoi(argv[4])) < 1 || workers > 1000 ||
	    (argc == 6 && (pace_us = atof(argv[5]) * 1000) < 0) ||
	    (f = fopen(argv[3], "r")) == NULL || oath_init() != OATH_OK) {
		fprintf(stderr,
			"usage: login_workers CONFDIR SERVICE USERS-FILE WORKERS [PACE-MS]\n");
		return 2;
	}
	if ((users = calloc(MAX_USERS, sizeof(*users))) == NULL) {
		fclose(f);
		return 2;
	}
	while (n < MAX_USERS && fscanf(f, "%63s %63s", users[n].uid, users[n].b32) == 2)
		n++;
	fclose(f);
	fflush(stdout);
	for (int w = 0; w < workers; w++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			failed = 1;
			break;
		}
		if (pid == 0)
			_exit(worker(argv[1], argv[2], users, n, w, workers, pace_us));
	}
	for (;;) {
		int status;

		if (wait(&status) < 0)
			break;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	free(users);
	oath_done();
	return failed ? 1 : 0;
}
