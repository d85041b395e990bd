/* A plain fuzzing driver for a libFuzzer-style target (a file defining
 * LLVMFuzzerTestOneInput), for machines without libFuzzer: `make check`
 * runs the targets with it, built with gcc under ASan and UBSan; `make
 * fuzz` runs the same targets with clang's libFuzzer, which also learns
 * from coverage.
 *
 *   X_fuzz.asan [-t SECONDS] [-s SEED] CORPUS...
 *
 * CORPUS: files, or directories of files, each one input. Every input is
 * run as it is, then mutations of them until SECONDS (default 3) are up:
 * bytes changed, set to values that are often counts or tags, bits
 * flipped, stretches inserted, deleted, repeated or cut off, two inputs
 * spliced, now and then bytes at random. The same SEED (default: the
 * time) replays the same run. On a crash, a failed check or a sanitizer
 * report, the input being run is written to fuzz-crash.bin and the seed
 * printed. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LEN 65536

typedef struct {
    uint8_t *p;
    size_t len;
} input_t;

static input_t *corpus;
static size_t ncorpus, capcorpus;

static const uint8_t *current;
static size_t current_len;
static unsigned long long seed;

/* Writes the input being run: called on the way out of a failed run, so
 * only async-signal-safe calls. */
static void save_current(void)
{
    int fd = open("fuzz-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < current_len) {
            ssize_t n = write(fd, current + off, current_len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        close(fd);
    }
    static const char msg[] = "fuzz_driver: input written to fuzz-crash.bin\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        return;
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void add(const uint8_t *p, size_t len)
{
    if (len > MAX_LEN)
        len = MAX_LEN;
    if (ncorpus == capcorpus) {
        capcorpus = capcorpus ? 2 * capcorpus : 256;
        corpus = realloc(corpus, capcorpus * sizeof *corpus);
        if (!corpus)
            abort();
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, p, len);
    corpus[ncorpus++] = (input_t){copy, len};
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    static uint8_t buf[MAX_LEN];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    add(buf, n);
}

static void load(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        load_file(full);
    }
    if (d)
        closedir(d);
}

static uint64_t rng;

static uint64_t rnd(void)
{
    return rng_next(&rng);
}

static size_t below(size_t n)
{
    return rng_below(&rng, n);
}

/* One to four mutations of a corpus input into buf; returns the length. */
static size_t mutate(uint8_t *buf)
{
    static const uint8_t interesting[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 127, 128, 254, 255,
                                          70, 77, 80, 88, 90, 97, 98, 100, 104, 105, 106,
                                          107, 108, 109, 110, 111, 112, 113, 116, 118, 119, 131};
    const input_t *in = &corpus[below(ncorpus)];
    size_t len = in->len;
    memcpy(buf, in->p, len);
    if (below(50) == 0) { /* bytes at random */
        len = below(64);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd();
        return len;
    }
    for (size_t k = 1 + below(4); k > 0; k--) {
        size_t at = below(len);
        switch (below(8)) {
        case 0:
            if (len)
                buf[at] = (uint8_t)rnd();
            break;
        case 1:
            if (len)
                buf[at] = interesting[below(sizeof interesting)];
            break;
        case 2:
            if (len)
                buf[at] ^= (uint8_t)(1u << below(8));
            break;
        case 3: { /* insert up to 8 bytes */
            size_t n = 1 + below(8);
            if (len + n > MAX_LEN)
                break;
            memmove(buf + at + n, buf + at, len - at);
            for (size_t i = 0; i < n; i++)
                buf[at + i] = (uint8_t)rnd();
            len += n;
            break;
        }
        case 4: { /* delete up to 8 bytes */
            size_t n = 1 + below(8);
            if (at + n > len)
                n = len - at;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        case 5: /* cut off */
            len = at;
            break;
        case 6: { /* repeat a stretch */
            size_t n = 1 + below(16);
            if (at + n > len || len + n > MAX_LEN)
                break;
            memmove(buf + at + n, buf + at, len - at);
            len += n;
            break;
        }
        default: { /* splice: the head of this one, the tail of another */
            const input_t *o = &corpus[below(ncorpus)];
            size_t from = below(o->len);
            size_t n = o->len - from;
            if (at + n > MAX_LEN)
                n = MAX_LEN - at;
            memcpy(buf + at, o->p + from, n);
            len = at + n;
        }
        }
    }
    return len;
}

static void run(const uint8_t *p, size_t len)
{
    current = p;
    current_len = len;
    LLVMFuzzerTestOneInput(p, len);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    seed = (unsigned long long)time(NULL);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "-t") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "-s") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    for (; i < argc; i++)
        load(argv[i]);
    if (ncorpus == 0)
        add((const uint8_t *)"", 0);
    rng = seed * 2654435761u | 1; /* never 0 */
    __sanitizer_set_death_callback(save_current);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    fprintf(stderr, "fuzz_driver: %zu inputs, %.0f s, seed %llu\n", ncorpus, seconds, seed);

    for (size_t k = 0; k < ncorpus; k++)
        run(corpus[k].p, corpus[k].len);
    static uint8_t buf[MAX_LEN];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long runs = 0;
    for (;;) {
        for (int b = 0; b < 256; b++, runs++)
            run(buf, mutate(buf));
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            break;
    }
    fprintf(stderr, "fuzz_driver: %llu runs of mutations, no failure\n", runs);
    return 0;
}
