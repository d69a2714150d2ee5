/* Client admission and flood-proof reporting; see admission.h. */
#include "admission.h"

#include <string.h>

enum admit
admit_check(size_t used, size_t slots, size_t uid_used, uid_t uid, int max_per_uid)
{
	if (uid == 0)
		return used < slots ? ADMIT_OK : ADMIT_TABLE_FULL;
	if (max_per_uid < 1 || uid_used >= (size_t)max_per_uid)
		return ADMIT_UID_FULL;
	/* The slots above slots - ADMIT_ROOT_SLOTS are root's alone. */
	if (slots <= ADMIT_ROOT_SLOTS || used >= slots - ADMIT_ROOT_SLOTS)
		return ADMIT_TABLE_FULL;
	return ADMIT_OK;
}

void
flood_init(struct flood *f, int64_t interval)
{
	memset(f, 0, sizeof(*f));
	f->interval = interval > 0 ? interval : 1;
	for (int k = 0; k < FLOOD_KINDS; k++) {
		f->any[k].uid = FLOOD_ANY_UID;
		f->any[k].kind = (enum flood_kind)k;
	}
}

/* The entry counting uid's events of kind; NULL when there is none yet. */
static struct flood_entry *
find(struct flood *f, uid_t uid, enum flood_kind kind)
{
	for (size_t i = 0; i < FLOOD_ENTRIES; i++)
		if (f->e[i].used && f->e[i].uid == uid && f->e[i].kind == kind)
			return &f->e[i];
	return NULL;
}

static struct flood_entry *
take(struct flood *f, uid_t uid, enum flood_kind kind)
{
	for (size_t i = 0; i < FLOOD_ENTRIES; i++) {
		if (!f->e[i].used) {
			/* flood_note() marks it used as it reports the first event. */
			f->e[i] = (struct flood_entry){.uid = uid, .kind = kind};
			return &f->e[i];
		}
	}
	return NULL;
}

static void
report(const struct flood_entry *e, unsigned long count, int64_t seconds, struct flood_report *out)
{
	*out = (struct flood_report){
		.uid = e->uid, .kind = e->kind, .count = count, .seconds = seconds};
}

int
flood_note(struct flood *f, uid_t uid, enum flood_kind kind, int64_t now, struct flood_report *out)
{
	struct flood_entry *e;

	if ((int)kind < 0 || (int)kind >= FLOOD_KINDS)
		return 0;
	e = find(f, uid, kind);
	if (e == NULL && (e = take(f, uid, kind)) == NULL)
		e = &f->any[kind];
	if (e->used) {
		e->count++;
		return 0;
	}
	/* The first of a burst: reported now, and the interval starts. */
	e->used = 1;
	e->since = now;
	e->count = 0;
	report(e, 1, 0, out);
	return 1;
}

/* 1 with *out when e has a summary due; forgets e when its interval was quiet. */
static int
due(struct flood *f, struct flood_entry *e, int64_t now, int all, struct flood_report *out)
{
	if (!e->used || (!all && now - e->since < f->interval))
		return 0;
	if (e->count == 0) {
		if (!all)
			e->used = 0;
		return 0;
	}
	report(e, e->count, now - e->since, out);
	/* The burst goes on: the next interval is summarised too. */
	e->since = now;
	e->count = 0;
	return 1;
}

int
flood_due(struct flood *f, int64_t now, int all, struct flood_report *out)
{
	for (size_t i = 0; i < FLOOD_ENTRIES; i++)
		if (due(f, &f->e[i], now, all, out))
			return 1;
	for (int k = 0; k < FLOOD_KINDS; k++)
		if (due(f, &f->any[k], now, all, out))
			return 1;
	return 0;
}
