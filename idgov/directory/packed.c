/*
 * The packed membership lists of schema 022; see packed.h.
 *
 * A group's row holds its members sorted by member_refs id: "[3,7,[9,1700000000]]",
 * an element being the id alone when the pair's since is the row's since
 * (every member of a group written at once, as in a full sync), else
 * [id, since]. A value's row holds its groups sorted: "[1,4]". SQLite's
 * JSON functions read both (the memberships view); this file writes them,
 * and reads them with a parser for exactly this form, which refuses
 * anything else rather than guess: the login path decides from these lists.
 *
 * The per-value side is written last: each change to a group's list notes
 * (value, group, joined or left), and packed_flush() sorts the notes by
 * value (a stable radix sort, so a value's notes stay in the order they
 * were made and the last one about a group wins) and rewrites each value's
 * row once. A full sync into an empty store notes a million pairs and
 * writes 100,000 rows, reading none: while ref_groups had no rows when the
 * transaction began, a value's row can exist only if a flush wrote it,
 * which `maybe` remembers.
 */
#include "packed.h"

#include <stdlib.h>
#include <string.h>

enum {
	P_GROUP_GET,
	P_GROUP_INS,
	P_GROUP_PUT,
	P_GROUP_DEL,
	P_REF_GET,
	P_REF_PUT,
	P_REF_DEL,
	P_REF_ANY,
	P_COUNT
};

static const char *const sql[P_COUNT] = {
	[P_GROUP_GET] = "SELECT since, refs FROM group_members WHERE group_id = ?1",
	/* Not OR REPLACE: a new group with a list already would be a broken invariant. */
	[P_GROUP_INS] = "INSERT INTO group_members (group_id, since, refs) VALUES (?1, ?2, ?3)",
	[P_GROUP_PUT] =
		"INSERT OR REPLACE INTO group_members (group_id, since, refs) VALUES (?1, ?2, ?3)",
	[P_GROUP_DEL] = "DELETE FROM group_members WHERE group_id = ?1",
	[P_REF_GET] = "SELECT groups FROM ref_groups WHERE ref_id = ?1",
	[P_REF_PUT] = "INSERT OR REPLACE INTO ref_groups (ref_id, groups) VALUES (?1, ?2)",
	[P_REF_DEL] = "DELETE FROM ref_groups WHERE ref_id = ?1",
	[P_REF_ANY] = "SELECT EXISTS (SELECT 1 FROM ref_groups)",
};

/* A value joined (group > 0) or left (group < 0: -group) a group. */
struct note {
	int64_t ref;
	int64_t group;
};

/* Above this id the `maybe` map is not kept (a sparse id would make it huge). */
#define MAYBE_MAX ((int64_t)1 << 26)

struct packed {
	struct store *st;
	sqlite3_stmt *s[P_COUNT];
	struct note *notes, *tmp;
	size_t n_notes, cap_notes;
	/* ref_groups had no row when the transaction began: maybe[ref] says one may exist now. */
	int known;
	uint8_t *maybe;
	size_t cap_maybe;
	char *text; /* a list being written */
	size_t cap_text;
};

int
packed_open(struct store *st, struct packed **out, struct idg_err *err)
{
	struct packed *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL)
		return idg_seterr(err, "out of memory");
	p->st = st;
	for (int i = 0; i < P_COUNT; i++) {
		if (store_prepare(st, sql[i], &p->s[i], err) != 0) {
			packed_close(p);
			return -1;
		}
	}
	*out = p;
	return 0;
}

void
packed_close(struct packed *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < P_COUNT; i++)
		sqlite3_finalize(p->s[i]);
	free(p->notes);
	free(p->tmp);
	free(p->maybe);
	free(p->text);
	free(p);
}

int
packed_begin(struct packed *p, struct idg_err *err)
{
	sqlite3_stmt *s = p->s[P_REF_ANY];
	int rc = sqlite3_step(s);

	p->n_notes = 0;
	p->known = rc == SQLITE_ROW && sqlite3_column_int(s, 0) == 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_err(p->st, err, "reading membership lists");
	if (p->maybe != NULL)
		memset(p->maybe, 0, p->cap_maybe);
	return 0;
}

void
packed_abort(struct packed *p)
{
	p->n_notes = 0;
	p->known = 0;
}

static int
note(struct packed *p, int64_t ref, int64_t group)
{
	if (p->n_notes == p->cap_notes) {
		size_t cap = p->cap_notes ? 2 * p->cap_notes : 1024;
		struct note *bigger = realloc(p->notes, cap * sizeof(*bigger));

		if (bigger == NULL)
			return -1;
		p->notes = bigger;
		p->cap_notes = cap;
	}
	p->notes[p->n_notes].ref = ref;
	p->notes[p->n_notes].group = group;
	p->n_notes++;
	return 0;
}

