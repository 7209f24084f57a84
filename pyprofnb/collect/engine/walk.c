/* The frame walk: the engine's only reader of interpreter internals.
 *
 * Everything here goes through frames_cpython.h, which holds every version-specific access
 * to CPython's frame and thread-state layout. Callers see plain functions (engine.h). */
#include "engine.h"

#include "frames_cpython.h"

#include <stdlib.h>

/* Walk the frame chain of `ts` into out[0..max), leaf first. Reads structs only. */
static int
walk(PyThreadState *ts, pnb_raw_frame *out, int max, int *truncated)
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
