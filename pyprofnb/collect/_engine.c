/* pyprofnb's native sampling engine: CPU-time sampling by per-thread timers, and heap
 * sampling by allocator hooks. The Python side is pyprofnb/collect/cpu.py and heap.py.
 *
 * CPU
 *   Each Python thread gets a POSIX timer on its own CPU clock (clock id built from the
 *   kernel tid, never from pthread_t) that sends SIGPROF to that very thread
 *   (SIGEV_THREAD_ID) every 1/hz s of that thread's CPU. The handler copies the interrupted
 *   thread's frame chain (code pointer + instruction index per frame) into a preallocated
 *   multi-producer ring (Vyukov's bounded queue: atomics only). It never allocates, locks,
 *   touches a reference count or calls Python. A Python drain thread calls cpu_sync()
 *   (timers for new threads, deletion for exited ones) and cpu_drain() (captures -> tuples).
 *
 *   Code-object lifetime. A captured code pointer may die before the drain sees it (module
 *   bodies after import, exec'd code). Py_INCREF from the handler is not an option: the
 *   handler may interrupt a non-atomic refcount update of the same object. Instead every
 *   code-object deallocation goes through a wrapper of PyCode_Type.tp_dealloc that bumps
 *   g_code_gen, and each capture records g_code_gen before its walk. In the drain (GIL held):
 *     - capture gen == current gen: no code object has died since the capture, so every
 *       pointer in it is live; it is Py_INCREF'd into g_code_table before anything else can
 *       run, and stays there until cpu_release();
 *     - otherwise a pointer is trusted only if g_code_table already held it when the capture
 *       was taken (entry gen <= capture gen: the object at that address has been pinned
 *       since, so it is the one captured);
 *     - anything else is reported as an unknown frame (counted in stats), never dereferenced.
 *   To keep the second case rare, the dealloc wrapper (GIL held, like the consumer) walks the
 *   complete captures still in the ring, blanks the dying pointer and advances their gen.
 *
 * Heap
 *   Hooks on the PyMem OBJ and MEM domains wrap the previous allocators (GIL held in both).
 *   Allocations are sampled by bytes with exponentially distributed gaps of mean `rate`
 *   (fresh gap after each sample, so a block of s bytes is sampled with probability
 *   1-exp(-s/rate), as in Go). A sampled block's stack is interned in a stack table whose
 *   code objects are Py_INCREF'd (safe here: GIL held, ordinary context); the block is kept
 *   in a pointer table until freed. Frees first test a counting filter indexed by pointer
 *   hash, so the unsampled majority costs one load. All tables live in libc malloc memory,
 *   never in the hooked domains. Counters are Horvitz-Thompson unsampled per block.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "frames_cpython.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PNB_MAX_DEPTH 128

typedef struct {
    void *code;
    int32_t lasti;
} pnb_raw_frame;

/* Walk the frame chain of `ts` into out[0..max), leaf first. Reads structs only. */
static int
pnb_walk(PyThreadState *ts, pnb_raw_frame *out, int max, int *truncated)
{
    int n = 0;
    *truncated = 0;
    pnb_frame *f = pnb_top_frame(ts);
    int guard = 0;
    while (f != NULL && guard++ < 4096) {
        PyCodeObject *code = pnb_frame_code(f);
        if (code == NULL || Py_TYPE(code) != &PyCode_Type) {
            break; /* not a frame we understand: stop rather than guess */
        }
        if (!pnb_frame_incomplete(f)) {
            if (n == max) {
                *truncated = 1;
                break;
            }
            out[n].code = code;
            out[n].lasti = pnb_frame_lasti(f);
            n++;
        }
        f = pnb_prev_frame(f);
    }
    return n;
}

/* ===================================================================== CPU == */

typedef struct {
    _Atomic uint64_t seq;
    uint64_t gen;
    unsigned long ident;
    uint32_t weight;
    uint16_t depth;
    uint16_t truncated;
    pnb_raw_frame frames[PNB_MAX_DEPTH];
} pnb_slot;

#define PNB_RING_SIZE 512 /* power of two; ~200 captures/s on 2 cores, drained every 20 ms */

static pnb_slot *g_ring;
static _Atomic uint64_t g_ring_head; /* next slot producers claim */
static uint64_t g_ring_tail;         /* next slot the (single, locked) consumer reads */

