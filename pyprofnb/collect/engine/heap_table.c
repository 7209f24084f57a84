/* The heap sampler's tables (GIL held throughout, like the hooks that feed them).
 *
 * Allocations are sampled by bytes with exponentially distributed gaps of mean `rate` (fresh
 * gap after each sample, so a block of s bytes is sampled with probability 1-exp(-s/rate), as
 * in Go). A sampled block's stack is interned in a stack table whose code objects are
 * Py_INCREF'd (safe here: GIL held, ordinary context); the block is kept in a pointer table
 * until freed. Frees first test a counting filter indexed by pointer hash, so the unsampled
 * majority costs one load. All tables live in libc malloc memory, never in the hooked
 * domains. Counters are Horvitz-Thompson unsampled per block. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t hash;
    uint32_t frames_off;
    uint16_t depth;
    double alloc_objects, alloc_space, inuse_objects, inuse_space;
} pnb_stack;

typedef struct {
    uintptr_t ptr; /* 0: empty */
    uint64_t size;
    uint32_t stack;
} pnb_live;

uint64_t g_heap_rate = 131072;
double g_until_sample;
uint64_t g_heap_samples, g_heap_dropped;
uint8_t g_filter[1 << PNB_FILTER_BITS];
static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static pnb_stack *g_stacks;
static size_t g_nstacks, g_cap_stacks;
static pnb_raw_frame *g_hframes;
static size_t g_nhframes, g_cap_hframes;
static uint32_t *g_stack_index; /* open addressing, stack + 1; 0 empty */
static size_t g_cap_stack_index;

static pnb_live *g_live;
static size_t g_nlive, g_cap_live;

uint64_t
pnb_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t
ptr_hash(const void *p)
{
    return pnb_mix((uint64_t)(uintptr_t)p);
}

void
pnb_heap_seed(void)
{
    g_rng ^= pnb_mix((uint64_t)getpid() ^ (uint64_t)time(NULL));
    if (g_rng == 0) {
        g_rng = 0x9E3779B97F4A7C15ULL;
    }
}

double
pnb_next_gap(void)
{
    if (g_heap_rate <= 1) {
        return 0.0; /* every allocation */
    }
    /* xorshift64*: cheap, no locks, no libc state (fork-safe). */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    uint64_t r = g_rng * 0x2545F4914F6CDD1DULL;
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    return -log(u) * (double)g_heap_rate;
}

static inline double
weight(uint64_t size)
{
    if (g_heap_rate <= 1) {
        return 1.0;
    }
    return 1.0 / -expm1(-(double)size / (double)g_heap_rate);
}

static int
grow_stack_index(void)
{
    size_t cap = g_cap_stack_index ? g_cap_stack_index * 2 : 1024;
    uint32_t *idx = calloc(cap, sizeof(uint32_t));
    if (idx == NULL) {
        return -1;
    }
    for (size_t i = 0; i < g_nstacks; i++) {
        size_t j = g_stacks[i].hash & (cap - 1);
        while (idx[j] != 0) {
            j = (j + 1) & (cap - 1);
        }
        idx[j] = (uint32_t)(i + 1);
    }
    free(g_stack_index);
    g_stack_index = idx;
    g_cap_stack_index = cap;
    return 0;
}

