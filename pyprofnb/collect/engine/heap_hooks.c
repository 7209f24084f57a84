/* The heap sampler's allocator hooks: on the PyMem OBJ and MEM domains, wrapping the previous
 * allocators (GIL held in both), and the heap_* functions. Tables: heap_table.c. */
#include "engine.h"

typedef struct {
    PyMemAllocatorEx prev;
    PyMemAllocatorDomain domain;
    int installed;
} pnb_domain;

static pnb_domain g_dom_mem = {.domain = PYMEM_DOMAIN_MEM};
static pnb_domain g_dom_obj = {.domain = PYMEM_DOMAIN_OBJ};

int g_heap_active;

/* Forget p if it is a sampled live block. The common case is a single filter load. */
static inline void
untrack(void *p)
{
    uint8_t *c = pnb_filter_slot(p);
    if (__builtin_expect(*c != 0, 0)) {
        pnb_untrack_slow(p, c);
    }
}

static inline void
on_alloc(void *p, size_t size)
{
    if (__builtin_expect(g_until_sample > (double)size, 1)) {
        g_until_sample -= (double)size;
        return;
    }
    pnb_heap_sample(p, size);
}

static void *
hook_malloc(void *ctx, size_t size)
{
    pnb_domain *d = ctx;
    void *p = d->prev.malloc(d->prev.ctx, size);
    if (__builtin_expect(p != NULL && g_heap_active, 1)) {
        on_alloc(p, size);
    }
    return p;
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    pnb_domain *d = ctx;
    void *p = d->prev.calloc(d->prev.ctx, nelem, elsize);
    if (__builtin_expect(p != NULL && g_heap_active, 1)) {
        on_alloc(p, nelem * elsize);
    }
    return p;
}

static void *
hook_realloc(void *ctx, void *ptr, size_t size)
{
    pnb_domain *d = ctx;
    void *p = d->prev.realloc(d->prev.ctx, ptr, size);
    if (p != NULL && g_heap_active) {
        /* Like tracemalloc: a successful realloc frees the old block and allocates anew. */
        if (ptr != NULL) {
            untrack(ptr);
        }
        on_alloc(p, size);
    }
    return p;
}

static void
hook_free(void *ctx, void *ptr)
{
    pnb_domain *d = ctx;
    if (__builtin_expect(ptr != NULL && g_heap_active, 1)) {
        untrack(ptr);
    }
    d->prev.free(d->prev.ctx, ptr);
}

static int
is_ours(PyMemAllocatorEx *a, pnb_domain *d)
{
    return a->malloc == hook_malloc && a->ctx == d;
}

static void
install(pnb_domain *d)
{
    if (d->installed) {
        return; /* still in the chain (maybe wrapped by a later hook) */
    }
    PyMem_GetAllocator(d->domain, &d->prev);
    PyMemAllocatorEx hook = {d, hook_malloc, hook_calloc, hook_realloc, hook_free};
    PyMem_SetAllocator(d->domain, &hook);
    d->installed = 1;
}

/* Remove the hook only if nobody wrapped it since (LIFO); otherwise it stays, passing through. */
static void
uninstall(pnb_domain *d)
{
    if (!d->installed) {
        return;
    }
    PyMemAllocatorEx cur;
    PyMem_GetAllocator(d->domain, &cur);
    if (is_ours(&cur, d)) {
        PyMem_SetAllocator(d->domain, &d->prev);
        d->installed = 0;
    }
}

PyObject *
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
    if (pnb_walk_guard_ensure() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pnb_heap_clear();
    g_heap_rate = rate;
    pnb_heap_seed();
    g_until_sample = pnb_next_gap();
    install(&g_dom_mem);
    install(&g_dom_obj);
    g_heap_active = 1;
    Py_RETURN_NONE;
}

PyObject *
heap_stop(PyObject *self, PyObject *noargs)
{
    g_heap_active = 0;
    uninstall(&g_dom_obj);
    uninstall(&g_dom_mem);
    Py_RETURN_NONE;
}

PyObject *
heap_reset(PyObject *self, PyObject *noargs)
{
    pnb_heap_clear();
    Py_RETURN_NONE;
}

PyObject *
heap_running(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(g_heap_active);
}

PyObject *
heap_snapshot(PyObject *self, PyObject *noargs)
{
    return pnb_heap_snapshot();
}

PyObject *
heap_stats(PyObject *self, PyObject *noargs)
{
    PyObject *d = pnb_heap_table_stats();
    if (d == NULL) {
        return NULL;
    }
    if (PyDict_SetItemString(d, "running", g_heap_active ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "hooks_mem", g_dom_mem.installed ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "hooks_obj", g_dom_obj.installed ? Py_True : Py_False) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* In a fork child (single thread, GIL held): stop sampling and start from empty tables. */
PyObject *
heap_after_fork(PyObject *self, PyObject *noargs)
{
    g_heap_active = 0;
    uninstall(&g_dom_obj);
    uninstall(&g_dom_mem);
    pnb_heap_clear();
    Py_RETURN_NONE;
}