static _Atomic int g_cpu_active;
static _Atomic int g_in_handler;
static _Atomic uint64_t g_code_gen;
static _Atomic uint64_t g_cpu_captures, g_cpu_dropped_full, g_cpu_no_tstate;
static uint64_t g_cpu_unknown_frames;

static PyObject *g_code_table; /* {address: (code, gen when pinned)} */
static destructor g_orig_code_dealloc;
static int g_handler_installed;
static struct sigaction g_prev_sigprof;

typedef struct {
    uint64_t uid;
    long tid;
    timer_t timer;
    int seen;
} pnb_thread_timer;

static pnb_thread_timer *g_timers;
static size_t g_ntimers, g_cap_timers;
static uint64_t g_start_max_uid; /* thread states up to this uid existed at start() */
static long g_period_ns;

static void
pnb_code_dealloc(PyObject *op)
{
    uint64_t gen = atomic_fetch_add_explicit(&g_code_gen, 1, memory_order_seq_cst) + 1;
    /* Keep captures waiting in the ring resolvable: a complete capture whose pointers were
     * all alive until now stays so, minus this object (which becomes an unknown frame). GIL
     * held, as for the consumer, so the ready slots between tail and head are ours to edit;
     * slots still being written keep their older gen and are treated conservatively. */
    if (g_ring != NULL) {
        for (uint64_t pos = g_ring_tail;; pos++) {
            pnb_slot *s = &g_ring[pos & (PNB_RING_SIZE - 1)];
            if (atomic_load_explicit(&s->seq, memory_order_acquire) != pos + 1) {
                break;
            }
            if (s->gen != gen - 1) {
                continue;
            }
            for (int i = 0; i < s->depth; i++) {
                if (s->frames[i].code == (void *)op) {
                    s->frames[i].code = NULL;
                }
            }
            s->gen = gen;
        }
    }
    g_orig_code_dealloc(op);
}

static void
pnb_ring_reset(void)
{
    if (g_ring == NULL) {
        return;
    }
    for (uint64_t i = 0; i < PNB_RING_SIZE; i++) {
        atomic_store_explicit(&g_ring[i].seq, i, memory_order_relaxed);
    }
    atomic_store(&g_ring_head, 0);
    g_ring_tail = 0;
}

static void
pnb_on_sigprof(int signo, siginfo_t *si, void *uctx)
{
    (void)signo;
    (void)uctx;
    int saved_errno = errno;
    atomic_fetch_add(&g_in_handler, 1);
    if (atomic_load(&g_cpu_active) && si != NULL && si->si_code == SI_TIMER) {
        PyThreadState *ts = pnb_tstate_of_this_thread();
        if (ts == NULL) {
            atomic_fetch_add_explicit(&g_cpu_no_tstate, 1, memory_order_relaxed);
        }
        else {
            uint64_t pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
            pnb_slot *slot = NULL;
            for (;;) {
                pnb_slot *s = &g_ring[pos & (PNB_RING_SIZE - 1)];
                uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
                int64_t dif = (int64_t)seq - (int64_t)pos;
                if (dif == 0) {
                    if (atomic_compare_exchange_weak_explicit(&g_ring_head, &pos, pos + 1,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed)) {
                        slot = s;
                        break;
                    }
                }
                else if (dif < 0) {
                    break; /* full */
                }
                else {
                    pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
                }
            }
            if (slot == NULL) {
                atomic_fetch_add_explicit(&g_cpu_dropped_full, 1, memory_order_relaxed);
            }
            else {
                int truncated;
                slot->gen = atomic_load(&g_code_gen); /* before the walk: see top comment */
                slot->ident = pnb_tstate_ident(ts);
                int overrun = si->si_overrun;
                slot->weight = 1 + (uint32_t)(overrun > 0 ? overrun : 0);
                slot->depth = (uint16_t)pnb_walk(ts, slot->frames, PNB_MAX_DEPTH, &truncated);
                slot->truncated = (uint16_t)truncated;
                atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
                atomic_fetch_add_explicit(&g_cpu_captures, 1, memory_order_relaxed);
            }
        }
    }
    atomic_fetch_sub(&g_in_handler, 1);
    errno = saved_errno;
}

