/* ordered_set: a lock-free skiplist after Fraser ("Practical lock-freedom",
 * 2004) and Herlihy & Shavit ("The Art of Multiprocessor Programming",
 * ch. 14), one object per key, whose links carry partial keys, with a point
 * index in front of it (a presence filter and hints from keys to nodes)
 * that spares most operations on one key the search: lookups, replaces,
 * updates and deletes of present keys, lookups of absent ones.
 *
 * How it departs from Pugh's skiplist: there are no locks and no backward
 * links. Every level is a Harris list: a node leaves a level when the low bit
 * of its own next pointer there is set (the pointer is then frozen) and a CAS
 * on its predecessor's pointer unlinks it. Writers' searches perform that CAS
 * for any marked node they dereference; readers' searches step over marked
 * nodes and never write. Towers are linked bottom-up and marked top-down,
 * level 0 last.
 *
 * How it departs from the textbook:
 * - Links carry partial keys, as in the partial-key B-tree (Bohannon,
 *   McIlroy, Rastogi 2001). A search waits on one cache miss per node it
 *   dereferences, and the textbook search dereferences about as many nodes
 *   only to find them too large and descend as it moves to. So the top 16
 *   bits of each link word, the tag, say how the successor's key prefix (its
 *   first 8 bytes, key_prefix()) leaves the prefix of the node holding the
 *   link: at which bit d they first differ (the successor has the 1 there)
 *   and the successor's 9 bits after d (the window), or 0 for the same
 *   prefix. Encoded as code_at() does, d reversed, such codes taken against
 *   one holder order as the prefixes do. A search standing on a node below
 *   its key computes the key's own code against that node; a larger tag
 *   puts the successor above the key, a smaller nonzero one below it, and
 *   only an equal tag or 0 (equal prefixes) sends the search to read the
 *   successor's key. A search thus descends without touching what it stops
 *   before, dereferences (nearly) only the nodes it moves to, settles most
 *   misses at level 0 without touching the candidate, and carries the key's
 *   code past a node from the tag alone (code_past()).
 * - Tags are exact, not hints: a tag is a function of two immutable
 *   prefixes and is written by the same CAS as the pointer it describes, so
 *   whoever loads a link word holds a true tag for that very successor, and
 *   searches may trust it both ways (a hint kept beside the link could be
 *   stale, and would only serve to descend). Marking sets bit 0 and keeps the
 *   tag. A writer computes a tag from both prefixes, but an insert gets most
 *   of its tags from its search: the link into the new node carries the
 *   key's code against the predecessor (which the search tracks), and the
 *   link out of it carries the predecessor's old tag whenever the new key
 *   leaves the predecessor's prefix after the successor does; only
 *   otherwise is the successor read (link_from()), fetched while the node
 *   is made.
 * - The node's value word (a blob pointer, with the blob's size in its top
 *   bits), not the level-0 mark, is the linearization point of object
 *   changes. Replacing an object is a CAS of the value word to a new blob;
 *   removing it is a CAS to NULL (0), and only then is the tower marked and
 *   unlinked. NULL is terminal and makes the node absent to every reader; an
 *   insert that meets such a node helps mark it and retries.
 *   A search for one key (a lookup, an insert) stops at the node holding it
 *   on whatever level it meets it, if its value is not NULL at that load;
 *   a NULL value there is no answer, as a dead node may stay linked above
 *   level 0 after a new node with its key took its place there.
 * - A node's first object, when small (EMBED_MAX), lives in the node's own
 *   allocation, after the key, so that a lookup does not chase one more
 *   pointer; it needs no length header, its value word carries the length.
 *   Later objects get blobs of their own; the first one's space goes with
 *   the node. Sets carry no fingerprint, so a blob is its length and the
 *   bytes. The header's prefix field holds the key's first 8 bytes
 *   as they are (compared as a big-endian number); a key no longer than
 *   that is not stored again after the links.
 * - Memory is reclaimed through epochs (epoch.h), not a collector. A blob is
 *   retired by the thread whose CAS displaced it. A node may still be getting
 *   upper levels linked by its inserter after it was deleted, so it is
 *   retired by whoever lets go of it last: node->refs starts at 2, the
 *   inserter (when it stops linking) and the deleter (the thread whose mark
 *   on level 0 landed) each drop one, and so does whoever took a pin (below);
 *   the last one runs a full search for the key, which unlinks the node from
 *   every level, removes it from the hints, and retires it (Fraser's
 *   READY_FOR_FREE handshake, counted).
 * - An inserter never links an upper level in front of another node with its
 *   own key (that node is dead and fully marked: it searches again, which
 *   unlinks it). Hence a search for K meets every node with key K on every
 *   level it descends, which is what makes the cleanup search sufficient.
 *   Tags keep this: a tag never settles the order against the searched key
 *   itself (its code equals the tag, or both prefixes are equal), so such
 *   nodes are always dereferenced. Marked nodes with other keys that a tag
 *   lets a search pass by stay linked until their own cleanup search.
 * - Backward traversal is a fresh predecessor search per step, without
 *   allocation: towers are singly linked.
 * - Heights are not drawn at random: a node's is 1 + the trailing zeros of
 *   its key's hash (the point index's XXH3 of the key encoding) mixed with
 *   a seed drawn once per process (key_height()). Each level still holds a
 *   node with probability 1/2, Pugh's p, so searches cost what they did;
 *   but the same keys make the same towers whatever the order and the
 *   threads of their inserts, so that equal contents take equal memory (a
 *   table reloaded from a dump reports what the original did; the point
 *   index is sized to match, index_bytes()). Random heights, and indexes
 *   sized by when a writer checked, gave the same 10,000 inserts 80,220 to
 *   80,859 words. A hash known in advance would let keys be chosen to make
 *   tall nodes, whose links cost memory and, if most nodes were tall, turn
 *   searches linear; the seed keeps that from being computed offline.
 *   Hence equal contents take equal memory within one process, not across
 *   processes.
 * - The store's order (store.h) is the key encoding itself ("key"). A
 *   cursor walks level 0 forward, or searches backward, and holds the node
 *   of its last step between steps (within one epoch section), no lock.
 * - Clearing (delete_all_objects) walks nothing: the head, the index and
 *   the counts change places with those of a new, empty store, which takes
 *   the nodes to the reaper (store.h).
 *
 * The point index. A search waits on a cache miss at nearly every node it
 * moves to, about log2(n) of them, where a hash lookup waits on two. So
 * operations on one key go through a pindex_t first, one allocation (huge
 * pages when large) holding:
 * - A presence filter: a Bloom filter whose FILTER_K bits per key lie in
 *   one 64-bit word. Every node gets its key's bits in the current index
 *   before it is linked, and bits are never cleared, so "not all bits set"
 *   proves that no node with the key was present when the reader loaded the
 *   index pointer (its linearization point; see Rebuilds for why the index
 *   also covers every node linked before it was published). Most lookups of
 *   absent keys end there, on one miss.
 * - Hints: buckets of HINT_WAYS node pointers, each tagged with 16 bits of
 *   the key's hash; a key may be named in either of two buckets (two
 *   choices: the first with a free way). A node is named by its inserter right after linking, by
 *   a search that found it (lookup, replace) and by a rebuild's walk. A
 *   hinted node whose key equals the key and whose value is not NULL at that
 *   load is the key's present node (a reachable node with the key and a
 *   value is the one on level 0), so lookups, replaces, updates and deletes
 *   act on it as if a search had found it. A NULL value is no answer (the
 *   key may have a new node): the operation searches. Hints are lossy: two
 *   full buckets give up a random way, and a lost CAS leaves a hint out.
 *   A hint may name a node only while the node cannot be retired: whoever
 *   names it holds a ref (the inserter's own, or a pin: a CAS on node->refs
 *   that fails once it is 0), and retirement, which starts at 0, clears the
 *   node from the current index and the one being built. Indexes replaced
 *   earlier are themselves retired through the epoch, and only sections that
 *   the node's own retirement waits for can still read them.
 * - Readers therefore write now and then: a lookup that had to search pins
 *   the node and hints it, and if it turns out to hold the last ref, it
 *   retires the node (a writer's search, lock-free as any).
 * Rebuilds. An index is sized for a power of two of keys, 1.5 to 3 times
 *   those present when it is made (FILTER_BITS per key, HINT_PER_KEY hint
 *   entries per key of that). Once as many keys have been added as it has
 *   room for beyond those (stripe counters `adds`), or the table has shrunk
 *   far below it, a writer makes a new one and publishes it as ix_next; every insert from then on sets its
 *   bits in both. A walk then visits level 0 (a step every WALK_EVERY
 *   writes, in stretches followed side by side, resuming with a search for
 *   the key it stopped at, under a try-lock that no reader takes), sets the
 *   bits and hints of every node with a value, and makes ix_next the index.
 *   An insert that loaded ix_next before it was published may link its node
 *   behind the walk, so the walk first waits for those: inserts register in
 *   the stripe counter inflight[phase] before loading ix_next and leave
 *   after linking; publishing flips the phase, and the walk starts once the
 *   old phase's counts are all 0. An insert checks the phase again after
 *   registering, so it either is counted in the phase being drained or loads
 *   ix_next after it was published (the counts and the phase are
 *   sequentially consistent). A node present when the walk ends was thus
 *   either present throughout the walk (which sets its bits) or linked by an
 *   insert that set them. Inserts load ix_next before ix, so that a rebuild
 *   ending in between cannot leave their node out of both. A stalled walk
 *   delays only the next index; the current one stays exact.
 *
 * Invariants:
 * - On every level keys strictly increase along next pointers, frozen ones
 *   included; so a traversal never repeats a key or goes backwards, and a
 *   node present for a whole traversal is on its path.
 * - Every non-NULL link word's tag is tag_of(holder's prefix, successor's
 *   prefix); the head's key is empty (prefix 0).
 * - A node is linked on level i only after every level below i; level 0
 *   holds at most one node per key. A marked pointer and a NULL value never
 *   change again.
 * - Keys, heights and blobs are immutable once published; a node is retired
 *   only when no level links it, and nothing links it again.
 * - Every node whose value is not NULL has its key's bits in the current
 *   filter; a filter's bits only ever get set.
 * - A hint names a node that is not retired; once retirement has begun, no
 *   hint names it again.
 * skiplist_check() tests these on a quiescent store.
 *
 * Memory ordering:
 * - Node and blob contents are written before the CAS that publishes them,
 *   which is release; every load of a link or value word is acquire, so a
 *   thread that sees a pointer sees what it points to. A tag needs nothing of
 *   its own: it is part of the word.
 * - Every CAS (links, marks, values) is acq_rel: a thread that won a CAS
 *   acts on what the previous owner of the word published.
 * - node->refs changes by acq_rel fetch-add (drops) and CAS (pins), so the
 *   last party sees the others' links, marks and hints before its cleanup
 *   search and hint clearing.
 * - Filter bits are set by an atomic OR before the link CAS, whose release
 *   orders them first; a reader loads the index pointer, then the word.
 *   Index pointers are published with a full fence (store_index), so what
 *   the walk set is seen by whoever loads the new pointer. Hint words are
 *   link-like: CAS to publish or clear, acquire loads.
 * - The insert phase, the in-flight counts and the index pointers are
 *   sequentially consistent (fenced on both sides): the rebuild argument
 *   above orders an insert's registration, phase check and ix_next load
 *   against the publication, the flip and the walk's reading of the counts.
 * - The height hint s->top and the counters are relaxed: a stale top only
 *   makes a search start lower (each level is a subset of the one below), and
 *   searches that must reach a given node start at least at its height;
 *   counters are exact only when quiescent.
 * ck_pr's x86-64 port is inline assembly, which ThreadSanitizer cannot see;
 * under TSan the same orderings are spelled with compiler builtins. */
