/* Unit tests for the sections of idgov.conf that reviews own: [reviews] and [campaign NAME]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "review_config.h"

#define BASE "[directory]\nuri = ldap://h/\nbase = dc=x\n"

static void
expect_error(const char *text, const char *want)
{
	struct cfg *cfg = (struct cfg *)0x1;
	struct idg_err err = {{0}};

	assert_int_equal(cfg_load_string_with(text, "t.conf", review_config_extensions, &cfg, &err),
			 -1);
	assert_null(cfg);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
}

static void
test_campaign_sections_parse_with_defaults(void **state)
{
	struct cfg *cfg;
	struct idg_err err;
	const struct review_campaign_cfg *c;

	(void)state;
	assert_int_equal(
		cfg_load_string_with(BASE "[reviews]\nfallback_reviewer = ceo\n"
					  "[campaign q]\nscope = privileged\ntimezone = "
					  "Europe/Paris\ndefault = escalate\n"
					  "[campaign monthly-db]\nschedule = 0 8 1 * *\nscope = "
					  "groups\ngroups = dba\nduration = 3d\nreminders = 1d\n",
				     "t.conf", review_config_extensions, &cfg, &err),
		0);
	assert_int_equal(review_config(cfg)->n_campaigns, 2);
	c = review_campaign_cfg(cfg, "q");
	assert_non_null(c);
	assert_string_equal(c->schedule, "quarterly");
	assert_string_equal(c->start_time, "09:00");
	assert_int_equal(c->duration, 14 * 86400);
	assert_int_equal(c->n_reminders, 2);
	assert_int_equal(c->reminders[0], 7 * 86400);
	assert_int_equal(c->deflt, REVIEW_DEFAULT_ESCALATE);
	c = review_campaign_cfg(cfg, "monthly-db");
	assert_int_equal(c->n_reminders, 1);
	assert_null(review_campaign_cfg(cfg, "nope"));
	cfg_free(cfg);
#define FB "[reviews]\nfallback_reviewer = ceo\n"
	expect_error(BASE FB "[campaign q]\nschedule = 0 25 * * *\n",
		     "t.conf:7: [campaign q] schedule: '0 25 * * *' is not a schedule");
	expect_error(BASE FB "[campaign q]\ncolour = blue\n", "t.conf:7: [campaign q] colour: "
							      "unknown key");
	expect_error(BASE FB "[campaign q]\nscope = groups\n", "groups: required when scope");
	expect_error(BASE FB "[campaign q]\nscope = some\n", "scope: must be all, privileged");
	expect_error(BASE FB "[campaign q]\nduration = 2d\nreminders = 3d\n",
		     "reminders: each must be shorter than the duration");
	expect_error(BASE FB "[campaign q]\ntimezone = Mars/Olympus\n",
		     "timezone: not a known IANA time zone");
	expect_error(BASE "[campaign q]\nscope = all\n", "needs a fallback_reviewer");
	expect_error(BASE FB "[campaign q]\nscope = all\n[campaign r]\nscope = all\n"
			     "[campaign q]\nduration = 1d\n",
		     "defined twice");
#undef FB
}

static void
test_reviews_section_keys_and_defaults(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	/* Loaded without the extension: no campaigns, the defaults of [reviews]. */
	assert_int_equal(cfg_load_string(BASE "[campaign q]\nscope = all\n", "t.conf", &cfg, &err),
			 0);
	assert_int_equal(review_config(cfg)->n_campaigns, 0);
	assert_string_equal(review_config(cfg)->fallback, "");
	assert_int_equal(review_config(cfg)->inactive_days, 90);
	assert_int_equal(review_config(cfg)->require_comment, 1);
	cfg_free(cfg);
	assert_int_equal(cfg_load_string_with(BASE "[reviews]\nfallback_reviewer = ceo, cfo\n"
						   "inactive_days = 30\nrequire_comment = no\n",
					      "t.conf", review_config_extensions, &cfg, &err),
			 0);
	assert_string_equal(review_config(cfg)->fallback, "ceo, cfo");
	assert_int_equal(review_config(cfg)->inactive_days, 30);
	assert_int_equal(review_config(cfg)->require_comment, 0);
	cfg_free(cfg);
	expect_error(BASE "[reviews]\ninactive_days = 0\n",
		     "t.conf:5: [reviews] inactive_days: out of range");
	expect_error(BASE "[reviews]\ninactive_days = soon\n", "inactive_days: not a whole number");
	expect_error(BASE "[reviews]\nrequire_comment = maybe\n",
		     "require_comment: must be yes or no");
	expect_error(BASE "[reviews]\ncolour = blue\n", "t.conf:5: [reviews] colour: unknown key");
	expect_error(BASE "[reviews]\ninactive_days = 3\ninactive_days = 4\n", "key given twice");
}

static void
test_shipped_example_parses_with_campaigns(void **state)
{
	struct cfg *cfg;
	struct idg_err err;

	(void)state;
	if (cfg_load_with(IDGOV_SOURCE_DIR "/idgov.conf.example", review_config_extensions, &cfg,
			  &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(review_campaign_cfg(cfg, "quarterly"));
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_campaign_sections_parse_with_defaults),
		cmocka_unit_test(test_reviews_section_keys_and_defaults),
		cmocka_unit_test(test_shipped_example_parses_with_campaigns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