static void
pnb_delete_timer_at(size_t i)
{
    timer_delete(g_timers[i].timer);
    g_timers[i] = g_timers[--g_ntimers];
}

static void
pnb_delete_all_timers(void)
{
    while (g_ntimers > 0) {
        pnb_delete_timer_at(g_ntimers - 1);
    }
}

static int
pnb_create_timer(uint64_t uid, long tid)
{
    if (g_ntimers == g_cap_timers) {
        size_t cap = g_cap_timers ? g_cap_timers * 2 : 16;
        pnb_thread_timer *t = realloc(g_timers, cap * sizeof(*t));
        if (t == NULL) {
            return -1;
        }
        g_timers = t;
        g_cap_timers = cap;
    }
    /* The kernel's encoding of a per-thread CPU clock: ~tid << 3 | CPUCLOCK_PERTHREAD (4) |
     * CPUCLOCK_SCHED (2). Same id as pthread_getcpuclockid, without touching pthread_t. */
    clockid_t clock = (clockid_t)((~(unsigned int)tid) << 3) | 6;
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev._sigev_un._tid = (pid_t)tid;
    timer_t timer;
    if (timer_create(clock, &sev, &timer) != 0) {
        return -1; /* thread already gone */
    }
    struct itimerspec its;
    its.it_interval.tv_sec = g_period_ns / 1000000000L;
    its.it_interval.tv_nsec = g_period_ns % 1000000000L;
    its.it_value = its.it_interval;
    /* A thread born after start() is armed at absolute CPU time `period`: CPU it used before
     * the drain thread noticed it fires at once, with the missed periods as overruns, so
     * short-lived threads are not undercounted. Older threads count from now. */
    int flags = uid > g_start_max_uid ? TIMER_ABSTIME : 0;
    if (timer_settime(timer, flags, &its, NULL) != 0) {
        timer_delete(timer);
        return -1;
    }
    pnb_thread_timer *t = &g_timers[g_ntimers++];
    t->uid = uid;
    t->tid = tid;
    t->timer = timer;
    t->seen = 1;
    return 0;
}

typedef struct {
    uint64_t uid;
    long tid;
} pnb_thread_id;

/* Thread states, listed under the runtime's head lock (no Python, no timer calls inside). */
static pnb_thread_id *
pnb_list_threads(size_t *count)
{
    size_t cap = 64, n = 0;
    pnb_thread_id *ids = malloc(cap * sizeof(*ids));
    if (ids == NULL) {
        return NULL;
    }
    pnb_threads_lock();
    for (PyThreadState *ts = pnb_first_tstate(); ts != NULL; ts = pnb_next_tstate(ts)) {
        if (n == cap) {
            pnb_thread_id *more = realloc(ids, cap * 2 * sizeof(*ids));
            if (more == NULL) {
                break;
            }
            ids = more;
            cap *= 2;
        }
        ids[n].uid = pnb_tstate_uid(ts);
        ids[n].tid = pnb_tstate_native_id(ts);
        n++;
    }
    pnb_threads_unlock();
    *count = n;
    return ids;
}

static PyObject *
cpu_sync(PyObject *self, PyObject *args)
{
    long exclude_tid = 0;
    if (!PyArg_ParseTuple(args, "|l", &exclude_tid)) {
        return NULL;
    }
    if (!atomic_load(&g_cpu_active)) {
        Py_RETURN_NONE;
    }
    size_t n;
    pnb_thread_id *ids = pnb_list_threads(&n);
    if (ids == NULL) {
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < g_ntimers; i++) {
        g_timers[i].seen = 0;
    }
    int created = 0;
    for (size_t i = 0; i < n; i++) {
        long tid = ids[i].tid;
        if (tid <= 0 || tid == exclude_tid) {
            continue;
        }
        /* A thread state made by threading.Thread.start() carries its parent's tid until the
         * new thread runs; the older state (lower uid) is the one that owns the tid. */
        int shadowed = 0;
        for (size_t j = 0; j < n; j++) {
            if (j != i && ids[j].tid == tid && ids[j].uid < ids[i].uid) {
                shadowed = 1;
                break;
            }
        }
        if (shadowed) {
            continue;
        }
        size_t k;
        for (k = 0; k < g_ntimers; k++) {
            if (g_timers[k].uid == ids[i].uid) {
                break;
            }
        }
        if (k < g_ntimers && g_timers[k].tid == tid) {
            g_timers[k].seen = 1;
            continue;
        }
        if (k < g_ntimers) {
            pnb_delete_timer_at(k); /* same state, now on its own thread */
        }
        if (pnb_create_timer(ids[i].uid, tid) == 0) {
            created++;
        }
    }
    free(ids);
    for (size_t i = g_ntimers; i-- > 0;) {
        if (!g_timers[i].seen) {
            pnb_delete_timer_at(i); /* thread exited */
        }
    }
    return PyLong_FromLong(created);
}

