/* CPU sampling: the SIGPROF handler, the native aggregator, and the cpu_* functions.
 *
 *   Timers (timers.c) send SIGPROF. The handler copies the interrupted thread's frame chain
 *   (code pointer + instruction index per frame, walk.c) into the ring (ring.c), with the
 *   thread's ids and task. It never allocates, locks, touches a reference count or calls
 *   Python.
 *
 *   A native thread (no Python thread state, never needs the GIL) empties the ring every
 *   10 ms into a table that sums identical captures. So a C call that holds the GIL for
 *   minutes loses nothing: the table grows by distinct stacks only. The Python drain thread
 *   calls cpu_sync() (timers for new threads) and cpu_drain() (the table -> tuples) every
 *   20 ms when it gets the GIL. Whatever cannot be kept (ring or table full) is counted, and
 *   the profile says so.
 *
 *   Code-object lifetime. A captured code pointer may die before the drain sees it (module
 *   bodies after import, exec'd code). Py_INCREF from the handler is not an option: the
 *   handler may interrupt a non-atomic refcount update of the same object. Instead every
 *   code-object deallocation goes through a wrapper of PyCode_Type.tp_dealloc that, under
 *   g_lock, bumps g_code_gen, logs (address, gen), and blanks the address in the table. Each
 *   capture records g_code_gen before its walk; the aggregator (under g_lock) blanks in a
 *   capture every address logged dead since, before adding it to the table (all frames
 *   become unknown if the log has wrapped since). So every address in the table belongs to
 *   a live code object while g_lock is held, and cpu_drain takes its references then.
 *   Blanked addresses are reported as unknown frames (counted).
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_cpu_active;   /* captures are taken */
static _Atomic int g_in_handler;
static _Atomic uint64_t g_code_gen;
static _Atomic uint64_t g_cpu_captures, g_cpu_dropped_full, g_cpu_collector, g_cpu_native;
static _Atomic uint64_t g_cpu_process_timer, g_cpu_thread_timer;
static uint64_t g_cpu_unknown_frames, g_cpu_dropped_table, g_cpu_handler_reinstalls;
static uint64_t g_cpu_superseded;
static int g_per_thread; /* per-thread timers beside the process timer (this session) */ /* process-timer weight replaced by a thread's own timer */

static destructor g_orig_code_dealloc;
static struct sigaction g_prev_sigprof;
static int g_handler_installed;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------ dead log -- */

#define DEAD_LOG 4096
static struct {
    void *ptr;
    uint64_t gen;
} g_dead[DEAD_LOG];

/* --------------------------------------------------------------- table -- */

typedef struct {
    uint64_t hash;
    uint64_t task;
    uint64_t weight;
    unsigned long ident;
    int32_t tid;
    uint32_t frames_off;
    uint16_t depth;
    uint8_t native;
    uint8_t truncated;
    uint8_t provisional;
} pnb_agg;

#define AGG_MAX 16384
#define AGG_FRAMES_MAX (1u << 20)
#define AGG_INDEX (AGG_MAX * 2)

typedef struct {
    pnb_agg *entries;
    size_t n;
    pnb_raw_frame *frames;
    size_t nframes, cap_frames;
    uint32_t *index; /* entry + 1, 0 empty; AGG_INDEX slots */
} pnb_table;

static pnb_table g_tables[2];
static int g_cur; /* the table the aggregator fills; the other is the drain's */

static int
table_init(pnb_table *t)
{
    if (t->entries == NULL) {
        t->entries = malloc(AGG_MAX * sizeof(pnb_agg));
        t->index = calloc(AGG_INDEX, sizeof(uint32_t));
        t->cap_frames = 8192;
        t->frames = malloc(t->cap_frames * sizeof(pnb_raw_frame));
        if (t->entries == NULL || t->index == NULL || t->frames == NULL) {
            return -1;
        }
    }
    return 0;
}

static void
table_clear(pnb_table *t)
{
    if (t->index != NULL && t->n > 0) {
        memset(t->index, 0, AGG_INDEX * sizeof(uint32_t));
    }
    t->n = 0;
    t->nframes = 0;
}

