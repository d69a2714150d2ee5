/* Unit tests for syslog lines: facility, identity, and no forged lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "testutil.h"

static void
test_line_uses_authpriv_and_names_the_program(void **state)
{
	char path[] = "/tmp/idgov-test-log-XXXXXX", sock[64], buf[2048], want[64];
	struct logger lg;
	ssize_t n;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/log", path);
	fd = test_listen_dgram(sock);
	log_open(&lg, "idgov-test", sock, 0);
	log_msg(&lg, LOG_WARNING, "refused %s", "sync\nforged: line");
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "<%d>", LOG_AUTHPRIV | LOG_WARNING);
	assert_memory_equal(buf, want, strlen(want));
	snprintf(want, sizeof(want), "idgov-test[%ld]: refused sync forged: line", (long)getpid());
	assert_non_null(strstr(buf, want));
	assert_null(strchr(buf, '\n'));
	log_close(&lg);
	close(fd);
	unlink(sock);
	rmdir(path);
}

static void
test_missing_socket_and_null_logger_are_harmless(void **state)
{
	struct logger lg;

	(void)state;
	log_open(&lg, "x", "/nonexistent/dir/log", 0);
	log_msg(&lg, LOG_ERR, "nobody listens");
	log_close(&lg);
	log_msg(NULL, LOG_ERR, "no logger");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_uses_authpriv_and_names_the_program),
		cmocka_unit_test(test_missing_socket_and_null_logger_are_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