#include "epoch.h"
#include "status.h"
#include "store.h"

#include <ck_pr.h>
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

#if defined(__SANITIZE_THREAD__)
#define SL_TSAN 1
#else
#define SL_TSAN 0
#endif

/* Tags and object sizes take the top 16 bits of 64-bit link and value
 * words: user-space addresses on x86-64 and arm64 Linux stay below 2^47
 * unless a mapping asks for more, and node_alloc() and blob_new() refuse any
 * that would not fit. */
#if UINTPTR_MAX != UINT64_MAX
#error "skiplist.c keeps tags in the upper bits of 64-bit pointers"
#endif

/* Towers grow with p = 1/2. With tags a level costs about one miss per move
 * forward: p = 1/4 would move three times per level; p = 2/3 or 3/4 showed
 * no fewer misses in a cache model of the benchmark, only bigger nodes. 32
 * levels serve 2^32 keys. */
#define MAX_HEIGHT 32
#define NSTRIPES 32
/* Writes between two epoch_poll() calls of one thread. */
#define POLL_EVERY 64
/* Objects up to this size (external format) are kept in the node created
 * with them, where a lookup finds them in the lines it already fetches
 * instead of chasing one more pointer. A replacement gets a blob of its own
 * and the first object's space stays with the node until it is freed, so
 * the bound also caps what replacing leaves unused. */
#define EMBED_MAX 128
_Static_assert(EMBED_MAX < 255, "node->owns holds 1 + the length of an object in the node");
/* The point index. The filter: FILTER_BITS bits per key it is sized for,
 * FILTER_K of them per key, all in one 64-bit word (one load, one OR);
 * sized for 1.5 to 3 times the keys present at a rebuild (twice when the
 * table grows: index_capacity()), it rules out all but a few percent of
 * absent keys until it is full. Hints: HINT_WAYS entries per bucket (one
 * cache line; 8 ways keep ~86% of keys at one key per entry, where 2 ways
 * keep 73%), HINT_PER_KEY entries per key of the filter's size: 1.5 per
 * key present at a growing table's rebuild (12 bytes), 0.75 once the table
 * has doubled (6 bytes). Half as many hints lost about a third of the
 * lookup speed on keys not looked up before; twice as many gained little.
 * Each key has two buckets: with one, 10-13% of the keys went unhinted
 * once the table had grown by a third to a half since the rebuild (every
 * write or lookup of such a key is a full search), with two 3-6%; both
 * lines are fetched at once, so a lookup waits on one miss as before. */
#define FILTER_BITS 8
#define FILTER_K 3
#define HINT_WAYS 8
#define HINT_PER_KEY 0.75
#define INDEX_MIN 64      /* keys the smallest index is sized for */
#define INDEX_MAP_MIN (1u << 20) /* bytes from which an index is a mapping */
/* A rebuild walks a step every WALK_EVERY writes of the table: WALK_WAYS
 * stretches of level 0 at once, each about 2^WALK_LEVEL nodes and at most
 * WALK_SEG_MAX, so about 8 nodes per write. It ends long before the table
 * doubles again, at a bounded cost per write. */
#define WALK_WAYS 4
#define WALK_LEVEL 6
#define WALK_SEG_MAX 256
#define WALK_EVERY 32

/* A link word: node address | tag << TAG_SHIFT | mark. */
typedef uint64_t link_t;
#define TAG_SHIFT 48
#define LINK_ADDR (((UINT64_C(1) << TAG_SHIFT) - 1) & ~UINT64_C(1))
/* A tag: TAG_KNOWN | (63 - d) << TAG_WINDOW | the successor's TAG_WINDOW
 * bits after bit d; 0 when the two prefixes are equal. Bits count from the
 * top (code_at()). */
#define TAG_KNOWN 0x8000u
#define TAG_WINDOW 9
#define WINDOW_MASK ((1u << TAG_WINDOW) - 1)

/* An object kept outside its node: its length, then its bytes. Sets carry
 * no fingerprint (store.h: fp is 0 unless bag). */
typedef struct blob {
    size_t vlen;
    unsigned char bytes[];
} blob_t;

/* A value word: the address of the object's bytes | its length <<
 * TAG_SHIFT, or VAL_LEN_BIG there for longer objects (whose blob header
 * then says); 0 once the object is removed. An object kept in its node has
 * no header: the length in its value word is all there is (and node->owns,
 * for the node's size). The length also lets replacing count the bytes it
 * frees without a cache miss on the object it displaces. */
typedef uint64_t val_t;
#define VAL_LEN_BIG 0xffffu

/* A search reads next[i] of the nodes it moves to, and the prefix, klen,
 * val and the object of the node it finds; the header is kept to 24 bytes
 * (keys to 4 GiB) so that the lower links and a small object share its
 * cache lines. The prefix is kept as the key's bytes: a key of up to 8
 * bytes (small integers, short atoms) lives there and nowhere else. */
typedef struct node {
    uint64_t kraw; /* the key's first 8 bytes, zero-padded: node_pfx() */
    val_t val;     /* 0 once the object is removed */
    uint32_t klen;
    uint8_t height;
    uint8_t owns;   /* 1 + the length of the first object, kept after the key; 0 */
    uint16_t refs;  /* inserter, deleter, pins: the last to let go retires */
    link_t next[];  /* height links; then the key, if longer than 8 bytes */
} node_t;

/* A key being searched for, with its prefix computed once. */
typedef struct skey {
    const unsigned char *p;
    size_t len;
    uint64_t pfx;
} skey_t;

/* One per cache line: threads hashed to different stripes never share one. */
typedef struct stripe {
    _Alignas(64) uint64_t count;
    uint64_t bytes;
    uint64_t adds;        /* nodes ever linked: what filters have absorbed */
    uint64_t writes;      /* paces rebuilds (wrote()) */
    uint64_t inflight[2]; /* inserts between filter and link, by phase */
} stripe_t;

/* The point index (see "The point index" above): a presence filter that can
 * prove a key absent, and hints from keys to their nodes. Sized once; a
 * rebuild replaces the whole of it. */
typedef struct pindex {
    size_t bytes;       /* this allocation, for memory() */
    uint64_t words;     /* filter words */
    uint64_t buckets;   /* hint buckets of HINT_WAYS entries */
    uint64_t capacity;  /* keys the filter is sized for */
    uint64_t adds_base; /* stripes' adds when it was made */
    uint64_t slack;     /* adds after adds_base that call for a rebuild */
    uint64_t *filter;   /* words */
    uint64_t *hints;    /* buckets * HINT_WAYS entries: node | tag << TAG_SHIFT */
    void *mapped;       /* large indexes are their own mapping */
    size_t mapped_len;
} pindex_t;

struct store {
    node_t *head;  /* sentinel below every key; its key is empty, never marked */
    unsigned top;  /* hint: the tallest tower so far */
    pindex_t *ix;  /* what readers use */
    pindex_t *ix_next; /* being built, or NULL; writers feed both */
    unsigned phase;    /* what inserts register in: stripe.inflight[phase] */
    /* The rebuild, under `busy` (a try-lock: a writer that finds it taken
     * leaves the step to the next one). */
    _Alignas(64) unsigned busy;
    bool draining;           /* the walk waits for inflight[1 - phase] to empty */
    bool walking;            /* the walk has a cursor */
    unsigned char *walk_key; /* the last key walked */
    size_t walk_klen, walk_cap;
    uint64_t rebuilds;       /* completed, for tests and benchmarks */
    stripe_t stripe[NSTRIPES];
};

/* ---- atomics: ck_pr, or builtins the race detector understands ---- */

/* Link and value words. */
static inline uint64_t load_word(const uint64_t *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_ACQUIRE);
#else
    uint64_t v = ck_pr_load_64(addr);
    ck_pr_fence_acquire();
    return v;
#endif
}

static inline bool cas_word(uint64_t *addr, uint64_t old, uint64_t new)
{
#if SL_TSAN
    return __atomic_compare_exchange_n(addr, &old, new, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
#else
    ck_pr_fence_release();
    bool ok = ck_pr_cas_64(addr, old, new);
    ck_pr_fence_acquire();
    return ok;
#endif
}

static inline uint16_t faa_acqrel_16(uint16_t *addr, uint16_t d)
{
#if SL_TSAN
    return __atomic_fetch_add(addr, d, __ATOMIC_ACQ_REL);
#else
    ck_pr_fence_release();
    uint16_t old = ck_pr_faa_16(addr, d);
    ck_pr_fence_acquire();
    return old;
#endif
}

static inline bool cas_acqrel_16(uint16_t *addr, uint16_t old, uint16_t new)
{
#if SL_TSAN
    return __atomic_compare_exchange_n(addr, &old, new, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
#else
    ck_pr_fence_release();
    bool ok = ck_pr_cas_16(addr, old, new);
    ck_pr_fence_acquire();
    return ok;
#endif
}

static inline uint16_t load_acquire_16(const uint16_t *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_ACQUIRE);
#else
    uint16_t v = ck_pr_load_16(addr);
    ck_pr_fence_acquire();
    return v;
#endif
}

/* Filter words. Setting bits needs no fence of its own: the CAS that links
 * the node next is release (and a locked instruction on x86-64 is a full
 * barrier anyway). */
static inline void or_64(uint64_t *addr, uint64_t bits)
{
#if SL_TSAN
    __atomic_fetch_or(addr, bits, __ATOMIC_SEQ_CST);
#else
    ck_pr_or_64(addr, bits);
#endif
}

/* The index pointers. */
static inline pindex_t *load_index(pindex_t *const *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_SEQ_CST);
#else
    pindex_t *p = ck_pr_load_ptr(addr);
    ck_pr_fence_acquire();
    return p;
#endif
}

static inline void store_index(pindex_t **addr, pindex_t *p)
{
#if SL_TSAN
    __atomic_store_n(addr, p, __ATOMIC_SEQ_CST);
#else
    ck_pr_fence_release();
    ck_pr_store_ptr(addr, p);
    ck_pr_fence_memory();
#endif
}

/* The insert phase and in-flight counts: sequentially consistent, so that
 * an insert's registration, its phase check and its load of the index
 * being built are ordered against the rebuild's publication, phase flip and
 * count reads (see "Rebuilds"). On x86-64 the RMWs are locked instructions,
 * full barriers already; the fences name the order for other ports. */
static inline unsigned load_seqcst_uint(const unsigned *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_SEQ_CST);
#else
    ck_pr_fence_atomic_load(); /* after the registration's RMW */
    unsigned v = ck_pr_load_uint(addr);
    ck_pr_fence_acquire();
    return v;
#endif
}

