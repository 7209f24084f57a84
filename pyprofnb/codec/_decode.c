/* profile.proto decoded straight into columns.
 *
 * Two walks over the raw (not gzipped) bytes with the same code: `scan` checks the wire
 * structure and counts every repeated thing (samples, stack entries, values, labels,
 * locations, lines, functions, mappings, strings) without allocating; Python then checks
 * the counts against its memory budget; `fill` allocates exactly that much (one bytearray
 * per column, wrapped by NumPy without a copy) and writes the values. No Python object is
 * made per sample; the only per-item objects are the string table's str.
 *
 * Wire rules followed (protobuf's): varints of at most 10 bytes; length-delimited fields
 * must fit their parent; repeated scalars packed or not, mixed; scalars last-one-wins;
 * unknown fields skipped by wire type; a known field with an unexpected wire type is
 * skipped as unknown; groups (wire types 3 and 4) are refused. Strings are decoded as UTF-8
 * with U+FFFD for invalid bytes (Go's pprof keeps any bytes).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    /* counts */
    Py_ssize_t n_types, n_samples, n_stack, n_values, n_labels, n_mappings, n_locs, n_lines, n_funcs,
        n_strings, n_comments, string_bytes;
    /* first sample whose value count differs from the first sample's, and those counts */
    Py_ssize_t first_values, odd_sample, odd_values;
    /* scalars */
    int64_t drop_frames, keep_frames, time_nanos, duration_nanos, period, default_sample_type, doc_url;
    int64_t period_type, period_unit;
    int has_period_type;
} counts_t;

typedef struct {
    int fill;
    counts_t c;
    /* columns (fill pass only) */
    int64_t *st_type, *st_unit;
    uint64_t *stack;       /* location ids, leaf first */
    int64_t *stack_off;    /* n_samples + 1 */
    int64_t *values;
    int64_t *value_count;  /* per sample */
    int64_t *l_sample, *l_key, *l_str, *l_num, *l_unit;
    uint64_t *maps;        /* 10 per mapping */
    uint64_t *loc_id, *loc_map, *loc_addr;
    uint8_t *loc_folded;
    int64_t *line_off;     /* n_locs + 1 */
    uint64_t *line_func;
    int64_t *line_no, *line_col;
    uint64_t *f_id;
    int64_t *f_name, *f_sys, *f_file, *f_start;
    int64_t *comments;
    PyObject *strings;     /* list */
    /* cursors */
    Py_ssize_t i_type, i_sample, i_stack, i_value, i_label, i_map, i_loc, i_line, i_func, i_string, i_comment;
    const uint8_t *base;
    char err[200];
} state_t;

static int fail(state_t *s, const uint8_t *at, const char *what) {
    if (!s->err[0])
        snprintf(s->err, sizeof s->err, "%s at byte %zd", what, (Py_ssize_t)(at - s->base));
    return -1;
}

static inline int varint(state_t *s, const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return fail(s, p, "truncated varint");
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return fail(s, p, "varint longer than 10 bytes");
}

/* One field's key and, for length-delimited fields, its payload [*lo, *hi). */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;             /* wire 0, 1, 5 */
    const uint8_t *lo, *hi;     /* wire 2 */
} field_t;

static inline int next_field(state_t *s, const uint8_t **pp, const uint8_t *end, field_t *f) {
    uint64_t key;
    const uint8_t *at = *pp;
    if (varint(s, pp, end, &key) < 0)
        return -1;
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return fail(s, at, "invalid field number");
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0:
        return varint(s, pp, end, &f->value);
    case 1:
        if (end - *pp < 8)
            return fail(s, *pp, "truncated fixed64");
        memcpy(&f->value, *pp, 8);
        *pp += 8;
        return 0;
    case 5: {
        uint32_t v;
        if (end - *pp < 4)
            return fail(s, *pp, "truncated fixed32");
        memcpy(&v, *pp, 4);
        f->value = v;
        *pp += 4;
        return 0;
    }
    case 2: {
        uint64_t len;
        if (varint(s, pp, end, &len) < 0)
            return -1;
        if (len > (uint64_t)(end - *pp))
            return fail(s, *pp, "length-delimited field runs past the end of its message");
        f->lo = *pp;
        f->hi = *pp + len;
        *pp += len;
        return 0;
    }
    default:
        return fail(s, at, "unsupported wire type (groups are not part of profile.proto)");
    }
}

