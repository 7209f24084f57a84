/* Every access to CPython's private frame and thread-state layout lives in this header.
 *
 * The engine walks a thread's Python stack from a signal handler (CPU) and from allocator
 * hooks (heap). Neither may allocate, lock or call Python, so the walk reads the interpreter's
 * own structs directly. Those structs change in every minor version; supporting a new one
 * means adding a branch here and nothing elsewhere (walk.c uses only what is defined here).
 *
 * Supported (GIL builds on Linux), each checked against that version's own headers:
 *   3.11  tstate->cframe->current_frame; _PyInterpreterFrame.f_code (a PyCodeObject *) and
 *         prev_instr (the last instruction started); owners THREAD, GENERATOR, FRAME_OBJECT.
 *   3.13  tstate->current_frame (the cframe is gone); f_executable (PyObject *, a code object
 *         or None) and instr_ptr (the instruction running); entry frames of
 *         _PyEval_EvalFrameDefault live on the C stack, owner FRAME_OWNED_BY_CSTACK (3); the
 *         __init__ shim (_Py_InitCleanup) is a THREAD frame that never gets past its first
 *         traceable instruction, so it counts as incomplete. The thread list is guarded by a
 *         PyMutex; _PyRuntime.debug_offsets publishes the layout.
 *   3.14  f_executable is a _PyStackRef: the low Py_TAG_BITS bits are tags (deferred
 *         reference counting) and must be masked; owners moved: INTERPRETER (3) for entry and
 *         shim frames, CSTACK (4); PyGenObject embeds its frame (gi_iframe); the debug
 *         offsets moved to pycore_debug_offsets.h and describe generators too.
 *   3.15  as 3.14, except that FRAME_OWNED_BY_CSTACK is gone (INTERPRETER covers it), the
 *         bottom frame of every thread is tstate->base_frame (embedded in the thread state,
 *         owned by the interpreter) and Py_TAG_BITS is 3.
 * Refused, with the reason in the #error (and in pyprofnb.collect.UNAVAILABLE_REASON, where
 * the fallback sampler takes over): 3.12 (no 3.12 interpreter or headers can be reached to
 * test it; its layout is between 3.11's and 3.13's: cframe still present, owner CSTACK = 3),
 * anything before 3.11 or after 3.15 (not tested), free-threaded builds (frames and thread
 * states differ and are read without the GIL's ordering).
 */
#ifndef PYPROFNB_FRAMES_CPYTHON_H
#define PYPROFNB_FRAMES_CPYTHON_H

#include <Python.h>

#if !defined(__linux__)
#error "pyprofnb's native engine needs Linux (per-thread CPU-clock timers)"
#endif
#ifdef Py_GIL_DISABLED
#error "pyprofnb's native engine does not support free-threaded CPython (the fallback sampler is used)"
#endif

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PNB_PY 311
#elif PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
#define PNB_PY 313
#elif PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030F0000
#define PNB_PY 314
#elif PY_VERSION_HEX >= 0x030F0000 && PY_VERSION_HEX < 0x03100000
#define PNB_PY 315
#elif PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
#error "pyprofnb's native engine does not support CPython 3.12: no 3.12 interpreter could be tested (the fallback sampler is used)"
#else
#error "pyprofnb's native engine supports CPython 3.11 and 3.13 to 3.15 (the fallback sampler is used)"
#endif

#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED /* public objimpl.h and pycore_gc.h both define it */
#if PNB_PY == 311
#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>
#elif PNB_PY == 313
#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>
#else
#include <internal/pycore_frame.h>
#include <internal/pycore_interpframe.h>
#include <internal/pycore_genobject.h>
#include <internal/pycore_runtime.h>
#include <internal/pycore_debug_offsets.h>
#endif
#undef Py_BUILD_CORE

#include <stddef.h>
#include <string.h>

typedef _PyInterpreterFrame pnb_frame;

/* ------------------------------------------------------------ thread state -- */

/* The thread state of the calling thread, whether or not it holds the GIL: valid in a signal
 * handler. 3.11 to 3.14 read it with pthread_getspecific (a plain array read in glibc), 3.15
 * from a thread-local variable (_Py_tss_gilstate: one %fs-relative load), as the
 * disassembly of Debian's python3.13/3.14/3.15 shows. A thread clears its own entry before
 * freeing its state, so the handler, running on that thread, never sees a dangling one. */
