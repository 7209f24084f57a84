/* The heap sampler's allocator hooks, and the heap_* functions. Tables: heap_table.c.
 *
 * Python's allocators: hooks on the PyMem OBJ and MEM domains wrap the previous allocators
 * (the GIL is held in both). Each domain has its own hook functions with the previous
 * allocator in a static, so the hot path is one indirect call, one subtraction and one
 * branch; a free is one load of the prefilter.
 *
 * NumPy's array buffers: NumPy allocates them through a PyDataMem_Handler (its public
 * allocation-handler API, NumPy >= 1.22). heap_numpy() wraps the default handler in one that
 * samples into the same tables (kind NUMPY, the `allocator` label). NumPy keeps the handler
 * in a context variable whose default is the capsule of its default handler; a handler set
 * with PyDataMem_SetHandler would reach only the calling thread's context, so the engine
 * points that default capsule at its wrapper instead, and every thread, task and context
 * that uses the default allocator is seen. The wrapper passes everything through to NumPy's
 * own functions and stays in place for the life of the process (arrays remember their
 * handler, so it must outlive them); when heap sampling is off it only passes through.
 * NumPy may call its handler without the GIL: such calls are passed through unsampled (and
 * counted).
 *
 * Another tool may remove our hooks (tracemalloc.stop() restores the allocators it saw
 * before it started, which drops a hook installed after it): heap_check() probes each domain
 * and re-installs a missing hook, counting it, so the profile can say so. */
#include "engine.h"

#include <string.h>

typedef struct {
    PyMemAllocatorDomain domain;
    int installed;
    PyMemAllocatorEx hook;
} pnb_domain;

int g_heap_active;
static int g_probe;       /* heap_check(): the next sampling point is a probe */
static int g_probe_seen;  /* bit per domain that saw the probe */
static uint64_t g_reinstalls, g_numpy_no_gil;

static void
slow_alloc(void *p, size_t size, int kind, int bit)
{
    if (!g_heap_active) {
        g_until_sample = INT64_MAX; /* inactive: the fast path never comes here again */
        return;
    }
    if (g_probe) {
        g_probe_seen |= bit;
        return;
    }
    pnb_heap_sample(p, size, kind);
}

static inline void
on_alloc(void *p, size_t size, int kind, int bit)
{
    int64_t left = g_until_sample - (int64_t)size;
    if (__builtin_expect(left > 0, 1)) {
        g_until_sample = left;
        return;
    }
    slow_alloc(p, size, kind, bit);
}

/* Forget p if it is a sampled live block. The common case is a single filter load. */
static inline void
untrack(void *p)
{
    uint8_t *c = pnb_filter_slot(p);
    if (__builtin_expect(*c != 0, 0) && p != NULL && g_heap_active) {
        pnb_untrack_slow(p, c);
    }
}

/* Fast paths end in a tail call to the previous allocator, with the countdown done first
 * (an allocation that fails still counts towards the next sample: harmless), so a hook adds
 * about seven instructions and no stack frame. */
#define PNB_DOMAIN_HOOKS(NAME, BIT)                                                          \
    static PyMemAllocatorEx g_prev_##NAME;                                                    \
    static __attribute__((noinline)) void *NAME##_malloc_slow(size_t size)                    \
    {                                                                                         \
        void *p = g_prev_##NAME.malloc(g_prev_##NAME.ctx, size);                              \
        if (p != NULL) {                                                                      \
            slow_alloc(p, size, PNB_KIND_PYTHON, BIT);                                        \
        }                                                                                     \
        return p;                                                                             \
    }                                                                                         \
    static void *NAME##_malloc(void *ctx, size_t size)                                        \
    {                                                                                         \
        int64_t left = g_until_sample - (int64_t)size;                                        \
        if (__builtin_expect(left > 0, 1)) {                                                  \
            g_until_sample = left;                                                            \
            return g_prev_##NAME.malloc(g_prev_##NAME.ctx, size);                             \
        }                                                                                     \
        return NAME##_malloc_slow(size);                                                      \
    }                                                                                         \
    static void *NAME##_calloc(void *ctx, size_t nelem, size_t elsize)                        \
    {                                                                                         \
        void *p = g_prev_##NAME.calloc(g_prev_##NAME.ctx, nelem, elsize);                     \
        if (__builtin_expect(p != NULL, 1)) {                                                 \
            on_alloc(p, nelem * elsize, PNB_KIND_PYTHON, BIT);                                \
        }                                                                                     \
        return p;                                                                             \
    }                                                                                         \
    static void *NAME##_realloc(void *ctx, void *ptr, size_t size)                            \
    {                                                                                         \
        void *p = g_prev_##NAME.realloc(g_prev_##NAME.ctx, ptr, size);                        \
        if (p != NULL && g_heap_active) {                                                     \
            /* Like tracemalloc: a successful realloc frees the old block, allocates anew. */ \
            if (ptr != NULL) {                                                                \
                untrack(ptr);                                                                 \
            }                                                                                 \
            on_alloc(p, size, PNB_KIND_PYTHON, BIT);                                          \
        }                                                                                     \
        return p;                                                                             \
    }                                                                                         \
    static __attribute__((noinline)) void NAME##_free_slow(void *ptr)                         \
    {                                                                                         \
        untrack(ptr);                                                                         \
        g_prev_##NAME.free(g_prev_##NAME.ctx, ptr);                                           \
    }                                                                                         \
    static void NAME##_free(void *ctx, void *ptr)                                             \
    {                                                                                         \
        if (__builtin_expect(*pnb_filter_slot(ptr) != 0, 0)) { /* maybe a sampled block */    \
            NAME##_free_slow(ptr);                                                            \
            return;                                                                           \
        }                                                                                     \
        g_prev_##NAME.free(g_prev_##NAME.ctx, ptr);                                           \
    }