/* A repeated varint field: its values one at a time (packed or not). Counts them in the
 * scan pass, writes them in the fill pass. Returns the number of values or -1. */
static Py_ssize_t repeated_varints(state_t *s, const field_t *f, void *out, Py_ssize_t at) {
    if (f->wire == 0) {
        if (s->fill)
            ((uint64_t *)out)[at] = f->value;
        return 1;
    }
    if (f->wire != 2)
        return 0; /* a wire type this field cannot have: skipped like an unknown field */
    if (!s->fill) {
        Py_ssize_t n = 0;
        for (const uint8_t *p = f->lo; p < f->hi; p++)
            n += *p < 0x80;
        if (f->hi > f->lo && f->hi[-1] >= 0x80)
            return fail(s, f->hi, "packed field ends inside a varint");
        /* a varint longer than 10 bytes is caught in the fill pass by varint() */
        return n;
    }
    const uint8_t *p = f->lo;
    Py_ssize_t n = 0;
    uint64_t *dst = (uint64_t *)out + at;
    while (p < f->hi) {
        if (varint(s, &p, f->hi, &dst[n]) < 0)
            return -1;
        n++;
    }
    return n;
}

static int check_packed(state_t *s, const field_t *f) {
    /* In the scan pass, make sure every packed varint is at most 10 bytes, so the counts
     * of the scan and the values of the fill agree. */
    if (f->wire != 2)
        return 0;
    Py_ssize_t run = 0;
    for (const uint8_t *p = f->lo; p < f->hi; p++) {
        run = *p < 0x80 ? 0 : run + 1;
        if (run >= 10)
            return fail(s, p, "varint longer than 10 bytes");
    }
    return 0;
}

static int value_type(state_t *s, const uint8_t *p, const uint8_t *end, int64_t *type, int64_t *unit) {
    field_t f;
    *type = *unit = 0;
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.wire == 0 && f.number == 1)
            *type = (int64_t)f.value;
        else if (f.wire == 0 && f.number == 2)
            *unit = (int64_t)f.value;
    }
    return 0;
}

static int label(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    int64_t v[5] = {0, 0, 0, 0, 0};
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.wire == 0 && f.number >= 1 && f.number <= 4)
            v[f.number] = (int64_t)f.value;
    }
    if (s->fill) {
        Py_ssize_t i = s->i_label;
        s->l_sample[i] = s->i_sample;
        s->l_key[i] = v[1];
        s->l_str[i] = v[2];
        s->l_num[i] = v[3];
        s->l_unit[i] = v[4];
    }
    s->i_label++;
    return 0;
}

static int sample(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    Py_ssize_t n_values = 0;
    if (s->fill)
        s->stack_off[s->i_sample] = s->i_stack;
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        Py_ssize_t n;
        switch (f.number) {
        case 1:
            if (!s->fill && check_packed(s, &f) < 0)
                return -1;
            if ((n = repeated_varints(s, &f, s->stack, s->i_stack)) < 0)
                return -1;
            s->i_stack += n;
            break;
        case 2:
            if (!s->fill && check_packed(s, &f) < 0)
                return -1;
            if ((n = repeated_varints(s, &f, s->values, s->i_value)) < 0)
                return -1;
            s->i_value += n;
            n_values += n;
            break;
        case 3:
            if (f.wire == 2 && label(s, f.lo, f.hi) < 0)
                return -1;
            break;
        default:
            break;
        }
    }
    if (!s->fill) {
        if (s->i_sample == 0)
            s->c.first_values = n_values;
        else if (n_values != s->c.first_values && s->c.odd_sample < 0) {
            s->c.odd_sample = s->i_sample;
            s->c.odd_values = n_values;
        }
    }
    s->i_sample++;
    return 0;
}

