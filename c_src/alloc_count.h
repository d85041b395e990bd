/* How much of the C heap xets's own code holds: blocks and bytes, summed
 * over threads (alloc_count.c tells how they are counted). The test suites
 * check after each case that both are back where they were once the
 * case's tables are gone (test/xets_leak_cth.erl).
 * Thread-safety: any thread, at any time; the sums are exact when no
 * thread allocates or frees meanwhile. */
#ifndef XETS_ALLOC_COUNT_H
#define XETS_ALLOC_COUNT_H

void alloc_count_read(long long *blocks, long long *bytes);

#endif
