/*
 * Memory for secrets (TOTP secrets, the codes people type): libsodium's
 * guarded allocations (sodium_malloc: guard pages on both sides, locked
 * out of swap, left out of core dumps), kept for reuse instead of being
 * mapped and unmapped for every login.
 *
 * Each sodium_malloc() is an mmap, two mprotects, an madvise and an mlock;
 * each sodium_free() as many calls again and an munmap, which flushes the
 * TLB of every CPU the process ran on. The auth service did that twice a
 * login. secmem_free() wipes the block (sodium_memzero) and keeps it, up to
 * SECMEM_KEEP blocks, for the next secmem_alloc() of the same size; sizes
 * are matched exactly, so a block's guard page stays where sodium_malloc
 * put it, right after the last byte asked for. Thread-safe.
 */
#ifndef IDGOV_SECMEM_H
#define IDGOV_SECMEM_H

#include <stddef.h>

#define SECMEM_KEEP 8

/* A guarded block of size bytes (contents undefined), or NULL. */
void *secmem_alloc(size_t size);

/* Wipes p's block and keeps it for reuse (or frees it); NULL is a no-op. */
void secmem_free(void *p);

/* Frees every kept block (wiped already); for the end of a process and tests. */
void secmem_release(void);

#endif
