/* The module object of pyprofnb.collect._engine (see engine.h for the files). */
#include "engine.h"

static PyObject *
pnb_walk_stats_py(PyObject *self, PyObject *noargs)
{
    return pnb_walk_stats();
}

__thread pnb_thread_ctx pnb_tls __attribute__((tls_model("initial-exec")));

static PyObject *
set_paused(PyObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    int was = pnb_tls.paused;
    pnb_tls.paused = on;
    return PyBool_FromLong(was);
}

static PyObject *
set_task(PyObject *self, PyObject *arg)
{
    unsigned long long task = PyLong_AsUnsignedLongLong(arg);
    if (task == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "set_task expects an int in 0..2**64-1 (0: no task)");
        return NULL;
    }
    uint64_t was = pnb_tls.task;
    pnb_tls.task = task;
    return PyLong_FromUnsignedLongLong(was);
}

static PyObject *
get_task(PyObject *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLongLong(pnb_tls.task);
}

static PyMethodDef engine_methods[] = {
    {"cpu_start", cpu_start, METH_VARARGS, "cpu_start(hz): install the handler, arm sampling."},
    {"cpu_sync", cpu_sync, METH_VARARGS,
     "cpu_sync(exclude_tid=0): timers for new threads, none for exited ones."},
    {"cpu_drain", cpu_drain, METH_NOARGS, "cpu_drain() -> [(ident, weight, frames)]"},
    {"cpu_stop_timers", cpu_stop_timers, METH_NOARGS, "Disarm every timer, wait for handlers."},
    {"cpu_release", cpu_release, METH_NOARGS, "Unpin the code objects seen by captures."},
    {"cpu_stats", cpu_stats, METH_NOARGS, "Counters of the CPU sampler."},
    {"cpu_after_fork", cpu_after_fork, METH_NOARGS, "Reset CPU state in a fork child."},
    {"heap_start", heap_start, METH_VARARGS, "heap_start(rate): hook OBJ and MEM, sample."},
    {"heap_stop", heap_stop, METH_NOARGS, "Stop sampling; unhook when still on top."},
    {"heap_reset", heap_reset, METH_NOARGS, "Forget every sample and tracked block."},
    {"heap_running", heap_running, METH_NOARGS, "Whether heap sampling is on."},
    {"heap_snapshot", heap_snapshot, METH_NOARGS, "Per-stack unsampled counters."},
    {"heap_stats", heap_stats, METH_NOARGS, "Counters of the heap sampler."},
    {"heap_check", heap_check, METH_NOARGS,
     "Probe the hooks; re-install any another tool removed. -> number re-installed."},
    {"heap_numpy", heap_numpy, METH_O,
     "heap_numpy(numpy _ARRAY_API capsule) -> (installed, reason): sample array buffers."},
    {"set_paused", set_paused, METH_O,
     "set_paused(flag) -> previous: no samples of this thread's work while set."},
    {"set_task", set_task, METH_O,
     "set_task(task_id: int) -> previous: label this thread's samples (0: none)."},
    {"get_task", get_task, METH_NOARGS, "This thread's task id (0: none)."},
    {"heap_after_fork", heap_after_fork, METH_NOARGS, "Reset heap state in a fork child."},
    {"walk_stats", (PyCFunction)pnb_walk_stats_py, METH_NOARGS, "Counters of the frame walk."},
    {"_walk_probe", pnb_walk_probe, METH_VARARGS, "Fault injection: walk from an address."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, "_engine",
    "Native CPU (per-thread CPU-time timers) and heap (allocator hooks) sampling.", -1,
    engine_methods,
};

PyMODINIT_FUNC
PyInit__engine(void)
{
    if (pnb_walk_check_runtime() < 0) {
        return NULL; /* ImportError with the reason */
    }
    pnb_sampler_init();
    PyObject *m = PyModule_Create(&engine_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", PNB_MAX_DEPTH) < 0 ||
        PyModule_AddIntConstant(m, "RING_SIZE", PNB_RING_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