PNB_DOMAIN_HOOKS(mem, 1)
PNB_DOMAIN_HOOKS(obj, 2)

static pnb_domain g_dom_mem = {PYMEM_DOMAIN_MEM, 0, {NULL, mem_malloc, mem_calloc, mem_realloc, mem_free}};
static pnb_domain g_dom_obj = {PYMEM_DOMAIN_OBJ, 0, {NULL, obj_malloc, obj_calloc, obj_realloc, obj_free}};

static PyMemAllocatorEx *
prev_of(pnb_domain *d)
{
    return d == &g_dom_mem ? &g_prev_mem : &g_prev_obj;
}

static void
install(pnb_domain *d)
{
    if (d->installed) {
        return; /* still in the chain (maybe wrapped by a later hook) */
    }
    PyMem_GetAllocator(d->domain, prev_of(d));
    PyMem_SetAllocator(d->domain, &d->hook);
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
    if (cur.malloc == d->hook.malloc) {
        PyMem_SetAllocator(d->domain, prev_of(d));
        d->installed = 0;
    }
}

/* Whether an allocation in the domain still reaches our hook. GIL held, sampling on. */
static int
probe(pnb_domain *d, int bit)
{
    int64_t saved = g_until_sample;
    g_probe_seen = 0;
    g_probe = 1;
    g_until_sample = 0;
    void *p = d->domain == PYMEM_DOMAIN_MEM ? PyMem_Malloc(16) : PyObject_Malloc(16);
    g_probe = 0;
    g_until_sample = saved;
    if (d->domain == PYMEM_DOMAIN_MEM) {
        PyMem_Free(p);
    }
    else {
        PyObject_Free(p);
    }
    return (g_probe_seen & bit) != 0;
}

/* ----------------------------------------------------------------- NumPy -- */

/* NumPy's PyDataMem_Handler, version 1 (numpy/ndarraytypes.h; a public, versioned ABI). */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} pnb_np_allocator;

typedef struct {
    char name[127];
    uint8_t version;
    pnb_np_allocator allocator;
} pnb_np_handler;

#define PNB_NP_API_FEATURE_VERSION 211 /* PyArray_GetNDArrayCFeatureVersion */
#define PNB_NP_API_GET_HANDLER 305     /* PyDataMem_GetHandler */
#define PNB_NP_1_22_API_VERSION 0x0000000f

static pnb_np_handler g_np_prev;
static PyObject *g_np_capsule; /* NumPy's default-handler capsule, now pointing at ours */
static const char *g_np_reason = "NumPy was not imported when heap sampling started";

static void *
np_malloc(void *ctx, size_t size)
{
    void *p = g_np_prev.allocator.malloc(g_np_prev.allocator.ctx, size);
    if (p != NULL && g_heap_active) {
        if (PyGILState_Check()) {
            on_alloc(p, size, PNB_KIND_NUMPY, 4);
        }
        else {
            g_numpy_no_gil++; /* racy count, for information only */
        }
    }
    return p;
}

static void *
np_calloc(void *ctx, size_t nelem, size_t elsize)
{
    void *p = g_np_prev.allocator.calloc(g_np_prev.allocator.ctx, nelem, elsize);
    if (p != NULL && g_heap_active) {
        if (PyGILState_Check()) {
            on_alloc(p, nelem * elsize, PNB_KIND_NUMPY, 4);
        }
        else {
            g_numpy_no_gil++;
        }
    }
    return p;
}

static void *
np_realloc(void *ctx, void *ptr, size_t size)
{
    void *p = g_np_prev.allocator.realloc(g_np_prev.allocator.ctx, ptr, size);
    if (p != NULL && g_heap_active) {
        if (PyGILState_Check()) {
            if (ptr != NULL) {
                untrack(ptr);
            }
            on_alloc(p, size, PNB_KIND_NUMPY, 4);
        }
        else {
            g_numpy_no_gil++;
        }
    }
    return p;
}

static void
np_free(void *ctx, void *ptr, size_t size)
{
    if (ptr != NULL && g_heap_active) {
        if (PyGILState_Check()) {
            untrack(ptr);
        }
        else if (*pnb_filter_slot(ptr) != 0) {
            g_numpy_no_gil++;
        }
    }
    g_np_prev.allocator.free(g_np_prev.allocator.ctx, ptr, size);
}