static inline void store_seqcst_uint(unsigned *addr, unsigned v)
{
#if SL_TSAN
    __atomic_store_n(addr, v, __ATOMIC_SEQ_CST);
#else
    ck_pr_fence_memory();
    ck_pr_store_uint(addr, v);
    ck_pr_fence_memory();
#endif
}

static inline void add_seqcst_64(uint64_t *addr, uint64_t d)
{
#if SL_TSAN
    __atomic_fetch_add(addr, d, __ATOMIC_SEQ_CST);
#else
    ck_pr_fence_release(); /* a leaving insert's link comes first */
    ck_pr_add_64(addr, d);
    ck_pr_fence_atomic_load(); /* before the loads that follow */
#endif
}

static inline uint64_t load_seqcst_64(const uint64_t *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_SEQ_CST);
#else
    ck_pr_fence_memory();
    uint64_t v = ck_pr_load_64(addr);
    ck_pr_fence_acquire();
    return v;
#endif
}

static inline bool trylock(unsigned *addr)
{
#if SL_TSAN
    unsigned old = 0;
    return __atomic_compare_exchange_n(addr, &old, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
#else
    bool ok = ck_pr_cas_uint(addr, 0, 1);
    ck_pr_fence_acquire();
    return ok;
#endif
}

static inline void unlock(unsigned *addr)
{
#if SL_TSAN
    __atomic_store_n(addr, 0, __ATOMIC_RELEASE);
#else
    ck_pr_fence_release();
    ck_pr_store_uint(addr, 0);
#endif
}

static inline unsigned faa_relaxed_uint(unsigned *addr, unsigned d)
{
#if SL_TSAN
    return __atomic_fetch_add(addr, d, __ATOMIC_RELAXED);
#else
    return ck_pr_faa_uint(addr, d);
#endif
}

static inline unsigned load_relaxed_uint(const unsigned *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_RELAXED);
#else
    return ck_pr_load_uint(addr);
#endif
}

static inline bool cas_relaxed_uint(unsigned *addr, unsigned old, unsigned new)
{
#if SL_TSAN
    return __atomic_compare_exchange_n(addr, &old, new, false, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
#else
    return ck_pr_cas_uint(addr, old, new);
#endif
}

static inline void add_relaxed_64(uint64_t *addr, uint64_t d)
{
#if SL_TSAN
    __atomic_fetch_add(addr, d, __ATOMIC_RELAXED);
#else
    ck_pr_add_64(addr, d);
#endif
}

static inline uint64_t load_relaxed_64(const uint64_t *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_RELAXED);
#else
    return ck_pr_load_64(addr);
#endif
}

static inline void store_relaxed_64(uint64_t *addr, uint64_t v)
{
#if SL_TSAN
    __atomic_store_n(addr, v, __ATOMIC_RELAXED);
#else
    ck_pr_store_64(addr, v);
#endif
}

/* ---- thread-local state: counter stripe, poll pacing ---- */

static unsigned threads_seen;

typedef struct thread_state {
    bool ready;
    unsigned stripe;
    unsigned writes;
    unsigned picks; /* which way a full hint bucket gives up next */
} thread_state_t;

static _Thread_local thread_state_t tl;

static thread_state_t *me(void)
{
    if (!tl.ready) {
        tl.stripe = faa_relaxed_uint(&threads_seen, 1) % NSTRIPES;
        tl.ready = true;
    }
    return &tl;
}

/* ---- node heights ---- */

/* Drawn once per process (sl_open), before any store exists: every
 * insert reads it after its store was published. */
static uint64_t height_seed;
static pthread_once_t height_seed_once = PTHREAD_ONCE_INIT;

