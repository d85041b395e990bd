/* The compression of SSTable data blocks (doc/sstable_format.md, "The
 * trailer"): LZ4's block format, chosen for its decompression speed
 * (several GB/s a core, three or so times Zstandard's), since every data
 * block read from disk is decompressed and every write compresses only
 * once. A block stored compressed is
 *
 *   varint size | LZ4 block of the size bytes
 *
 * the size being the uncompressed block's. Pure: bytes in memory; the
 * trailer that says a block is compressed, and its checksum, are
 * sstable.c's.
 *
 * The writer keeps the compressed form only when it saves at least an
 * eighth of the block (LevelDB's rule): less would cost a decompression
 * on every read for little room. The reader trusts nothing: a size above
 * what LZ4 can expand the stored bytes to, or above SST_COMPRESS_MAX, is
 * refused before anything is allocated (so a crafted block makes it
 * allocate at most 255 times its stored size); LZ4's safe decoder neither
 * reads past the stored bytes nor writes past the size; and it must yield
 * exactly size bytes.
 *
 * Thread-safety: no shared state. */
#ifndef XETS_DISK_SSTABLE_COMPRESS_H
#define XETS_DISK_SSTABLE_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

/* The largest block LZ4 compresses (its LZ4_MAX_INPUT_SIZE); a larger one
 * is stored raw. Every block the builder writes is below it: an entry is
 * at most SST_ENTRY_MAX (2^30) bytes. */
#define SST_COMPRESS_MAX 0x7E000000u

/* Appends to out the stored form of the len bytes at p, with room for
 * extra bytes after it (the caller's trailer): XETS_OK if it saves at
 * least len / 8 bytes; XETS_NOTFOUND if it would not (the block is then
 * stored raw; out's length as it was); XETS_NOMEM. */
int sst_compress(const uint8_t *p, size_t len, size_t extra, bytes_t *out);

/* Decompresses the stored form of len bytes at p into out (emptied
 * first): XETS_OK with out->len the block's size; XETS_CORRUPT (a size
 * absurd or not above len, a varint that does not end, LZ4 bytes that do
 * not decode to exactly size bytes); XETS_NOMEM. */
int sst_decompress(const uint8_t *p, size_t len, bytes_t *out);

#endif