/* Room for len bytes of list text. */
static char *
text_room(struct packed *p, size_t len)
{
	if (len > p->cap_text) {
		char *bigger = realloc(p->text, len);

		if (bigger == NULL)
			return NULL;
		p->text = bigger;
		p->cap_text = len;
	}
	return p->text;
}

/* Writes v in decimal at out, without a NUL; returns its length (at most 20). */
static size_t
format_int(char *out, int64_t v)
{
	char digits[20];
	size_t n = 0, k = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		out[k++] = '-';
	while (n > 0)
		out[k++] = digits[--n];
	return k;
}

static const char *
skip_space(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	return s;
}

/* An integer at s (spaces before it skipped); the end of it, or NULL. */
static const char *
parse_int(const char *s, const char *end, int64_t *v)
{
	uint64_t u = 0;
	int neg = 0;
	const char *start;

	s = skip_space(s, end);
	if (s < end && *s == '-')
		neg = 1, s++;
	start = s;
	while (s < end && *s >= '0' && *s <= '9') {
		if (s - start >= 18)
			return NULL; /* no id or time of ours has 19 digits */
		u = u * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (s == start)
		return NULL;
	*v = neg ? -(int64_t)u : (int64_t)u;
	return skip_space(s, end);
}

/*
 * Parses a list of n elements, each an integer, or with pairs set also
 * [integer, integer]; calls back with each. Elements must ascend by their
 * first integer. 0, or -1 if the text is not such a list.
 */
typedef int (*element_fn)(void *arg, int64_t a, int64_t b, int pair);

static int
parse_list(const char *text, size_t len, int pairs, element_fn fn, void *arg)
{
	const char *s = text, *end = text + len;
	int64_t prev = 0, a, b;
	int first = 1;

	s = skip_space(s, end);
	if (s == end || *s++ != '[')
		return -1;
	s = skip_space(s, end);
	if (s < end && *s == ']') {
		s++;
		return skip_space(s, end) == end ? 0 : -1;
	}
	for (;;) {
		int pair = 0;

		if (s < end && *s == '[' && pairs) {
			pair = 1;
			if ((s = parse_int(s + 1, end, &a)) == NULL || s == end || *s++ != ',' ||
			    (s = parse_int(s, end, &b)) == NULL || s == end || *s++ != ']')
				return -1;
			s = skip_space(s, end);
		} else if ((s = parse_int(s, end, &a)) == NULL) {
			return -1;
		} else {
			b = 0;
		}
		if (a <= 0 || (!first && a <= prev) || fn(arg, a, b, pair) != 0)
			return -1;
		prev = a;
		first = 0;
		if (s == end)
			return -1;
		if (*s == ']')
			return skip_space(s + 1, end) == end ? 0 : -1;
		if (*s++ != ',')
			return -1;
	}
}

struct pair_sink {
	struct packed_pair *v;
	size_t n, cap;
	int64_t since;
};

static int
add_pair(void *arg, int64_t a, int64_t b, int pair)
{
	struct pair_sink *k = arg;

	if (k->n == k->cap)
		return -1;
	k->v[k->n].ref = a;
	k->v[k->n].since = pair ? b : k->since;
	k->n++;
	return 0;
}

int
packed_parse_pairs(const char *text, size_t len, int64_t since, struct packed_pair **out, size_t *n)
{
	/* Each element takes at least two bytes with its separator. */
	struct pair_sink k = {.cap = len / 2 + 1, .since = since};

	*out = NULL;
	*n = 0;
	if ((k.v = malloc(k.cap * sizeof(*k.v))) == NULL)
		return -1;
	if (parse_list(text, len, 1, add_pair, &k) != 0) {
		free(k.v);
		return -1;
	}
	*out = k.v;
	*n = k.n;
	return 0;
}

struct id_sink {
	int64_t *v;
	size_t n, cap;
};

static int
add_id(void *arg, int64_t a, int64_t b, int pair)
{
	struct id_sink *k = arg;

	(void)b;
	if (pair || k->n == k->cap)
		return -1;
	k->v[k->n++] = a;
	return 0;
}

int
packed_parse_ids(const char *text, size_t len, int64_t **out, size_t *n)
{
	struct id_sink k = {.cap = len / 2 + 1};

	*out = NULL;
	*n = 0;
	if ((k.v = malloc(k.cap * sizeof(*k.v))) == NULL)
		return -1;
	if (parse_list(text, len, 0, add_id, &k) != 0) {
		free(k.v);
		return -1;
	}
	*out = k.v;
	*n = k.n;
	return 0;
}

/* A group's stored list: *exists 0 and nothing if it has none. Caller frees *v. */
static int
load_group(struct packed *p, int64_t group, int *exists, int64_t *since, struct packed_pair **v,
	   size_t *n, struct idg_err *err)
{
	sqlite3_stmt *s = p->s[P_GROUP_GET];
	int rc, bad = 0;

	*exists = 0;
	*since = 0;
	*v = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, group);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(s, 1);

		*exists = 1;
		*since = sqlite3_column_int64(s, 0);
		bad = text == NULL || packed_parse_pairs(text, (size_t)sqlite3_column_bytes(s, 1),
							 *since, v, n) != 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(p->st, err, "reading a group's members");
	if (bad)
		return idg_seterr(err, "the member list of group %lld is not in the stored form",
				  (long long)group);
	return 0;
}

