/*
 * The sections of idgov.conf that reviews own; see review_config.h.
 *
 * [reviews]:
 *   fallback_reviewer  reviewers where there is no manager, first eligible wins ("")
 *   inactive_days      recommend revoke after this long without a login (90)
 *   require_comment    revoking a privileged access needs a comment (yes)
 *
 * [campaign NAME] sections: access review campaigns. Keys:
 *   scope       all | privileged | groups | filter (all)
 *   groups      the groups, for scope = groups
 *   filter      an LDAP filter on users, for scope = filter
 *   schedule    quarterly | monthly | none | a cron rule (quarterly)
 *   start_time  HH:MM, for quarterly and monthly (09:00)
 *   timezone    IANA zone the schedule is in (UTC)
 *   duration    how long reviewers have (14d)
 *   reminders   offsets before the deadline (7d, 2d)
 *   default     revoke | approve | escalate: an undecided item at the deadline (revoke)
 *   escalation  how long the fallback reviewer gets after escalate (7d)
 *   fallback_reviewer  overrides [reviews] fallback_reviewer
 */
#include "review_config.h"

#include "timeparse.h"
#include "timewin.h"

#include <stdlib.h>
#include <string.h>

static const struct review_campaign_cfg *find_campaign(const struct review_config *cfg,
						       const char *name);

enum campaign_key {
	CK_SCOPE,
	CK_GROUPS,
	CK_FILTER,
	CK_SCHEDULE,
	CK_START_TIME,
	CK_TIMEZONE,
	CK_DURATION,
	CK_REMINDERS,
	CK_DEFAULT,
	CK_ESCALATION,
	CK_FALLBACK,
	CK_COUNT
};
static const char *const campaign_keys[CK_COUNT] = {
	"scope",    "groups",    "filter",  "schedule",   "start_time",       "timezone",
	"duration", "reminders", "default", "escalation", "fallback_reviewer"};

/* The campaign a key belongs to: the last one if it has this name, else a new one. */
static struct review_campaign_cfg *
campaign_for(struct review_config *cfg, const char *name, int line, const char **why)
{
	struct review_campaign_cfg *c;

	if (cfg->n_campaigns > 0 && strcmp(cfg->campaigns[cfg->n_campaigns - 1].name, name) == 0)
		return &cfg->campaigns[cfg->n_campaigns - 1];
	if (!cfg_valid_section_name(name)) {
		*why = "campaign names use letters, digits, - _ and . (at most 64)";
		return NULL;
	}
	if (find_campaign(cfg, name) != NULL) {
		*why = "a campaign of this name is defined twice";
		return NULL;
	}
	if (cfg->n_campaigns == REVIEW_MAX_CAMPAIGNS) {
		*why = "too many campaigns";
		return NULL;
	}
	c = realloc(cfg->campaigns, (cfg->n_campaigns + 1) * sizeof(*c));
	if (c == NULL) {
		*why = "out of memory";
		return NULL;
	}
	cfg->campaigns = c;
	c = &cfg->campaigns[cfg->n_campaigns++];
	memset(c, 0, sizeof(*c));
	idg_strlcpy(c->name, name, sizeof(c->name));
	c->line = line;
	c->duration = 14 * 86400;
	c->escalation = 7 * 86400;
	c->reminders[0] = 7 * 86400;
	c->reminders[1] = 2 * 86400;
	c->n_reminders = 2;
	return c;
}

static int
by_length_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x < y) - (x > y);
}

static const char *
set_reminders(struct review_campaign_cfg *c, const char *v)
{
	const char *cursor = v, *item;
	char buf[40];
	size_t len;

	c->n_reminders = 0;
	if (v[0] == '\0')
		return NULL; /* no reminders */
	while (idg_list_next(&cursor, &item, &len)) {
		if (len == 0 || len >= sizeof(buf) || c->n_reminders == REVIEW_MAX_REMINDERS)
			return "must be up to 8 durations before the deadline, e.g. 7d, 2d";
		memcpy(buf, item, len);
		buf[len] = '\0';
		if (duration_parse(buf, &c->reminders[c->n_reminders++], NULL) != 0)
			return "must be up to 8 durations before the deadline, e.g. 7d, 2d";
	}
	qsort(c->reminders, c->n_reminders, sizeof(c->reminders[0]), by_length_desc);
	return NULL;
}

