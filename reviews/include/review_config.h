/*
 * The configuration reviews own: [reviews] (who reviews where there is no
 * manager, when a login is too old, whether revoking a privileged access
 * needs a comment) and [campaign NAME] sections. Core's config reader
 * hands these sections to review_config_extension; a program that runs
 * reviews (idgovd, idgov) passes it to cfg_load_with(), and a program
 * that does not (pam_idgov.so) skips them.
 */
#ifndef IDGOV_REVIEW_CONFIG_H
#define IDGOV_REVIEW_CONFIG_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define REVIEW_MAX_CAMPAIGNS 32
#define REVIEW_MAX_REMINDERS 8

enum review_scope {
	REVIEW_SCOPE_ALL,
	REVIEW_SCOPE_PRIVILEGED,
	REVIEW_SCOPE_GROUPS,
	REVIEW_SCOPE_FILTER
};
enum review_default { REVIEW_DEFAULT_REVOKE, REVIEW_DEFAULT_APPROVE, REVIEW_DEFAULT_ESCALATE };

/*
 * An access review campaign, from a [campaign NAME] section: which
 * memberships it covers, when it starts, how long reviewers have, when
 * they are reminded, and what an undecided item becomes at the deadline.
 */
struct review_campaign_cfg {
	char name[65];
	int line;
	unsigned given;
	enum review_scope scope;
	char *groups; /* scope groups: comma-separated */
	char *filter; /* scope filter: an LDAP filter on users */
	char *schedule, *start_time, *timezone;
	struct schedule sched;
	int64_t duration, escalation;
	int64_t reminders[REVIEW_MAX_REMINDERS]; /* seconds before the deadline, longest first */
	size_t n_reminders;
	enum review_default deflt;
	char *fallback; /* comma-separated reviewers, first eligible wins; NULL: [reviews] */
};

struct review_config {
	/* [reviews] */
	char *fallback;      /* comma-separated: reviewers where there is no manager */
	int inactive_days;   /* recommend revoke after this long without a login */
	int require_comment; /* revoking a privileged access needs a comment */
	unsigned given;      /* bit per [reviews] key, to refuse repeats */

	/* [campaign NAME] sections, in file order */
	struct review_campaign_cfg *campaigns;
	size_t n_campaigns;
};

/* What idgovd and idgov pass to cfg_load_with() (NULL-terminated list: review_config_extensions).
 */
extern const struct cfg_extension review_config_extension;
extern const struct cfg_extension *const review_config_extensions[];

/*
 * The reviews configuration of cfg. A configuration loaded without the
 * extension has no campaigns and the defaults of [reviews].
 */
const struct review_config *review_config(const struct cfg *cfg);

/* The campaign named name, or NULL. */
const struct review_campaign_cfg *review_campaign_cfg(const struct cfg *cfg, const char *name);

#endif