static uint64_t
slot_hash(const pnb_slot *s)
{
    uint64_t h = pnb_mix(0x9E3779B97F4A7C15ULL ^ s->task ^ ((uint64_t)(uint32_t)s->tid << 32));
    h = pnb_mix(h ^ s->ident ^ ((uint64_t)s->depth << 48) ^ ((uint64_t)s->native << 40) ^
                ((uint64_t)s->provisional << 41));
    for (int i = 0; i < s->depth; i++) {
        h = pnb_mix(h ^ (uint64_t)(uintptr_t)s->frames[i].code) + (uint32_t)s->frames[i].lasti;
    }
    return h;
}

static int
same_capture(const pnb_agg *e, const pnb_raw_frame *ef, const pnb_slot *s)
{
    if (e->depth != s->depth || e->tid != s->tid || e->ident != s->ident ||
        e->task != s->task || e->native != s->native || e->truncated != s->truncated ||
        e->provisional != s->provisional) {
        return 0;
    }
    for (int i = 0; i < s->depth; i++) {
        if (ef[i].code != s->frames[i].code || ef[i].lasti != s->frames[i].lasti) {
            return 0;
        }
    }
    return 1;
}

/* Add one validated capture to the current table. g_lock held. */
static void
table_add(pnb_slot *s)
{
    pnb_table *t = &g_tables[g_cur];
    uint64_t h = slot_hash(s);
    size_t j = h & (AGG_INDEX - 1);
    while (t->index[j] != 0) {
        pnb_agg *e = &t->entries[t->index[j] - 1];
        if (e->hash == h && same_capture(e, &t->frames[e->frames_off], s)) {
            e->weight += s->weight;
            return;
        }
        j = (j + 1) & (AGG_INDEX - 1);
    }
    if (t->n >= AGG_MAX || t->nframes + s->depth > AGG_FRAMES_MAX) {
        g_cpu_dropped_table += s->weight;
        return;
    }
    if (t->nframes + s->depth > t->cap_frames) {
        size_t cap = t->cap_frames * 2;
        while (cap < t->nframes + s->depth) {
            cap *= 2;
        }
        pnb_raw_frame *f = realloc(t->frames, cap * sizeof(*f));
        if (f == NULL) {
            g_cpu_dropped_table += s->weight;
            return;
        }
        t->frames = f;
        t->cap_frames = cap;
    }
    pnb_agg *e = &t->entries[t->n];
    e->hash = h;
    e->task = s->task;
    e->weight = s->weight;
    e->ident = s->ident;
    e->tid = s->tid;
    e->depth = s->depth;
    e->native = s->native;
    e->truncated = s->truncated;
    e->provisional = s->provisional;
    e->frames_off = (uint32_t)t->nframes;
    memcpy(&t->frames[t->nframes], s->frames, s->depth * sizeof(pnb_raw_frame));
    t->nframes += s->depth;
    t->index[j] = (uint32_t)(++t->n);
}

/* Move every published capture from the ring into the table. g_lock held. */
static void
aggregate(void)
{
    if (!pnb_ring_exists() || g_tables[g_cur].entries == NULL) {
        return;
    }
    pnb_slot copy;
    for (;;) {
        pnb_slot *s = pnb_ring_ready(pnb_ring_tail());
        if (s == NULL) {
            break;
        }
        memcpy((char *)&copy + sizeof(copy.seq), (char *)s + sizeof(s->seq),
               offsetof(pnb_slot, frames) - sizeof(s->seq) + s->depth * sizeof(pnb_raw_frame));
        pnb_ring_pop(s);
        uint64_t now = atomic_load(&g_code_gen);
        if (copy.gen != now) {
            if (now - copy.gen > DEAD_LOG) {
                for (int i = 0; i < copy.depth; i++) {
                    copy.frames[i].code = NULL; /* cannot tell which died: all unknown */
                }
            }
            else {
                for (uint64_t g = copy.gen + 1; g <= now; g++) {
                    void *dead = g_dead[g & (DEAD_LOG - 1)].ptr;
                    for (int i = 0; i < copy.depth; i++) {
                        if (copy.frames[i].code == dead) {
                            copy.frames[i].code = NULL;
                        }
                    }
                }
            }
        }
        table_add(&copy);
    }
}

