/* Every access to CPython's private frame and thread-state layout lives in this header.
 *
 * The engine walks a thread's Python stack from a signal handler (CPU) and from allocator
 * hooks (heap). Neither may allocate, lock or call Python, so the walk reads the interpreter's
 * own structs directly. Those structs change in every minor version; supporting a new one
 * means adding a branch here and nothing elsewhere.
 *
 * Supported: CPython 3.11 (tstate->cframe->current_frame, _PyInterpreterFrame with f_code
 * and prev_instr, incomplete frames skipped).
 */
#ifndef PYPROFNB_FRAMES_CPYTHON_H
#define PYPROFNB_FRAMES_CPYTHON_H

#include <Python.h>

#if !defined(__linux__)
#error "pyprofnb's native engine needs Linux (per-thread CPU-clock timers)"
#endif
#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "pyprofnb's native engine reads CPython 3.11 frames; this interpreter is another version"
#endif
#ifdef Py_GIL_DISABLED
#error "pyprofnb's native engine does not support free-threaded CPython"
#endif

#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED /* public objimpl.h and pycore_gc.h both define it */
#include <internal/pycore_frame.h>
#include <internal/pycore_runtime.h>
#undef Py_BUILD_CORE

typedef _PyInterpreterFrame pnb_frame;

/* The thread state of the calling thread, read from thread-specific storage: valid in a
 * signal handler whether or not this thread holds the GIL (a thread clears its own entry
 * before freeing its state, so the handler, running on that thread, never sees a dangling
 * one). pthread_getspecific is a plain array read in glibc. */
static inline PyThreadState *pnb_tstate_of_this_thread(void)
{
    return PyGILState_GetThisThreadState();
}

/* The thread state of the GIL holder; allocator hooks on OBJ/MEM run with the GIL held. */
static inline PyThreadState *pnb_tstate_holding_gil(void)
{
    return _PyThreadState_UncheckedGet();
}

static inline pnb_frame *pnb_top_frame(PyThreadState *ts)
{
    _PyCFrame *cf = ts->cframe; /* NULL while a thread is starting */
    return cf ? cf->current_frame : NULL;
}

static inline pnb_frame *pnb_prev_frame(pnb_frame *f) { return f->previous; }

static inline PyCodeObject *pnb_frame_code(pnb_frame *f) { return f->f_code; }

/* A frame still creating cells or a generator has no meaningful position yet. */
static inline int pnb_frame_incomplete(pnb_frame *f)
{
    return _PyFrame_IsIncomplete(f);
}

/* Index (in code units) of the last instruction started; -1 before the first. */
static inline int pnb_frame_lasti(pnb_frame *f)
{
    return (int)(f->prev_instr - _PyCode_CODE(f->f_code));
}

/* Line for an instruction index found by pnb_frame_lasti (not signal-safe; GIL needed). */
static inline int pnb_code_line(PyCodeObject *code, int lasti)
{
    if (lasti < 0) {
        return code->co_firstlineno;
    }
    return PyCode_Addr2Line(code, lasti * (int)sizeof(_Py_CODEUNIT));
}

/* Thread-state identity: the Python ident (threading.get_ident()), the kernel tid, and a
 * number unique over the interpreter's life (tids and idents are reused, this is not). */
static inline unsigned long pnb_tstate_ident(PyThreadState *ts) { return ts->thread_id; }
static inline long pnb_tstate_native_id(PyThreadState *ts) { return (long)ts->native_thread_id; }
static inline uint64_t pnb_tstate_uid(PyThreadState *ts) { return ts->id; }

/* The interpreter's thread-state list is guarded by the runtime's HEAD_LOCK; taking it lets
 * the engine list threads without racing their creation and deletion. Nothing that could
 * take the same lock may run while it is held. */
static inline void pnb_threads_lock(void)
{
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
}
static inline void pnb_threads_unlock(void)
{
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
}
static inline PyThreadState *pnb_first_tstate(void)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    return interp ? PyInterpreterState_ThreadHead(interp) : NULL;
}
static inline PyThreadState *pnb_next_tstate(PyThreadState *ts) { return PyThreadState_Next(ts); }

#endif /* PYPROFNB_FRAMES_CPYTHON_H */