/* A value's stored groups (none if it has no row). Caller frees *v. */
static int
load_ref(struct packed *p, int64_t ref, int64_t **v, size_t *n, struct idg_err *err)
{
	sqlite3_stmt *s = p->s[P_REF_GET];
	int rc, bad = 0;

	*v = NULL;
	*n = 0;
	sqlite3_bind_int64(s, 1, ref);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(s, 0);

		bad = text == NULL ||
		      packed_parse_ids(text, (size_t)sqlite3_column_bytes(s, 0), v, n) != 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(p->st, err, "reading a member's groups");
	if (bad)
		return idg_seterr(err, "the group list of member %lld is not in the stored form",
				  (long long)ref);
	return 0;
}

/* Writes a group's list (stmt_id P_GROUP_INS or P_GROUP_PUT; none: its row goes). */
static int
store_group(struct packed *p, int stmt_id, int64_t group, int64_t since,
	    const struct packed_pair *v, size_t n, struct idg_err *err)
{
	sqlite3_stmt *s;
	size_t len = 0;
	/* "[" "]", and per element "[" id "," since "]," */
	char *t = text_room(p, 2 + n * 44);

	if (n == 0) {
		s = p->s[P_GROUP_DEL];
		sqlite3_bind_int64(s, 1, group);
		return store_step_done(p->st, s, err);
	}
	if (t == NULL)
		return idg_seterr(err, "out of memory");
	t[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			t[len++] = ',';
		if (v[i].since == since) {
			len += format_int(t + len, v[i].ref);
			continue;
		}
		t[len++] = '[';
		len += format_int(t + len, v[i].ref);
		t[len++] = ',';
		len += format_int(t + len, v[i].since);
		t[len++] = ']';
	}
	t[len++] = ']';
	s = p->s[stmt_id];
	sqlite3_bind_int64(s, 1, group);
	sqlite3_bind_int64(s, 2, since);
	sqlite3_bind_text(s, 3, t, (int)len, SQLITE_STATIC);
	return store_step_done(p->st, s, err);
}

int
packed_group_create(struct packed *p, int64_t group, const int64_t *refs, size_t n, int64_t since,
		    struct idg_err *err)
{
	sqlite3_stmt *s = p->s[P_GROUP_INS];
	size_t len = 0;
	char *t;

	if (n == 0)
		return 0;
	if (group <= 0) /* notes tell a group left by its negated id */
		return idg_seterr(err, "group id %lld out of range", (long long)group);
	if ((t = text_room(p, 2 + n * 21)) == NULL)
		return idg_seterr(err, "out of memory");
	t[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			t[len++] = ',';
		len += format_int(t + len, refs[i]);
		if (note(p, refs[i], group) != 0)
			return idg_seterr(err, "out of memory");
	}
	t[len++] = ']';
	sqlite3_bind_int64(s, 1, group);
	sqlite3_bind_int64(s, 2, since);
	sqlite3_bind_text(s, 3, t, (int)len, SQLITE_STATIC);
	return store_step_done(p->st, s, err);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
cmp_pair(const void *a, const void *b)
{
	return cmp_id(&((const struct packed_pair *)a)->ref, &((const struct packed_pair *)b)->ref);
}

int
packed_group_edit(struct packed *p, int64_t group, int64_t *del, size_t n_del,
		  struct packed_pair *add, size_t n_add, struct idg_err *err)
{
	struct packed_pair *have = NULL, *out = NULL;
	size_t n_have = 0, i = 0, d = 0, a = 0, k = 0;
	int64_t since;
	int exists, changed = 0, rc = 0;