static PyObject *
cpu_start(PyObject *self, PyObject *args)
{
    long hz;
    if (!PyArg_ParseTuple(args, "l", &hz)) {
        return NULL;
    }
    if (hz <= 0 || hz > 100000) {
        PyErr_Format(PyExc_ValueError, "hz must be in 1..100000, got %ld", hz);
        return NULL;
    }
    if (atomic_load(&g_cpu_active)) {
        PyErr_SetString(PyExc_RuntimeError, "cpu profiling already in use");
        return NULL;
    }
    if (g_ring == NULL) {
        g_ring = calloc(PNB_RING_SIZE, sizeof(pnb_slot));
        if (g_ring == NULL) {
            return PyErr_NoMemory();
        }
    }
    pnb_ring_reset();
    if (g_code_table == NULL) {
        g_code_table = PyDict_New();
        if (g_code_table == NULL) {
            return NULL;
        }
    }
    if (g_orig_code_dealloc == NULL) {
        g_orig_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = pnb_code_dealloc;
    }
    if (!g_handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = pnb_on_sigprof;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, &g_prev_sigprof) != 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        g_handler_installed = 1;
    }
    g_period_ns = 1000000000L / hz;
    g_cpu_unknown_frames = 0;
    atomic_store(&g_cpu_captures, 0);
    atomic_store(&g_cpu_dropped_full, 0);
    atomic_store(&g_cpu_no_tstate, 0);
    uint64_t max_uid = 0;
    size_t n;
    pnb_thread_id *ids = pnb_list_threads(&n);
    if (ids == NULL) {
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i].uid > max_uid) {
            max_uid = ids[i].uid;
        }
    }
    free(ids);
    g_start_max_uid = max_uid;
    atomic_store(&g_cpu_active, 1);
    Py_RETURN_NONE;
}

/* Disarm: no capture can start after this returns, and none is still being written. */
static PyObject *
cpu_stop_timers(PyObject *self, PyObject *noargs)
{
    atomic_store(&g_cpu_active, 0);
    pnb_delete_all_timers();
    while (atomic_load(&g_in_handler) != 0) {
        sched_yield();
    }
    Py_RETURN_NONE;
}

/* The code object behind a captured pointer, or NULL when it cannot be proven alive.
 * Borrowed reference (held by g_code_table). */
static PyObject *
pnb_resolve_code(void *ptr, uint64_t capture_gen)
{
    if (ptr == NULL) {
        return NULL; /* died before the drain saw it */
    }
    if (capture_gen == atomic_load(&g_code_gen)) {
        PyObject *code = (PyObject *)ptr;
        Py_INCREF(code); /* pinned before anything that could run a deallocation */
        PyObject *key = PyLong_FromVoidPtr(ptr);
        if (key == NULL) {
            Py_DECREF(code);
            return NULL;
        }
        PyObject *entry = PyDict_GetItemWithError(g_code_table, key);
        if (entry == NULL && !PyErr_Occurred()) {
            entry = Py_BuildValue("(NK)", code, (unsigned long long)capture_gen);
            if (entry == NULL || PyDict_SetItem(g_code_table, key, entry) < 0) {
                Py_XDECREF(entry);
                Py_DECREF(key);
                return NULL;
            }
            Py_DECREF(entry);
        }
        else {
            Py_DECREF(code);
        }
        Py_DECREF(key);
        return entry ? PyTuple_GET_ITEM(entry, 0) : NULL;
    }
    PyObject *key = PyLong_FromVoidPtr(ptr);
    if (key == NULL) {
        return NULL;
    }
    PyObject *entry = PyDict_GetItemWithError(g_code_table, key);
    Py_DECREF(key);
    if (entry == NULL) {
        return NULL;
    }
    uint64_t pinned_gen = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 1));
    return pinned_gen <= capture_gen ? PyTuple_GET_ITEM(entry, 0) : NULL;
}

