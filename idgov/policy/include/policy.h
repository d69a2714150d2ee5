/*
 * Access rules at login: which [rule NAME] sections apply to a login, and
 * whether it satisfies them (time window in the rule's zone, then source
 * network). Every check is reported to an optional callback, which is how
 * `idgov policy check` explains a decision; the PAM module passes none.
 *
 * Precedence: rules are independent; every rule that applies must be
 * satisfied, so adding a rule can only narrow access. The decision names
 * the first rule, in file order, that failed.
 */
#ifndef IDGOV_POLICY_H
#define IDGOV_POLICY_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

struct policy_input {
	const char *user;
	const char *const *groups; /* the user's effective groups */
	size_t n_groups;
	const char *service;
	const char *rhost; /* NULL or "" for a local login */
	int64_t now;
};

typedef void (*policy_report_fn)(void *arg, const char *rule, const char *check, int pass,
				 const char *why);

struct policy_decision {
	int allowed;
	char rule[80]; /* the rule that denied, "rule NAME" */
	char why[288]; /* "check: reason" */
};

/* Returns 0 (with *d filled), or -1 if a rule could not be evaluated (err; treat as deny). */
int policy_evaluate(const struct cfg *cfg, const struct policy_input *in, policy_report_fn report,
		    void *arg, struct policy_decision *d, struct idg_err *err);

#endif