static inline PyThreadState *pnb_tstate_of_this_thread(void)
{
    return PyGILState_GetThisThreadState();
}

/* The thread state of the GIL holder; allocator hooks on OBJ/MEM run with the GIL held. */
static inline PyThreadState *pnb_tstate_holding_gil(void)
{
#if PNB_PY == 311
    return _PyThreadState_UncheckedGet();
#else
    return PyThreadState_GetUnchecked();
#endif
}

/* The newest frame of a thread (NULL while a thread is starting). 3.11: the cframe is
 * published before its current_frame is written, so this value may be stale: walk.c
 * validates it like any other frame pointer. */
static inline pnb_frame *pnb_top_frame(PyThreadState *ts)
{
#if PNB_PY == 311
    _PyCFrame *cf = ts->cframe;
    return cf ? cf->current_frame : NULL;
#else
    return ts->current_frame;
#endif
}

/* The region of the thread's data stack in use: frames owned by the thread live in
 * [chunk->data, datastack_top) of the newest chunk and [data, data + top) of older ones. */
static inline _PyStackChunk *pnb_datastack_chunk(PyThreadState *ts) { return ts->datastack_chunk; }
static inline PyObject **pnb_datastack_top(PyThreadState *ts) { return ts->datastack_top; }

/* A frame embedded in the thread state itself (3.15's base frame), or NULL. */
static inline pnb_frame *pnb_embedded_frame(PyThreadState *ts)
{
#if PNB_PY >= 315
    return ts->base_frame;
#else
    (void)ts;
    return NULL;
#endif
}

/* ------------------------------------------------------------------ frames -- */

static inline pnb_frame *pnb_prev_frame(pnb_frame *f) { return f->previous; }

enum { PNB_OWNER_THREAD, PNB_OWNER_GENERATOR, PNB_OWNER_SHIM, PNB_OWNER_OTHER };

/* Who owns a frame: the thread's data stack, a generator, the interpreter (entry and shim
 * frames between C and Python code, never part of the Python stack), or anything else (a
 * frame object's copy, or a value that is no frame at all). */
static inline int pnb_frame_owner(pnb_frame *f)
{
    char owner = f->owner;
    if (owner == FRAME_OWNED_BY_THREAD) {
        return PNB_OWNER_THREAD;
    }
    if (owner == FRAME_OWNED_BY_GENERATOR) {
        return PNB_OWNER_GENERATOR;
    }
#if PNB_PY == 313
    if (owner == FRAME_OWNED_BY_CSTACK) {
        return PNB_OWNER_SHIM;
    }
#elif PNB_PY == 314
    if (owner == FRAME_OWNED_BY_INTERPRETER || owner == FRAME_OWNED_BY_CSTACK) {
        return PNB_OWNER_SHIM;
    }
#elif PNB_PY >= 315
    if (owner == FRAME_OWNED_BY_INTERPRETER) {
        return PNB_OWNER_SHIM;
    }
#endif
    return PNB_OWNER_OTHER;
}

/* The frame's code object as stored (not checked: walk.c tests its type), tags masked. */
static inline PyObject *pnb_frame_executable(pnb_frame *f)
{
#if PNB_PY == 311
    return (PyObject *)f->f_code;
#elif PNB_PY == 313
    return f->f_executable;
#else
    return (PyObject *)(f->f_executable.bits & ~(uintptr_t)Py_TAG_BITS);
#endif
}

/* A frame's namespaces: a live frame's globals and builtins are dicts (borrowed references
 * the frame keeps valid); a value that is no frame almost never has two dicts there. */
static inline int pnb_frame_namespaces_ok(pnb_frame *f)
{
    PyObject *g = f->f_globals, *b = f->f_builtins;
    return g != NULL && b != NULL && ((uintptr_t)g & (sizeof(void *) - 1)) == 0 &&
           ((uintptr_t)b & (sizeof(void *) - 1)) == 0 && PyDict_Check(g) && PyDict_Check(b);
}

/* Code units of a code object's bytecode (frames' instruction pointers index into it). */
static inline Py_ssize_t pnb_code_units(PyCodeObject *code) { return Py_SIZE(code); }