/* Captures so far as [(ident, weight, ((code or None, line), ...) leaf first), ...]. */
static PyObject *
cpu_drain(PyObject *self, PyObject *noargs)
{
    if (g_ring == NULL || g_code_table == NULL) {
        return PyList_New(0);
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    pnb_slot *copy = malloc(sizeof(pnb_slot));
    if (copy == NULL) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    for (;;) {
        uint64_t pos = g_ring_tail;
        pnb_slot *s = &g_ring[pos & (PNB_RING_SIZE - 1)];
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if ((int64_t)seq - (int64_t)(pos + 1) != 0) {
            break; /* empty, or the next slot is still being written */
        }
        memcpy((char *)copy + sizeof(copy->seq), (char *)s + sizeof(s->seq),
               offsetof(pnb_slot, frames) - sizeof(s->seq) + s->depth * sizeof(pnb_raw_frame));
        g_ring_tail = pos + 1;
        atomic_store_explicit(&s->seq, pos + PNB_RING_SIZE, memory_order_release);

        PyObject *frames = PyTuple_New(copy->depth);
        if (frames == NULL) {
            goto error;
        }
        for (int i = 0; i < copy->depth; i++) {
            PyObject *code = pnb_resolve_code(copy->frames[i].code, copy->gen);
            PyObject *item;
            if (code == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(frames);
                    goto error;
                }
                g_cpu_unknown_frames++;
                item = Py_BuildValue("(Oi)", Py_None, 0);
            }
            else {
                int line = pnb_code_line((PyCodeObject *)code, copy->frames[i].lasti);
                item = Py_BuildValue("(Oi)", code, line);
            }
            if (item == NULL) {
                Py_DECREF(frames);
                goto error;
            }
            PyTuple_SET_ITEM(frames, i, item);
        }
        PyObject *rec = Py_BuildValue("(kIN)", copy->ident, copy->weight, frames);
        if (rec == NULL || PyList_Append(out, rec) < 0) {
            Py_XDECREF(rec);
            goto error;
        }
        Py_DECREF(rec);
    }
    free(copy);
    return out;
error:
    free(copy);
    Py_DECREF(out);
    return NULL;
}

/* Drop the pins on code objects (after the final drain). */
static PyObject *
cpu_release(PyObject *self, PyObject *noargs)
{
    if (g_code_table != NULL && !atomic_load(&g_cpu_active)) {
        PyDict_Clear(g_code_table);
    }
    Py_RETURN_NONE;
}

static PyObject *
cpu_stats(PyObject *self, PyObject *noargs)
{
    return Py_BuildValue(
        "{s:i,s:K,s:K,s:K,s:K,s:n,s:n}", "running", atomic_load(&g_cpu_active),
        "captures", (unsigned long long)atomic_load(&g_cpu_captures),
        "dropped_ring_full", (unsigned long long)atomic_load(&g_cpu_dropped_full),
        "no_thread_state", (unsigned long long)atomic_load(&g_cpu_no_tstate),
        "unknown_frames", (unsigned long long)g_cpu_unknown_frames,
        "timers", (Py_ssize_t)g_ntimers,
        "pinned_code_objects", g_code_table ? PyDict_GET_SIZE(g_code_table) : (Py_ssize_t)0);
}

/* In a fork child: timers are not inherited, the drain thread does not exist. */
static PyObject *
cpu_after_fork(PyObject *self, PyObject *noargs)
{
    atomic_store(&g_cpu_active, 0);
    atomic_store(&g_in_handler, 0);
    g_ntimers = 0; /* the parent's timer ids mean nothing here */
    pnb_ring_reset();
    if (g_code_table != NULL) {
        PyDict_Clear(g_code_table);
    }
    Py_RETURN_NONE;
}

/* ==================================================================== heap == */

typedef struct {
    PyMemAllocatorEx prev;
    PyMemAllocatorDomain domain;
    int installed;
} pnb_domain;

static pnb_domain g_dom_mem = {.domain = PYMEM_DOMAIN_MEM};
static pnb_domain g_dom_obj = {.domain = PYMEM_DOMAIN_OBJ};

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

