/* The frame walk: the engine's only reader of interpreter internals.
 *
 * Everything version-specific goes through frames_cpython.h. Callers see plain functions
 * (engine.h).
 *
 * The walk can never fault, and never hands on a pointer it has not validated:
 *
 *   1. Every frame pointer is checked against memory the interpreter owns for that thread
 *      before anything in it is trusted: a frame owned by the thread must lie, whole (its
 *      code's co_framesize slots), inside the used part of one of the thread's data-stack
 *      chunks, below the newer frames of the same chunk (callers sit under callees), with
 *      dicts for globals and builtins, and the newest one must end where the used data
 *      stack ends (or just below one pushed, not yet linked frame); a generator's frame must
 *      be embedded in a generator, coroutine or async generator that is running now; entry and shim frames (3.13+: on the C stack or in the thread state)
 *      are never recorded, only stepped over. A code pointer must be a code object whose
 *      bytecode contains the frame's instruction. The first frame that fails ends the walk
 *      (the stack is cut there and counted in pnb_walk_stats, never guessed).
 *      This is what makes a stale pointer harmless: CPython 3.11 publishes tstate->cframe
 *      before it writes cframe.current_frame, so a signal landing between the two sees an
 *      uninitialised C-stack slot; 3.13+ compilers may reorder the stores that link a new
 *      frame. A stale pointer lands outside the used data stack, or overlapping a newer
 *      frame, or inside a live frame's value stack (where images of frames popped earlier
 *      linger, holding pointers to code objects that may be dead), or on a value that is no
 *      running generator, and is refused.
 *   2. The reads themselves are fault-proof: a walk runs under a SIGSEGV/SIGBUS guard
 *      (sigsetjmp; a fault inside a walk jumps back and ends that walk; any other fault goes
 *      to the handler that was there before, e.g. faulthandler, then to the default action).
 *      Reading a validated address cannot fault today; the guard is there so that a layout
 *      change or a missed race costs one sample instead of the process.
 */
#include "engine.h"

#include "frames_cpython.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNB_MAX_CHUNKS 64  /* data-stack chunks double in size: 64 is far beyond any stack */
#define PNB_MAX_STEPS 4096 /* frames stepped over or recorded, per walk */

/* ---------------------------------------------------------------- the guard -- */

static __thread sigjmp_buf *t_guard __attribute__((tls_model("initial-exec")));
static struct sigaction g_prev_segv, g_prev_bus;
static volatile sig_atomic_t g_guard_installed, g_chained_once;
static _Atomic uint64_t g_walks, g_faults, g_refused;

static void
pnb_on_fault(int sig, siginfo_t *si, void *uctx)
{
    sigjmp_buf *guard = t_guard;
    if (guard != NULL) {
        t_guard = NULL;
        siglongjmp(*guard, 1);
    }
    /* Not a walk: the fault belongs to whoever handled it before us. Put that handler back
     * and let the faulting instruction run again into it (it may dump a traceback, as
     * faulthandler does, and then die). If it hands the fault back to us, die. */
    struct sigaction *prev = sig == SIGBUS ? &g_prev_bus : &g_prev_segv;
    g_guard_installed = 0;
    if (g_chained_once || (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        return;
    }
    g_chained_once = 1;
    sigaction(sig, prev, NULL);
    (void)si;
    (void)uctx;
}

static int
pnb_guard_is_ours(int sig)
{
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) != 0) {
        return 0;
    }
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == pnb_on_fault;
}

int
pnb_walk_guard_ensure(void)
{
    if (g_chained_once) {
        return 0; /* a real fault happened: never step in front of its handler again */
    }
    int sigs[2] = {SIGSEGV, SIGBUS};
    struct sigaction *prevs[2] = {&g_prev_segv, &g_prev_bus};
    for (int i = 0; i < 2; i++) {
        if (pnb_guard_is_ours(sigs[i])) {
            continue;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = pnb_on_fault;
        /* NODEFER: after the jump out of the handler the signal must not stay blocked. */
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], &sa, prevs[i]) != 0) {
            return -1;
        }
    }
    g_guard_installed = 1;
    return 0;
}

/* ------------------------------------------------------------ validation -- */

typedef struct {
    char *lo, *hi;  /* used part of a data-stack chunk */
    char *floor;    /* lowest thread-owned frame seen in it so far: older ones sit below */
} pnb_range;

