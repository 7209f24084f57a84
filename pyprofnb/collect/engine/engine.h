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

/* ---------------------------------------------------------------- module.c -- */

/* Per-thread state, readable from the signal handler (initial-exec TLS: a plain
 * %fs-relative load, no allocation on first use). */
typedef struct {
    int paused;    /* the collector's own work: no CPU or heap sample on this thread */
    uint64_t task; /* set_task(): written into each CPU and heap sample, 0 = none */
} pnb_thread_ctx;

extern __thread pnb_thread_ctx pnb_tls __attribute__((tls_model("initial-exec")));

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
    uint64_t gen;        /* code-object generation before the walk (sampler.c) */
    uint64_t task;       /* the thread's task id (set_task) */
    unsigned long ident; /* threading.get_ident() */
    int32_t tid;         /* kernel thread id */
    uint32_t weight;     /* periods this capture stands for (1 + timer overruns) */
    uint16_t depth;
    uint8_t truncated;
    uint8_t native;      /* a thread without a Python thread state */
    uint8_t provisional; /* process timer on a Python thread: superseded if it gets a timer */
    pnb_raw_frame frames[PNB_MAX_DEPTH];
} pnb_slot;

#define PNB_RING_SIZE 1024 /* power of two; emptied every 10 ms by a native thread */

int pnb_ring_init(void);   /* allocate once; -1 when out of memory */
int pnb_ring_exists(void); /* allocated */
void pnb_ring_reset(void); /* empty (no producer or consumer running) */
/* Producer (signal handler): a slot to fill then publish, or NULL when the ring is full. */
pnb_slot *pnb_ring_claim(uint64_t *pos);
void pnb_ring_publish(pnb_slot *slot, uint64_t pos);
/* Single consumer (under the sampler's lock): position of the oldest unread slot; the
 * published slot at a position or NULL (empty, or still being written); hand it back. */
uint64_t pnb_ring_tail(void);
pnb_slot *pnb_ring_ready(uint64_t pos);
void pnb_ring_pop(pnb_slot *slot);

/* ---------------------------------------------------------------- timers.c -- */

/* Two kinds of timer send SIGPROF (Go's design, see validSIGPROF in its runtime); the
 * per-thread ones only where the process timer is setitimer (kernels before 6.4):
 *   - one per Python thread, on that thread's CPU clock, signalling that very thread
 *     (si_code SI_TIMER, si_value PNB_THREAD_TIMER); created by the drain for each thread it
 *     finds, with a random first expiry, so a thread's CPU is counted from the moment its
 *     timer exists without bias;
 *   - one for the process (a POSIX timer on the process CPU clock, si_value
 *     PNB_PROCESS_TIMER, or setitimer ITIMER_PROF, si_code SI_KERNEL, on kernels before 6.4),
 *     whose signal the kernel sends to the thread that is running when it expires. It counts only on threads
 *     that have no timer of their own yet (born since the last look, or too short-lived to
 *     be seen at all), so their CPU is counted from birth, and on threads without a Python
 *     thread state. */
#define PNB_THREAD_TIMER 0x70726f66
#define PNB_PROCESS_TIMER 0x70726f67

/* 1: the process timer is a POSIX CPU timer (Linux >= 6.4); 0: setitimer(ITIMER_PROF). */
int pnb_timers_process_kind(void);

/* Arm with this period (ns); the process timer starts now with a random phase; threads with
 * uid > start_max_uid are born after start and counted from birth. -1 errno. */
int pnb_timers_start(long period_ns, uint64_t start_max_uid);
/* Stop every expiry (timers stay allocated until pnb_timers_delete_all). */
void pnb_timers_disarm(void);
/* Timers for new threads, none for exited ones; the number created, -1 out of memory. */
long pnb_timers_sync(long exclude_tid);
void pnb_timers_delete_all(void);
void pnb_timers_forget(void); /* fork child: the parent's timer ids mean nothing here */
size_t pnb_timers_count(void);
/* Signal-safe: whether thread `tid` has a per-thread timer. */
int pnb_timers_thread_has_timer(long tid);

/* --------------------------------------------------------------- sampler.c -- */

/* Route code-object deallocation through the engine (CPU capture lifetime, heap names).
 * Installed once, kept for the life of the process. */
void pnb_code_hook_install(void);
void pnb_sampler_init(void); /* once, at module init */

PyObject *cpu_start(PyObject *self, PyObject *args);
PyObject *cpu_sync(PyObject *self, PyObject *args);
PyObject *cpu_drain(PyObject *self, PyObject *noargs);
PyObject *cpu_stop_timers(PyObject *self, PyObject *noargs);
PyObject *cpu_release(PyObject *self, PyObject *noargs);
PyObject *cpu_stats(PyObject *self, PyObject *noargs);
PyObject *cpu_after_fork(PyObject *self, PyObject *noargs);

/* ------------------------------------------------------------ heap_table.c -- */

extern uint64_t g_heap_rate;
extern int64_t g_until_sample; /* bytes until the next sample */
extern uint64_t g_heap_samples, g_heap_dropped, g_heap_overflowed;

/* Kinds of heap samples (the `allocator` label). */
#define PNB_KIND_PYTHON 0 /* PyMem OBJ and MEM domains */
#define PNB_KIND_NUMPY 1  /* NumPy array buffers (NumPy's allocation-handler API) */

uint64_t pnb_mix(uint64_t x);
uint64_t pnb_random(void);   /* xorshift64*, GIL held */
void pnb_heap_seed(void);    /* new random stream (start) */
int64_t pnb_next_gap(void);  /* bytes until the next sample */
/* Record a sampled block p of size bytes allocated by the GIL holder. */
void pnb_heap_sample(void *p, size_t size, int kind);
void pnb_untrack_slow(void *p, uint8_t *c);
void pnb_heap_code_dying(PyObject *code); /* from the code-dealloc wrapper */
void pnb_heap_clear(void); /* forget every stack and block */
PyObject *pnb_heap_snapshot(void);
PyObject *pnb_heap_table_stats(void);

/* Counting prefilter of sampled live blocks, indexed by address bits 4..19 (blocks are
 * 16-byte aligned): 64 KiB, one load per free. A collision or a saturated counter only costs
 * a table lookup. */
#define PNB_FILTER_BITS 16
extern uint8_t g_filter[1 << PNB_FILTER_BITS];

static inline uint8_t *
pnb_filter_slot(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return &g_filter[(a >> 4) & ((1u << PNB_FILTER_BITS) - 1)];
}

/* ------------------------------------------------------------ heap_hooks.c -- */

extern int g_heap_active;

PyObject *heap_start(PyObject *self, PyObject *args);
PyObject *heap_stop(PyObject *self, PyObject *noargs);
PyObject *heap_reset(PyObject *self, PyObject *noargs);
PyObject *heap_running(PyObject *self, PyObject *noargs);
PyObject *heap_snapshot(PyObject *self, PyObject *noargs);
PyObject *heap_stats(PyObject *self, PyObject *noargs);
PyObject *heap_check(PyObject *self, PyObject *noargs);
PyObject *heap_numpy(PyObject *self, PyObject *capsule);
PyObject *heap_after_fork(PyObject *self, PyObject *noargs);

#endif /* PYPROFNB_ENGINE_H */