static int line(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    uint64_t v[4] = {0, 0, 0, 0};
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.wire == 0 && f.number >= 1 && f.number <= 3)
            v[f.number] = f.value;
    }
    if (s->fill) {
        s->line_func[s->i_line] = v[1];
        s->line_no[s->i_line] = (int64_t)v[2];
        s->line_col[s->i_line] = (int64_t)v[3];
    }
    s->i_line++;
    return 0;
}

static int location(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    uint64_t v[6] = {0, 0, 0, 0, 0, 0};
    if (s->fill)
        s->line_off[s->i_loc] = s->i_line;
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.number == 4) {
            if (f.wire == 2 && line(s, f.lo, f.hi) < 0)
                return -1;
        } else if (f.wire == 0 && f.number <= 5) {
            v[f.number] = f.value;
        }
    }
    if (s->fill) {
        s->loc_id[s->i_loc] = v[1];
        s->loc_map[s->i_loc] = v[2];
        s->loc_addr[s->i_loc] = v[3];
        s->loc_folded[s->i_loc] = v[5] != 0;
    }
    s->i_loc++;
    return 0;
}

static int function(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    uint64_t v[6] = {0, 0, 0, 0, 0, 0};
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.wire == 0 && f.number <= 5)
            v[f.number] = f.value;
    }
    if (s->fill) {
        Py_ssize_t i = s->i_func;
        s->f_id[i] = v[1];
        s->f_name[i] = (int64_t)v[2];
        s->f_sys[i] = (int64_t)v[3];
        s->f_file[i] = (int64_t)v[4];
        s->f_start[i] = (int64_t)v[5];
    }
    s->i_func++;
    return 0;
}

static int mapping(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    uint64_t v[11] = {0};
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        if (f.wire == 0 && f.number <= 10)
            v[f.number] = f.value;
    }
    if (s->fill)
        memcpy(s->maps + 10 * s->i_map, v + 1, 10 * sizeof(uint64_t));
    s->i_map++;
    return 0;
}

static int profile(state_t *s, const uint8_t *p, const uint8_t *end) {
    field_t f;
    counts_t *c = &s->c;
    while (p < end) {
        if (next_field(s, &p, end, &f) < 0)
            return -1;
        Py_ssize_t n;
        switch (f.number) {
        case 1:
            if (f.wire == 2) {
                int64_t type, unit;
                if (value_type(s, f.lo, f.hi, &type, &unit) < 0)
                    return -1;
                if (s->fill) {
                    s->st_type[s->i_type] = type;
                    s->st_unit[s->i_type] = unit;
                }
                s->i_type++;
            }
            break;
        case 2:
            if (f.wire == 2 && sample(s, f.lo, f.hi) < 0)
                return -1;
            break;
        case 3:
            if (f.wire == 2 && mapping(s, f.lo, f.hi) < 0)
                return -1;
            break;
        case 4:
            if (f.wire == 2 && location(s, f.lo, f.hi) < 0)
                return -1;
            break;
        case 5:
            if (f.wire == 2 && function(s, f.lo, f.hi) < 0)
                return -1;
            break;
        case 6:
            if (f.wire != 2)
                break;
            if (s->fill) {
                PyObject *str = PyUnicode_DecodeUTF8((const char *)f.lo, f.hi - f.lo, "replace");
                if (str == NULL)
                    return -1;
                PyList_SET_ITEM(s->strings, s->i_string, str);
            } else {
                c->string_bytes += f.hi - f.lo;
            }
            s->i_string++;
            break;
        case 13:
            if (!s->fill && check_packed(s, &f) < 0)
                return -1;
            if ((n = repeated_varints(s, &f, s->comments, s->i_comment)) < 0)
                return -1;
            s->i_comment += n;
            break;
        case 11:
            if (f.wire == 2) {
                if (value_type(s, f.lo, f.hi, &c->period_type, &c->period_unit) < 0)
                    return -1;
                c->has_period_type = 1;
            }
            break;
        default:
            if (f.wire != 0)
                break;
            switch (f.number) {
            case 7: c->drop_frames = (int64_t)f.value; break;
            case 8: c->keep_frames = (int64_t)f.value; break;
            case 9: c->time_nanos = (int64_t)f.value; break;
            case 10: c->duration_nanos = (int64_t)f.value; break;
            case 12: c->period = (int64_t)f.value; break;
            case 14: c->default_sample_type = (int64_t)f.value; break;
            case 15: c->doc_url = (int64_t)f.value; break;
            }
        }
    }
    return 0;
}