static void
code_dealloc(PyObject *op)
{
    pthread_mutex_lock(&g_lock);
    uint64_t gen = atomic_fetch_add(&g_code_gen, 1) + 1;
    g_dead[gen & (DEAD_LOG - 1)].ptr = op;
    g_dead[gen & (DEAD_LOG - 1)].gen = gen;
    pnb_table *t = &g_tables[g_cur];
    for (size_t i = 0; i < t->nframes; i++) {
        if (t->frames[i].code == (void *)op) {
            t->frames[i].code = NULL; /* the entry keeps its place; lookups compare frames */
        }
    }
    pthread_mutex_unlock(&g_lock);
    pnb_heap_code_dying(op);
    g_orig_code_dealloc(op);
}

void
pnb_code_hook_install(void)
{
    if (g_orig_code_dealloc == NULL) {
        g_orig_code_dealloc = PyCode_Type.tp_dealloc;
        PyCode_Type.tp_dealloc = code_dealloc;
    }
}

/* ------------------------------------------------------------- handler -- */

static void
on_sigprof(int signo, siginfo_t *si, void *uctx)
{
    (void)signo;
    (void)uctx;
    int saved_errno = errno;
    atomic_fetch_add(&g_in_handler, 1);
    if (!atomic_load(&g_cpu_active) || si == NULL) {
        goto out;
    }
    int from_thread_timer = si->si_code == SI_TIMER && si->si_value.sival_int == PNB_THREAD_TIMER;
    int from_process_timer = si->si_code == SI_TIMER
                                 ? si->si_value.sival_int == PNB_PROCESS_TIMER
                                 : si->si_code == SI_KERNEL; /* setitimer */
    if (!from_thread_timer && !from_process_timer) {
        goto out; /* sent by someone else (kill, sigqueue) */
    }
    if (pnb_tls.paused) {
        atomic_fetch_add_explicit(&g_cpu_collector, 1, memory_order_relaxed);
        goto out; /* pyprofnb's own threads and work */
    }
    long tid = syscall(SYS_gettid);
    if (!from_thread_timer && pnb_timers_thread_has_timer(tid)) {
        goto out; /* this thread's own timer counts its CPU */
    }
    uint64_t pos;
    pnb_slot *slot = pnb_ring_claim(&pos);
    if (slot == NULL) {
        atomic_fetch_add_explicit(&g_cpu_dropped_full, 1, memory_order_relaxed);
        goto out;
    }
    int truncated = 0;
    unsigned long ident = 0;
    slot->gen = atomic_load(&g_code_gen); /* before the walk: see top comment */
    int depth = pnb_walk_this_thread(slot->frames, PNB_MAX_DEPTH, &truncated, &ident);
    int overrun = si->si_code == SI_TIMER ? si->si_overrun : 0;
    slot->weight = 1 + (uint32_t)(overrun > 0 ? overrun : 0);
    slot->native = depth < 0;
    slot->provisional = g_per_thread && !from_thread_timer && depth >= 0;
    slot->depth = (uint16_t)(depth < 0 ? 0 : depth);
    slot->truncated = (uint8_t)truncated;
    slot->ident = ident;
    slot->tid = (int32_t)tid;
    slot->task = pnb_tls.task;
    pnb_ring_publish(slot, pos);
    atomic_fetch_add_explicit(&g_cpu_captures, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(from_thread_timer ? &g_cpu_thread_timer : &g_cpu_process_timer, 1,
                              memory_order_relaxed);
    if (depth < 0) {
        atomic_fetch_add_explicit(&g_cpu_native, 1, memory_order_relaxed);
    }
out:
    atomic_fetch_sub(&g_in_handler, 1);
    errno = saved_errno;
}

/* Ours, default/ignored (installed), or somebody else's (refused): 0, 1, -1. */
static int
ensure_handler(void)
{
    struct sigaction cur;
    if (sigaction(SIGPROF, NULL, &cur) != 0) {
        return -1;
    }
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigprof) {
        return 0;
    }
    if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigprof;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, g_handler_installed ? NULL : &g_prev_sigprof) != 0) {
            return -1;
        }
        if (g_handler_installed) {
            g_cpu_handler_reinstalls++; /* user code had reset it */
        }
        g_handler_installed = 1;
        return 1;
    }
    errno = EBUSY;
    return -1;
}

