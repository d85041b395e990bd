/* XXH3-64 for xets_disk_failure_SUITE, as an Erlang port ({packet, 4}):
 * each request is an 8-byte big-endian seed and the bytes to hash; each
 * answer the 8-byte big-endian hash. The suite needs it to write files
 * that are valid in every checksum but of another format version (the
 * formats' checksums are XXH3-64: doc/log_format.md, doc/sstable_format.md);
 * Erlang/OTP has no XXH3 of its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

static int read_full(void *p, size_t n)
{
    return fread(p, 1, n, stdin) == n;
}

int main(void)
{
    unsigned char len4[4];
    while (read_full(len4, 4)) {
        size_t len = (size_t)len4[0] << 24 | (size_t)len4[1] << 16 | (size_t)len4[2] << 8 | len4[3];
        unsigned char *buf = malloc(len ? len : 1);
        if (buf == NULL || len < 8 || !read_full(buf, len))
            return 1;
        uint64_t seed = 0;
        for (int i = 0; i < 8; i++)
            seed = seed << 8 | buf[i];
        uint64_t h = XXH3_64bits_withSeed(buf + 8, len - 8, seed);
        free(buf);
        unsigned char out[12] = {0, 0, 0, 8};
        for (int i = 0; i < 8; i++)
            out[4 + i] = (unsigned char)(h >> (56 - 8 * i));
        if (fwrite(out, 1, sizeof out, stdout) != sizeof out || fflush(stdout) != 0)
            return 1;
    }
    return 0;
}
