/*
 * Fuzz target: the review page's cursors ("u4900", "d17"), which arrive in
 * a URL from any signed-in browser and in idgovd's review.page arguments.
 * A cursor that parses is in its one canonical form: formatting what was
 * parsed gives the string back, byte for byte, and parses to the same.
 */
#include "fuzz.h"

#include "reviews.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size), out[REVIEW_CURSOR_MAX];
	struct review_cursor c, again;

	if (review_cursor_parse(s, &c) == 0) {
		if (c.id < 1 || (c.decided != 0 && c.decided != 1))
			abort();
		review_cursor_format(&c, out);
		if (strcmp(out, s) != 0) {
			fprintf(stderr, "cursor '%s' formats as '%s'\n", s, out);
			abort();
		}
		if (review_cursor_parse(out, &again) != 0 || again.id != c.id ||
		    again.decided != c.decided)
			abort();
	}
	free(s);
	return 0;
}
