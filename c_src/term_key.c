/* Placeholder until the codec lands: encodes via external term format. */
#include "term_key.h"
#include "status.h"
#include <stdlib.h>
#include <string.h>

void kbuf_init(kbuf_t *b) { b->p = b->inline_buf; b->len = 0; b->cap = sizeof b->inline_buf; }
void kbuf_free(kbuf_t *b) { if (b->p != b->inline_buf) free(b->p); kbuf_init(b); }

int term_key_encode(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *out)
{
    (void)mode;
    ErlNifBinary bin;
    if (!enif_term_to_binary(env, t, &bin)) return XETS_NOMEM;
    if (out->len + bin.size > out->cap) {
        size_t cap = (out->len + bin.size) * 2;
        unsigned char *p = malloc(cap);
        if (!p) { enif_release_binary(&bin); return XETS_NOMEM; }
        memcpy(p, out->p, out->len);
        if (out->p != out->inline_buf) free(out->p);
        out->p = p; out->cap = cap;
    }
    memcpy(out->p + out->len, bin.data, bin.size);
    out->len += bin.size;
    enif_release_binary(&bin);
    return XETS_OK;
}