static int get_buffer(PyObject *obj, Py_buffer *view) {
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

static PyObject *DecodeError;

static PyObject *raise_state(state_t *s) {
    if (!PyErr_Occurred())
        PyErr_SetString(DecodeError, s->err[0] ? s->err : "malformed profile.proto");
    return NULL;
}

#define SET_COUNT(d, name, value)                                      \
    do {                                                               \
        PyObject *v_ = PyLong_FromLongLong((long long)(value));         \
        if (v_ == NULL || PyDict_SetItemString(d, name, v_) < 0) {     \
            Py_XDECREF(v_);                                            \
            Py_DECREF(d);                                              \
            return NULL;                                               \
        }                                                              \
        Py_DECREF(v_);                                                 \
    } while (0)

static PyObject *scan(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (get_buffer(arg, &view) < 0)
        return NULL;
    state_t *s = PyMem_Calloc(1, sizeof(state_t));
    if (s == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    s->base = view.buf;
    s->c.odd_sample = -1;
    int rc = profile(s, view.buf, (const uint8_t *)view.buf + view.len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        PyObject *r = raise_state(s);
        PyMem_Free(s);
        return r;
    }
    counts_t *c = &s->c;
    c->n_types = s->i_type;
    c->n_samples = s->i_sample;
    c->n_stack = s->i_stack;
    c->n_values = s->i_value;
    c->n_labels = s->i_label;
    c->n_mappings = s->i_map;
    c->n_locs = s->i_loc;
    c->n_lines = s->i_line;
    c->n_funcs = s->i_func;
    c->n_strings = s->i_string;
    c->n_comments = s->i_comment;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        PyMem_Free(s);
        return NULL;
    }
#define C(name) SET_COUNT(d, #name, c->name)
    C(n_types); C(n_samples); C(n_stack); C(n_values); C(n_labels); C(n_mappings); C(n_locs);
    C(n_lines); C(n_funcs); C(n_strings); C(n_comments); C(string_bytes); C(first_values);
    C(odd_sample); C(odd_values);
#undef C
    PyMem_Free(s);
    return d;
}

/* A bytearray of n items of `size` bytes, its data pointer in *out. */
static PyObject *column(PyObject *d, const char *name, Py_ssize_t n, Py_ssize_t size, void **out) {
    PyObject *ba = PyByteArray_FromStringAndSize(NULL, n * size);
    if (ba == NULL)
        return NULL;
    if (PyDict_SetItemString(d, name, ba) < 0) {
        Py_DECREF(ba);
        return NULL;
    }
    Py_DECREF(ba); /* the dict holds it */
    /* Not zeroed: the fill pass writes every item (it checks its counts against the scan's). */
    *out = n ? PyByteArray_AS_STRING(ba) : NULL;
    return ba;
}

static PyObject *fill(PyObject *self, PyObject *args) {
    PyObject *buf_obj, *counts;
    if (!PyArg_ParseTuple(args, "OO!", &buf_obj, &PyDict_Type, &counts))
        return NULL;
    state_t *s = PyMem_Calloc(1, sizeof(state_t));
    if (s == NULL)
        return PyErr_NoMemory();
    counts_t *c = &s->c;
#define GET(name)                                                                    \
    do {                                                                             \
        PyObject *v_ = PyDict_GetItemString(counts, #name);                          \
        if (v_ == NULL || (c->name = PyLong_AsSsize_t(v_)) < 0) {                    \
            PyMem_Free(s);                                                           \
            if (!PyErr_Occurred())                                                   \
                PyErr_SetString(PyExc_ValueError, "bad counts: " #name);             \
            return NULL;                                                             \
        }                                                                            \
    } while (0)
    GET(n_types); GET(n_samples); GET(n_stack); GET(n_values); GET(n_labels); GET(n_mappings);
    GET(n_locs); GET(n_lines); GET(n_funcs); GET(n_strings); GET(n_comments);
#undef GET
    PyObject *d = PyDict_New();
    if (d == NULL) {
        PyMem_Free(s);
        return NULL;
    }
    s->fill = 1;
#define COL(name, field, n, size)                                          \
    if (column(d, name, (n), (size), (void **)&s->field) == NULL)          \
        goto error;
    COL("st_type", st_type, c->n_types, 8);
    COL("st_unit", st_unit, c->n_types, 8);
    COL("stack", stack, c->n_stack, 8);
    COL("stack_off", stack_off, c->n_samples + 1, 8);
    COL("values", values, c->n_values, 8);
    COL("l_sample", l_sample, c->n_labels, 8);
    COL("l_key", l_key, c->n_labels, 8);
    COL("l_str", l_str, c->n_labels, 8);
    COL("l_num", l_num, c->n_labels, 8);
    COL("l_unit", l_unit, c->n_labels, 8);
    COL("maps", maps, c->n_mappings * 10, 8);
    COL("loc_id", loc_id, c->n_locs, 8);
    COL("loc_map", loc_map, c->n_locs, 8);
    COL("loc_addr", loc_addr, c->n_locs, 8);
    COL("loc_folded", loc_folded, c->n_locs, 1);
    COL("line_off", line_off, c->n_locs + 1, 8);
    COL("line_func", line_func, c->n_lines, 8);
    COL("line_no", line_no, c->n_lines, 8);
    COL("line_col", line_col, c->n_lines, 8);
    COL("f_id", f_id, c->n_funcs, 8);
    COL("f_name", f_name, c->n_funcs, 8);
    COL("f_sys", f_sys, c->n_funcs, 8);
    COL("f_file", f_file, c->n_funcs, 8);
    COL("f_start", f_start, c->n_funcs, 8);
    COL("comments", comments, c->n_comments, 8);
#undef COL
    s->strings = PyList_New(c->n_strings);
    if (s->strings == NULL || PyDict_SetItemString(d, "strings", s->strings) < 0)
        goto error;
    Py_DECREF(s->strings); /* the dict holds it */
    {
        Py_buffer view;
        if (get_buffer(buf_obj, &view) < 0)
            goto error;
        s->base = view.buf;
        int rc = profile(s, view.buf, (const uint8_t *)view.buf + view.len);
        PyBuffer_Release(&view);
        if (rc < 0) {
            raise_state(s);
            goto error;
        }
    }
    /* The bytes may have changed between the two passes only if someone mutated them. */
    if (s->i_sample != c->n_samples || s->i_stack != c->n_stack || s->i_value != c->n_values ||
        s->i_label != c->n_labels || s->i_loc != c->n_locs || s->i_line != c->n_lines ||
        s->i_func != c->n_funcs || s->i_map != c->n_mappings || s->i_string != c->n_strings ||
        s->i_type != c->n_types || s->i_comment != c->n_comments) {
        PyErr_SetString(DecodeError, "profile bytes changed while being decoded");
        goto error;
    }
    s->stack_off[c->n_samples] = c->n_stack;
    s->line_off[c->n_locs] = c->n_lines;
#define SC(name) SET_COUNT(d, #name, c->name)
    SC(drop_frames); SC(keep_frames); SC(time_nanos); SC(duration_nanos); SC(period);
    SC(default_sample_type); SC(doc_url); SC(period_type); SC(period_unit); SC(has_period_type);
#undef SC
    PyMem_Free(s);
    return d;
error:
    Py_DECREF(d);
    PyMem_Free(s);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O, "scan(buffer) -> dict of counts; checks the wire structure, allocates nothing."},
    {"fill", fill, METH_VARARGS, "fill(buffer, counts) -> dict of bytearray columns, strings and scalars."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_decode", "profile.proto straight into columns (see codec/proto.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__decode(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    DecodeError = PyErr_NewException("pyprofnb.codec._decode.DecodeError", PyExc_ValueError, NULL);
    if (DecodeError == NULL || PyModule_AddObject(m, "DecodeError", DecodeError) < 0) {
        Py_XDECREF(DecodeError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(DecodeError);
    return m;
}