static int
pnb_ranges(PyThreadState *ts, pnb_range *r)
{
    int n = 0;
    _PyStackChunk *c = pnb_datastack_chunk(ts);
    if (c == NULL) {
        return 0;
    }
    char *top = (char *)pnb_datastack_top(ts);
    char *data = (char *)&c->data[0];
    if (top < data || top > (char *)c + c->size) {
        return 0; /* a chunk being pushed or popped: trust nothing in it */
    }
    r[n++] = (pnb_range){data, top, top};
    for (c = c->previous; c != NULL && n < PNB_MAX_CHUNKS; c = c->previous) {
        data = (char *)&c->data[0];
        char *used = (char *)&c->data[c->top];
        if (used < data || used > (char *)c + c->size) {
            break;
        }
        r[n++] = (pnb_range){data, used, used};
    }
    return n;
}

/* The code object of a frame that may be recorded, or NULL. */
static PyCodeObject *
pnb_valid_code(pnb_frame *f)
{
    PyObject *exe = pnb_frame_executable(f);
    if (exe == NULL || ((uintptr_t)exe & (sizeof(void *) - 1)) != 0 || Py_TYPE(exe) != &PyCode_Type) {
        return NULL;
    }
    return (PyCodeObject *)exe;
}

/* Whether [end, top) is empty or exactly one frame with a code object (pushed, not linked). */
static int
pnb_top_gap_ok(char *end, char *top)
{
    if (end == top) {
        return 1;
    }
    PyCodeObject *code = pnb_valid_code((pnb_frame *)end);
    return code != NULL && end + pnb_code_framesize(code) * (Py_ssize_t)sizeof(PyObject *) == top;
}

/* ------------------------------------------------------------------ walk -- */

/* Walk the frame chain of `ts` into out[0..max), leaf first. */
static int
walk(PyThreadState *ts, pnb_raw_frame *out, int max, int *truncated)
{
    pnb_range ranges[PNB_MAX_CHUNKS];
    volatile int n = 0;
    *truncated = 0;
    atomic_fetch_add_explicit(&g_walks, 1, memory_order_relaxed);

    sigjmp_buf env;
    sigjmp_buf *outer = t_guard; /* a heap walk interrupted by a CPU walk on this thread */
    if (sigsetjmp(env, 0) != 0) {
        t_guard = outer;
        atomic_fetch_add_explicit(&g_faults, 1, memory_order_relaxed);
        *truncated = 1;
        return n;
    }
    t_guard = &env;

    int nranges = pnb_ranges(ts, ranges);
    int newest_owned = 1;
    pnb_frame *embedded = pnb_embedded_frame(ts);
    pnb_frame *f = pnb_top_frame(ts);
    for (int steps = 0; f != NULL; steps++) {
        if (steps == PNB_MAX_STEPS || ((uintptr_t)f & (sizeof(void *) - 1)) != 0) {
            goto refuse;
        }
        int owner = pnb_frame_owner(f);
        if (owner == PNB_OWNER_SHIM || f == embedded) {
            f = pnb_prev_frame(f); /* entry/shim frame: not Python code, step over it */
            continue;
        }
        PyCodeObject *code = NULL;
        if (owner == PNB_OWNER_THREAD) {
            char *lo = (char *)f;
            int k;
            for (k = 0; k < nranges; k++) {
                if (lo >= ranges[k].lo && lo < ranges[k].floor) {
                    break;
                }
            }
            if (k == nranges || (code = pnb_valid_code(f)) == NULL) {
                goto refuse;
            }
            char *hi = lo + pnb_code_framesize(code) * (Py_ssize_t)sizeof(PyObject *);
            if (hi > ranges[k].floor || hi <= lo) {
                goto refuse; /* overlaps a newer frame or runs past the used stack */
            }
            /* A frame that will be recorded needs its namespaces (the 3.13 __init__ shim,
             * never recorded, has none). */
            Py_ssize_t at = pnb_frame_lasti(f, code);
            if (at >= -1 && at < pnb_code_units(code) && !pnb_frame_incomplete(f, code, owner) &&
                !pnb_frame_namespaces_ok(f)) {
                goto refuse;
            }
            if (newest_owned) {
                /* The thread's newest frame ends where the used data stack ends, or just
                 * below one frame that is pushed but not linked yet (a call in progress).
                 * A stale pointer into the value stack of a live frame, where images of
                 * frames popped earlier can linger, ends anywhere else. */
                if (k != 0 || !pnb_top_gap_ok(hi, ranges[0].hi)) {
                    goto refuse;
                }
                newest_owned = 0;
            }
            ranges[k].floor = lo;
        }
        else if (owner == PNB_OWNER_GENERATOR) {
            if (!pnb_generator_running(pnb_generator_of(f)) || (code = pnb_valid_code(f)) == NULL) {
                goto refuse;
            }
        }
        else {
            goto refuse;
        }
        Py_ssize_t lasti = pnb_frame_lasti(f, code);
        if (lasti < -1 || lasti >= pnb_code_units(code)) {
            goto refuse;
        }
        if (!pnb_frame_incomplete(f, code, owner)) {
            if (n == max) {
                *truncated = 1;
                break;
            }
            out[n].code = code;
            out[n].lasti = (int32_t)lasti;
            n++;
        }
        f = pnb_prev_frame(f);
    }
    t_guard = outer;
    return n;

refuse:
    t_guard = outer;
    atomic_fetch_add_explicit(&g_refused, 1, memory_order_relaxed);
    *truncated = 1;
    return n;
}