static int g_heap_active;
static uint64_t g_heap_rate = 131072;
static double g_until_sample;
static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static pnb_stack *g_stacks;
static size_t g_nstacks, g_cap_stacks;
static pnb_raw_frame *g_hframes;
static size_t g_nhframes, g_cap_hframes;
static uint32_t *g_stack_index; /* open addressing, stack + 1; 0 empty */
static size_t g_cap_stack_index;

static pnb_live *g_live;
static size_t g_nlive, g_cap_live;

/* Counting prefilter of sampled live blocks, indexed by address bits (blocks are 16-byte
 * aligned; folding in higher bits spreads arenas): 64 KiB, one load per free. Saturated
 * counters stay saturated, which only costs a table lookup. */
#define PNB_FILTER_BITS 16
static uint8_t g_filter[1 << PNB_FILTER_BITS];

static inline uint8_t *
pnb_filter_slot(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return &g_filter[((a >> 4) ^ (a >> 20)) & ((1u << PNB_FILTER_BITS) - 1)];
}

static uint64_t g_heap_samples, g_heap_dropped;

static inline uint64_t
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
pnb_ptr_hash(const void *p)
{
    return pnb_mix((uint64_t)(uintptr_t)p);
}

static double
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
pnb_weight(uint64_t size)
{
    if (g_heap_rate <= 1) {
        return 1.0;
    }
    return 1.0 / -expm1(-(double)size / (double)g_heap_rate);
}