/* Index of the interned stack, or -1 when out of memory. GIL held. */
static long
intern_stack(const pnb_raw_frame *frames, int depth)
{
    uint64_t h = 0x84222325cbf29ce4ULL ^ (uint64_t)depth;
    for (int i = 0; i < depth; i++) {
        h = pnb_mix(h ^ (uint64_t)(uintptr_t)frames[i].code) + (uint64_t)(uint32_t)frames[i].lasti;
    }
    if (g_cap_stack_index == 0 || (g_nstacks + 1) * 2 > g_cap_stack_index) {
        if (grow_stack_index() < 0) {
            return -1;
        }
    }
    size_t j = h & (g_cap_stack_index - 1);
    while (g_stack_index[j] != 0) {
        pnb_stack *s = &g_stacks[g_stack_index[j] - 1];
        if (s->hash == h && s->depth == depth &&
            memcmp(&g_hframes[s->frames_off], frames, depth * sizeof(pnb_raw_frame)) == 0) {
            return g_stack_index[j] - 1;
        }
        j = (j + 1) & (g_cap_stack_index - 1);
    }
    if (g_nstacks == g_cap_stacks) {
        size_t cap = g_cap_stacks ? g_cap_stacks * 2 : 256;
        pnb_stack *st = realloc(g_stacks, cap * sizeof(*st));
        if (st == NULL) {
            return -1;
        }
        g_stacks = st;
        g_cap_stacks = cap;
    }
    if (g_nhframes + depth > g_cap_hframes) {
        size_t cap = g_cap_hframes ? g_cap_hframes * 2 : 4096;
        while (cap < g_nhframes + depth) {
            cap *= 2;
        }
        pnb_raw_frame *fr = realloc(g_hframes, cap * sizeof(*fr));
        if (fr == NULL) {
            return -1;
        }
        g_hframes = fr;
        g_cap_hframes = cap;
    }
    memcpy(&g_hframes[g_nhframes], frames, depth * sizeof(pnb_raw_frame));
    for (int i = 0; i < depth; i++) {
        Py_INCREF((PyObject *)frames[i].code); /* GIL held; released by heap_reset */
    }
    pnb_stack *s = &g_stacks[g_nstacks];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->depth = (uint16_t)depth;
    s->frames_off = (uint32_t)g_nhframes;
    g_nhframes += depth;
    g_stack_index[j] = (uint32_t)(g_nstacks + 1);
    return (long)g_nstacks++;
}

static int
live_grow(void)
{
    size_t cap = g_cap_live ? g_cap_live * 2 : 4096;
    pnb_live *t = calloc(cap, sizeof(pnb_live));
    if (t == NULL) {
        return -1;
    }
    for (size_t i = 0; i < g_cap_live; i++) {
        if (g_live[i].ptr != 0) {
            size_t j = ptr_hash((void *)g_live[i].ptr) & (cap - 1);
            while (t[j].ptr != 0) {
                j = (j + 1) & (cap - 1);
            }
            t[j] = g_live[i];
        }
    }
    free(g_live);
    g_live = t;
    g_cap_live = cap;
    return 0;
}

static void
track(void *p, uint64_t size, uint32_t stack)
{
    if ((g_nlive + 1) * 10 > g_cap_live * 7 && live_grow() < 0) {
        g_heap_dropped++;
        return;
    }
    uint64_t h = ptr_hash(p);
    size_t j = h & (g_cap_live - 1);
    while (g_live[j].ptr != 0 && g_live[j].ptr != (uintptr_t)p) {
        j = (j + 1) & (g_cap_live - 1);
    }
    if (g_live[j].ptr == 0) {
        g_nlive++;
        uint8_t *c = pnb_filter_slot(p);
        if (*c != UINT8_MAX) {
            (*c)++;
        }
    }
    /* (An address still marked live was freed behind our back, e.g. before a restart of
     * the hooks: the new block simply replaces it.) */
    g_live[j].ptr = (uintptr_t)p;
    g_live[j].size = size;
    g_live[j].stack = stack;
    double w = weight(size);
    pnb_stack *s = &g_stacks[stack];
    s->alloc_objects += w;
    s->alloc_space += w * (double)size;
    s->inuse_objects += w;
    s->inuse_space += w * (double)size;
}

void
pnb_untrack_slow(void *p, uint8_t *c)
{
    if (g_cap_live == 0) {
        return;
    }
    uint64_t h = ptr_hash(p);
    size_t mask = g_cap_live - 1;
    size_t j = h & mask;
    while (g_live[j].ptr != (uintptr_t)p) {
        if (g_live[j].ptr == 0) {
            return;
        }
        j = (j + 1) & mask;
    }
    pnb_live e = g_live[j];
    double w = weight(e.size);
    pnb_stack *s = &g_stacks[e.stack];
    s->inuse_objects -= w;
    s->inuse_space -= w * (double)e.size;
    if (*c != UINT8_MAX) {
        (*c)--;
    }
    g_nlive--;
    /* Backward-shift deletion keeps linear probing free of tombstones. */
    size_t hole = j;
    size_t k = (j + 1) & mask;
    while (g_live[k].ptr != 0) {
        size_t home = ptr_hash((void *)g_live[k].ptr) & mask;
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            g_live[hole] = g_live[k];
            hole = k;
        }
        k = (k + 1) & mask;
    }
    g_live[hole].ptr = 0;
}