int
pnb_walk_this_thread(pnb_raw_frame *out, int max, int *truncated, unsigned long *ident)
{
    PyThreadState *ts = pnb_tstate_of_this_thread();
    if (ts == NULL) {
        return -1;
    }
    *ident = pnb_tstate_ident(ts);
    return walk(ts, out, max, truncated);
}

int
pnb_walk_gil_holder(pnb_raw_frame *out, int max, int *truncated)
{
    PyThreadState *ts = pnb_tstate_holding_gil();
    if (ts == NULL) {
        return -1;
    }
    return walk(ts, out, max, truncated);
}

int
pnb_line_of(PyObject *code, int lasti)
{
    return pnb_code_line((PyCodeObject *)code, lasti);
}

PyObject *
pnb_walk_stats(void)
{
    return Py_BuildValue("{s:K,s:K,s:K,s:O}", "walks", (unsigned long long)atomic_load(&g_walks),
                         "walks_cut_invalid_frame", (unsigned long long)atomic_load(&g_refused),
                         "walks_cut_fault", (unsigned long long)atomic_load(&g_faults),
                         "fault_guard", g_guard_installed ? Py_True : Py_False);
}

int
pnb_walk_check_runtime(void)
{
    char why[512];
    if (pnb_check_runtime(why, sizeof(why)) < 0) {
        PyErr_Format(PyExc_ImportError, "pyprofnb's native engine cannot read this interpreter: %s", why);
        return -1;
    }
    return 0;
}

/* Fault injection for the tests: walk a chain that starts at an arbitrary address, as if
 * the calling thread's newest frame pointer held it (relative=1: the address is an offset in
 * bytes from the real newest frame, e.g. into the middle of live frames). Returns (frames
 * kept, cut short). */
PyObject *
pnb_walk_probe(PyObject *self, PyObject *args)
{
    long long value;
    int relative = 0;
    if (!PyArg_ParseTuple(args, "L|p", &value, &relative)) {
        return NULL;
    }
    PyThreadState *ts = PyThreadState_Get();
    uintptr_t addr = (uintptr_t)value + (relative ? (uintptr_t)pnb_top_frame(ts) : 0);
    pnb_raw_frame out[PNB_MAX_DEPTH];
    int truncated;
    if (pnb_walk_guard_ensure() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* Swap the thread's newest-frame pointer for the probe's address for the walk only;
     * nothing else runs on this thread meanwhile (no Python, no allocation). */
#if PNB_PY == 311
    _PyCFrame *cf = ts->cframe;
    _PyInterpreterFrame *saved = cf->current_frame;
    cf->current_frame = (_PyInterpreterFrame *)(uintptr_t)addr;
    int n = walk(ts, out, PNB_MAX_DEPTH, &truncated);
    cf->current_frame = saved;
#else
    _PyInterpreterFrame *saved = ts->current_frame;
    ts->current_frame = (_PyInterpreterFrame *)(uintptr_t)addr;
    int n = walk(ts, out, PNB_MAX_DEPTH, &truncated);
    ts->current_frame = saved;
#endif
    (void)self;
    return Py_BuildValue("(ii)", n, truncated);
}

pnb_thread_id *
pnb_list_threads(size_t *count)
{
    size_t cap = 64, n = 0;
    pnb_thread_id *ids = malloc(cap * sizeof(*ids));
    if (ids == NULL) {
        return NULL;
    }
    /* No Python, no timer calls while the lock is held. */
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