	if (n_del == 0 && n_add == 0)
		return 0;
	if (group <= 0)
		return idg_seterr(err, "group id %lld out of range", (long long)group);
	if (load_group(p, group, &exists, &since, &have, &n_have, err) != 0)
		return -1;
	if (!exists && n_add > 0)
		since = add[0].since;
	if ((out = malloc((n_have + n_add + 1) * sizeof(*out))) == NULL) {
		free(have);
		return idg_seterr(err, "out of memory");
	}
	if (n_del > 1) /* either may be NULL when empty, which qsort may not be given */
		qsort(del, n_del, sizeof(*del), cmp_id);
	if (n_add > 1)
		qsort(add, n_add, sizeof(*add), cmp_pair);
	while (rc == 0) {
		/* Members in del leave first, so a ref both removed and added starts anew. */
		while (i < n_have) {
			while (d < n_del && del[d] < have[i].ref)
				d++;
			if (d == n_del || del[d] != have[i].ref)
				break;
			rc = note(p, have[i].ref, -group);
			changed = 1;
			i++;
		}
		if (rc != 0 || (i == n_have && a == n_add))
			break;
		if (a == n_add || (i < n_have && have[i].ref < add[a].ref)) {
			out[k++] = have[i++];
		} else if (i == n_have || add[a].ref < have[i].ref) {
			if (k == 0 || out[k - 1].ref != add[a].ref) {
				out[k++] = add[a];
				rc = note(p, add[a].ref, group);
				changed = 1;
			}
			a++;
		} else {
			a++; /* a member already: its since stays */
		}
	}
	if (rc != 0)
		rc = idg_seterr(err, "out of memory");
	else if (changed && (exists || k > 0))
		rc = store_group(p, P_GROUP_PUT, group, since, out, k, err);
	free(have);
	free(out);
	return rc;
}

int
packed_ref_merge(struct packed *p, int64_t from, int64_t to, struct idg_err *err)
{
	int64_t *groups = NULL;
	size_t n = 0;
	int rc;

	if (packed_flush(p, err) != 0 || load_ref(p, from, &groups, &n, err) != 0)
		return -1;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct packed_pair *have = NULL, *hit, key = {.ref = from}, add = {.ref = to};
		size_t n_have = 0;
		int64_t since, del = from;
		int exists;

		if ((rc = load_group(p, groups[i], &exists, &since, &have, &n_have, err)) != 0)
			break;
		hit = n_have > 0 ? bsearch(&key, have, n_have, sizeof(*have), cmp_pair) : NULL;
		if (hit == NULL) {
			rc = idg_seterr(err, "group %lld is not in the member list of member %lld",
					(long long)groups[i], (long long)from);
		} else {
			add.since = hit->since;
			rc = packed_group_edit(p, groups[i], &del, 1, &add, 1, err);
		}
		free(have);
	}
	free(groups);
	return rc;
}

/* Sorts the notes by ref, keeping the order of each ref's notes (LSD radix, bytes). */
static int
sort_notes(struct packed *p)
{
	struct note *from = p->notes, *to, *t;
	int64_t lo, hi;
	size_t n = p->n_notes;

	if (n < 2)
		return 0;
	free(p->tmp);
	if ((p->tmp = malloc(n * sizeof(*p->tmp))) == NULL)
		return -1;
	to = p->tmp;
	lo = hi = from[0].ref;
	for (size_t i = 1; i < n; i++) {
		lo = from[i].ref < lo ? from[i].ref : lo;
		hi = from[i].ref > hi ? from[i].ref : hi;
	}
	for (unsigned shift = 0; shift < 64 && (((uint64_t)hi - (uint64_t)lo) >> shift) != 0;
	     shift += 8) {
		size_t count[257] = {0};

		for (size_t i = 0; i < n; i++)
			count[((((uint64_t)from[i].ref - (uint64_t)lo) >> shift) & 0xff) + 1]++;
		for (size_t b = 1; b < 257; b++)
			count[b] += count[b - 1];
		for (size_t i = 0; i < n; i++)
			to[count[(((uint64_t)from[i].ref - (uint64_t)lo) >> shift) & 0xff]++] =
				from[i];
		t = from, from = to, to = t;
	}
	if (from != p->notes)
		memcpy(p->notes, from, n * sizeof(*from));
	free(p->tmp);
	p->tmp = NULL;
	return 0;
}

struct ordered_note {
	int64_t group; /* > 0 */
	size_t seq;
	int joined;
};