static int
pnb_grow_stack_index(void)
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
pnb_intern_stack(const pnb_raw_frame *frames, int depth)
{
    uint64_t h = 0x84222325cbf29ce4ULL ^ (uint64_t)depth;
    for (int i = 0; i < depth; i++) {
        h = pnb_mix(h ^ (uint64_t)(uintptr_t)frames[i].code) + (uint64_t)(uint32_t)frames[i].lasti;
    }
    if (g_cap_stack_index == 0 || (g_nstacks + 1) * 2 > g_cap_stack_index) {
        if (pnb_grow_stack_index() < 0) {
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
pnb_live_grow(void)
{
    size_t cap = g_cap_live ? g_cap_live * 2 : 4096;
    pnb_live *t = calloc(cap, sizeof(pnb_live));
    if (t == NULL) {
        return -1;
    }
    for (size_t i = 0; i < g_cap_live; i++) {
        if (g_live[i].ptr != 0) {
            size_t j = pnb_ptr_hash((void *)g_live[i].ptr) & (cap - 1);
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
pnb_track(void *p, uint64_t size, uint32_t stack)
{
    if ((g_nlive + 1) * 10 > g_cap_live * 7 && pnb_live_grow() < 0) {
        g_heap_dropped++;
        return;
    }
    uint64_t h = pnb_ptr_hash(p);
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
    double w = pnb_weight(size);
    pnb_stack *s = &g_stacks[stack];
    s->alloc_objects += w;
    s->alloc_space += w * (double)size;
    s->inuse_objects += w;
    s->inuse_space += w * (double)size;
}

/* Forget p if it is a sampled live block. The common case is a single filter load. */
static void pnb_untrack_slow(void *p, uint8_t *c);

static inline void
pnb_untrack(void *p)
{
    uint8_t *c = pnb_filter_slot(p);
    if (__builtin_expect(*c != 0, 0)) {
        pnb_untrack_slow(p, c);
    }
}

static void
pnb_untrack_slow(void *p, uint8_t *c)
{
    if (g_cap_live == 0) {
        return;
    }
    uint64_t h = pnb_ptr_hash(p);
    size_t mask = g_cap_live - 1;
    size_t j = h & mask;
    while (g_live[j].ptr != (uintptr_t)p) {
        if (g_live[j].ptr == 0) {
            return;
        }
        j = (j + 1) & mask;
    }
    pnb_live e = g_live[j];
    double w = pnb_weight(e.size);
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
        size_t home = pnb_ptr_hash((void *)g_live[k].ptr) & mask;
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            g_live[hole] = g_live[k];
            hole = k;
        }
        k = (k + 1) & mask;
    }
    g_live[hole].ptr = 0;
}

static void pnb_sample(void *p, size_t size);

static inline void
pnb_on_alloc(void *p, size_t size)
{
    if (__builtin_expect(g_until_sample > (double)size, 1)) {
        g_until_sample -= (double)size;
        return;
    }
    pnb_sample(p, size);
}

static void
pnb_sample(void *p, size_t size)
{
    g_until_sample = pnb_next_gap();
    PyThreadState *ts = pnb_tstate_holding_gil();
    if (ts == NULL) {
        return;
    }
    pnb_raw_frame frames[PNB_MAX_DEPTH];
    int truncated;
    int depth = pnb_walk(ts, frames, PNB_MAX_DEPTH, &truncated);
    long stack = pnb_intern_stack(frames, depth);
    if (stack < 0) {
        g_heap_dropped++;
        return;
    }
    g_heap_samples++;
    pnb_track(p, size, (uint32_t)stack);
}

static void *
pnb_hook_malloc(void *ctx, size_t size)
{
    pnb_domain *d = ctx;
    void *p = d->prev.malloc(d->prev.ctx, size);
    if (__builtin_expect(p != NULL && g_heap_active, 1)) {
        pnb_on_alloc(p, size);
    }
    return p;
}

static void *
pnb_hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    pnb_domain *d = ctx;
    void *p = d->prev.calloc(d->prev.ctx, nelem, elsize);
    if (__builtin_expect(p != NULL && g_heap_active, 1)) {
        pnb_on_alloc(p, nelem * elsize);
    }
    return p;
}

static void *
pnb_hook_realloc(void *ctx, void *ptr, size_t size)
{
    pnb_domain *d = ctx;
    void *p = d->prev.realloc(d->prev.ctx, ptr, size);
    if (p != NULL && g_heap_active) {
        /* Like tracemalloc: a successful realloc frees the old block and allocates anew. */
        if (ptr != NULL) {
            pnb_untrack(ptr);
        }
        pnb_on_alloc(p, size);
    }
    return p;
}

static void
pnb_hook_free(void *ctx, void *ptr)
{
    pnb_domain *d = ctx;
    if (__builtin_expect(ptr != NULL && g_heap_active, 1)) {
        pnb_untrack(ptr);
    }
    d->prev.free(d->prev.ctx, ptr);
}

static int
pnb_is_ours(PyMemAllocatorEx *a, pnb_domain *d)
{
    return a->malloc == pnb_hook_malloc && a->ctx == d;
}

static void
pnb_install(pnb_domain *d)
{
    if (d->installed) {
        return; /* still in the chain (maybe wrapped by a later hook) */
    }
    PyMem_GetAllocator(d->domain, &d->prev);
    PyMemAllocatorEx hook = {d, pnb_hook_malloc, pnb_hook_calloc, pnb_hook_realloc,
                             pnb_hook_free};
    PyMem_SetAllocator(d->domain, &hook);
    d->installed = 1;
}

/* Remove the hook only if nobody wrapped it since (LIFO); otherwise it stays, passing through. */
static void
pnb_uninstall(pnb_domain *d)
{
    if (!d->installed) {
        return;
    }
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(d->domain, &cur);
    if (pnb_is_ours(&cur, d)) {
        PyMem_SetAllocator(d->domain, &d->prev);
        d->installed = 0;
    }
}

static void
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

static PyObject *
heap_start(PyObject *self, PyObject *args)
{
    unsigned long long rate;
    if (!PyArg_ParseTuple(args, "K", &rate)) {
        return NULL;
    }
    if (rate < 1) {
        PyErr_SetString(PyExc_ValueError, "rate must be a positive integer");
        return NULL;
    }
    if (g_heap_active) {
        PyErr_SetString(PyExc_RuntimeError, "heap profiling already in use");
        return NULL;
    }
    pnb_heap_clear();
    g_heap_rate = rate;
    g_rng ^= pnb_mix((uint64_t)getpid() ^ (uint64_t)time(NULL));
    if (g_rng == 0) {
        g_rng = 0x9E3779B97F4A7C15ULL;
    }
    g_until_sample = pnb_next_gap();
    pnb_install(&g_dom_mem);
    pnb_install(&g_dom_obj);
    g_heap_active = 1;
    Py_RETURN_NONE;
}

static PyObject *
heap_stop(PyObject *self, PyObject *noargs)
{
    g_heap_active = 0;
    pnb_uninstall(&g_dom_obj);
    pnb_uninstall(&g_dom_mem);
    Py_RETURN_NONE;
}

static PyObject *
heap_reset(PyObject *self, PyObject *noargs)
{
    pnb_heap_clear();
    Py_RETURN_NONE;
}

static PyObject *
heap_running(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(g_heap_active);
}

/* [(((code, line), ...) leaf first, alloc_objects, alloc_space, inuse_objects, inuse_space)]
 * as unsampled floats. Everything is copied (and code objects pinned) before the first
 * Python allocation, since allocations re-enter the hooks and may grow the tables. */
static PyObject *
heap_snapshot(PyObject *self, PyObject *noargs)
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
            PyObject *item = Py_BuildValue(
                "(Oi)", (PyObject *)f->code, pnb_code_line((PyCodeObject *)f->code, f->lasti));
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

static PyObject *
heap_stats(PyObject *self, PyObject *noargs)
{
    size_t bytes = g_cap_stacks * sizeof(pnb_stack) + g_cap_hframes * sizeof(pnb_raw_frame) +
                   g_cap_stack_index * sizeof(uint32_t) + g_cap_live * sizeof(pnb_live) +
                   sizeof(g_filter);
    return Py_BuildValue("{s:O,s:K,s:K,s:n,s:n,s:K,s:n,s:O,s:O}", "running",
                         g_heap_active ? Py_True : Py_False, "rate",
                         (unsigned long long)g_heap_rate, "samples",
                         (unsigned long long)g_heap_samples, "live_samples", (Py_ssize_t)g_nlive,
                         "stacks", (Py_ssize_t)g_nstacks, "dropped",
                         (unsigned long long)g_heap_dropped, "table_bytes", (Py_ssize_t)bytes,
                         "hooks_mem", g_dom_mem.installed ? Py_True : Py_False, "hooks_obj",
                         g_dom_obj.installed ? Py_True : Py_False);
}

/* In a fork child (single thread, GIL held): stop sampling and start from empty tables. */
static PyObject *
heap_after_fork(PyObject *self, PyObject *noargs)
{
    g_heap_active = 0;
    pnb_uninstall(&g_dom_obj);
    pnb_uninstall(&g_dom_mem);
    pnb_heap_clear();
    Py_RETURN_NONE;
}

/* ================================================================= module == */

static PyMethodDef engine_methods[] = {
    {"cpu_start", cpu_start, METH_VARARGS, "cpu_start(hz): install the handler, arm sampling."},
    {"cpu_sync", cpu_sync, METH_VARARGS,
     "cpu_sync(exclude_tid=0): timers for new threads, none for exited ones."},
    {"cpu_drain", cpu_drain, METH_NOARGS, "cpu_drain() -> [(ident, weight, frames)]"},
    {"cpu_stop_timers", cpu_stop_timers, METH_NOARGS, "Disarm every timer, wait for handlers."},
    {"cpu_release", cpu_release, METH_NOARGS, "Unpin the code objects seen by captures."},
    {"cpu_stats", cpu_stats, METH_NOARGS, "Counters of the CPU sampler."},
    {"cpu_after_fork", cpu_after_fork, METH_NOARGS, "Reset CPU state in a fork child."},
    {"heap_start", heap_start, METH_VARARGS, "heap_start(rate): hook OBJ and MEM, sample."},
    {"heap_stop", heap_stop, METH_NOARGS, "Stop sampling; unhook when still on top."},
    {"heap_reset", heap_reset, METH_NOARGS, "Forget every sample and tracked block."},
    {"heap_running", heap_running, METH_NOARGS, "Whether heap sampling is on."},
    {"heap_snapshot", heap_snapshot, METH_NOARGS, "Per-stack unsampled counters."},
    {"heap_stats", heap_stats, METH_NOARGS, "Counters of the heap sampler."},
    {"heap_after_fork", heap_after_fork, METH_NOARGS, "Reset heap state in a fork child."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, "_engine",
    "Native CPU (per-thread CPU-time timers) and heap (allocator hooks) sampling.", -1,
    engine_methods,
};

PyMODINIT_FUNC
PyInit__engine(void)
{
    PyObject *m = PyModule_Create(&engine_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", PNB_MAX_DEPTH) < 0 ||
        PyModule_AddIntConstant(m, "RING_SIZE", PNB_RING_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
