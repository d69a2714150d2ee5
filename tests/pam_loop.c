/*
 * Test helper: runs N full PAM transactions (authenticate with a given
 * answer, account, open and close session) in one process through the
 * real libpam with pam_start_confdir(), the way a long-lived sshd would,
 * and fails if descriptors or memory grow, or if pam_idgov.so was mapped
 * again for a later handle (it is linked -z nodelete: loaded once, it
 * stays). Under the sanitizer build, LeakSanitizer also checks every
 * allocation at exit.
 *
 *   pam_loop CONFDIR USER N ANSWER
 */
#include <dirent.h>
#include "pam_answer.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	if (f != NULL)
		fclose(f);
	return kib;
}

/* Where pam_idgov.so's first mapping starts in this process, or 0 when it is not mapped. */
static unsigned long
module_base(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long base = 0;

	while (f != NULL && base == 0 && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/pam_idgov.so") != NULL)
			base = strtoul(line, NULL, 16);
	if (f != NULL)
		fclose(f);
	return base;
}

static int
transaction(const char *confdir, const char *user, int *auth_rc)
{
	struct pam_conv c = {pam_answer_conv, NULL};
	pam_handle_t *h = NULL;
	int rc = pam_start_confdir("idgov", user, &c, confdir, &h);

	if (rc != PAM_SUCCESS)
		return rc;
	*auth_rc = pam_authenticate(h, PAM_SILENT);
	rc = pam_acct_mgmt(h, PAM_SILENT);
	if (rc == PAM_SUCCESS)
		rc = pam_open_session(h, PAM_SILENT);
	if (rc == PAM_SUCCESS)
		rc = pam_close_session(h, PAM_SILENT);
	pam_end(h, rc);
	return rc;
}

int
main(int argc, char **argv)
{
	int n, fds0 = 0, fds1, auth_rc = -1;
	long rss0 = 0, rss1;
	unsigned long base0 = 0, base1;

	if (argc != 5 || (n = atoi(argv[3])) < 100) {
		fprintf(stderr, "usage: pam_loop CONFDIR USER N(>=100) ANSWER\n");
		return 2;
	}
	pam_answer = argv[4];
	for (int i = 0; i < n; i++) {
		int rc = transaction(argv[1], argv[2], &auth_rc);

		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "transaction %d: %s\n", i, pam_strerror(NULL, rc));
			return 1;
		}
		if (i == 99) { /* after warm-up: caches and the allocator have settled */
			fds0 = open_fds();
			rss0 = rss_kib();
			base0 = module_base();
		}
	}
	fds1 = open_fds();
	rss1 = rss_kib();
	base1 = module_base();
	printf("%d transactions (last authenticate: %s): descriptors %d -> %d, RSS %ld -> %ld "
	       "KiB, pam_idgov.so at %#lx -> %#lx after pam_end\n",
	       n, pam_strerror(NULL, auth_rc), fds0, fds1, rss0, rss1, base0, base1);
	if (fds1 != fds0) {
		fprintf(stderr, "descriptor leak\n");
		return 1;
	}
	if (base0 == 0 || base1 != base0) {
		fprintf(stderr, "pam_idgov.so was unloaded after pam_end or mapped again "
				"(not linked -z nodelete?)\n");
		return 1;
	}
#ifndef __SANITIZE_ADDRESS__
	/* ASan keeps freed memory in quarantine, so RSS says nothing there; LSan checks at exit. */
	if (rss1 - rss0 > 4096) {
		fprintf(stderr, "memory grew by %ld KiB\n", rss1 - rss0);
		return 1;
	}
#endif
	return 0;
}