static int
cmp_ordered(const void *a, const void *b)
{
	const struct ordered_note *x = a, *y = b;

	if (x->group != y->group)
		return (x->group > y->group) - (x->group < y->group);
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int64_t
abs_group(int64_t g)
{
	return g < 0 ? -g : g;
}

/*
 * One value's notes (in the order made) as what each group ends as: into
 * out, ascending by group, the group joined (> 0) or left (< 0). Returns
 * how many, or -1 when out of memory.
 */
static ptrdiff_t
settle_notes(const struct note *v, size_t n, int64_t *out)
{
	struct ordered_note *o;
	size_t k = 0;
	int sorted = 1;

	for (size_t i = 1; i < n && sorted; i++)
		sorted = abs_group(v[i].group) > abs_group(v[i - 1].group);
	if (sorted) { /* each group once, in order: a full sync's case */
		for (size_t i = 0; i < n; i++)
			out[i] = v[i].group;
		return (ptrdiff_t)n;
	}
	if ((o = malloc(n * sizeof(*o))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		o[i].group = abs_group(v[i].group);
		o[i].seq = i;
		o[i].joined = v[i].group > 0;
	}
	qsort(o, n, sizeof(*o), cmp_ordered);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && o[i + 1].group == o[i].group)
			continue; /* a later note about the group wins */
		out[k++] = o[i].joined ? o[i].group : -o[i].group;
	}
	free(o);
	return (ptrdiff_t)k;
}

/* Rewrites one value's row: what it had, changed by the settled notes. */
static int
write_ref(struct packed *p, int64_t ref, const int64_t *settled, size_t n_settled,
	  struct idg_err *err)
{
	int64_t *have = NULL;
	size_t n_have = 0, e = 0, f = 0, len = 0, k = 0;
	sqlite3_stmt *s;
	int might = !p->known || ((uint64_t)ref < p->cap_maybe && p->maybe[ref]);
	char *t;
	int rc;

	if (might && load_ref(p, ref, &have, &n_have, err) != 0)
		return -1;
	if ((t = text_room(p, 2 + (n_have + n_settled) * 21)) == NULL) {
		free(have);
		return idg_seterr(err, "out of memory");
	}
	t[len++] = '[';
	while (e < n_have || f < n_settled) {
		int64_t g;

		if (f == n_settled || (e < n_have && have[e] < abs_group(settled[f]))) {
			g = have[e++];
		} else if (e == n_have || abs_group(settled[f]) < have[e]) {
			g = settled[f++];
		} else {
			g = settled[f++];
			e++;
		}
		if (g < 0)
			continue;
		if (k++ > 0)
			t[len++] = ',';
		len += format_int(t + len, g);
	}
	t[len++] = ']';
	free(have);
	if (k == 0 && !might)
		return 0;
	s = p->s[k == 0 ? P_REF_DEL : P_REF_PUT];
	sqlite3_bind_int64(s, 1, ref);
	if (k > 0)
		sqlite3_bind_text(s, 2, t, (int)len, SQLITE_STATIC);
	if ((rc = store_step_done(p->st, s, err)) != 0 || k == 0 || !p->known)
		return rc;
	if (ref >= MAYBE_MAX) {
		p->known = 0; /* every row is read from now on */
		return 0;
	}
	if ((uint64_t)ref >= p->cap_maybe) {
		size_t cap = p->cap_maybe ? p->cap_maybe : 4096;
		uint8_t *bigger;

		while (cap <= (uint64_t)ref)
			cap *= 2;
		if ((bigger = realloc(p->maybe, cap)) == NULL)
			return idg_seterr(err, "out of memory");
		memset(bigger + p->cap_maybe, 0, cap - p->cap_maybe);
		p->maybe = bigger;
		p->cap_maybe = cap;
	}
	p->maybe[ref] = 1;
	return 0;
}

int
packed_flush(struct packed *p, struct idg_err *err)
{
	int64_t *settled = NULL;
	size_t cap = 0;
	int rc = 0;

	if (p->n_notes == 0)
		return 0;
	if (sort_notes(p) != 0)
		return idg_seterr(err, "out of memory");
	for (size_t a = 0, b; a < p->n_notes && rc == 0; a = b) {
		ptrdiff_t n;

		for (b = a + 1; b < p->n_notes && p->notes[b].ref == p->notes[a].ref; b++)
			;
		if (b - a > cap) {
			int64_t *bigger = realloc(settled, (b - a) * sizeof(*settled));

			if (bigger == NULL) {
				rc = idg_seterr(err, "out of memory");
				break;
			}
			settled = bigger;
			cap = b - a;
		}
		n = settle_notes(p->notes + a, b - a, settled);
		if (n < 0)
			rc = idg_seterr(err, "out of memory");
		else
			rc = write_ref(p, p->notes[a].ref, settled, (size_t)n, err);
	}
	free(settled);
	if (rc == 0)
		p->n_notes = 0;
	return rc;
}
