/*
 * Whether a grant is privileged, judged on its effect; see grants_int.h.
 *
 * The two-person rule once looked only at the requested group's own name,
 * so one admin could give root with --sudo, or give a privileged group by
 * granting a group nested inside it. What the grantee ends up able to do
 * is what counts, and the reason is kept in words so that the approvers,
 * grant show and the audit chain say why a grant needed two people.
 */
#include "grants_int.h"

#include "query.h"

#include <stdio.h>
#include <string.h>

/* Appends one reason to why, "; "-separated, truncating at GRANT_WHY_MAX. */
static void
add_reason(char *why, const char *reason)
{
	size_t len = strlen(why);

	if (len > 0 && len + 2 < GRANT_WHY_MAX) {
		memcpy(why + len, "; ", 3);
		len += 2;
	}
	if (len + 1 < GRANT_WHY_MAX)
		idg_strlcpy(why + len, reason, GRANT_WHY_MAX - len);
}

/*
 * Adds why group cn is privileged, if it is: "sre is nested in admins", or
 * for an account's group "the account joins sre, which is nested in
 * admins". 1 if it is, 0 if not, -1 on error.
 */
static int
group_reason(struct grants_ctx *g, const char *cn, int account, char *why, struct idg_err *err)
{
	struct query_privilege p;
	char who[300], reason[GRANT_WHY_MAX];
	int rc;

	if ((rc = query_group_privilege(g->st, cn, &p, err)) != 1)
		return rc;
	snprintf(who, sizeof(who), "%s%.255s%s", account ? "the account joins " : "", cn,
		 account ? (p.depth == 0 ? "," : ", which is") : " is");
	if (p.depth == 0)
		snprintf(reason, sizeof(reason), "%s a privileged group", who);
	else
		snprintf(reason, sizeof(reason), "%s nested in %s%s%.400s%s", who, p.group,
			 p.via[0] != '\0' ? " (through " : "", p.via, p.via[0] != '\0' ? ")" : "");
	add_reason(why, reason);
	return 1;
}

/* An account: privileged always; the reason names each privileged group it joins. */
static int
judge_account(struct grants_ctx *g, const struct grant *gr, char *why, struct idg_err *err)
{
	const char *cursor = gr->group_cn != NULL ? gr->group_cn : "", *item;
	char cn[256];
	size_t len;

	while (idg_list_next(&cursor, &item, &len)) {
		if (len == 0 || len >= sizeof(cn))
			continue;
		memcpy(cn, item, len);
		cn[len] = '\0';
		if (group_reason(g, cn, 1, why, err) < 0)
			return -1;
	}
	if (why[0] == '\0')
		add_reason(why, "creates an account");
	return 0;
}

int
grant_judge_privilege(struct grants_ctx *g, struct grant *gr, char why[GRANT_WHY_MAX],
		      struct idg_err *err)
{
	why[0] = '\0';
	if (gr->account_name != NULL) {
		if (judge_account(g, gr, why, err) != 0)
			return -1;
	} else {
		if (gr->group_cn != NULL && group_reason(g, gr->group_cn, 0, why, err) < 0)
			return -1;
		/* sudoCommand and sudoHost are configured, commonly ALL: root, whatever the group.
		 */
		if (gr->sudo)
			add_reason(why, "carries sudo rights");
	}
	gr->privileged = why[0] != '\0';
	gr->privileged_reason = gr->privileged ? why : NULL;
	return 0;
}