static void height_seed_init(void)
{
    if (getrandom(&height_seed, sizeof height_seed, GRND_NONBLOCK) == sizeof height_seed)
        return;
    /* No entropy yet (early boot): the clock and where the library lies. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    height_seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                  (uint64_t)(uintptr_t)&height_seed;
}

/* The height of the node of the key whose key_hash() is hash: 1 + the
 * trailing zeros of the hash mixed with the seed (murmur3's finalizer, so
 * that every bit of both counts), capped. Each level holds a node with
 * probability 1/2. */
static unsigned key_height(uint64_t hash)
{
    uint64_t x = hash ^ height_seed;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    unsigned h = x == 0 ? MAX_HEIGHT : 1 + (unsigned)__builtin_ctzll(x);
    return h < MAX_HEIGHT ? h : MAX_HEIGHT;
}

static void counted(store_t *s, int64_t dcount, int64_t dbytes)
{
    stripe_t *st = &s->stripe[me()->stripe];
    /* each add is a locked instruction: a replace changes no count */
    if (dcount != 0)
        add_relaxed_64(&st->count, (uint64_t)dcount);
    if (dbytes != 0)
        add_relaxed_64(&st->bytes, (uint64_t)dbytes);
    if (dcount > 0)
        add_relaxed_64(&st->adds, (uint64_t)dcount);
}

/* ---- nodes, blobs, keys ---- */

static inline node_t *link_node(link_t l)
{
    return (node_t *)(uintptr_t)(l & LINK_ADDR);
}

static inline bool is_marked(link_t l)
{
    return (l & 1) != 0;
}

static inline unsigned link_tag(link_t l)
{
    return (unsigned)(l >> TAG_SHIFT);
}

/* What follows the links: the key if it is long, then the own object. */
static inline unsigned char *node_tail(const node_t *n)
{
    return (unsigned char *)(n->next + n->height);
}

static inline unsigned char *node_key(const node_t *n)
{
    return n->klen <= 8 ? (unsigned char *)&n->kraw : node_tail(n);
}

/* key_prefix() of the node's key. */
static inline uint64_t node_pfx(const node_t *n)
{
    return be64toh(n->kraw);
}

/* Tail bytes for the key (none when the prefix holds it), padded so that
 * an object after them is aligned. */
static inline size_t key_space(size_t klen)
{
    return klen <= 8 ? 0 : (klen + 7) & ~(size_t)7;
}

/* A node's allocation, with `owned` bytes of its own object after the key. */
static size_t node_bytes(unsigned height, size_t klen, size_t owned)
{
    return sizeof(node_t) + height * sizeof(link_t) + key_space(klen) + owned;
}

static size_t blob_bytes(const blob_t *b)
{
    return sizeof(blob_t) + b->vlen;
}

/* Where the object a node was created with lives, if the node has it. */
static inline unsigned char *own_bytes(const node_t *n)
{
    return node_tail(n) + key_space(n->klen);
}

static size_t node_size(const node_t *n)
{
    return node_bytes(n->height, n->klen, n->owns != 0 ? n->owns - 1u : 0);
}

/* NULL when out of memory or when the address would not leave the length
 * bits of a value word free. */
static blob_t *blob_new(const unsigned char *val, size_t vlen)
{
    blob_t *b = malloc(sizeof(blob_t) + vlen);
    if (b == NULL)
        return NULL;
    if ((uintptr_t)b >> TAG_SHIFT != 0) {
        free(b);
        return NULL;
    }
    b->vlen = vlen;
    if (vlen > 0)
        memcpy(b->bytes, val, vlen);
    return b;
}

static inline const unsigned char *val_bytes(val_t v)
{
    return (const unsigned char *)(uintptr_t)(v & ((UINT64_C(1) << TAG_SHIFT) - 1));
}

/* The blob of an object that is not its node's own. */
static inline blob_t *val_blob(val_t v)
{
    return (blob_t *)(uintptr_t)(val_bytes(v) - offsetof(blob_t, bytes));
}

static inline size_t val_len(val_t v)
{
    size_t len = v >> TAG_SHIFT;
    return len < VAL_LEN_BIG ? len : val_blob(v)->vlen;
}

static inline val_t make_val(const unsigned char *bytes, size_t vlen)
{
    return (uintptr_t)bytes | (val_t)(vlen < VAL_LEN_BIG ? vlen : VAL_LEN_BIG) << TAG_SHIFT;
}

static inline bool is_own(const node_t *n, val_t v)
{
    return n->owns != 0 && val_bytes(v) == own_bytes(n);
}

/* Bytes the object of v occupies outside node n. */
static size_t outside_bytes(const node_t *n, val_t v)
{
    return is_own(n, v) ? 0 : sizeof(blob_t) + val_len(v);
}

/* Displaced from n by the caller's CAS: an object of its own goes to the
 * epoch, n's own stays until n is freed. */
static void drop_blob(const node_t *n, val_t v)
{
    if (!is_own(n, v))
        epoch_retire(val_blob(v), free);
}

/* The first 8 bytes, big-endian, zero-padded. Padding keeps the order: a
 * key that is padded at the first difference is a prefix of the other. */
static uint64_t key_prefix(const unsigned char *key, size_t klen)
{
    uint64_t v = 0;
    if (klen >= 8) {
        memcpy(&v, key, 8);
        return be64toh(v);
    }
    /* byte by byte in registers: a short copy through memory would stall
     * the load that reads it back */
    for (size_t i = 0; i < klen; i++)
        v |= (uint64_t)key[i] << (56 - 8 * i);
    return v;
}

static skey_t skey(const unsigned char *key, size_t klen)
{
    return (skey_t){.p = key, .len = klen, .pfx = key_prefix(key, klen)};
}

static skey_t node_skey(const node_t *n)
{
    return (skey_t){.p = node_key(n), .len = n->klen, .pfx = node_pfx(n)};
}

/* A node with a copy of the key and, when it owns its object, vlen bytes
 * for it after the key; no object yet. NULL when out of memory, when klen
 * does not fit the header, or when the address would not leave the tag bits
 * free. */
static node_t *node_alloc(const unsigned char *key, size_t klen, unsigned height, bool owns,
                          size_t vlen)
{
    if (klen > UINT32_MAX)
        return NULL;
    node_t *n = malloc(node_bytes(height, klen, owns ? vlen : 0));
    if (n == NULL)
        return NULL;
    if (((uintptr_t)n & ~LINK_ADDR) != 0) {
        free(n);
        return NULL;
    }
    n->kraw = 0;
    if (klen > 0)
        memcpy(&n->kraw, key, klen < 8 ? klen : 8);
    n->val = 0;
    n->klen = (uint32_t)klen;
    n->height = (uint8_t)height;
    n->owns = owns ? (uint8_t)(vlen + 1) : 0;
    n->refs = 2; /* its inserter's and its deleter's */
    for (unsigned i = 0; i < height; i++)
        n->next[i] = 0;
    if (klen > 8)
        memcpy(node_tail(n), key, klen);
    return n;
}

/* A node holding copies of in's key and object: in its own allocation when
 * the object is small, else in a blob of its own. */
static node_t *node_new(const rec_in_t *in, unsigned height)
{
    if (in->vlen <= EMBED_MAX) {
        node_t *n = node_alloc(in->key, in->klen, height, true, in->vlen);
        if (n != NULL) {
            if (in->vlen > 0)
                memcpy(own_bytes(n), in->val, in->vlen);
            n->val = make_val(own_bytes(n), in->vlen);
        }
        return n;
    }
    blob_t *b = blob_new(in->val, in->vlen);
    node_t *n = b != NULL ? node_alloc(in->key, in->klen, height, false, 0) : NULL;
    if (n == NULL) {
        free(b);
        return NULL;
    }
    n->val = make_val(b->bytes, b->vlen);
    return n;
}

/* Frees a node no other thread can see (never published, or destroyed). */
static void node_free(node_t *n)
{
    if (n != NULL && !is_own(n, n->val))
        free(val_blob(n->val));
    free(n);
}

/* memcmp order, then length: a proper prefix sorts first. */
static int key_cmp(const node_t *n, const skey_t *k)
{
    uint64_t np = node_pfx(n);
    if (np != k->pfx)
        return np < k->pfx ? -1 : 1;
    /* equal prefixes: the first min(8, m) bytes agree already */
    size_t m = n->klen < k->len ? n->klen : k->len;
    int c = m > 8 ? memcmp(node_key(n) + 8, k->p + 8, m - 8) : 0;
    if (c != 0)
        return c;
    return (n->klen > k->len) - (n->klen < k->len);
}

/* Field by field: a compound literal copied whole reaches memory as two
 * 16-byte loads of 8-byte stores, which store forwarding cannot serve (it
 * cost a cursor step about 9 ns). */
static inline void rec_of(rec_t *r, const node_t *n, val_t v)
{
    r->key = node_key(n);
    r->klen = n->klen;
    r->val = val_bytes(v);
    r->vlen = val_len(v);
    r->fp = 0;
}

/* ---- partial keys ---- */

/* The first bit, counting from the top, at which two prefixes differ; 64
 * when they are equal. */
static inline unsigned first_diff(uint64_t a, uint64_t b)
{
    return a == b ? 64 : (unsigned)__builtin_clzll(a ^ b);
}

/* The TAG_WINDOW bits of x after bit d, zero-padded past bit 63 (padding
 * both sides alike keeps any difference it leaves visible a real one). */
static inline unsigned window(uint64_t x, unsigned d)
{
    return d >= 63 ? 0 : (unsigned)((x << (d + 1)) >> (64 - TAG_WINDOW));
}

/* A prefix x that leaves a holder's prefix at bit d < 64 (with a 1, being
 * larger), as a 16-bit code. Of two such prefixes the one that leaves first
 * is the larger, hence d is stored reversed; at the same d the windows
 * decide. So codes against one holder compare as the prefixes do, except
 * that equal codes leave the order open. */
static inline unsigned code_at(uint64_t x, unsigned d)
{
    return TAG_KNOWN | (63 - d) << TAG_WINDOW | window(x, d);
}

/* What a link from a node with prefix `from` says of its successor, whose
 * prefix `to` is >= from: its code, or 0 for the same prefix. */
static inline unsigned tag_of(uint64_t from, uint64_t to)
{
    unsigned d = first_diff(from, to);
    return d == 64 ? 0 : code_at(to, d);
}

static inline link_t make_link(const node_t *from, const node_t *to)
{
    if (to == NULL)
        return 0;
    return (link_t)(uintptr_t)to | (link_t)tag_of(node_pfx(from), node_pfx(to)) << TAG_SHIFT;
}

/* The code of a searched prefix kp against a holder with prefix hp whose
 * key is below the searched key. With the same prefix as the holder, the
 * key is below every successor that leaves it: below every nonzero tag.
 * Hence, for the holder's link with tag t: t > code means key < successor,
 * 0 < t < code means key > successor, and t == code or t == 0 leaves the
 * order to the successor's real key. */
static inline unsigned key_code(uint64_t kp, uint64_t hp)
{
    unsigned e = first_diff(kp, hp);
    return e == 64 ? TAG_KNOWN - 1 : code_at(kp, e);
}

/* key_code(kp, successor's prefix), once 0 < t < code put the key above the
 * successor: computed from the tag, without reading the successor. If the
 * successor leaves the holder after the key does, the key leaves the
 * successor where it left the holder; else both leave at the same bit and
 * part within the window. */
static inline unsigned code_past(unsigned t, unsigned code, uint64_t kp)
{
    if ((t ^ code) >> TAG_WINDOW != 0)
        return code;
    unsigned d = 63 - (code >> TAG_WINDOW & 63);
    unsigned w = (t ^ code) & WINDOW_MASK;
    return code_at(kp, d + 1 + (unsigned)__builtin_clz(w) - (32 - TAG_WINDOW));
}

/* The tag of a link from the holder to the searched key's node, from the
 * key's code against the holder: the code itself, or 0 for the same prefix. */
static inline unsigned code_tag(unsigned code)
{
    return code == TAG_KNOWN - 1 ? 0 : code;
}

/* Links to and from a node about to be put between pred and the successor
 * named by pred's unmarked link word l, made from what a search for the
 * node's key already holds: l, and the key's code against pred (what find()
 * leaves in codes[]). Neither reads pred's header, which the search never
 * needed, and link_from() reads the successor only when its tag does not
 * carry over. */
static inline link_t link_to(const node_t *n, unsigned code)
{
    return (link_t)(uintptr_t)n | (link_t)code_tag(code) << TAG_SHIFT;
}

/* Whether the tag of l also holds from the node: the successor leaves
 * pred's prefix at bit d (or shares it, tag 0, and then so does the node,
 * which sits between them). If the node leaves pred only after d, it agrees
 * with pred through d, so the successor leaves it at d with the same window.
 * Else both leave at d and the successor's later bits decide. */
static inline bool tag_carries(unsigned code, link_t l)
{
    unsigned t = link_tag(l);
    unsigned e = code == TAG_KNOWN - 1 ? 64 : 63 - (code >> TAG_WINDOW & 63);
    return t == 0 || e > 63 - (t >> TAG_WINDOW & 63);
}

static inline link_t link_from(const node_t *n, unsigned code, link_t l)
{
    return tag_carries(code, l) ? l : make_link(n, link_node(l));
}

/* For test/c/skiplist_test.c, which checks the rules above against real
 * prefixes: how a search for key_pfx standing on a node with holder_pfx
 * (whose key is below the searched one) orders the key against a successor
 * with succ_pfx from the tag alone, <0, >0, or 0 for unsettled; when above,
 * *carried is whether code_past() agrees with key_code(). */
int skiplist_tag_order(uint64_t holder_pfx, uint64_t succ_pfx, uint64_t key_pfx, bool *carried);
int skiplist_tag_order(uint64_t holder_pfx, uint64_t succ_pfx, uint64_t key_pfx, bool *carried)
{
    unsigned t = tag_of(holder_pfx, succ_pfx), code = key_code(key_pfx, holder_pfx);
    if (t > code)
        return -1;
    if (t == 0 || t == code)
        return 0;
    *carried = code_past(t, code, key_pfx) == key_code(key_pfx, succ_pfx);
    return 1;
}

/* ---- searches ---- */

/* Writers' search: fills preds/succs/codes on every level below
 * max(top, min_h), unlinking marked nodes it dereferences, and returns the
 * level-0 node holding the key, if any. preds[i] < key <= succs[i] on each
 * level; succs[i] is the unmarked link word read from preds[i], for the CAS
 * that replaces it; codes[i] is the key's code against preds[i].
 * With early, a node holding the key whose value is not NULL is returned from
 * the level where it is met, preds/succs left unfinished (see seek()). */
static node_t *find(store_t *s, const skey_t *key, unsigned min_h, node_t **preds,
                    link_t *succs, unsigned *codes, bool early)
{
retry:;
    unsigned top = load_relaxed_uint(&s->top);
    unsigned levels = top > min_h ? top : min_h;
    node_t *pred = s->head;
    unsigned code = key_code(key->pfx, node_pfx(pred)); /* against pred */
    int c = 1;
    for (unsigned i = levels; i-- > 0;) {
        link_t l = load_word(&pred->next[i]) & ~(link_t)1;
        for (;;) {
            node_t *curr = link_node(l);
            c = 1;
            if (curr == NULL)
                break;
            unsigned t = link_tag(l);
            if (t > code)
                break;
            link_t succ = load_word(&curr->next[i]);
            if (is_marked(succ)) {
                /* A CAS that fails means pred itself moved on or was
                 * marked: its snapshot is stale, start over. */
                link_t fresh = make_link(pred, link_node(succ));
                if (!cas_word(&pred->next[i], l, fresh))
                    goto retry;
                l = fresh;
                continue;
            }
            if (t != 0 && t < code) {
                code = code_past(t, code, key->pfx);
            } else {
                c = key_cmp(curr, key);
                if (c == 0 && early && i > 0 && load_word(&curr->val) != 0)
                    return curr;
                if (c >= 0)
                    break;
                code = key_code(key->pfx, node_pfx(curr));
            }
            pred = curr;
            l = succ;
        }
        preds[i] = pred;
        succs[i] = l;
        codes[i] = code;
    }
    return c == 0 ? link_node(succs[0]) : NULL;
}

/* Readers' search: never writes, steps over marked nodes. Returns the first
 * level-0 node with a key >= key (NULL if none), sets *predp to the last node
 * before it (the head if none) and *cmpp to 0 when the node returned holds
 * the key, else to 1. With to_end, key is +infinity. A node returned with the
 * key may be marked; its NULL value says so.
 * Without predp, a node holding the key is returned from whatever level the
 * search meets it on, provided its value is not NULL: the object is present
 * at that load, and the levels below would only lead to the same node. A
 * NULL value is no answer up there: a dead node may stay linked on upper
 * levels after a new one with its key took its place on level 0. */
static node_t *seek(store_t *s, const skey_t *key, bool to_end, node_t **predp, int *cmpp)
{
    node_t *pred = s->head, *curr = NULL;
    unsigned code = to_end ? 0 : key_code(key->pfx, node_pfx(pred)); /* against pred */
    int c = 1;
    for (unsigned i = load_relaxed_uint(&s->top); i-- > 0;) {
        /* Stepping over marked nodes reads their (frozen) links, whose tags
         * describe the successor against them: hence a code of its own. */
        unsigned scode = code;
        link_t l = load_word(&pred->next[i]);
        for (;;) {
            curr = link_node(l);
            c = 1;
            if (curr == NULL)
                break;
            unsigned t = link_tag(l);
            if (!to_end && t > scode)
                break;
            link_t succ = load_word(&curr->next[i]);
            if (to_end) {
                /* +infinity is above everything: no codes needed */
            } else if (t != 0 && t < scode) {
                scode = code_past(t, scode, key->pfx);
            } else {
                c = key_cmp(curr, key);
                if (c == 0 && i > 0 && predp == NULL && load_word(&curr->val) != 0)
                    goto out;
                if (c >= 0)
                    break;
                scode = key_code(key->pfx, node_pfx(curr));
            }
            if (!is_marked(succ)) {
                pred = curr;
                code = scode;
            }
            l = succ;
        }
    }
out:
    if (predp != NULL)
        *predp = pred;
    if (cmpp != NULL)
        *cmpp = c == 0 ? 0 : 1;
    return curr;
}

/* ---- the point index: filter and hints ---- */

static inline uint64_t key_hash(const unsigned char *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

/* The filter word of hash h (bits 0..31 scaled to the word count) and the
 * FILTER_K bits it must have, from bits 32.. of h. */
static inline uint64_t *filter_word(const pindex_t *ix, uint64_t h)
{
    return &ix->filter[((h & 0xffffffffu) * ix->words) >> 32];
}

static inline uint64_t filter_bits(uint64_t h)
{
    uint64_t m = 0;
    for (unsigned i = 0; i < FILTER_K; i++)
        m |= UINT64_C(1) << (h >> (32 + 6 * i) & 63);
    return m;
}

/* Whether a key with hash h may have been linked since ix began to be
 * built; false is a proof of absence (see the header). */
static inline bool filter_may_hold(const pindex_t *ix, uint64_t h)
{
    uint64_t m = filter_bits(h);
    return (load_word(filter_word(ix, h)) & m) == m;
}

static inline void filter_add(pindex_t *ix, uint64_t h)
{
    uint64_t *w = filter_word(ix, h), m = filter_bits(h);
    /* bits already set stay set: nothing to order */
    if ((load_word(w) & m) != m)
        or_64(w, m);
}

/* Hints: each key has two buckets, picked by the tops of h times two
 * constants (so independent of the filter's word and of each other), and
 * entries are tagged with 16 more bits of the first product. */
static inline uint64_t hint_mix(uint64_t h)
{
    return h * UINT64_C(0x9E3779B97F4A7C15);
}

/* The key's bucket `which` (0 or 1): a key is hinted in either, so that a
 * full bucket rarely leaves it out (see HINT_WAYS). */
static inline uint64_t *hint_bucket(const pindex_t *ix, uint64_t h, unsigned which)
{
    uint64_t m = which == 0 ? hint_mix(h) : h * UINT64_C(0xC2B2AE3D27D4EB4F);
    return &ix->hints[((m >> 32) * ix->buckets >> 32) * HINT_WAYS];
}

static inline void hint_prefetch(const pindex_t *ix, uint64_t h)
{
    __builtin_prefetch(hint_bucket(ix, h, 0));
    __builtin_prefetch(hint_bucket(ix, h, 1));
}

/* Way w (of 2 * HINT_WAYS) of the key's two buckets. */
static inline uint64_t *hint_way(uint64_t *const b[2], unsigned w)
{
    return &b[w / HINT_WAYS][w % HINT_WAYS];
}

static inline uint64_t hint_entry(uint64_t h, const node_t *n)
{
    return (uint64_t)(uintptr_t)n | (hint_mix(h) >> 16 & 0xffff) << TAG_SHIFT;
}

static inline node_t *hint_node(uint64_t e)
{
    return (node_t *)(uintptr_t)(e & ((UINT64_C(1) << TAG_SHIFT) - 1));
}

/* The node a hint names for key, if any: it holds the key but may be dead. */
static node_t *hint_find(const pindex_t *ix, uint64_t h, const skey_t *key)
{
    uint64_t *const b[2] = {hint_bucket(ix, h, 0), hint_bucket(ix, h, 1)};
    uint64_t tag = hint_mix(h) >> 16 & 0xffff;
    for (unsigned w = 0; w < 2 * HINT_WAYS; w++) {
        uint64_t e = load_word(hint_way(b, w));
        if (e != 0 && e >> TAG_SHIFT == tag) {
            node_t *n = hint_node(e);
            if (key_cmp(n, key) == 0)
                return n;
        }
    }
    return NULL;
}

/* Names n, which the caller keeps from being retired (it holds one of its
 * refs), in ix: over an entry with the same tag (most likely a dead node of
 * the same key) in either bucket, else in a free way, the first bucket's
 * first, else over a way picked at random. A lost CAS leaves the hint
 * unwritten: hints may be missing. */
static void hint_publish(pindex_t *ix, uint64_t h, const node_t *n)
{
    uint64_t *const b[2] = {hint_bucket(ix, h, 0), hint_bucket(ix, h, 1)};
    uint64_t want = hint_entry(h, n);
    uint64_t e[2 * HINT_WAYS];
    unsigned same = 2 * HINT_WAYS, free_way = 2 * HINT_WAYS;
    for (unsigned w = 0; w < 2 * HINT_WAYS; w++) {
        e[w] = load_word(hint_way(b, w));
        if (e[w] == want)
            return;
        if (same == 2 * HINT_WAYS && e[w] != 0 && e[w] >> TAG_SHIFT == want >> TAG_SHIFT)
            same = w;
        if (free_way == 2 * HINT_WAYS && e[w] == 0)
            free_way = w;
    }
    unsigned pick = same < 2 * HINT_WAYS ? same : free_way;
    if (pick == 2 * HINT_WAYS) {
        thread_state_t *t = me();
        pick = (unsigned)(++t->picks % (2 * HINT_WAYS));
    }
    cas_word(hint_way(b, pick), e[pick], want);
}

/* Removes every hint naming n. */
static void hint_clear(pindex_t *ix, uint64_t h, const node_t *n)
{
    uint64_t *const b[2] = {hint_bucket(ix, h, 0), hint_bucket(ix, h, 1)};
    for (unsigned w = 0; w < 2 * HINT_WAYS; w++) {
        uint64_t e = load_word(hint_way(b, w));
        if (e != 0 && hint_node(e) == n)
            cas_word(hint_way(b, w), e, 0);
    }
}

/* Publishes n in the current index and in the one being built, if any. */
static void hint_everywhere(store_t *s, uint64_t h, const node_t *n)
{
    pindex_t *next = load_index(&s->ix_next);
    hint_publish(load_index(&s->ix), h, n);
    if (next != NULL)
        hint_publish(next, h, n);
}

/* The capacity of an index made when n0 keys are present: the least power
 * of two (from INDEX_MIN) at least 1.5 * n0, so that it takes n0 / 2 more
 * keys, at the least, before the next rebuild. A table that grows is
 * rebuilt once its keys pass the capacity, at the first check after that
 * (wrote()), which comes soon enough that the new capacity is twice the
 * old one whenever it comes: so the index, and the memory reported, do
 * not depend on when a writer happened to check (sl_memory). */
static uint64_t index_capacity(uint64_t n0)
{
    uint64_t cap = INDEX_MIN;
    while (cap < n0 + n0 / 2)
        cap *= 2;
    return cap;
}

/* The layout of an index of capacity cap: its filter holds cap keys at
 * FILTER_BITS each, its hints HINT_PER_KEY per key of that. Large ones are
 * mappings of their own, zeroed lazily by the kernel and backed by huge
 * pages where it can: the index is read at random. */
typedef struct index_shape {
    uint64_t words, buckets;
    size_t hint_bytes, body;
    bool mapped;
    size_t len;   /* mapped: the mapping's length */
    size_t bytes; /* what memory() counts */
} index_shape_t;

static index_shape_t index_shape(uint64_t cap)
{
    index_shape_t sh;
    sh.words = (cap * FILTER_BITS + 63) / 64;
    sh.buckets = (uint64_t)((double)cap * HINT_PER_KEY / HINT_WAYS) + 1;
    sh.hint_bytes = sh.buckets * HINT_WAYS * sizeof(uint64_t);
    sh.body = sh.hint_bytes + sh.words * sizeof(uint64_t);
    sh.mapped = sh.body >= INDEX_MAP_MIN;
    sh.len = (sh.body + 4095) & ~(size_t)4095;
    sh.bytes = sizeof(pindex_t) + (sh.mapped ? sh.len : sh.body);
    return sh;
}

/* An index made when n0 keys are present (index_capacity()). */
static pindex_t *index_new(uint64_t n0)
{
    uint64_t cap = index_capacity(n0);
    index_shape_t sh = index_shape(cap);
    if (sh.words > UINT32_MAX || sh.buckets > UINT32_MAX)
        return NULL;
    pindex_t *ix = malloc(sizeof *ix);
    if (ix == NULL)
        return NULL;
    memset(ix, 0, sizeof *ix);
    unsigned char *mem;
    if (!sh.mapped) {
        mem = aligned_alloc(64, (sh.body + 63) & ~(size_t)63);
        if (mem == NULL) {
            free(ix);
            return NULL;
        }
        memset(mem, 0, sh.body);
    } else {
        /* 2 MiB-aligned, so that all but its tail can be huge pages */
        size_t huge = (size_t)2 << 20, len = sh.len;
        void *m = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (m == MAP_FAILED) {
            free(ix);
            return NULL;
        }
        uintptr_t start = ((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1);
        size_t head = start - (uintptr_t)m;
        if (head > 0)
            munmap(m, head);
        munmap((unsigned char *)start + len, huge - head);
#ifdef MADV_HUGEPAGE
        madvise((void *)start, len, MADV_HUGEPAGE);
#endif
        mem = (unsigned char *)start;
        ix->mapped = mem;
        ix->mapped_len = len;
    }
    ix->bytes = sh.bytes;
    ix->words = sh.words;
    ix->buckets = sh.buckets;
    ix->capacity = cap;
    ix->slack = cap - n0;
    ix->hints = (uint64_t *)mem;
    ix->filter = (uint64_t *)(mem + sh.hint_bytes);
    return ix;
}

static void index_free(void *p)
{
    pindex_t *ix = p;
    if (ix->mapped != NULL)
        munmap(ix->mapped, ix->mapped_len);
    else
        free(ix->hints);
    free(ix);
}

/* ---- removal and linking ---- */

/* Everyone is done with n (refs reached 0): unlink it everywhere, take it
 * out of the hints, then hand it to the epoch. No one can name n in a hint
 * any more: naming needs a ref. The index being built is loaded before the
 * current one, so that a rebuild finishing in between cannot hide either. */
static void retire_node(store_t *s, node_t *n)
{
    node_t *preds[MAX_HEIGHT];
    link_t succs[MAX_HEIGHT];
    unsigned codes[MAX_HEIGHT];
    skey_t k = node_skey(n);
    find(s, &k, n->height, preds, succs, codes, false);
    uint64_t h = key_hash(k.p, k.len);
    pindex_t *next = load_index(&s->ix_next);
    hint_clear(load_index(&s->ix), h, n);
    if (next != NULL)
        hint_clear(next, h, n);
    epoch_retire(n, free);
}

static void unref(store_t *s, node_t *n)
{
    if (faa_acqrel_16(&n->refs, (uint16_t)-1) == 1)
        retire_node(s, n);
}

/* Takes a ref on n unless its retirement has begun. */
static bool pin(node_t *n)
{
    for (uint16_t r = load_acquire_16(&n->refs); r > 0; r = load_acquire_16(&n->refs))
        if (cas_acqrel_16(&n->refs, r, (uint16_t)(r + 1)))
            return true;
    return false;
}

/* Hints n, found by a search rather than through a hint, for later lookups. */
static void hint_found(store_t *s, uint64_t h, node_t *n)
{
    if (pin(n)) {
        hint_everywhere(s, h, n);
        unref(s, n);
    }
}

static void mark_link(link_t *link)
{
    for (;;) {
        link_t v = load_word(link);
        if (is_marked(v) || cas_word(link, v, v | 1))
            return;
    }
}

/* Marks the tower of n, whose value is NULL, top-down; whoever marks level 0
 * is the deleter and takes part in the retirement handshake. */
static void help_delete(store_t *s, node_t *n)
{
    for (unsigned i = n->height; i-- > 1;)
        mark_link(&n->next[i]);
    for (;;) {
        link_t v = load_word(&n->next[0]);
        if (is_marked(v))
            return;
        if (cas_word(&n->next[0], v, v | 1))
            break;
    }
    unref(s, n);
}

/* Links levels 1.. of n, already on level 0, until done or n is deleted. */
static void link_upper(store_t *s, node_t *n, node_t **preds, link_t *succs, unsigned *codes)
{
    skey_t key = node_skey(n);
    for (unsigned i = 1; i < n->height; i++) {
        for (;;) {
            node_t *succ = link_node(succs[i]);
            link_t want = link_from(n, codes[i], succs[i]);
            /* a nonzero tag: the successor's prefix, hence key, differs */
            if (succ == NULL || link_tag(want) != 0 || key_cmp(succ, &key) != 0) {
                link_t mine = load_word(&n->next[i]);
                if (is_marked(mine))
                    goto done;
                if (mine != want && !cas_word(&n->next[i], mine, want))
                    continue; /* it was just marked */
                if (cas_word(&preds[i]->next[i], succs[i], link_to(n, codes[i])))
                    break;
            }
            /* pred moved, or succ is a dead twin that this search unlinks */
            if (find(s, &key, n->height, preds, succs, codes, false) != n)
                goto done; /* n was removed from level 0 */
        }
    }
done:
    unref(s, n);
}

/* ---- rebuilding the index ---- */

/* Registers an insert about to set filter bits and link a node, in the
 * current phase (checked again once registered: a phase that flipped in
 * between might already be counted out). Returns the phase. */
static unsigned insert_begin(store_t *s)
{
    for (;;) {
        unsigned p = load_seqcst_uint(&s->phase);
        uint64_t *c = &s->stripe[me()->stripe].inflight[p];
        add_seqcst_64(c, 1);
        if (load_seqcst_uint(&s->phase) == p)
            return p;
        add_seqcst_64(c, (uint64_t)-1);
    }
}

/* The insert has linked its node, or given up: a walk may start. */
static void insert_end(store_t *s, unsigned p)
{
    add_seqcst_64(&s->stripe[me()->stripe].inflight[p], (uint64_t)-1);
}

/* Sums one stripe field over all stripes; exact only when quiescent. */
static uint64_t stripes_sum(store_t *s, size_t offset)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NSTRIPES; i++)
        sum += load_relaxed_64((const uint64_t *)((const char *)&s->stripe[i] + offset));
    return sum;
}

static uint64_t live_count(store_t *s)
{
    uint64_t n = stripes_sum(s, offsetof(stripe_t, count));
    return (int64_t)n < 0 ? 0 : n;
}

/* Whether ix calls for a rebuild, adds nodes having ever been linked and n
 * being present: its filter has absorbed as many new keys as it was sized
 * for beyond what it started with (the table grew, or churned), or the
 * table shrank far below that size. */
static bool index_due(const pindex_t *ix, uint64_t adds, uint64_t n)
{
    bool full = adds - ix->adds_base > ix->slack;
    bool sparse = ix->capacity > INDEX_MIN && n * 8 < ix->capacity;
    return full || sparse;
}

static void rebuild_maybe_start(store_t *s)
{
    if (load_index(&s->ix_next) != NULL)
        return;
    uint64_t adds = stripes_sum(s, offsetof(stripe_t, adds));
    uint64_t n = live_count(s);
    if (!index_due(load_index(&s->ix), adds, n) || !trylock(&s->busy))
        return;
    if (s->ix_next == NULL) {
        pindex_t *next = index_new(n);
        if (next != NULL) {
            next->adds_base = adds;
            s->walking = false;
            store_index(&s->ix_next, next);
            /* inserts registered before the flip may have missed next: the
             * walk waits until they are all done */
            store_seqcst_uint(&s->phase, 1 - s->phase);
            s->draining = true;
        }
    }
    unlock(&s->busy);
}

/* Remembers the key the walk stopped at; false when out of memory. */
static bool walk_remember(store_t *s, const node_t *n)
{
    if (n->klen > s->walk_cap) {
        unsigned char *k = realloc(s->walk_key, n->klen);
        if (k == NULL)
            return false;
        s->walk_key = k;
        s->walk_cap = n->klen;
    }
    if (n->klen > 0)
        memcpy(s->walk_key, node_key(n), n->klen);
    s->walk_klen = n->klen;
    return true;
}

/* Puts a node the walk has pinned into the index being built. */
static void walk_add(store_t *s, pindex_t *next, uint64_t h, node_t *n)
{
    filter_add(next, h);
    hint_publish(next, h, n);
    unref(s, n);
}

/* The last node on `level` whose key is below key, or the head: a reader's
 * descent, stepping over marked nodes. */
static node_t *pred_on_level(store_t *s, const skey_t *key, unsigned level)
{
    node_t *pred = s->head;
    for (unsigned i = load_relaxed_uint(&s->top); i-- > level;) {
        link_t l = load_word(&pred->next[i]);
        for (node_t *curr = link_node(l); curr != NULL; curr = link_node(l)) {
            if (key_cmp(curr, key) >= 0)
                break;
            link_t succ = load_word(&curr->next[i]);
            if (!is_marked(succ))
                pred = curr;
            l = succ;
        }
    }
    return pred;
}

/* A stretch of level 0 that a walk step follows: from `at` up to (not
 * including) keys from `end` on, or to the end of the list. */
typedef struct stretch {
    node_t *at;
    skey_t end;   /* the bound's key, if bounded */
    bool bounded;
    node_t *last; /* last node visited */
    unsigned visits;
    bool done;
} stretch_t;

/* One walk step: level 0 from where the last step stopped (a search for
 * the key it stopped at) is cut into up to WALK_WAYS stretches at nodes of
 * level WALK_LEVEL (about 2^WALK_LEVEL nodes apart), whose links are
 * followed in turn, so that the walk waits on several misses at once
 * rather than one per node. A stretch starts at a node whose link on that
 * level was unmarked when read, hence whose level 0 was not yet frozen:
 * every node present since then with a key in the stretch is on its path.
 * A stretch stops at WALK_SEG_MAX nodes; the step then resumes after the
 * last node of the first stretch that stopped early (the ones after it are
 * walked again: adding to an index is idempotent). Returns whether the walk
 * reached the end of level 0. */
static bool walk_step(store_t *s, pindex_t *next)
{
    stretch_t st[WALK_WAYS];
    unsigned ways = 1;
    skey_t cursor = skey(s->walk_key, s->walk_klen);
    if (!s->walking) {
        st[0].at = link_node(load_word(&s->head->next[0]));
    } else {
        int c;
        st[0].at = seek(s, &cursor, false, NULL, &c);
        if (st[0].at != NULL && c == 0)
            st[0].at = link_node(load_word(&st[0].at->next[0]));
    }
    node_t *pred = s->walking ? pred_on_level(s, &cursor, WALK_LEVEL) : s->head;
    link_t l = load_word(&pred->next[WALK_LEVEL]);
    for (node_t *b = link_node(l); b != NULL && ways <= WALK_WAYS; b = link_node(l)) {
        l = load_word(&b->next[WALK_LEVEL]);
        if (is_marked(l) || (s->walking && key_cmp(b, &cursor) <= 0))
            continue;
        st[ways - 1].end = node_skey(b);
        st[ways - 1].bounded = true;
        if (ways < WALK_WAYS)
            st[ways].at = b;
        ways++;
    }
    if (ways > WALK_WAYS)
        ways = WALK_WAYS; /* every stretch bounded */
    else
        st[ways - 1].bounded = false; /* the last one runs to the end */
    for (unsigned i = 0; i < ways; i++) {
        st[i].last = NULL;
        st[i].visits = 0;
        st[i].done = false;
    }

    /* Software-pipelined too: a node's filter word and hint bucket are
     * fetched when it is read and written at the next visit. The pending
     * node is pinned in between. Frozen links of deleted nodes still lead
     * forward in key order. */
    node_t *pending = NULL;
    uint64_t pending_h = 0;
    for (unsigned active = ways; active > 0;) {
        active = 0;
        for (unsigned i = 0; i < ways; i++) {
            stretch_t *t = &st[i];
            node_t *n = t->at;
            if (t->done)
                continue;
            if (n == NULL || t->visits == WALK_SEG_MAX ||
                (t->bounded && key_cmp(n, &t->end) >= 0)) {
                t->done = true;
                continue;
            }
            active++;
            node_t *after = link_node(load_word(&n->next[0]));
            __builtin_prefetch(after);
            node_t *ready = pending;
            uint64_t ready_h = pending_h;
            pending = NULL;
            /* a node dead now stays absent; pin fails only on dead nodes */
            if (load_word(&n->val) != 0 && pin(n)) {
                pending = n;
                pending_h = key_hash(node_key(n), n->klen);
                __builtin_prefetch(filter_word(next, pending_h));
                hint_prefetch(next, pending_h);
            }
            if (ready != NULL)
                walk_add(s, next, ready_h, ready);
            t->last = n;
            t->visits++;
            t->at = after;
        }
    }
    if (pending != NULL)
        walk_add(s, next, pending_h, pending);

    /* Where to resume: after the first stretch that stopped early, else
     * after the last one if it was bounded; else the walk is over. */
    const stretch_t *stop = NULL;
    for (unsigned i = 0; i < ways && stop == NULL; i++)
        if (st[i].at != NULL && st[i].visits == WALK_SEG_MAX)
            stop = &st[i];
    if (stop == NULL && st[ways - 1].bounded)
        stop = &st[ways - 1];
    if (stop == NULL)
        return true;
    /* if the key cannot be kept (out of memory), the next step walks this
     * stretch again */
    if (stop->last != NULL && walk_remember(s, stop->last))
        s->walking = true;
    return false;
}

/* Walks a step of level 0 into the index being built, once the inserts
 * that may have missed it are done; at the end, makes it the current
 * index. */
static void rebuild_step(store_t *s)
{
    if (!trylock(&s->busy))
        return;
    pindex_t *next = load_index(&s->ix_next);
    if (next == NULL)
        goto out;
    if (s->draining) {
        unsigned old = 1 - s->phase;
        uint64_t busy_inserts = 0;
        for (unsigned i = 0; i < NSTRIPES; i++)
            busy_inserts += load_seqcst_64(&s->stripe[i].inflight[old]);
        if (busy_inserts != 0)
            goto out;
        s->draining = false;
    }
    if (!walk_step(s, next))
        goto out;
    pindex_t *old = load_index(&s->ix);
    store_index(&s->ix, next);
    store_index(&s->ix_next, NULL);
    s->walking = false;
    s->rebuilds++;
    epoch_retire(old, index_free);
out:
    unlock(&s->busy);
}

/* Lets the epoch free retirements now and then, whatever the op mix, and
 * paces the index's rebuilds by the table's own writes (those of the
 * writer's stripe), not the thread's, which other tables share: a thread
 * writing two tables in turn would otherwise leave one of them unpaced. A
 * rebuild is checked for every capacity / 16 writes (8 to 256), so that a
 * table that grows passes its capacity by less than a third before the
 * rebuild starts, and the new index is twice as large whichever write
 * started it (index_capacity()). */
static void wrote(store_t *s)
{
    thread_state_t *t = me();
    if (++t->writes % POLL_EVERY == 0)
        epoch_poll();
    stripe_t *st = &s->stripe[t->stripe];
    /* Threads sharing a stripe may lose a count: pacing needs no more. */
    uint64_t w = load_relaxed_64(&st->writes) + 1;
    store_relaxed_64(&st->writes, w);
    uint64_t every = load_index(&s->ix)->capacity / 16;
    every = every < 8 ? 8 : every > 256 ? 256 : every;
    if (w % every == 0)
        rebuild_maybe_start(s);
    if (w % WALK_EVERY == 0 && load_index(&s->ix_next) != NULL)
        rebuild_step(s);
}

/* ---- operations ---- */

static int sl_open(const store_options_t *o, store_t **out, xets_call_t *call)
{
    (void)call;
    if (o->dir != NULL || o->kind != STORE_SET)
        return XETS_BADARG;
    if (pthread_once(&height_seed_once, height_seed_init) != 0)
        return XETS_NOMEM;
    store_t *s = aligned_alloc(_Alignof(store_t), sizeof(store_t));
    if (s == NULL)
        return XETS_NOMEM;
    memset(s, 0, sizeof *s);
    s->head = node_alloc(NULL, 0, MAX_HEIGHT, false, 0);
    s->ix = index_new(0);
    if (s->head == NULL || s->ix == NULL) {
        free(s->head);
        if (s->ix != NULL)
            index_free(s->ix);
        free(s);
        return XETS_NOMEM;
    }
    s->top = 1;
    *out = s;
    return XETS_OK;
}

/* Serves as close and as drop: a store in memory has no files. */
static int sl_close(store_t *s, xets_call_t *call)
{
    (void)call;
    node_t *n = link_node(s->head->next[0]);
    while (n != NULL) {
        node_t *next = link_node(n->next[0]);
        node_free(n);
        n = next;
    }
    free(s->head);
    index_free(s->ix);
    if (s->ix_next != NULL)
        index_free(s->ix_next);
    free(s->walk_key);
    free(s);
    return XETS_OK;
}

/* A counter that size and memory may be reading, moved to a store that is
 * still private. */
static void counter_move(uint64_t *to, uint64_t *from)
{
    store_relaxed_64(to, load_relaxed_64(from));
    store_relaxed_64(from, 0);
}

/* What s holds is reached from its head and counted in its stripes, and
 * its index names its nodes: these change places with those of a new,
 * empty store, which then holds the nodes until it is dropped, once no
 * reader can be in them. Only size and memory may run alongside: they
 * read the counts and the index pointers, which change with atomics. A
 * rebuild under way ends: its index goes with the nodes. */
static int sl_clear(store_t *s, store_t **old, size_t *size, xets_call_t *call)
{
    store_t *o;
    int st = sl_open(&(store_options_t){.kind = STORE_SET}, &o, call);
    if (st != XETS_OK)
        return st;
    *size = (size_t)live_count(s);
    node_t *head = s->head;
    s->head = o->head;
    o->head = head;
    s->top = o->top;
    pindex_t *ix = load_index(&s->ix);
    store_index(&s->ix, o->ix);
    o->ix = ix;
    o->ix_next = load_index(&s->ix_next);
    store_index(&s->ix_next, NULL);
    s->draining = s->walking = false;
    for (unsigned i = 0; i < NSTRIPES; i++) {
        counter_move(&o->stripe[i].count, &s->stripe[i].count);
        counter_move(&o->stripe[i].bytes, &s->stripe[i].bytes);
        counter_move(&o->stripe[i].adds, &s->stripe[i].adds);
    }
    *old = o;
    return XETS_OK;
}

/* The live node holding key, through its hint, or NULL (no hint, or the
 * hinted node is dead: only a search can tell then). */
static node_t *hinted(const pindex_t *ix, uint64_t h, const skey_t *key)
{
    node_t *n = hint_find(ix, h, key);
    return n != NULL && load_word(&n->val) != 0 ? n : NULL;
}

/* Sets *phase when it registered as an insert (insert_begin()): the caller
 * ends the registration. */
static int put(store_t *s, const rec_in_t *in, enum put_mode mode, int *phase)
{
    node_t *preds[MAX_HEIGHT];
    link_t succs[MAX_HEIGHT];
    unsigned codes[MAX_HEIGHT];
    uint64_t hash = key_hash(in->key, in->klen);
    unsigned h = key_height(hash);
    unsigned top = load_relaxed_uint(&s->top);
    while (top < h && !cas_relaxed_uint(&s->top, top, h))
        top = load_relaxed_uint(&s->top);

    skey_t key = skey(in->key, in->klen);
    /* What a new key writes after its search (filter words, hint buckets)
     * is fetched now, while the search runs. A key the filter rules out is
     * new: its hints are not even looked at. */
    pindex_t *ix = load_index(&s->ix), *next = load_index(&s->ix_next);
    __builtin_prefetch(filter_word(ix, hash));
    hint_prefetch(ix, hash);
    if (next != NULL) {
        __builtin_prefetch(filter_word(next, hash));
        hint_prefetch(next, hash);
    }
    node_t *n = NULL; /* private until linked */
    blob_t *b = NULL; /* allocated on the first hit */
    bool maybe = filter_may_hold(ix, hash);
    node_t *found = maybe ? hinted(ix, hash, &key) : NULL;
    bool was_hinted = found != NULL;
    /* A key the filter rules out is new (unless inserted meanwhile): its
     * node is made before the search, whose misses then overlap the
     * allocation's; else on the first miss. */
    if (!maybe && (n = node_new(in, h)) == NULL)
        return XETS_NOMEM;
    for (;;) {
        if (found == NULL)
            found = find(s, &key, h, preds, succs, codes, true);
        if (found != NULL) {
            val_t old = load_word(&found->val);
            if (old == 0) {
                help_delete(s, found);
                found = NULL;
                continue;
            }
            if (mode == PUT_NEW) {
                free(b);
                node_free(n);
                return XETS_EXISTS;
            }
            if (b == NULL && (b = blob_new(in->val, in->vlen)) == NULL) {
                node_free(n);
                return XETS_NOMEM;
            }
            if (!cas_word(&found->val, old, make_val(b->bytes, b->vlen)))
                continue;
            counted(s, 0, (int64_t)blob_bytes(b) - (int64_t)outside_bytes(found, old));
            drop_blob(found, old);
            if (!was_hinted)
                hint_found(s, hash, found);
            node_free(n);
            return XETS_OK;
        }
        if (*phase < 0) {
            /* The successors whose tags do not carry over to n are read
             * below: fetched now, while n is made and registered. */
            for (unsigned i = 0; i < h; i++)
                if (!tag_carries(codes[i], succs[i]))
                    __builtin_prefetch(link_node(succs[i]));
            if (n == NULL && (n = node_new(in, h)) == NULL) {
                free(b);
                return XETS_NOMEM;
            }
            /* Before n can be present: registered, so that a rebuild
             * starting now waits for us or we see its index; then in the
             * index being built first, so that a rebuild finishing in
             * between cannot leave n out of both. */
            *phase = (int)insert_begin(s);
            next = load_index(&s->ix_next);
            if (next != NULL)
                filter_add(next, hash);
            filter_add(load_index(&s->ix), hash);
        }
        for (unsigned i = 0; i < h; i++)
            n->next[i] = link_from(n, codes[i], succs[i]);
        size_t bytes = node_size(n) + outside_bytes(n, n->val); /* before others can replace it */
        if (cas_word(&preds[0]->next[0], succs[0], link_to(n, codes[0]))) {
            counted(s, 1, (int64_t)bytes);
            free(b);
            hint_everywhere(s, hash, n); /* under the inserter's ref */
            link_upper(s, n, preds, succs, codes);
            return XETS_OK;
        }
    }
}

static int sl_put(store_t *s, xets_call_t *call, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx)
{
    (void)call;
    (void)same; /* one object per key: there is no bag identity to test */
    (void)ctx;
    int phase = -1;
    int rc = put(s, in, mode, &phase);
    if (phase >= 0)
        insert_end(s, (unsigned)phase);
    wrote(s);
    return rc;
}

/* The node holding key, through the index, else by a search (then hinted
 * for next time). NULL when the filter rules the key out or the search
 * does not find it. The node returned may have died since: callers load
 * its value. */
static node_t *lookup(store_t *s, const unsigned char *key, size_t klen)
{
    uint64_t h = key_hash(key, klen);
    pindex_t *ix = load_index(&s->ix);
    hint_prefetch(ix, h); /* along with the filter word */
    if (!filter_may_hold(ix, h))
        return NULL;
    skey_t k = skey(key, klen);
    node_t *n = hinted(ix, h, &k);
    if (n != NULL)
        return n;
    int c;
    n = seek(s, &k, false, NULL, &c);
    if (c != 0)
        return NULL;
    if (load_word(&n->val) != 0)
        hint_found(s, h, n);
    return n;
}

static int sl_get(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, visit_fn visit, void *ctx)
{
    (void)call;
    int rc = XETS_NOTFOUND;
    node_t *n = lookup(s, key, klen);
    if (n != NULL) {
        val_t v = load_word(&n->val);
        if (v != 0) {
            rec_t r;
            rec_of(&r, n, v);
            visit(ctx, &r);
            rc = XETS_OK;
        }
    }
    return rc;
}

static int sl_remove(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, pred_fn match,
                     void *mctx, visit_fn removed, void *rctx)
{
    (void)call;
    int count = 0;
    node_t *n = lookup(s, key, klen);
    while (n != NULL) {
        val_t v = load_word(&n->val);
        if (v == 0)
            break;
        rec_t r;
        rec_of(&r, n, v);
        if (match != NULL && !match(mctx, &r))
            break;
        if (cas_word(&n->val, v, 0)) {
            if (removed != NULL)
                removed(rctx, &r);
            counted(s, -1, -(int64_t)(node_size(n) + outside_bytes(n, v)));
            drop_blob(n, v);
            help_delete(s, n);
            count = 1;
            break;
        }
        /* the object changed under match: judge the new one */
    }
    wrote(s);
    return count;
}

/* The key of what fn returns is ignored: an update cannot move an object. */
static int sl_update(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, update_fn fn, void *ctx)
{
    (void)call;
    int rc = XETS_NOTFOUND;
    node_t *n = lookup(s, key, klen);
    while (n != NULL) {
        val_t v = load_word(&n->val);
        if (v == 0) {
            rc = XETS_NOTFOUND;
            break;
        }
        rec_t cur;
        rec_of(&cur, n, v);
        rec_in_t out = {.key = cur.key, .klen = cur.klen};
        rc = fn(ctx, &cur, &out);
        if (rc != XETS_OK)
            break;
        blob_t *nb = blob_new(out.val, out.vlen);
        if (nb == NULL) {
            rc = XETS_NOMEM;
            break;
        }
        if (cas_word(&n->val, v, make_val(nb->bytes, nb->vlen))) {
            counted(s, 0, (int64_t)blob_bytes(nb) - (int64_t)outside_bytes(n, v));
            drop_blob(n, v);
            break;
        }
        free(nb); /* lost to another writer: recompute from its object */
    }
    wrote(s);
    return rc;
}

/* ---- the order and cursors ---- */

/* A cursor's place (store_cursor_t.place): the node of the last step, whose
 * key is where the next one goes on from (its frozen links still lead on
 * if it was removed since); meaningful within one epoch section only. */
typedef struct sl_place {
    node_t *last; /* NULL before the first step and after the last */
    bool done;
} __attribute__((may_alias)) sl_place_t;
_Static_assert(sizeof(sl_place_t) <= STORE_CURSOR_PLACE, "store.h: STORE_CURSOR_PLACE");

/* Whether n lies beyond bound b on the side sign points to: +1 above a high
 * bound, -1 below a low one. */
static bool beyond(const node_t *n, const store_bound_t *b, int sign)
{
    skey_t k = skey(b->pos, b->len);
    int c = key_cmp(n, &k) * sign;
    return c > 0 || (c == 0 && !b->inclusive);
}

/* Forward: level 0, then next pointers, up to the high bound. Frozen links
 * of deleted nodes still lead forward in key order. */
static inline node_t *walk_forward(const store_cursor_t *c, node_t *n, val_t *v)
{
    for (; n != NULL; n = link_node(load_word(&n->next[0]))) {
        if (c->hi.pos != NULL && beyond(n, &c->hi, 1))
            return NULL;
        if ((*v = load_word(&n->val)) != 0)
            return n;
    }
    return NULL;
}

/* Where a forward walk starts: the first node, or the first at or above
 * the low bound, where seek() settles, or past it when exclusive. */
static node_t *first_forward(const store_cursor_t *c)
{
    store_t *s = c->s;
    if (c->lo.pos == NULL)
        return link_node(load_word(&s->head->next[0]));
    skey_t k = skey(c->lo.pos, c->lo.len);
    int cmp;
    node_t *n = seek(s, &k, false, NULL, &cmp);
    if (n != NULL && cmp == 0 && !c->lo.inclusive)
        n = link_node(load_word(&n->next[0]));
    return n;
}

/* Backward: towers are singly linked, so each step is a fresh search for
 * the predecessor of the last key (of the high bound, at first), without
 * allocation. The node last returned stays allocated until the caller's
 * epoch section ends, so its key serves as the next bound. */
static node_t *step_backward(const store_cursor_t *c, const sl_place_t *p, val_t *v)
{
    store_t *s = c->s;
    bool to_end = p->last == NULL && c->hi.pos == NULL;
    bool inclusive = p->last == NULL && c->hi.inclusive;
    skey_t bound = p->last != NULL ? node_skey(p->last)
                   : to_end        ? (skey_t){.p = NULL}
                                   : skey(c->hi.pos, c->hi.len);
    for (;;) {
        node_t *pred;
        int cmp;
        node_t *n = seek(s, &bound, to_end, &pred, &cmp);
        if (!(inclusive && cmp == 0))
            n = pred;
        if (n == s->head || (c->lo.pos != NULL && beyond(n, &c->lo, -1)))
            return NULL;
        if ((*v = load_word(&n->val)) != 0)
            return n;
        bound = node_skey(n);
        to_end = inclusive = false;
    }
}

/* Hands out node n with object v, or the end when n is NULL. */
static inline int step_to(store_cursor_t *c, sl_place_t *p, node_t *n, val_t v)
{
    p->last = n;
    p->done = n == NULL;
    if (n == NULL)
        return XETS_END;
    c->recs.n = 1;
    rec_of(&c->recs.rec[0], n, v);
    return XETS_OK;
}

/* A first step, a backward one, or one past the end: apart from
 * sl_cursor_next so that the step after a forward one, a walk's usual
 * step, stays a small function. */
static __attribute__((noinline)) int step_other(store_cursor_t *c, sl_place_t *p)
{
    if (p->done)
        return XETS_END;
    val_t v = 0;
    node_t *n = c->dir == SCAN_BACKWARD ? step_backward(c, p, &v)
                                        : walk_forward(c, first_forward(c), &v);
    return step_to(c, p, n, v);
}

static int sl_cursor_next(store_cursor_t *c)
{
    sl_place_t *p = (sl_place_t *)c->place;
    if (p->last == NULL || c->dir == SCAN_BACKWARD)
        return step_other(c, p);
    val_t v = 0;
    node_t *n = walk_forward(c, link_node(load_word(&p->last->next[0])), &v);
    return step_to(c, p, n, v);
}

static size_t sl_size(store_t *s)
{
    /* Stripes may be transiently negative while writers are active. */
    return (size_t)live_count(s);
}

/* The store, the head, the index (both while one is being built) and the
 * objects. */
/* The bytes of the index the table keeps: the one a rebuild is making (the
 * current one is freed when the walk ends, as removed nodes are counted
 * out when unlinked, not when freed), or if a rebuild is due, the one it
 * will make; else the current one. Equal contents so take equal memory
 * whenever writers happened to start or end rebuilds, and, heights coming
 * from keys, whatever the order of the inserts (unless deletes made a
 * history of their own: the index shrinks late). */
static size_t index_bytes(store_t *s)
{
    pindex_t *ix = load_index(&s->ix_next);
    if (ix == NULL)
        ix = load_index(&s->ix);
    uint64_t n = live_count(s);
    if (index_due(ix, stripes_sum(s, offsetof(stripe_t, adds)), n))
        return index_shape(index_capacity(n)).bytes;
    return ix->bytes;
}

static size_t fixed_bytes(store_t *s)
{
    return sizeof(store_t) + node_bytes(MAX_HEIGHT, 0, 0) + index_bytes(s);
}

static size_t sl_memory(store_t *s)
{
    uint64_t sum = stripes_sum(s, offsetof(stripe_t, bytes));
    size_t fixed = fixed_bytes(s);
    return (int64_t)sum < 0 ? fixed : fixed + (size_t)sum;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (node_t *const *)a, y = (uintptr_t) * (node_t *const *)b;
    return (x > y) - (x < y);
}

/* The index of a quiescent store: every object's key passes the current
 * filter (and the next one's, if a rebuild is under way and has walked past
 * it, which cannot be told here: only the current one is checked), every
 * hint in either names an object on level 0, from the right bucket with
 * the right tag, and every object holds exactly one ref (its deleter's). */
static const char *check_index(store_t *s, size_t n)
{
    node_t **live = malloc((n + 1) * sizeof *live);
    if (live == NULL)
        return "out of memory checking the index";
    size_t i = 0;
    const char *bad = NULL;
    for (node_t *x = link_node(s->head->next[0]); x != NULL; x = link_node(x->next[0])) {
        live[i++] = x;
        if (!filter_may_hold(s->ix, key_hash(node_key(x), x->klen)))
            bad = "the filter rules out a key that is present";
        if (x->refs != 1)
            bad = "an object holds a ref other than its deleter's";
    }
    qsort(live, n, sizeof *live, ptr_cmp);
    pindex_t *ixs[2] = {s->ix, s->ix_next};
    for (unsigned j = 0; j < 2 && bad == NULL; j++) {
        pindex_t *ix = ixs[j];
        for (uint64_t e = 0; ix != NULL && e < ix->buckets * HINT_WAYS; e++) {
            if (ix->hints[e] == 0)
                continue;
            node_t *x = hint_node(ix->hints[e]);
            if (bsearch(&x, live, n, sizeof *live, ptr_cmp) == NULL) {
                bad = "a hint names a node that is not on level 0";
                break;
            }
            uint64_t h = key_hash(node_key(x), x->klen);
            const uint64_t *b = &ix->hints[e - e % HINT_WAYS];
            if ((hint_bucket(ix, h, 0) != b && hint_bucket(ix, h, 1) != b) ||
                hint_entry(h, x) != ix->hints[e]) {
                bad = "a hint is in the wrong bucket or has the wrong tag";
                break;
            }
        }
    }
    free(live);
    return bad;
}

/* For test/c/skiplist_test.c, on a store no thread is using: checks what a
 * quiescent store must show. Every level is in strictly increasing key order
 * with exact tags and no marks, and is a subsequence of the level below;
 * every node on level 0 holds an object and is linked on all its levels
 * (its inserter finished, nothing dead is left linked); size and memory
 * agree with level 0. Returns NULL, or what is wrong. */
const char *skiplist_check(store_t *s);
const char *skiplist_check(store_t *s)
{
    size_t on_level[MAX_HEIGHT] = {0}, tall[MAX_HEIGHT] = {0}, bytes = 0;
    for (unsigned i = 0; i < MAX_HEIGHT; i++) {
        node_t *prev = s->head;
        node_t *below = i > 0 ? link_node(s->head->next[i - 1]) : NULL;
        for (link_t l = prev->next[i]; link_node(l) != NULL; l = prev->next[i]) {
            node_t *n = link_node(l);
            skey_t k = node_skey(n);
            if (is_marked(l))
                return "a marked link is reachable";
            if (link_tag(l) != tag_of(node_pfx(prev), node_pfx(n)))
                return "a tag does not describe its successor";
            if (prev != s->head && key_cmp(prev, &k) >= 0)
                return "keys do not increase along a level";
            if (n->height <= i)
                return "a node is linked above its height";
            if (n->val == 0)
                return "a removed node is still linked";
            while (i > 0 && below != NULL && below != n)
                below = link_node(below->next[i - 1]);
            if (i > 0 && below == NULL)
                return "a node is linked on a level but not on the one below";
            if (i == 0) {
                for (unsigned j = 0; j < n->height; j++)
                    tall[j]++;
                bytes += node_size(n) + outside_bytes(n, n->val);
            }
            on_level[i]++;
            prev = n;
        }
        if (on_level[i] != tall[i])
            return "a node is missing from one of its levels";
    }
    if (on_level[0] != sl_size(s))
        return "size disagrees with level 0";
    if (bytes + fixed_bytes(s) != sl_memory(s))
        return "memory disagrees with level 0";
    return check_index(s, on_level[0]);
}

/* For tests and benchmarks: completed rebuilds, the index's bytes as
 * memory() counts them (index_bytes()), and how many of the n objects a
 * lookup would find through their hints (on a quiescent store). */
uint64_t skiplist_rebuilds(store_t *s);
uint64_t skiplist_rebuilds(store_t *s)
{
    return s->rebuilds;
}

size_t skiplist_index_bytes(store_t *s);
size_t skiplist_index_bytes(store_t *s)
{
    return index_bytes(s);
}

size_t skiplist_hinted(store_t *s);
size_t skiplist_hinted(store_t *s)
{
    size_t hinted = 0;
    for (node_t *n = link_node(s->head->next[0]); n != NULL; n = link_node(n->next[0])) {
        skey_t k = node_skey(n);
        hinted += hint_find(s->ix, key_hash(k.p, k.len), &k) == n;
    }
    return hinted;
}

const store_ops_t skiplist_ops = {
    .order = "key",
    .backward = true,
    .sort_key = NULL, /* the order is the key encoding itself */
    .open = sl_open,
    .close = sl_close,
    .drop = sl_close,
    .clear = sl_clear,
    .put = sl_put,
    .get = sl_get,
    .remove = sl_remove,
    .update = sl_update,
    .cursor_next = sl_cursor_next,
    .size = sl_size,
    .memory = sl_memory,
};