static const char *
set_word(const char *v, const char *const *words, int *out, const char *why)
{
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0) {
			*out = i;
			return NULL;
		}
	return why;
}

static const char *
set_text(char **slot, const char *v)
{
	if (v[0] == '\0')
		return "must not be empty";
	free(*slot);
	*slot = strdup(v);
	return *slot != NULL ? NULL : "out of memory";
}

static const char *
campaign_set(struct review_config *cfg, const char *name, const char *key, const char *value,
	     int line, struct idg_err *scratch)
{
	static const char *const scopes[] = {"all", "privileged", "groups", "filter", NULL};
	/* "keep", the old name of approve, is still read. */
	static const char *const defaults[] = {"revoke", "approve", "escalate", "keep", NULL};
	const char *why = NULL;
	struct review_campaign_cfg *c = campaign_for(cfg, name, line, &why);
	int k, word = 0;

	if (c == NULL)
		return why;
	for (k = 0; k < CK_COUNT && strcmp(campaign_keys[k], key) != 0; k++)
		;
	if (k == CK_COUNT)
		return "unknown key";
	if (c->given & (1u << k))
		return "key given twice";
	c->given |= 1u << k;
	switch ((enum campaign_key)k) {
	case CK_SCOPE:
		why = set_word(value, scopes, &word, "must be all, privileged, groups or filter");
		c->scope = (enum review_scope)word;
		return why;
	case CK_DEFAULT:
		why = set_word(value, defaults, &word, "must be revoke, approve or escalate");
		c->deflt = word == 3 ? REVIEW_DEFAULT_APPROVE : (enum review_default)word;
		return why;
	case CK_GROUPS:
		return set_text(&c->groups, value);
	case CK_FILTER:
		if (value[0] != '(' || value[strlen(value) - 1] != ')')
			return "not a parenthesised LDAP filter";
		return set_text(&c->filter, value);
	case CK_SCHEDULE:
		return set_text(&c->schedule, value);
	case CK_START_TIME:
		return set_text(&c->start_time, value);
	case CK_TIMEZONE:
		if (timewin_zone_valid(value) != 0)
			return "not a known IANA time zone (e.g. Europe/Paris)";
		return set_text(&c->timezone, value);
	case CK_DURATION:
	case CK_ESCALATION:
		if (duration_parse(value, k == CK_DURATION ? &c->duration : &c->escalation,
				   scratch) != 0)
			return "not a duration (a number and a unit s, m, h, d or w: 14d)";
		return NULL;
	case CK_REMINDERS:
		return set_reminders(c, value);
	case CK_FALLBACK:
		return set_text(&c->fallback, value);
	case CK_COUNT:
		break;
	}
	return "unknown key";
}

/* Fills in defaults and checks what depends on several keys. */
static int
validate_one(struct review_config *cfg, struct review_campaign_cfg *c, const char *file,
	     struct idg_err *err)
{
	struct idg_err why;

	if ((c->schedule == NULL && (c->schedule = strdup("quarterly")) == NULL) ||
	    (c->start_time == NULL && (c->start_time = strdup("09:00")) == NULL) ||
	    (c->timezone == NULL && (c->timezone = strdup("UTC")) == NULL))
		return idg_seterr(err, "out of memory");
	if (schedule_parse(c->schedule, c->start_time, &c->sched, &why) != 0)
		return idg_seterr(err, "%s:%d: [campaign %s] schedule: %s", file, c->line, c->name,
				  why.msg);
	if (c->scope == REVIEW_SCOPE_GROUPS && c->groups == NULL)
		return idg_seterr(err, "%s:%d: [campaign %s] groups: required when scope = groups",
				  file, c->line, c->name);
	if (c->scope == REVIEW_SCOPE_FILTER && c->filter == NULL)
		return idg_seterr(err, "%s:%d: [campaign %s] filter: required when scope = filter",
				  file, c->line, c->name);
	/* The default reminders (7d, 2d) that do not fit a short campaign are left out. */
	if (!(c->given & (1u << CK_REMINDERS)))
		while (c->n_reminders > 0 && c->reminders[0] >= c->duration) {
			memmove(c->reminders, c->reminders + 1,
				--c->n_reminders * sizeof(c->reminders[0]));
		}
	for (size_t i = 0; i < c->n_reminders; i++)
		if (c->reminders[i] >= c->duration)
			return idg_seterr(err,
					  "%s:%d: [campaign %s] reminders: each must be shorter "
					  "than the duration",
					  file, c->line, c->name);
	if ((c->fallback == NULL ? cfg->fallback : c->fallback)[0] == '\0')
		return idg_seterr(err,
				  "%s:%d: [campaign %s]: needs a fallback_reviewer (here or in "
				  "[reviews]) for users without a manager",
				  file, c->line, c->name);
	return 0;
}