/* ---------------------------------------------------------- aggregator -- */

static pthread_t g_agg_thread;
static _Atomic int g_agg_run;
static int g_agg_started;

static void *
aggregator_main(void *arg)
{
    (void)arg;
    pnb_tls.paused = 1; /* never sampled: pyprofnb's own thread */
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    while (atomic_load(&g_agg_run)) {
        nanosleep(&ten_ms, NULL);
        pthread_mutex_lock(&g_lock);
        aggregate();
        pthread_mutex_unlock(&g_lock);
    }
    return NULL;
}

static void
stop_aggregator(void)
{
    if (g_agg_started) {
        atomic_store(&g_agg_run, 0);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(g_agg_thread, NULL);
        Py_END_ALLOW_THREADS
        g_agg_started = 0;
    }
}

static void
atfork_prepare(void)
{
    pthread_mutex_lock(&g_lock);
}

static void
atfork_parent(void)
{
    pthread_mutex_unlock(&g_lock);
}

static void
atfork_child(void)
{
    pthread_mutex_init(&g_lock, NULL);
}

void
pnb_sampler_init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ----------------------------------------------------------- functions -- */

PyObject *
cpu_sync(PyObject *self, PyObject *args)
{
    long exclude_tid = 0;
    if (!PyArg_ParseTuple(args, "|l", &exclude_tid)) {
        return NULL;
    }
    if (!atomic_load(&g_cpu_active)) {
        Py_RETURN_NONE;
    }
    if (ensure_handler() < 0) {
        /* Somebody else's SIGPROF handler now: our timers would feed it. */
        atomic_store(&g_cpu_active, 0);
        pnb_timers_delete_all();
        PyErr_SetString(PyExc_RuntimeError,
                        "SIGPROF was given another handler while profiling; sampling stopped");
        return NULL;
    }
    pnb_walk_guard_ensure(); /* still in front of any fault handler installed since */
    long created = g_per_thread ? pnb_timers_sync(exclude_tid) : 0;
    if (created < 0) {
        return PyErr_NoMemory();
    }
    return PyLong_FromLong(created);
}

