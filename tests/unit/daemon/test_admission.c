/* idgovd's client admission (per-uid limit, root's slots) and its flood-proof reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "admission.h"

static void
test_per_uid_limit(void **state)
{
	(void)state;
	assert_int_equal(admit_check(0, 64, 0, 1000, 8), ADMIT_OK);
	assert_int_equal(admit_check(7, 64, 7, 1000, 8), ADMIT_OK);
	assert_int_equal(admit_check(8, 64, 8, 1000, 8), ADMIT_UID_FULL);
	/* Another uid is not held back by the first one's connections. */
	assert_int_equal(admit_check(8, 64, 0, 1001, 8), ADMIT_OK);
	assert_int_equal(admit_check(1, 64, 1, 1000, 1), ADMIT_UID_FULL);
}

static void
test_root_slots(void **state)
{
	(void)state;
	/* Others may fill the table only up to root's slots. */
	assert_int_equal(admit_check(64 - ADMIT_ROOT_SLOTS - 1, 64, 0, 1000, 64), ADMIT_OK);
	assert_int_equal(admit_check(64 - ADMIT_ROOT_SLOTS, 64, 0, 1000, 64), ADMIT_TABLE_FULL);
	assert_int_equal(admit_check(63, 64, 0, 65534, 8), ADMIT_TABLE_FULL);
	/* root has no per-uid limit and may take every slot, its own included. */
	assert_int_equal(admit_check(64 - ADMIT_ROOT_SLOTS, 64, 0, 0, 8), ADMIT_OK);
	assert_int_equal(admit_check(63, 64, 40, 0, 8), ADMIT_OK);
	assert_int_equal(admit_check(64, 64, 64, 0, 8), ADMIT_TABLE_FULL);
}

static void
test_first_event_reported_rest_counted(void **state)
{
	struct flood f;
	struct flood_report r;

	(void)state;
	flood_init(&f, 10);
	assert_int_equal(flood_note(&f, 65534, FLOOD_UID_FULL, 100, &r), 1);
	assert_int_equal(r.uid, 65534);
	assert_int_equal(r.kind, FLOOD_UID_FULL);
	assert_int_equal(r.count, 1);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(flood_note(&f, 65534, FLOOD_UID_FULL, 100 + i / 200, &r), 0);
	/* Nothing is due before the interval ends. */
	assert_int_equal(flood_due(&f, 109, 0, &r), 0);
	assert_int_equal(flood_due(&f, 110, 0, &r), 1);
	assert_int_equal(r.uid, 65534);
	assert_int_equal(r.count, 1000);
	assert_int_equal(r.seconds, 10);
	assert_int_equal(flood_due(&f, 110, 0, &r), 0);
}

static void
test_burst_that_goes_on_is_summarised_every_interval(void **state)
{
	struct flood f;
	struct flood_report r;
	int reported = 0, summaries = 0;
	unsigned long counted = 0;

	(void)state;
	flood_init(&f, 10);
	/* 100 events a second for a minute: 1 report at once, 1 summary per 10 s. */
	for (int64_t t = 0; t < 60; t++) {
		for (int i = 0; i < 100; i++)
			reported += flood_note(&f, 7, FLOOD_TIMEOUT, t, &r);
		while (flood_due(&f, t, 0, &r)) {
			summaries++;
			counted += r.count;
		}
	}
	assert_int_equal(reported, 1);
	assert_int_equal(summaries, 5);
	while (flood_due(&f, 60, 0, &r)) {
		summaries++;
		counted += r.count;
	}
	assert_int_equal(summaries, 6);
	assert_int_equal(counted + 1, 6000);
	/* A quiet interval forgets the uid: its next event is reported at once. */
	assert_int_equal(flood_due(&f, 70, 0, &r), 0);
	assert_int_equal(flood_note(&f, 7, FLOOD_TIMEOUT, 71, &r), 1);
}

static void
test_uids_and_kinds_are_apart(void **state)
{
	struct flood f;
	struct flood_report r;

	(void)state;
	flood_init(&f, 10);
	assert_int_equal(flood_note(&f, 1000, FLOOD_UID_FULL, 0, &r), 1);
	assert_int_equal(flood_note(&f, 1001, FLOOD_UID_FULL, 0, &r), 1);
	assert_int_equal(flood_note(&f, 1000, FLOOD_SLOW, 0, &r), 1);
	assert_int_equal(flood_note(&f, 1000, FLOOD_UID_FULL, 0, &r), 0);
	assert_int_equal(flood_note(&f, 1001, FLOOD_UID_FULL, 0, &r), 0);
}

static void
test_untracked_uids_share_one_entry(void **state)
{
	struct flood f;
	struct flood_report r;
	int reported = 0;

	(void)state;
	flood_init(&f, 10);
	for (uid_t u = 1; u <= FLOOD_ENTRIES; u++)
		assert_int_equal(flood_note(&f, u, FLOOD_TABLE_FULL, 0, &r), 1);
	/* Thousands of uids more: reported once, together, not once each. */
	for (uid_t u = 1000; u < 6000; u++)
		reported += flood_note(&f, u, FLOOD_TABLE_FULL, 1, &r);
	assert_int_equal(reported, 1);
	assert_int_equal(flood_due(&f, 11, 0, &r), 1);
	assert_int_equal(r.uid, FLOOD_ANY_UID);
	assert_int_equal(r.count, 4999);
	assert_int_equal(flood_due(&f, 11, 0, &r), 0);
}

static void
test_flush_reports_every_count(void **state)
{
	struct flood f;
	struct flood_report r;
	unsigned long counted = 0;

	(void)state;
	flood_init(&f, 10);
	flood_note(&f, 5, FLOOD_UID_FULL, 0, &r);
	flood_note(&f, 5, FLOOD_UID_FULL, 1, &r);
	flood_note(&f, 5, FLOOD_UID_FULL, 2, &r);
	flood_note(&f, 6, FLOOD_SLOW, 2, &r);
	assert_int_equal(flood_due(&f, 3, 0, &r), 0);
	while (flood_due(&f, 3, 1, &r))
		counted += r.count;
	assert_int_equal(counted, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_uid_limit),
		cmocka_unit_test(test_root_slots),
		cmocka_unit_test(test_first_event_reported_rest_counted),
		cmocka_unit_test(test_burst_that_goes_on_is_summarised_every_interval),
		cmocka_unit_test(test_uids_and_kinds_are_apart),
		cmocka_unit_test(test_untracked_uids_share_one_entry),
		cmocka_unit_test(test_flush_reports_every_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