/* The [reviews] section, a table of three keys. */
enum reviews_key { RK_FALLBACK, RK_INACTIVE_DAYS, RK_REQUIRE_COMMENT, RK_COUNT };
static const char *const reviews_keys[RK_COUNT] = {"fallback_reviewer", "inactive_days",
						   "require_comment"};

static const char *
reviews_set(struct review_config *cfg, const char *key, const char *value)
{
	int k;

	for (k = 0; k < RK_COUNT && strcmp(reviews_keys[k], key) != 0; k++)
		;
	if (k == RK_COUNT)
		return "unknown key";
	if (cfg->given & (1u << k))
		return "key given twice";
	cfg->given |= 1u << k;
	switch ((enum reviews_key)k) {
	case RK_FALLBACK:
		free(cfg->fallback);
		cfg->fallback = strdup(value);
		return cfg->fallback != NULL ? NULL : "out of memory";
	case RK_INACTIVE_DAYS:
		return cfg_parse_int(value, 1, 3650, &cfg->inactive_days);
	case RK_REQUIRE_COMMENT:
		return cfg_parse_bool(value, &cfg->require_comment);
	case RK_COUNT:
		break;
	}
	return "unknown key";
}

static int
config_create(void **data, struct idg_err *err)
{
	struct review_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL || (cfg->fallback = strdup("")) == NULL) {
		free(cfg);
		return idg_seterr(err, "out of memory");
	}
	cfg->inactive_days = 90;
	cfg->require_comment = 1;
	*data = cfg;
	return 0;
}

static const char *
config_set(void *data, const char *section, const char *key, const char *value, int line,
	   struct idg_err *scratch)
{
	if (strcmp(section, "reviews") == 0)
		return reviews_set(data, key, value);
	/* "campaign NAME": the extension is called only for its own sections. */
	return campaign_set(data, section + strlen("campaign "), key, value, line, scratch);
}

static int
config_validate(void *data, const struct cfg *unused, const char *file, struct idg_err *err)
{
	struct review_config *cfg = data;

	(void)unused;
	for (size_t i = 0; i < cfg->n_campaigns; i++)
		if (validate_one(cfg, &cfg->campaigns[i], file, err) != 0)
			return -1;
	return 0;
}

static void
config_destroy(void *data)
{
	struct review_config *cfg = data;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_campaigns; i++) {
		struct review_campaign_cfg *c = &cfg->campaigns[i];

		free(c->groups);
		free(c->filter);
		free(c->schedule);
		free(c->start_time);
		free(c->timezone);
		free(c->fallback);
	}
	free(cfg->campaigns);
	free(cfg->fallback);
	free(cfg);
}

static const char *const owned_sections[] = {"reviews", "campaign *", NULL};

const struct cfg_extension review_config_extension = {
	.sections = owned_sections,
	.create = config_create,
	.set = config_set,
	.validate = config_validate,
	.destroy = config_destroy,
};

const struct cfg_extension *const review_config_extensions[] = {&review_config_extension, NULL};

const struct review_config *
review_config(const struct cfg *cfg)
{
	/* The defaults, for a configuration loaded without the extension; never written. */
	static char no_fallback[1];
	static const struct review_config none = {
		.fallback = no_fallback, .inactive_days = 90, .require_comment = 1};
	const struct review_config *rc = cfg_extension_data(cfg, &review_config_extension);

	return rc != NULL ? rc : &none;
}

static const struct review_campaign_cfg *
find_campaign(const struct review_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_campaigns; i++)
		if (strcmp(cfg->campaigns[i].name, name) == 0)
			return &cfg->campaigns[i];
	return NULL;
}

const struct review_campaign_cfg *
review_campaign_cfg(const struct cfg *cfg, const char *name)
{
	return find_campaign(review_config(cfg), name);
}
