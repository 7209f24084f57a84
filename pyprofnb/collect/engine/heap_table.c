/* The heap sampler's tables (GIL held throughout, like the hooks that feed them).
 *
 * Allocations are sampled by bytes with exponentially distributed gaps of mean `rate` (fresh
 * gap after each sample, so a block of s bytes is sampled with probability 1-exp(-s/rate), as
 * in Go). Counters are Horvitz-Thompson unsampled per block.
 *
 * Tables, all in libc malloc memory (never in the hooked domains), all bounded:
 *   funcs   one entry per code object seen in a sampled stack. No reference is held: while
 *           the code object lives, its entry points at it; when it dies (the code-dealloc
 *           wrapper calls pnb_heap_code_dying) the entry keeps only its names (a small
 *           tuple) and leaves the address index, so a new code object at the same address
 *           gets an entry of its own. A table full of such names costs far less than the
 *           code objects would (bytecode, constants, line tables).
 *   stacks  interned (kind, task, frames) keys with their four counters. A frame is
 *           (func index, instruction index, line), compared field by field: no padding or
 *           uninitialised byte ever takes part in a comparison or a hash.
 *   live    sampled blocks still allocated (address -> size, stack), with a counting
 *           prefilter so the unsampled majority of frees costs one load.
 * When a table is full, samples go to one reserved overflow stack (so totals stay right)
 * and are counted in `overflowed`; a block that cannot be tracked is counted in `dropped`.
 */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_STACKS (1u << 16)
#define MAX_HFRAMES (1u << 21)
#define MAX_FUNCS (1u << 18)
#define MAX_LIVE (1u << 22)
#define OVERFLOW_STACK 0 /* reserved: samples that found a table full */

typedef struct {
    uint32_t func;
    int32_t lasti;
    int32_t line;
} pnb_hframe;

typedef struct {
    uint64_t hash;
    uint64_t task;
    uint32_t frames_off;
    uint16_t depth;
    uint8_t kind;
    uint8_t truncated;
    double alloc_objects, alloc_space, inuse_objects, inuse_space;
} pnb_stack;

typedef struct {
    uintptr_t ptr; /* 0: empty */
    uint64_t size;
    uint32_t stack;
} pnb_live;

typedef struct {
    void *code;     /* the live code object (borrowed: no reference), NULL once dead */
    PyObject *desc; /* once dead: (qualname, filename, firstlineno, name) */
} pnb_func;

uint64_t g_heap_rate = 131072;
int64_t g_until_sample;
uint64_t g_heap_samples, g_heap_dropped, g_heap_overflowed;
uint8_t g_filter[1 << PNB_FILTER_BITS];
static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static pnb_stack *g_stacks;
static size_t g_nstacks, g_cap_stacks;
static pnb_hframe *g_hframes;
static size_t g_nhframes, g_cap_hframes;
static uint32_t *g_stack_index; /* open addressing, stack + 1; 0 empty */
static size_t g_cap_stack_index;

static pnb_func *g_funcs;
static size_t g_nfuncs, g_cap_funcs;
static uint32_t *g_func_index; /* code address -> func + 1; open addressing, 0 empty */
static size_t g_nfunc_index, g_cap_func_index;

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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    g_rng ^= pnb_mix((uint64_t)getpid() ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
    if (g_rng == 0) {
        g_rng = 0x9E3779B97F4A7C15ULL;
    }
}

