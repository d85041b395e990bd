/* Fuzz target of the key codec (c_src/key_codec.c): the input is taken
 * for the external format of a whole term and of an object, in both modes,
 * with two different nodes as the local one. Built with clang's libFuzzer
 * (`make fuzz`) or with test/c/fuzz_driver.c (`make check`); seeded with
 * term_to_binary/1 of many terms (test/c/key_seeds.escript).
 *
 * Beyond what ASan and UBSan catch, it checks: the status is XETS_OK,
 * XETS_CORRUPT or XETS_BADARG, the same in both modes; a failure leaves
 * the output as it was; a success leaves exactly one well-formed encoding
 * (test/c/key_check.h), the same on a second run; a term read whole
 * encodes as it does read as the only element of a tuple. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "key_check.h"
#include "key_codec.h"
#include "status.h"

/* A node from the bytes of one of its pids. */
static void node_of(key_node_t *n, const char *name, uint8_t creation)
{
    unsigned char b[64] = {88, 119, (unsigned char)strlen(name)};
    size_t len = 3 + strlen(name);
    memcpy(b + 3, name, strlen(name));
    memset(b + len, 0, 11);
    b[len + 11] = creation;
    const unsigned char *next;
    REQUIRE(key_codec_node_read(b, b + len + 12, n, &next) == XETS_OK);
}

/* Encodes with API whole (keypos 0) or element keypos; checks what any
 * call must give; returns the status, the encoding in k (after one byte
 * put there first). */
static int encode(const uint8_t *data, size_t size, uint32_t keypos, key_mode_t mode,
                  const key_node_t *local, kbuf_t *k)
{
    kbuf_init(k);
    k->p[0] = 0xA5;
    k->len = 1;
    int st = keypos == 0 ? key_codec_encode(data, size, mode, local, k)
                         : key_codec_encode_element(data, size, keypos, mode, local, k);
    REQUIRE(st == XETS_OK || st == XETS_CORRUPT || st == XETS_BADARG);
    REQUIRE(k->p[0] == 0xA5);
    if (st != XETS_OK)
        REQUIRE(k->len == 1);
    else
        REQUIRE(key_check_one(k->p + 1, k->len - 1));
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static key_node_t nodes[2];
    static bool ready;
    if (!ready) {
        node_of(&nodes[0], "nonode@nohost", 0); /* the seeds' writer */
        node_of(&nodes[1], "x@h", 3);
        ready = true;
    }
    for (int n = 0; n < 2; n++) {
        kbuf_t k[2], again;
        int st[2];
        for (int m = 0; m < 2; m++)
            st[m] = encode(data, size, 0, (key_mode_t)m, &nodes[n], &k[m]);
        REQUIRE(st[0] == st[1]);
        if (st[0] == XETS_OK) {
            REQUIRE(encode(data, size, 0, KEY_ORDERED, &nodes[n], &again) == XETS_OK);
            REQUIRE(again.len == k[0].len && memcmp(again.p, k[0].p, again.len) == 0);
            kbuf_free(&again);
            /* {Term}: the same encoding as its key at position 1. */
            uint8_t *tuple = malloc(size + 2);
            REQUIRE(tuple != NULL);
            tuple[0] = 131;
            tuple[1] = 104;
            tuple[2] = 1;
            memcpy(tuple + 3, data + 1, size - 1);
            REQUIRE(encode(tuple, size + 2, 1, KEY_EXACT, &nodes[n], &again) == XETS_OK);
            REQUIRE(again.len == k[1].len && memcmp(again.p, k[1].p, again.len) == 0);
            kbuf_free(&again);
            free(tuple);
        }
        kbuf_free(&k[0]);
        kbuf_free(&k[1]);
        /* As an object: a key position from the input. */
        kbuf_t e;
        encode(data, size, size > 1 ? 1 + data[size - 1] % 4 : 1, (key_mode_t)n, &nodes[n], &e);
        kbuf_free(&e);
    }
    return 0;
}