static pnb_np_handler g_np_ours = {
    "pyprofnb_sampling_default", 1, {NULL, np_malloc, np_calloc, np_realloc, np_free}};

/* heap_numpy(numpy's _ARRAY_API capsule) -> (installed, reason) */
PyObject *
heap_numpy(PyObject *self, PyObject *api_capsule)
{
    if (g_np_capsule != NULL) {
        return Py_BuildValue("(Os)", Py_True, "");
    }
    if (!PyCapsule_CheckExact(api_capsule)) {
        PyErr_SetString(PyExc_TypeError, "heap_numpy expects NumPy's _ARRAY_API capsule");
        return NULL;
    }
    void **api = PyCapsule_GetPointer(api_capsule, NULL);
    if (api == NULL) {
        return NULL;
    }
    unsigned int (*feature)(void) = (unsigned int (*)(void))api[PNB_NP_API_FEATURE_VERSION];
    if (feature() < PNB_NP_1_22_API_VERSION) {
        g_np_reason = "NumPy is older than 1.22 (no allocation-handler API)";
        return Py_BuildValue("(Os)", Py_False, g_np_reason);
    }
    PyObject *(*get_handler)(void) = (PyObject * (*)(void)) api[PNB_NP_API_GET_HANDLER];
    PyObject *cap = get_handler();
    if (cap == NULL) {
        return NULL;
    }
    pnb_np_handler *cur = PyCapsule_GetPointer(cap, "mem_handler");
    if (cur == NULL) {
        Py_DECREF(cap);
        return NULL;
    }
    if (cur->version != 1 || strcmp(cur->name, "default_allocator") != 0) {
        Py_DECREF(cap);
        g_np_reason = "NumPy uses a custom allocation handler in this context";
        return Py_BuildValue("(Os)", Py_False, g_np_reason);
    }
    g_np_prev = *cur;
    if (PyCapsule_SetPointer(cap, &g_np_ours) < 0) {
        Py_DECREF(cap);
        return NULL;
    }
    g_np_capsule = cap; /* kept: arrays hold it */
    g_np_reason = "";
    return Py_BuildValue("(Os)", Py_True, "");
}

/* ------------------------------------------------------------- functions -- */

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
    pnb_code_hook_install();
    if (pnb_walk_guard_ensure() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pnb_heap_clear();
    g_heap_rate = rate;
    g_reinstalls = g_numpy_no_gil = 0;
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
    g_until_sample = INT64_MAX;
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

/* Probe both domains; re-install a hook another tool removed. -> number re-installed now. */
PyObject *
heap_check(PyObject *self, PyObject *noargs)
{
    long fixed = 0;
    if (g_heap_active) {
        pnb_domain *doms[2] = {&g_dom_mem, &g_dom_obj};
        for (int i = 0; i < 2; i++) {
            if (!probe(doms[i], 1 << i)) {
                doms[i]->installed = 0;
                install(doms[i]);
                fixed++;
            }
        }
        g_reinstalls += fixed;
    }
    return PyLong_FromLong(fixed);
}

PyObject *
heap_snapshot(PyObject *self, PyObject *noargs)
{
    int paused = pnb_tls.paused;
    pnb_tls.paused = 1; /* the snapshot's own allocations are not sampled */
    PyObject *out = pnb_heap_snapshot();
    pnb_tls.paused = paused;
    return out;
}

PyObject *
heap_stats(PyObject *self, PyObject *noargs)
{
    PyObject *d = pnb_heap_table_stats();
    if (d == NULL) {
        return NULL;
    }
    PyObject *reinstalls = PyLong_FromUnsignedLongLong(g_reinstalls);
    PyObject *nogil = PyLong_FromUnsignedLongLong(g_numpy_no_gil);
    PyObject *reason = PyUnicode_FromString(g_np_reason);
    if (reinstalls == NULL || nogil == NULL || reason == NULL ||
        PyDict_SetItemString(d, "running", g_heap_active ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "hooks_mem", g_dom_mem.installed ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "hooks_obj", g_dom_obj.installed ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "hooks_reinstalled", reinstalls) < 0 ||
        PyDict_SetItemString(d, "numpy", g_np_capsule ? Py_True : Py_False) < 0 ||
        PyDict_SetItemString(d, "numpy_reason", reason) < 0 ||
        PyDict_SetItemString(d, "numpy_without_gil", nogil) < 0) {
        Py_XDECREF(reinstalls);
        Py_XDECREF(nogil);
        Py_XDECREF(reason);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(reinstalls);
    Py_DECREF(nogil);
    Py_DECREF(reason);
    return d;
}

/* In a fork child (single thread, GIL held): stop sampling and start from empty tables. */
PyObject *
heap_after_fork(PyObject *self, PyObject *noargs)
{
    g_heap_active = 0;
    g_until_sample = INT64_MAX;
    uninstall(&g_dom_obj);
    uninstall(&g_dom_mem);
    pnb_heap_clear();
    Py_RETURN_NONE;
}
