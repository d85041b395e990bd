/* LZ4 for SSTable data blocks: the stored form and the checks are in
 * sstable_compress.h. */
#include "sstable_compress.h"

#include <lz4.h>

#include "../status.h"

_Static_assert(SST_COMPRESS_MAX == LZ4_MAX_INPUT_SIZE, "LZ4's largest input");

/* Each byte of an LZ4 block yields at most 255 bytes (a match length
 * byte of 255): a size beyond that cannot be the stored bytes'. */
#define LZ4_MAX_RATIO 255

int sst_compress(const uint8_t *p, size_t len, size_t extra, bytes_t *out)
{
    uint8_t head[VARINT_MAX];
    size_t hlen = varint_put(head, len);
    /* At least an eighth, and at least a byte: a stored form as long as
     * the block would not tell the reader it is compressed (the reader
     * refuses a size not above the stored one). */
    size_t save = len / 8 > 0 ? len / 8 : 1;
    if (len > SST_COMPRESS_MAX || len < hlen + save + 1)
        return XETS_NOTFOUND;
    size_t room = len - hlen - save; /* LZ4 gives up past it */
    if (!bytes_reserve(out, hlen + room + extra))
        return XETS_NOMEM;
    int n = LZ4_compress_default((const char *)p, (char *)out->p + out->len + hlen, (int)len,
                                 (int)room);
    if (n <= 0)
        return XETS_NOTFOUND;
    bytes_put(out, head, hlen);
    out->len += (size_t)n;
    return XETS_OK;
}

int sst_decompress(const uint8_t *p, size_t len, bytes_t *out)
{
    const uint8_t *q = p, *end = p + len;
    uint64_t size;
    if (!varint_get(&q, end, SST_COMPRESS_MAX, &size) || size <= len ||
        size > (uint64_t)LZ4_MAX_RATIO * len)
        return XETS_CORRUPT;
    out->len = 0;
    if (!bytes_reserve_to(out, size))
        return XETS_NOMEM;
    /* size <= SST_COMPRESS_MAX, and the LZ4 bytes are fewer: both fit an
     * int. */
    int n = LZ4_decompress_safe((const char *)q, (char *)out->p, (int)(end - q), (int)size);
    if (n < 0 || (uint64_t)n != size)
        return XETS_CORRUPT;
    out->len = size;
    return XETS_OK;
}