uint64_t
pnb_random(void)
{
    /* xorshift64*: cheap, no locks, no libc state (fork-safe). GIL held. */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

int64_t
pnb_next_gap(void)
{
    if (g_heap_rate <= 1) {
        return 0; /* every allocation */
    }
    uint64_t r = pnb_random();
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double gap = -log(u) * (double)g_heap_rate;
    return gap > 4e18 ? (int64_t)4e18 : (int64_t)gap;
}

static inline double
weight(uint64_t size)
{
    if (g_heap_rate <= 1 || size == 0) {
        return 1.0; /* a 0-byte block (PyMem_Malloc(0)) counts once, never as 1/0 = inf */
    }
    return 1.0 / -expm1(-(double)size / (double)g_heap_rate);
}

/* ---------------------------------------------------------------- funcs -- */

static int
grow_func_index(void)
{
    size_t cap = g_cap_func_index ? g_cap_func_index * 2 : 1024;
    uint32_t *idx = calloc(cap, sizeof(uint32_t));
    if (idx == NULL) {
        return -1;
    }
    for (size_t i = 0; i < g_cap_func_index; i++) {
        uint32_t v = g_func_index[i];
        if (v != 0) {
            size_t j = ptr_hash(g_funcs[v - 1].code) & (cap - 1);
            while (idx[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            idx[j] = v;
        }
    }
    free(g_func_index);
    g_func_index = idx;
    g_cap_func_index = cap;
    return 0;
}

/* Slot of `code` in the address index (holding it, or the empty slot where it would go). */
static size_t
func_slot(void *code)
{
    size_t mask = g_cap_func_index - 1;
    size_t j = ptr_hash(code) & mask;
    while (g_func_index[j] != 0 && g_funcs[g_func_index[j] - 1].code != code) {
        j = (j + 1) & mask;
    }
    return j;
}

/* Func index of a live code object, made on first sight; -1 when the table is full. */
static long
intern_func(void *code)
{
    if (g_cap_func_index == 0 || (g_nfunc_index + 1) * 2 > g_cap_func_index) {
        if (grow_func_index() < 0) {
            return -1;
        }
    }
    size_t j = func_slot(code);
    if (g_func_index[j] != 0) {
        return g_func_index[j] - 1;
    }
    if (g_nfuncs >= MAX_FUNCS) {
        return -1;
    }
    if (g_nfuncs == g_cap_funcs) {
        size_t cap = g_cap_funcs ? g_cap_funcs * 2 : 256;
        pnb_func *f = realloc(g_funcs, cap * sizeof(*f));
        if (f == NULL) {
            return -1;
        }
        g_funcs = f;
        g_cap_funcs = cap;
    }
    g_funcs[g_nfuncs].code = code;
    g_funcs[g_nfuncs].desc = NULL;
    g_func_index[j] = (uint32_t)(g_nfuncs + 1);
    g_nfunc_index++;
    return (long)g_nfuncs++;
}

static PyObject *
describe_code(PyCodeObject *co)
{
    return Py_BuildValue("(OOiO)", co->co_qualname, co->co_filename, co->co_firstlineno,
                         co->co_name);
}

void
pnb_heap_code_dying(PyObject *op)
{
    if (g_cap_func_index == 0) {
        return;
    }
    size_t j = func_slot(op);
    if (g_func_index[j] == 0) {
        return; /* never in a sampled stack */
    }
    /* Names first: the tuple's allocation may re-enter the hooks and grow the tables, so
     * look the entry up again afterwards. */
    PyObject *desc = describe_code((PyCodeObject *)op);
    j = func_slot(op);
    uint32_t v = g_func_index[j];
    if (v == 0) {
        Py_XDECREF(desc);
        return;
    }
    pnb_func *f = &g_funcs[v - 1];
    f->code = NULL;
    f->desc = desc; /* NULL (out of memory): reported as an unknown frame */
    if (desc == NULL) {
        PyErr_Clear();
    }
    /* Backward-shift deletion from the address index. */
    size_t mask = g_cap_func_index - 1;
    size_t hole = j;
    size_t k = (j + 1) & mask;
    while (g_func_index[k] != 0) {
        size_t home = ptr_hash(g_funcs[g_func_index[k] - 1].code) & mask;
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            g_func_index[hole] = g_func_index[k];
            hole = k;
        }
        k = (k + 1) & mask;
    }
    g_func_index[hole] = 0;
    g_nfunc_index--;
}

/* --------------------------------------------------------------- stacks -- */

static int
grow_stack_index(void)
{
    size_t cap = g_cap_stack_index ? g_cap_stack_index * 2 : 1024;
    uint32_t *idx = calloc(cap, sizeof(uint32_t));
    if (idx == NULL) {
        return -1;
    }
    for (size_t i = 1; i < g_nstacks; i++) {
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

static int
ensure_overflow_stack(void)
{
    if (g_nstacks > 0) {
        return 0;
    }
    g_stacks = calloc(256, sizeof(pnb_stack));
    if (g_stacks == NULL) {
        return -1;
    }
    g_cap_stacks = 256;
    g_nstacks = 1; /* OVERFLOW_STACK, depth 0 */
    return 0;
}

static int
same_frames(const pnb_hframe *a, const pnb_hframe *b, int depth)
{
    for (int i = 0; i < depth; i++) {
        if (a[i].func != b[i].func || a[i].lasti != b[i].lasti) {
            return 0;
        }
    }
    return 1;
}

/* Index of the interned stack; OVERFLOW_STACK when a table is full. GIL held. */
static uint32_t
intern_stack(const pnb_hframe *frames, int depth, int truncated, int kind, uint64_t task)
{
    uint64_t h = 0x84222325cbf29ce4ULL ^ (uint64_t)depth ^ ((uint64_t)kind << 40);
    h = pnb_mix(h ^ task);
    for (int i = 0; i < depth; i++) {
        h = pnb_mix(h ^ frames[i].func) + (uint64_t)(uint32_t)frames[i].lasti;
    }
    if (g_cap_stack_index == 0 || (g_nstacks + 1) * 2 > g_cap_stack_index) {
        if (grow_stack_index() < 0) {
            return OVERFLOW_STACK;
        }
    }
    size_t mask = g_cap_stack_index - 1;
    size_t j = h & mask;
    while (g_stack_index[j] != 0) {
        pnb_stack *s = &g_stacks[g_stack_index[j] - 1];
        if (s->hash == h && s->depth == depth && s->kind == kind && s->task == task &&
            same_frames(&g_hframes[s->frames_off], frames, depth)) {
            return g_stack_index[j] - 1;
        }
        j = (j + 1) & mask;
    }
    if (g_nstacks >= MAX_STACKS || g_nhframes + depth > MAX_HFRAMES) {
        return OVERFLOW_STACK;
    }
    if (g_nstacks == g_cap_stacks) {
        size_t cap = g_cap_stacks * 2;
        pnb_stack *st = realloc(g_stacks, cap * sizeof(*st));
        if (st == NULL) {
            return OVERFLOW_STACK;
        }
        g_stacks = st;
        g_cap_stacks = cap;
    }
    if (g_nhframes + depth > g_cap_hframes) {
        size_t cap = g_cap_hframes ? g_cap_hframes * 2 : 4096;
        while (cap < g_nhframes + depth) {
            cap *= 2;
        }
        pnb_hframe *fr = realloc(g_hframes, cap * sizeof(*fr));
        if (fr == NULL) {
            return OVERFLOW_STACK;
        }
        g_hframes = fr;
        g_cap_hframes = cap;
    }
    memcpy(&g_hframes[g_nhframes], frames, depth * sizeof(pnb_hframe));
    pnb_stack *s = &g_stacks[g_nstacks];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->task = task;
    s->depth = (uint16_t)depth;
    s->kind = (uint8_t)kind;
    s->truncated = (uint8_t)truncated;
    s->frames_off = (uint32_t)g_nhframes;
    g_nhframes += depth;
    g_stack_index[j] = (uint32_t)(g_nstacks + 1);
    return (uint32_t)g_nstacks++;
}

/* ----------------------------------------------------------------- live -- */

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
count_alloc(pnb_stack *s, uint64_t size, int live)
{
    double w = weight(size);
    s->alloc_objects += w;
    s->alloc_space += w * (double)size;
    if (live) {
        s->inuse_objects += w;
        s->inuse_space += w * (double)size;
    }
}

static void
track(void *p, uint64_t size, uint32_t stack)
{
    if ((g_nlive + 1) * 10 > g_cap_live * 7 &&
        (g_nlive >= MAX_LIVE || live_grow() < 0)) {
        g_heap_dropped++; /* counted as allocated, never as in use */
        count_alloc(&g_stacks[stack], size, 0);
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
    else {
        /* An address still marked live was freed behind our back (e.g. while another tool
         * had removed the hooks): that block is no longer in use. */
        pnb_live old = g_live[j];
        double w = weight(old.size);
        g_stacks[old.stack].inuse_objects -= w;
        g_stacks[old.stack].inuse_space -= w * (double)old.size;
    }
    g_live[j].ptr = (uintptr_t)p;
    g_live[j].size = size;
    g_live[j].stack = stack;
    count_alloc(&g_stacks[stack], size, 1);
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

static int g_in_sample; /* a sample's own work re-entering the hooks is not sampled */

void
pnb_heap_sample(void *p, size_t size, int kind)
{
    g_until_sample = pnb_next_gap();
    if (g_in_sample || pnb_tls.paused) {
        return; /* the collector's own allocations are not the user's */
    }
    g_in_sample = 1;
    pnb_raw_frame raw[PNB_MAX_DEPTH];
    pnb_hframe frames[PNB_MAX_DEPTH];
    int truncated = 0;
    int depth = pnb_walk_gil_holder(raw, PNB_MAX_DEPTH, &truncated);
    if (depth < 0) {
        depth = 0; /* no Python thread state: an allocation from C, counted all the same */
    }
    uint32_t stack = OVERFLOW_STACK;
    if (ensure_overflow_stack() < 0) {
        g_heap_dropped++;
        g_in_sample = 0;
        return;
    }
    int ok = 1;
    for (int i = 0; i < depth; i++) {
        long f = intern_func(raw[i].code);
        if (f < 0) {
            ok = 0;
            break;
        }
        frames[i].func = (uint32_t)f;
        frames[i].lasti = raw[i].lasti;
        frames[i].line = 0; /* filled in when the stack is new (below) */
    }
    if (ok) {
        size_t before = g_nstacks;
        stack = intern_stack(frames, depth, truncated, kind, pnb_tls.task);
        if (g_nstacks > before) {
            pnb_hframe *fr = &g_hframes[g_stacks[stack].frames_off];
            for (int i = 0; i < depth; i++) {
                fr[i].line = pnb_line_of(raw[i].code, raw[i].lasti);
            }
        }
    }
    if (stack == OVERFLOW_STACK) {
        g_heap_overflowed++;
    }
    g_heap_samples++;
    track(p, size, stack);
    g_in_sample = 0;
}

void
pnb_heap_clear(void)
{
    /* Release the names of dead code objects last: a DECREF may free memory through the
     * hooked allocator and re-enter the tables, which are empty by then. */
    int was_active = g_heap_active;
    g_heap_active = 0;
    pnb_func *funcs = g_funcs;
    size_t nfuncs = g_nfuncs;
    free(g_stacks);
    free(g_stack_index);
    free(g_hframes);
    free(g_live);
    free(g_func_index);
    g_stacks = NULL;
    g_stack_index = NULL;
    g_hframes = NULL;
    g_live = NULL;
    g_func_index = NULL;
    g_funcs = NULL;
    g_nstacks = g_cap_stacks = g_cap_stack_index = 0;
    g_nhframes = g_cap_hframes = 0;
    g_nlive = g_cap_live = 0;
    g_nfuncs = g_cap_funcs = g_nfunc_index = g_cap_func_index = 0;
    memset(g_filter, 0, sizeof(g_filter));
    g_heap_samples = g_heap_dropped = g_heap_overflowed = 0;
    g_until_sample = pnb_next_gap();
    for (size_t i = 0; i < nfuncs; i++) {
        Py_XDECREF(funcs[i].desc);
    }
    free(funcs);
    g_heap_active = was_active;
}

/* [(kind, task, truncated, ((qualname, filename, line, firstlineno, name), ...) leaf first,
 *   alloc_objects, alloc_space, inuse_objects, inuse_space)] as unsampled floats; the
 * overflow stack (if used) has no frames and kind -1. Everything is copied (and names
 * referenced) before the first Python allocation, since allocations re-enter the hooks. */
PyObject *
pnb_heap_snapshot(void)
{
    size_t n = g_nstacks, nf = g_nhframes, nfn = g_nfuncs;
    pnb_stack *stacks = malloc((n ? n : 1) * sizeof(pnb_stack));
    pnb_hframe *frames = malloc((nf ? nf : 1) * sizeof(pnb_hframe));
    PyObject **names = malloc((nfn ? nfn : 1) * sizeof(PyObject *));
    int *live_code = malloc((nfn ? nfn : 1) * sizeof(int));
    if (stacks == NULL || frames == NULL || names == NULL || live_code == NULL) {
        free(stacks);
        free(frames);
        free(names);
        free(live_code);
        return PyErr_NoMemory();
    }
    memcpy(stacks, g_stacks, n * sizeof(pnb_stack));
    memcpy(frames, g_hframes, nf * sizeof(pnb_hframe));
    for (size_t i = 0; i < nfn; i++) {
        /* A live code object (GIL held, still in the table: not yet deallocated) or the
         * names kept at its death; referenced until the end of the snapshot. */
        live_code[i] = g_funcs[i].code != NULL;
        names[i] = live_code[i] ? (PyObject *)g_funcs[i].code : g_funcs[i].desc;
        Py_XINCREF(names[i]);
    }
    PyObject *out = NULL;
    PyObject *descs = PyList_New((Py_ssize_t)nfn);
    if (descs == NULL) {
        goto done;
    }
    for (size_t i = 0; i < nfn; i++) {
        PyObject *d = names[i] == NULL ? Py_BuildValue("(ssis)", "<unknown code>", "", 0,
                                                       "<unknown code>")
                      : live_code[i]   ? describe_code((PyCodeObject *)names[i])
                                       : Py_NewRef(names[i]);
        if (d == NULL) {
            goto done;
        }
        PyList_SET_ITEM(descs, i, d);
    }
    out = PyList_New(0);
    for (size_t i = 0; out != NULL && i < n; i++) {
        pnb_stack *s = &stacks[i];
        if (i == OVERFLOW_STACK && s->alloc_objects == 0) {
            continue;
        }
        PyObject *tup = PyTuple_New(s->depth);
        if (tup == NULL) {
            Py_CLEAR(out);
            break;
        }
        for (int k = 0; k < s->depth; k++) {
            pnb_hframe *f = &frames[s->frames_off + k];
            PyObject *d = PyList_GET_ITEM(descs, f->func);
            PyObject *item = Py_BuildValue("(OOiOO)", PyTuple_GET_ITEM(d, 0),
                                           PyTuple_GET_ITEM(d, 1), f->line,
                                           PyTuple_GET_ITEM(d, 2), PyTuple_GET_ITEM(d, 3));
            if (item == NULL) {
                Py_CLEAR(tup);
                break;
            }
            PyTuple_SET_ITEM(tup, k, item);
        }
        PyObject *rec = tup ? Py_BuildValue("(iKiNdddd)", i == OVERFLOW_STACK ? -1 : s->kind,
                                            (unsigned long long)s->task, s->truncated, tup,
                                            s->alloc_objects, s->alloc_space, s->inuse_objects,
                                            s->inuse_space)
                            : NULL;
        if (rec == NULL || PyList_Append(out, rec) < 0) {
            Py_XDECREF(rec);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(rec);
    }
done:
    Py_XDECREF(descs);
    for (size_t i = 0; i < nfn; i++) {
        Py_XDECREF(names[i]);
    }
    free(stacks);
    free(frames);
    free(names);
    free(live_code);
    return out;
}

PyObject *
pnb_heap_table_stats(void)
{
    size_t bytes = g_cap_stacks * sizeof(pnb_stack) + g_cap_hframes * sizeof(pnb_hframe) +
                   g_cap_stack_index * sizeof(uint32_t) + g_cap_live * sizeof(pnb_live) +
                   g_cap_funcs * sizeof(pnb_func) + g_cap_func_index * sizeof(uint32_t) +
                   sizeof(g_filter);
    size_t dead = 0;
    for (size_t i = 0; i < g_nfuncs; i++) {
        dead += g_funcs[i].code == NULL;
    }
    return Py_BuildValue("{s:K,s:K,s:n,s:n,s:n,s:n,s:K,s:K,s:n}", "rate",
                         (unsigned long long)g_heap_rate, "samples",
                         (unsigned long long)g_heap_samples, "live_samples", (Py_ssize_t)g_nlive,
                         "stacks", (Py_ssize_t)(g_nstacks ? g_nstacks - 1 : 0), "funcs",
                         (Py_ssize_t)g_nfuncs, "dead_funcs", (Py_ssize_t)dead, "dropped",
                         (unsigned long long)g_heap_dropped, "overflowed",
                         (unsigned long long)g_heap_overflowed, "table_bytes",
                         (Py_ssize_t)bytes);
}