/* Slots a frame of this code takes on the data stack (specials, locals, value stack). */
static inline Py_ssize_t pnb_code_framesize(PyCodeObject *code)
{
#if PNB_PY == 311
    return code->co_nlocalsplus + code->co_stacksize + (Py_ssize_t)FRAME_SPECIALS_SIZE; /* as _PyEvalFramePushAndInit */
#else
    return code->co_framesize;
#endif
}

/* Index (in code units) of the frame's instruction: 3.11 the last started (-1 before the
 * first), 3.13+ the one running or about to start. Bounds are checked by walk.c. */
static inline Py_ssize_t pnb_frame_lasti(pnb_frame *f, PyCodeObject *code)
{
#if PNB_PY == 311
    return f->prev_instr - _PyCode_CODE(code);
#else
    return f->instr_ptr - _PyCode_CODE(code);
#endif
}

/* A frame still creating cells or a generator (or the 3.13 __init__ shim) has no Python
 * position yet: before the code's first traceable instruction. Generators are complete. */
static inline int pnb_frame_incomplete(pnb_frame *f, PyCodeObject *code, int owner)
{
    if (owner == PNB_OWNER_GENERATOR) {
        return 0;
    }
    return pnb_frame_lasti(f, code) < code->_co_firsttraceable;
}

/* The generator whose object embeds frame f, and whether it is running now (only a running
 * generator's frame is on a thread's chain; any other is stale). */
static inline PyObject *pnb_generator_of(pnb_frame *f)
{
    return (PyObject *)((char *)f - offsetof(PyGenObject, gi_iframe));
}
static inline int pnb_generator_running(PyObject *gen)
{
    PyTypeObject *t = Py_TYPE(gen);
    if (t != &PyGen_Type && t != &PyCoro_Type && t != &PyAsyncGen_Type) {
        return 0;
    }
    return ((PyGenObject *)gen)->gi_frame_state == FRAME_EXECUTING;
}

/* Line for an instruction index found by pnb_frame_lasti (not signal-safe; GIL needed). */
static inline int pnb_code_line(PyCodeObject *code, int lasti)
{
    if (lasti < 0 || lasti >= pnb_code_units(code)) {
        return code->co_firstlineno;
    }
    return PyCode_Addr2Line(code, lasti * (int)sizeof(_Py_CODEUNIT));
}

/* Thread-state identity: the Python ident (threading.get_ident()), the kernel tid, and a
 * number unique over the interpreter's life (tids and idents are reused, this is not). */
static inline unsigned long pnb_tstate_ident(PyThreadState *ts) { return ts->thread_id; }
static inline long pnb_tstate_native_id(PyThreadState *ts) { return (long)ts->native_thread_id; }
static inline uint64_t pnb_tstate_uid(PyThreadState *ts) { return ts->id; }

/* ------------------------------------------------------------- thread list -- */

/* The interpreter's thread-state list is guarded by the runtime's HEAD_LOCK; taking it lets
 * the engine list threads without racing their creation and deletion. Nothing that could
 * take the same lock may run while it is held. 3.13+ make it a PyMutex, which CPython takes
 * without detaching (_Py_LOCK_DONT_DETACH): the public PyMutex_Lock would release the GIL
 * while waiting and take it back while holding the mutex, deadlocking against a GIL holder
 * that waits for the mutex. So it is taken the same way here: a compare-and-swap of the
 * lock bit, yielding while another thread holds it (it is held for a few list operations). */
#if PNB_PY == 311
static inline void pnb_threads_lock(void)
{
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
}
static inline void pnb_threads_unlock(void)
{
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
}
#else
#include <sched.h>
static inline void pnb_threads_lock(void)
{
    PyMutex *m = &_PyRuntime.interpreters.mutex;
    for (;;) {
        uint8_t v = __atomic_load_n(&m->_bits, __ATOMIC_RELAXED);
        if (!(v & _Py_LOCKED) &&
            __atomic_compare_exchange_n(&m->_bits, &v, (uint8_t)(v | _Py_LOCKED), 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return;
        }
        sched_yield();
    }
}
static inline void pnb_threads_unlock(void)
{
    PyMutex_Unlock(&_PyRuntime.interpreters.mutex); /* wakes parked waiters, if any */
}
#endif
static inline PyThreadState *pnb_first_tstate(void)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    return interp ? PyInterpreterState_ThreadHead(interp) : NULL;
}
static inline PyThreadState *pnb_next_tstate(PyThreadState *ts) { return PyThreadState_Next(ts); }