void
pnb_heap_sample(void *p, size_t size)
{
    g_until_sample = pnb_next_gap();
    pnb_raw_frame frames[PNB_MAX_DEPTH];
    int truncated;
    int depth = pnb_walk_gil_holder(frames, PNB_MAX_DEPTH, &truncated);
    if (depth < 0) {
        return;
    }
    long stack = intern_stack(frames, depth);
    if (stack < 0) {
        g_heap_dropped++;
        return;
    }
    g_heap_samples++;
    track(p, size, (uint32_t)stack);
}

void
pnb_heap_clear(void)
{
    /* Unpin code objects: copy the pointers first, since a DECREF may free memory
     * through the hooked allocator and re-enter the tables. */
    int was_active = g_heap_active;
    g_heap_active = 0;
    pnb_raw_frame *frames = g_hframes;
    size_t nframes = g_nhframes;
    free(g_stacks);
    free(g_stack_index);
    free(g_live);
    g_stacks = NULL;
    g_stack_index = NULL;
    g_live = NULL;
    g_hframes = NULL;
    g_nstacks = g_cap_stacks = g_cap_stack_index = 0;
    g_nhframes = g_cap_hframes = 0;
    g_nlive = g_cap_live = 0;
    memset(g_filter, 0, sizeof(g_filter));
    g_heap_samples = g_heap_dropped = 0;
    g_until_sample = pnb_next_gap();
    for (size_t i = 0; i < nframes; i++) {
        Py_DECREF((PyObject *)frames[i].code);
    }
    free(frames);
    g_heap_active = was_active;
}

/* [(((code, line), ...) leaf first, alloc_objects, alloc_space, inuse_objects, inuse_space)]
 * as unsampled floats. Everything is copied (and code objects pinned) before the first
 * Python allocation, since allocations re-enter the hooks and may grow the tables. */
PyObject *
pnb_heap_snapshot(void)
{
    size_t n = g_nstacks, nf = g_nhframes;
    pnb_stack *stacks = malloc((n ? n : 1) * sizeof(pnb_stack));
    pnb_raw_frame *frames = malloc((nf ? nf : 1) * sizeof(pnb_raw_frame));
    if (stacks == NULL || frames == NULL) {
        free(stacks);
        free(frames);
        return PyErr_NoMemory();
    }
    memcpy(stacks, g_stacks, n * sizeof(pnb_stack));
    memcpy(frames, g_hframes, nf * sizeof(pnb_raw_frame));
    for (size_t i = 0; i < nf; i++) {
        Py_INCREF((PyObject *)frames[i].code);
    }
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out != NULL && i < n; i++) {
        pnb_stack *s = &stacks[i];
        PyObject *tup = PyTuple_New(s->depth);
        if (tup == NULL) {
            Py_CLEAR(out);
            break;
        }
        for (int k = 0; k < s->depth; k++) {
            pnb_raw_frame *f = &frames[s->frames_off + k];
            PyObject *item = Py_BuildValue("(Oi)", (PyObject *)f->code,
                                           pnb_line_of((PyObject *)f->code, f->lasti));
            if (item == NULL) {
                Py_CLEAR(tup);
                break;
            }
            PyTuple_SET_ITEM(tup, k, item);
        }
        PyObject *rec = tup ? Py_BuildValue("(Ndddd)", tup, s->alloc_objects, s->alloc_space,
                                            s->inuse_objects, s->inuse_space)
                            : NULL;
        if (rec == NULL || PyList_Append(out, rec) < 0) {
            Py_XDECREF(rec);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(rec);
    }
    for (size_t i = 0; i < nf; i++) {
        Py_DECREF((PyObject *)frames[i].code);
    }
    free(stacks);
    free(frames);
    return out;
}

PyObject *
pnb_heap_table_stats(void)
{
    size_t bytes = g_cap_stacks * sizeof(pnb_stack) + g_cap_hframes * sizeof(pnb_raw_frame) +
                   g_cap_stack_index * sizeof(uint32_t) + g_cap_live * sizeof(pnb_live) +
                   sizeof(g_filter);
    return Py_BuildValue("{s:K,s:K,s:n,s:n,s:K,s:n}", "rate", (unsigned long long)g_heap_rate,
                         "samples", (unsigned long long)g_heap_samples, "live_samples",
                         (Py_ssize_t)g_nlive, "stacks", (Py_ssize_t)g_nstacks, "dropped",
                         (unsigned long long)g_heap_dropped, "table_bytes", (Py_ssize_t)bytes);
}
