/*
 * Timing helpers the benchmark programs share: a monotonic clock in
 * milliseconds, and the nearest-rank quantile of a set of samples.
 */
#ifndef IDGOV_BENCH_STATS_H
#define IDGOV_BENCH_STATS_H

#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds: differences only, never a date. */
double bench_now_ms(void);

/* The q-quantile (nearest rank) of v[0..n), which it sorts; -1 when n is 0. */
double bench_quantile(double *v, size_t n, double q);

#endif
