/*
 * What the bench helpers in C share to time and summarise: a monotonic
 * clock in milliseconds and the nearest-rank quantile of a sample.
 */
#ifndef IDGOV_BENCH_TIMING_H
#define IDGOV_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of v[0..n), which it sorts; -1 when n is 0. */
static inline double
quantile(double *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

#endif