PyObject *
cpu_start(PyObject *self, PyObject *args)
{
    long hz;
    int per_thread = -1;
    if (!PyArg_ParseTuple(args, "l|i", &hz, &per_thread)) {
        return NULL;
    }
    /* Per-thread timers are needed only when the process timer is setitimer (its clock is
     * tick-sampled); the POSIX process timer alone counts every thread's CPU exactly, and
     * per-thread timers would lose the CPU a short thread uses after its last tick. */
    g_per_thread = per_thread < 0 ? !pnb_timers_process_kind() : per_thread;
    if (hz <= 0 || hz > 10000) {
        PyErr_Format(PyExc_ValueError, "hz must be in 1..10000, got %ld", hz);
        return NULL;
    }
    if (atomic_load(&g_cpu_active) || g_agg_started) {
        PyErr_SetString(PyExc_RuntimeError, "cpu profiling already in use");
        return NULL;
    }
    if (pnb_ring_init() < 0 || table_init(&g_tables[0]) < 0 || table_init(&g_tables[1]) < 0) {
        return PyErr_NoMemory();
    }
    pnb_ring_reset();
    table_clear(&g_tables[0]);
    table_clear(&g_tables[1]);
    pnb_code_hook_install();
    if (ensure_handler() < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "SIGPROF has another handler (another profiler, or signal.signal(SIGPROF, "
                        "...)); pyprofnb will not replace it");
        return NULL;
    }
    if (pnb_walk_guard_ensure() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    g_cpu_unknown_frames = g_cpu_dropped_table = g_cpu_superseded = 0;
    atomic_store(&g_cpu_captures, 0);
    atomic_store(&g_cpu_dropped_full, 0);
    atomic_store(&g_cpu_collector, 0);
    atomic_store(&g_cpu_native, 0);
    atomic_store(&g_cpu_process_timer, 0);
    atomic_store(&g_cpu_thread_timer, 0);
    atomic_store(&g_agg_run, 1);
    if (pthread_create(&g_agg_thread, NULL, aggregator_main, NULL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    g_agg_started = 1;
    atomic_store(&g_cpu_active, 1);
    uint64_t max_uid = 0;
    size_t n;
    pnb_thread_id *ids = pnb_list_threads(&n);
    if (ids == NULL) {
        atomic_store(&g_cpu_active, 0);
        stop_aggregator();
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {
        max_uid = ids[i].uid > max_uid ? ids[i].uid : max_uid;
    }
    free(ids);
    pnb_heap_seed();
    if (pnb_timers_start(1000000000L / hz, max_uid) != 0) {
        int err = errno;
        atomic_store(&g_cpu_active, 0);
        stop_aggregator();
        if (err == EBUSY) {
            PyErr_SetString(PyExc_RuntimeError,
                            "the process CPU timer (ITIMER_PROF) is in use by someone else");
            return NULL;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* Stop sampling: no expiry after this returns; captures already taken stay in the table for
 * the last cpu_drain(). The timers stay allocated (disarmed) until cpu_release(), so that
 * drain still knows which threads had one. */
PyObject *
cpu_stop_timers(PyObject *self, PyObject *noargs)
{
    if (atomic_load(&g_cpu_active)) {
        pnb_timers_disarm();
        /* Expiries already generated are delivered within microseconds (to a thread that was
         * running); give them a moment, still accepted. */
        struct timespec two_ms = {0, 2 * 1000 * 1000};
        Py_BEGIN_ALLOW_THREADS
        nanosleep(&two_ms, NULL);
        Py_END_ALLOW_THREADS
        atomic_store(&g_cpu_active, 0);
    }
    while (atomic_load(&g_in_handler) != 0) {
        sched_yield();
    }
    stop_aggregator();
    pthread_mutex_lock(&g_lock);
    aggregate();
    pthread_mutex_unlock(&g_lock);
    Py_RETURN_NONE;
}

/* Captures summed since the last call: [(tid, ident, task, weight, native, truncated,
 * ((code or None, line), ...) leaf first)]. */
PyObject *
cpu_drain(PyObject *self, PyObject *noargs)
{
    if (g_tables[0].entries == NULL) {
        return PyList_New(0);
    }
    int paused = pnb_tls.paused;
    pnb_tls.paused = 1;
    pthread_mutex_lock(&g_lock);
    aggregate();
    pnb_table *t = &g_tables[g_cur];
    g_cur ^= 1;
    /* Every address in t belongs to a live code object now (top comment): take references
     * before anything can run a deallocation. */
    for (size_t i = 0; i < t->nframes; i++) {
        Py_XINCREF((PyObject *)t->frames[i].code);
    }
    pthread_mutex_unlock(&g_lock);

    /* Process-timer captures of a Python thread are provisional: a thread that has a timer
     * of its own now is counted by it from birth, so they are dropped; a thread still alive
     * without one may get one, so they wait for the next drain; a thread gone without one
     * (too short-lived to be seen) keeps them. */
    size_t nalive = 0;
    pnb_thread_id *alive = pnb_list_threads(&nalive);
    pnb_slot *carry = malloc(sizeof(pnb_slot));
    PyObject *out = alive && carry ? PyList_New(0) : PyErr_NoMemory();
    for (size_t i = 0; out != NULL && i < t->n; i++) {
        pnb_agg *e = &t->entries[i];
        if (e->provisional) {
            if (pnb_timers_thread_has_timer(e->tid)) {
                g_cpu_superseded += e->weight;
                continue;
            }
            int is_alive = 0;
            for (size_t k = 0; k < nalive && !is_alive; k++) {
                is_alive = alive[k].tid == e->tid;
            }
            if (is_alive && atomic_load(&g_cpu_active)) {
                memset(carry, 0, offsetof(pnb_slot, frames));
                carry->task = e->task;
                carry->ident = e->ident;
                carry->tid = e->tid;
                carry->weight = (uint32_t)e->weight;
                carry->depth = e->depth;
                carry->truncated = e->truncated;
                carry->provisional = 1;
                memcpy(carry->frames, &t->frames[e->frames_off], e->depth * sizeof(pnb_raw_frame));
                pthread_mutex_lock(&g_lock);
                table_add(carry);
                pthread_mutex_unlock(&g_lock);
                continue;
            }
        }
        PyObject *frames = PyTuple_New(e->depth);
        if (frames == NULL) {
            Py_CLEAR(out);
            break;
        }
        for (int k = 0; k < e->depth; k++) {
            pnb_raw_frame *f = &t->frames[e->frames_off + k];
            PyObject *item;
            if (f->code == NULL) {
                g_cpu_unknown_frames++;
                item = Py_BuildValue("(Oi)", Py_None, 0);
            }
            else {
                item = Py_BuildValue("(Oi)", (PyObject *)f->code,
                                     pnb_line_of((PyObject *)f->code, f->lasti));
            }
            if (item == NULL) {
                Py_CLEAR(frames);
                break;
            }
            PyTuple_SET_ITEM(frames, k, item);
        }
        PyObject *rec = frames ? Py_BuildValue("(ikKKOON)", (int)e->tid, e->ident,
                                               (unsigned long long)e->task,
                                               (unsigned long long)e->weight,
                                               e->native ? Py_True : Py_False,
                                               e->truncated ? Py_True : Py_False, frames)
                               : NULL;
        if (rec == NULL || PyList_Append(out, rec) < 0) {
            Py_XDECREF(rec);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(rec);
    }
    /* The drain's table is read by nobody else (the aggregator fills the other one), and
     * code_dealloc only edits the current one: release our references, then clear it. */
    free(alive);
    free(carry);
    for (size_t i = 0; i < t->nframes; i++) {
        Py_XDECREF((PyObject *)t->frames[i].code);
    }
    pthread_mutex_lock(&g_lock);
    table_clear(t);
    pthread_mutex_unlock(&g_lock);
    pnb_tls.paused = paused;
    return out;
}

/* After the last drain: delete the timers. */
PyObject *
cpu_release(PyObject *self, PyObject *noargs)
{
    if (!atomic_load(&g_cpu_active)) {
        pnb_timers_delete_all();
    }
    Py_RETURN_NONE;
}

PyObject *
cpu_stats(PyObject *self, PyObject *noargs)
{
    return Py_BuildValue(
        "{s:i,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:n,s:O,s:s}", "running",
        atomic_load(&g_cpu_active), "superseded", (unsigned long long)g_cpu_superseded,
        "captures", (unsigned long long)atomic_load(&g_cpu_captures),
        "thread_timer_captures", (unsigned long long)atomic_load(&g_cpu_thread_timer),
        "process_timer_captures", (unsigned long long)atomic_load(&g_cpu_process_timer),
        "dropped_ring_full", (unsigned long long)atomic_load(&g_cpu_dropped_full),
        "dropped_table_full", (unsigned long long)g_cpu_dropped_table,
        "collector_signals", (unsigned long long)atomic_load(&g_cpu_collector),
        "native_thread_captures", (unsigned long long)atomic_load(&g_cpu_native),
        "unknown_frames", (unsigned long long)g_cpu_unknown_frames,
        "handler_reinstalls", (unsigned long long)g_cpu_handler_reinstalls,
        "timers", (Py_ssize_t)pnb_timers_count(), "per_thread_timers", g_per_thread ? Py_True : Py_False, "process_timer",
        pnb_timers_process_kind() ? "posix" : "setitimer");
}

/* In a fork child: timers are not inherited, the threads do not exist. */
PyObject *
cpu_after_fork(PyObject *self, PyObject *noargs)
{
    atomic_store(&g_cpu_active, 0);
    atomic_store(&g_in_handler, 0);
    if (!pnb_timers_process_kind()) {
        struct itimerval zero; /* (not inherited either; to be sure) */
        memset(&zero, 0, sizeof(zero));
        setitimer(ITIMER_PROF, &zero, NULL);
    }
    pnb_timers_forget();
    g_agg_started = 0;
    atomic_store(&g_agg_run, 0);
    pnb_ring_reset();
    table_clear(&g_tables[0]);
    table_clear(&g_tables[1]);
    Py_RETURN_NONE;
}
