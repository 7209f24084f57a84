/* pyprofnb's native sampling engine (the extension pyprofnb.collect._engine): declarations
 * shared by its files, one file per concern.
 *
 *   walk.c        the only file that reads interpreter internals: Python frame chains and
 *                 thread states, through the version header frames_cpython.h
 *   ring.c        the bounded multi-producer ring that carries CPU captures out of the
 *                 signal handler (atomics only)
 *   timers.c      per-thread CPU-clock POSIX timers that send SIGPROF
 *   sampler.c     the SIGPROF handler, code-object lifetime, and the cpu_* functions
 *   heap_table.c  the heap sampler's tables: interned stacks, sampled live blocks, gaps
 *   heap_hooks.c  the allocator hooks on the PyMem domains, and the heap_* functions
 *   module.c      the module object
 *
 * Nothing outside walk.c and frames_cpython.h depends on the CPython minor version.
 */
#ifndef PYPROFNB_ENGINE_H
#define PYPROFNB_ENGINE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PNB_MAX_DEPTH 128

/* One frame of a captured stack: the code object's address (not a reference) and the index
 * (in code units) of the instruction it was running. */
typedef struct {
    void *code;
    int32_t lasti;
} pnb_raw_frame;

/* ------------------------------------------------------------------ walk.c -- */

/* The calling thread's Python stack into out[0..max), leaf first; *ident gets its
 * threading.get_ident(). Async-signal-safe: reads structs only. -1 when the thread has no
 * Python thread state. */
int pnb_walk_this_thread(pnb_raw_frame *out, int max, int *truncated, unsigned long *ident);

/* The stack of the thread holding the GIL (allocator hooks on OBJ/MEM). -1 when none. */
int pnb_walk_gil_holder(pnb_raw_frame *out, int max, int *truncated);

/* Source line of an instruction index from a walk (GIL held; not signal-safe). */
int pnb_line_of(PyObject *code, int lasti);

/* The walk's SIGSEGV/SIGBUS guard, (re)installed in front of any later handler; call it
 * (GIL held) before sampling starts and now and then while it runs. -1 with errno. */
int pnb_walk_guard_ensure(void);
/* Module init: ImportError (set) and -1 when the running interpreter's layout is not the
 * one compiled in (3.13+: _PyRuntime.debug_offsets). */
int pnb_walk_check_runtime(void);
/* walk_stats(): counters of walks, walks cut at an invalid frame or a fault. */
PyObject *pnb_walk_stats(void);
/* _walk_probe(address): fault injection for the tests (see walk.c). */
PyObject *pnb_walk_probe(PyObject *self, PyObject *args);

/* Thread states of the main interpreter: a number unique over the interpreter's life (uid)
 * and the kernel tid. */
typedef struct {
    uint64_t uid;
    long tid;
} pnb_thread_id;

/* Listed under the runtime's head lock; malloc'd array (free it), NULL when out of memory. */
pnb_thread_id *pnb_list_threads(size_t *count);

/* ------------------------------------------------------------------ ring.c -- */

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

int pnb_ring_init(void);   /* allocate once; -1 when out of memory */
int pnb_ring_exists(void); /* allocated */
void pnb_ring_reset(void); /* empty (no producer or consumer running) */
/* Producer (signal handler): a slot to fill then publish, or NULL when the ring is full. */
pnb_slot *pnb_ring_claim(uint64_t *pos);
void pnb_ring_publish(pnb_slot *slot, uint64_t pos);
/* Single consumer (GIL held): position of the oldest unread slot; the published slot at a
 * position or NULL (empty, or still being written); hand the oldest slot back. */
uint64_t pnb_ring_tail(void);
pnb_slot *pnb_ring_ready(uint64_t pos);
void pnb_ring_pop(pnb_slot *slot);

/* ---------------------------------------------------------------- timers.c -- */

/* Arm timers with this period; threads with uid > start_max_uid are counted from birth. */
void pnb_timers_configure(long period_ns, uint64_t start_max_uid);
/* Timers for new threads, none for exited ones; the number created, -1 out of memory. */
long pnb_timers_sync(long exclude_tid);
void pnb_timers_delete_all(void);
void pnb_timers_forget(void); /* fork child: the parent's timer ids mean nothing here */
size_t pnb_timers_count(void);

/* --------------------------------------------------------------- sampler.c -- */

PyObject *cpu_start(PyObject *self, PyObject *args);
PyObject *cpu_sync(PyObject *self, PyObject *args);
PyObject *cpu_drain(PyObject *self, PyObject *noargs);
PyObject *cpu_stop_timers(PyObject *self, PyObject *noargs);
PyObject *cpu_release(PyObject *self, PyObject *noargs);
PyObject *cpu_stats(PyObject *self, PyObject *noargs);
PyObject *cpu_after_fork(PyObject *self, PyObject *noargs);

/* ------------------------------------------------------------ heap_table.c -- */

extern uint64_t g_heap_rate;
extern double g_until_sample;
extern uint64_t g_heap_samples, g_heap_dropped;

uint64_t pnb_mix(uint64_t x);
void pnb_heap_seed(void);    /* new random stream (start) */
double pnb_next_gap(void);   /* bytes until the next sample */
/* Record a sampled block p of size bytes allocated by the GIL holder. */
void pnb_heap_sample(void *p, size_t size);
void pnb_untrack_slow(void *p, uint8_t *c);
void pnb_heap_clear(void); /* forget every stack and block; unpin code objects */
PyObject *pnb_heap_snapshot(void);
PyObject *pnb_heap_table_stats(void);

/* Counting prefilter of sampled live blocks, indexed by address bits (blocks are 16-byte
 * aligned; folding in higher bits spreads arenas): 64 KiB, one load per free. Saturated
 * counters stay saturated, which only costs a table lookup. */
#define PNB_FILTER_BITS 16
extern uint8_t g_filter[1 << PNB_FILTER_BITS];

static inline uint8_t *
pnb_filter_slot(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return &g_filter[((a >> 4) ^ (a >> 20)) & ((1u << PNB_FILTER_BITS) - 1)];
}

/* ------------------------------------------------------------ heap_hooks.c -- */

extern int g_heap_active;

PyObject *heap_start(PyObject *self, PyObject *args);
PyObject *heap_stop(PyObject *self, PyObject *noargs);
PyObject *heap_reset(PyObject *self, PyObject *noargs);
PyObject *heap_running(PyObject *self, PyObject *noargs);
PyObject *heap_snapshot(PyObject *self, PyObject *noargs);
PyObject *heap_stats(PyObject *self, PyObject *noargs);
PyObject *heap_after_fork(PyObject *self, PyObject *noargs);

#endif /* PYPROFNB_ENGINE_H */
