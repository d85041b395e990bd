/* The input of the LSM store's fuzz target (test/c/lsm_fuzz.c) and its
 * seeds (test/c/lsm_seeds.c): a byte choosing the table kind (its value
 * modulo 4: set, bag, duplicate_bag, ordered_set), then batches, each as
 * a 2-byte little-endian length and that many bytes (the last one may be
 * cut short: it takes what is left). A batch's bytes are the LSM store's
 * log entries (doc/wal_format.md, "A batch's bytes"): varint klen, key,
 * varint blen, blob (a bag key's state: for each object varint length,
 * 8-byte fingerprint, bytes), zigzag varint delta. */
#ifndef XETS_TEST_LSM_FUZZ_H
#define XETS_TEST_LSM_FUZZ_H

#define LSM_FUZZ_KINDS 4
/* The files the target writes: MANIFEST-000001 naming WAL 2 live. */
#define LSM_FUZZ_MANIFEST 1
#define LSM_FUZZ_WAL 2

#endif
