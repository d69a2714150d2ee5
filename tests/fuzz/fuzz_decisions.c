/*
 * Fuzz target: bulk decision files (CSV or JSON) as the reviews library
 * reads them for "idgov review decide --file". A refusal must say why; a
 * CSV file that parses must give what review_decide_many() takes: objects
 * of an item (a number, at least 1), a decision and maybe a comment (a
 * JSON file is taken as written, and the daemon checks it).
 */
#include "fuzz.h"

#include "reviews.h"

static int
is_json(const uint8_t *data, size_t size)
{
	size_t i = 0;

	while (i < size &&
	       (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	return i < size && data[i] == '[';
}

static void
check_csv_decision(json_t *d)
{
	json_t *item = json_object_get(d, "item"), *comment = json_object_get(d, "comment");

	if (!json_is_object(d) || !json_is_integer(item) || json_integer_value(item) < 1 ||
	    !json_is_string(json_object_get(d, "decision")) ||
	    (comment != NULL && !json_is_string(comment)) ||
	    json_object_size(d) != (comment != NULL ? 3u : 2u)) {
		char *text = json_dumps(d, JSON_COMPACT);

		fprintf(stderr, "CSV decision is malformed: %s\n", text != NULL ? text : "?");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	json_t *a = review_decisions_parse((const char *)data, size, why, sizeof(why));
	json_t *d;
	size_t i;

	if (a == NULL) {
		if (why[0] == '\0')
			abort();
		return 0;
	}
	if (!json_is_array(a))
		abort();
	if (!is_json(data, size))
		json_array_foreach(a, i, d) check_csv_decision(d);
	json_decref(a);
	return 0;
}
