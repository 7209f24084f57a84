/* CPU sampling: the SIGPROF handler and the cpu_* functions.
 *
 *   Per-thread timers (timers.c) send SIGPROF to the thread whose CPU they measure. The
 *   handler copies the interrupted thread's frame chain (code pointer + instruction index per
 *   frame, walk.c) into the ring (ring.c). It never allocates, locks, touches a reference
 *   count or calls Python. A Python drain thread calls cpu_sync() (timers for new threads,
 *   deletion for exited ones) and cpu_drain() (captures -> tuples).
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
 */
#include "engine.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int g_cpu_active;
static _Atomic int g_in_handler;
static _Atomic uint64_t g_code_gen;
static _Atomic uint64_t g_cpu_captures, g_cpu_dropped_full, g_cpu_no_tstate;
static uint64_t g_cpu_unknown_frames;

static PyObject *g_code_table; /* {address: (code, gen when pinned)} */
static destructor g_orig_code_dealloc;
static int g_handler_installed;
static struct sigaction g_prev_sigprof;

static void
code_dealloc(PyObject *op)
{
    uint64_t gen = atomic_fetch_add_explicit(&g_code_gen, 1, memory_order_seq_cst) + 1;
    /* Keep captures waiting in the ring resolvable: a complete capture whose pointers were
     * all alive until now stays so, minus this object (which becomes an unknown frame). GIL
     * held, as for the consumer, so the ready slots between tail and head are ours to edit;
     * slots still being written keep their older gen and are treated conservatively. */
    for (uint64_t pos = pnb_ring_tail();; pos++) {
        pnb_slot *s = pnb_ring_ready(pos);
        if (s == NULL) {
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
    g_orig_code_dealloc(op);
}

static void
on_sigprof(int signo, siginfo_t *si, void *uctx)
{
    (void)signo;
    (void)uctx;
    int saved_errno = errno;
    atomic_fetch_add(&g_in_handler, 1);
    if (atomic_load(&g_cpu_active) && si != NULL && si->si_code == SI_TIMER) {
        uint64_t pos;
        pnb_slot *slot = pnb_ring_claim(&pos);
        if (slot == NULL) {
            atomic_fetch_add_explicit(&g_cpu_dropped_full, 1, memory_order_relaxed);
        }
        else {
            int truncated = 0;
            unsigned long ident = 0;
            slot->gen = atomic_load(&g_code_gen); /* before the walk: see top comment */
            int depth = pnb_walk_this_thread(slot->frames, PNB_MAX_DEPTH, &truncated, &ident);
            if (depth < 0) {
                /* No thread state: publish an empty capture that the drain skips. */
                atomic_fetch_add_explicit(&g_cpu_no_tstate, 1, memory_order_relaxed);
                slot->weight = 0;
                slot->depth = 0;
            }
            else {
                int overrun = si->si_overrun;
                slot->weight = 1 + (uint32_t)(overrun > 0 ? overrun : 0);
                slot->depth = (uint16_t)depth;
                atomic_fetch_add_explicit(&g_cpu_captures, 1, memory_order_relaxed);
            }
            slot->ident = ident;
            slot->truncated = (uint16_t)truncated;
            pnb_ring_publish(slot, pos);
        }
    }
    atomic_fetch_sub(&g_in_handler, 1);
    errno = saved_errno;
}

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
    pnb_walk_guard_ensure(); /* still in front of any fault handler installed since */
    long created = pnb_timers_sync(exclude_tid);
    if (created < 0) {
        return PyErr_NoMemory();
    }
    return PyLong_FromLong(created);
}

PyObject *
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
    if (pnb_ring_init() < 0) {
        return PyErr_NoMemory();
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
        PyCode_Type.tp_dealloc = code_dealloc;
    }
    if (!g_handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigprof;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, &g_prev_sigprof) != 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        g_handler_installed = 1;
    }
    if (pnb_walk_guard_ensure() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
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
    pnb_timers_configure(1000000000L / hz, max_uid);
    atomic_store(&g_cpu_active, 1);
    Py_RETURN_NONE;
}

/* Disarm: no capture can start after this returns, and none is still being written. */
PyObject *
cpu_stop_timers(PyObject *self, PyObject *noargs)
{
    atomic_store(&g_cpu_active, 0);
    pnb_timers_delete_all();
    while (atomic_load(&g_in_handler) != 0) {
        sched_yield();
    }
    Py_RETURN_NONE;
}

/* The code object behind a captured pointer, or NULL when it cannot be proven alive.
 * Borrowed reference (held by g_code_table). */
static PyObject *
resolve_code(void *ptr, uint64_t capture_gen)
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
PyObject *
cpu_drain(PyObject *self, PyObject *noargs)
{
    if (!pnb_ring_exists() || g_code_table == NULL) {
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
        pnb_slot *s = pnb_ring_ready(pnb_ring_tail());
        if (s == NULL) {
            break; /* empty, or the next slot is still being written */
        }
        memcpy((char *)copy + sizeof(copy->seq), (char *)s + sizeof(s->seq),
               offsetof(pnb_slot, frames) - sizeof(s->seq) + s->depth * sizeof(pnb_raw_frame));
        pnb_ring_pop(s);
        if (copy->weight == 0) {
            continue; /* a signal on a thread without a thread state */
        }

        PyObject *frames = PyTuple_New(copy->depth);
        if (frames == NULL) {
            goto error;
        }
        for (int i = 0; i < copy->depth; i++) {
            PyObject *code = resolve_code(copy->frames[i].code, copy->gen);
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
                int line = pnb_line_of(code, copy->frames[i].lasti);
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
PyObject *
cpu_release(PyObject *self, PyObject *noargs)
{
    if (g_code_table != NULL && !atomic_load(&g_cpu_active)) {
        PyDict_Clear(g_code_table);
    }
    Py_RETURN_NONE;
}

PyObject *
cpu_stats(PyObject *self, PyObject *noargs)
{
    return Py_BuildValue(
        "{s:i,s:K,s:K,s:K,s:K,s:n,s:n}", "running", atomic_load(&g_cpu_active),
        "captures", (unsigned long long)atomic_load(&g_cpu_captures),
        "dropped_ring_full", (unsigned long long)atomic_load(&g_cpu_dropped_full),
        "no_thread_state", (unsigned long long)atomic_load(&g_cpu_no_tstate),
        "unknown_frames", (unsigned long long)g_cpu_unknown_frames,
        "timers", (Py_ssize_t)pnb_timers_count(),
        "pinned_code_objects", g_code_table ? PyDict_GET_SIZE(g_code_table) : (Py_ssize_t)0);
}

/* In a fork child: timers are not inherited, the drain thread does not exist. */
PyObject *
cpu_after_fork(PyObject *self, PyObject *noargs)
{
    atomic_store(&g_cpu_active, 0);
    atomic_store(&g_in_handler, 0);
    pnb_timers_forget();
    pnb_ring_reset();
    if (g_code_table != NULL) {
        PyDict_Clear(g_code_table);
    }
    Py_RETURN_NONE;
}