/* ------------------------------------------------------- load-time checks -- */

/* 0 when the running interpreter lays out its structs as the headers this file was compiled
 * with say; otherwise -1 and the reason in why. On 3.13+ the interpreter publishes its own
 * offsets (_PyRuntime.debug_offsets, read by debuggers and out-of-process profilers); every
 * field the walk reads is compared with offsetof() here. */
static inline int pnb_check_runtime(char *why, size_t n)
{
    unsigned long running = (unsigned long)Py_Version;
    if ((running >> 16) != ((unsigned long)PY_VERSION_HEX >> 16)) {
        snprintf(why, n, "built for CPython %d.%d, running %lu.%lu", PY_MAJOR_VERSION, PY_MINOR_VERSION,
                 running >> 24, (running >> 16) & 0xff);
        return -1;
    }
#if PNB_PY >= 313
    const _Py_DebugOffsets *d = &_PyRuntime.debug_offsets;
    if (memcmp(d->cookie, _Py_Debug_Cookie, sizeof(d->cookie)) != 0) {
        snprintf(why, n, "_PyRuntime.debug_offsets has no debug cookie: not a CPython runtime laid out as %d.%d's",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION);
        return -1;
    }
    if ((d->version >> 16) != ((uint64_t)PY_VERSION_HEX >> 16) || d->free_threaded) {
        snprintf(why, n, "the interpreter's debug offsets describe version %#llx%s, not %d.%d with the GIL",
                 (unsigned long long)d->version, d->free_threaded ? " (free-threaded)" : "",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION);
        return -1;
    }
    struct {
        const char *name;
        uint64_t runtime, compiled;
    } fields[] = {
        {"thread_state.current_frame", d->thread_state.current_frame, offsetof(PyThreadState, current_frame)},
        {"thread_state.thread_id", d->thread_state.thread_id, offsetof(PyThreadState, thread_id)},
        {"thread_state.native_thread_id", d->thread_state.native_thread_id, offsetof(PyThreadState, native_thread_id)},
        {"thread_state.datastack_chunk", d->thread_state.datastack_chunk, offsetof(PyThreadState, datastack_chunk)},
        {"interpreter_frame.previous", d->interpreter_frame.previous, offsetof(_PyInterpreterFrame, previous)},
        {"interpreter_frame.executable", d->interpreter_frame.executable, offsetof(_PyInterpreterFrame, f_executable)},
        {"interpreter_frame.instr_ptr", d->interpreter_frame.instr_ptr, offsetof(_PyInterpreterFrame, instr_ptr)},
        {"interpreter_frame.owner", d->interpreter_frame.owner, offsetof(_PyInterpreterFrame, owner)},
        {"code_object.co_code_adaptive", d->code_object.co_code_adaptive, offsetof(PyCodeObject, co_code_adaptive)},
        {"pyobject.ob_type", d->pyobject.ob_type, offsetof(PyObject, ob_type)},
#if PNB_PY >= 314
        {"gen_object.gi_iframe", d->gen_object.gi_iframe, offsetof(PyGenObject, gi_iframe)},
        {"gen_object.gi_frame_state", d->gen_object.gi_frame_state, offsetof(PyGenObject, gi_frame_state)},
#endif
#if PNB_PY >= 315
        {"thread_state.base_frame", d->thread_state.base_frame, offsetof(PyThreadState, base_frame)},
#endif
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].runtime != fields[i].compiled) {
            snprintf(why, n,
                     "the interpreter's %s is at offset %llu, the engine was compiled for %llu "
                     "(built against other CPython %d.%d headers than the running interpreter)",
                     fields[i].name, (unsigned long long)fields[i].runtime,
                     (unsigned long long)fields[i].compiled, PY_MAJOR_VERSION, PY_MINOR_VERSION);
            return -1;
        }
    }
#endif
    return 0;
}

#endif /* PYPROFNB_FRAMES_CPYTHON_H */
