/*
 * What the fuzz targets share. Each target defines LLVMFuzzerTestOneInput
 * (and LLVMFuzzerInitialize when it needs a world made once per process);
 * libFuzzer drives it in the fuzz build, replay.c in the ordinary build.
 */
#ifndef IDGOV_FUZZ_H
#define IDGOV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (the parsers take C strings); aborts when out of memory. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A world the target cannot make is a broken harness, not a finding: say so and stop. */
__attribute__((noreturn)) static inline void
fuzz_die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz setup: %s: %s\n", what, why);
	exit(2);
}

#endif
