/*
 * Test helper: control clients that misbehave on purpose, for
 * test_control_limits.sh.
 *
 *   sockabuse slowread SOCKET SECONDS < request
 *	Sends the request line, then reads the reply 4 KiB at a time, 100 ms
 *	apart, like a client that drains a large reply very slowly. Prints
 *	"complete N" when the whole reply (up to its newline) arrived,
 *	"dropped N" when the server closed the connection before that, and
 *	"gave-up N" when SECONDS passed first; N is the bytes read.
 *
 *   sockabuse flood SOCKET N SECONDS
 *	Opens N connections and sends nothing on them. Once no connection
 *	has been answered for a second, prints "initial refused=R silent=S
 *	open=O": R got an "unavailable" error reply, S were closed without
 *	an "unavailable" reply, O are still open. Then, until SECONDS have
 *	passed since the start, keeps N connections open by replacing every
 *	one the server answers or closes, and finally prints "total
 *	refused=R silent=S connects=C".
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOOD 1000

static struct sockaddr_un sun = {.sun_family = AF_UNIX};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dial(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
slowread(double seconds)
{
	char buf[65536];
	double end = now() + seconds;
	size_t got = 0;
	ssize_t n;
	int fd = dial();

	if (fd < 0) {
		perror("connect");
		return 1;
	}
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	shutdown(fd, SHUT_WR);
	while (now() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec pause = {0, 100 * 1000 * 1000};

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf, 4096);
		if (n <= 0) {
			printf("dropped %zu\n", got);
			return 0;
		}
		got += (size_t)n;
		if (memchr(buf, '\n', (size_t)n) != NULL) {
			printf("complete %zu\n", got);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	printf("gave-up %zu\n", got);
	return 0;
}

/* Reads what the server sent on fd and closes it: 1 for an "unavailable" reply, 0 otherwise. */
static int
answered(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "\"code\":\"unavailable\"") != NULL;
}

static int
flood(int n, double seconds)
{
	static struct pollfd p[MAX_FLOOD];
	double end = now() + seconds, next_dial = 0;
	long refused = 0, silent = 0, connects = 0;
	int open = 0, initial = 1;

	if (n < 1 || n > MAX_FLOOD)
		return fprintf(stderr, "sockabuse: 1 to %d connections\n", MAX_FLOOD), 2;
	for (int i = 0; i < n; i++) {
		p[i] = (struct pollfd){.fd = dial(), .events = POLLIN};
		connects += p[i].fd >= 0;
	}
	while (now() < end) {
		int ready = poll(p, (nfds_t)n, initial ? 1000 : 20), redial = 0;

		if (ready == 0 && initial) {
			open = 0;
			for (int i = 0; i < n; i++)
				open += p[i].fd >= 0;
			printf("initial refused=%ld silent=%ld open=%d\n", refused, silent, open);
			fflush(stdout);
			initial = 0;
		}
		/* Replace closed connections every 50 ms: a steady flood, not a busy loop. */
		if (!initial && now() >= next_dial) {
			redial = 1;
			next_dial = now() + 0.05;
		}
		for (int i = 0; i < n; i++) {
			if (p[i].fd >= 0 && p[i].revents != 0) {
				if (answered(p[i].fd))
					refused++;
				else
					silent++;
				p[i].fd = -1;
			}
			p[i].revents = 0;
			if (p[i].fd < 0 && redial) {
				p[i].fd = dial();
				connects += p[i].fd >= 0;
			}
		}
	}
	if (initial)
		printf("initial refused=%ld silent=%ld open=?\n", refused, silent);
	printf("total refused=%ld silent=%ld connects=%ld\n", refused, silent, connects);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 4 || strlen(argv[2]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: sockabuse slowread SOCKET SECONDS < request\n"
				"       sockabuse flood SOCKET N SECONDS\n");
		return 2;
	}
	strcpy(sun.sun_path, argv[2]);
	if (strcmp(argv[1], "slowread") == 0)
		return slowread(atof(argv[3]));
	if (strcmp(argv[1], "flood") == 0 && argc == 5)
		return flood(atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "sockabuse: unknown mode %s\n", argv[1]);
	return 2;
}
