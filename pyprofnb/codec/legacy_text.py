"""Go's legacy text profiles (``debug=1``), written and read in one place.

- `format_heap_text` / `parse_heap_text`: ``heap?debug=1`` (and ``allocs?debug=1``)::

      heap profile: IO: IB [AO: AB] @ heap/2*RATE
      io: ib [ao: ab] @ 0xPC 0xPC ...
      #	0xPC	function+0xOFF	file:line
      ...
      # runtime.MemStats
      # Name = value

- `format_count_text` / `parse_count_text`: goroutine/threadcreate ``debug=1``::

      goroutine profile: total N
      COUNT @ 0xPC 0xPC ...
      # labels: {"k":"v"}
      #	0xPC	function+0xOFF	file:line

`parse` tells them apart; `pyprofnb.codec.proto.decode` calls it for non-proto input.

Python has no program counters, so the writers give every (function, line) a stable
synthetic address from `ADDRESSES`: each function gets a 1 MiB block starting at 0x400000
and each line a 16-byte step from the function's first line, so ``+0xOFF`` grows with the
line number. The same table answers the ``/debug/pprof/symbol`` endpoint, which is how
``go tool pprof URL?debug=1`` names the addresses of a text profile (remote symbolization).

The readers accept what pprof's legacy parser accepts (Go's own output included): the
header variants ``heap``/``heap_v2``/``heapz_v2``/``heapprofile`` with optional spaces, two
or four columns, negative in-use values, addresses decremented by one except the leaf (as
current pprof does; the pprof of Go 1.19 moves the leaf of heap records back too). Heap
values are un-sampled by 1/(1-e^(-avg/rate)) like pprof, each sample gets the numeric label
``bytes`` (average block size) and the profile has period_type ``space/bytes``. pprof itself
ignores the ``#`` frame lines; with ``symbolize=True`` (the default) these readers use them
to give locations function names, files and lines, so ``-top`` shows names instead of hex.
"""
from __future__ import annotations

import json
import math
import threading
from typing import Iterable, Mapping as TypingMapping, Sequence

import numpy as np

from ..errors import ProfileFormatError
from ..model.profile import HEAP_SAMPLE_TYPES, Profile, ValueType, _objects, heap_unsample_weight
from ..model.regexp import compile_pattern

# ------------------------------------------------------------------ addresses


class AddressTable:
    """Stable synthetic program counters for Python (function, line) pairs."""

    BASE = 0x400000
    FUNC_SPAN = 1 << 20
    LINE_STEP = 0x10

    def __init__(self):
        self._index: dict[tuple, int] = {}
        self._funcs: list[tuple] = []
        self._lock = threading.Lock()

    def function_entry(self, name: str, filename: str, start_line: int) -> int:
        key = (name, filename, start_line)
        k = self._index.get(key)
        if k is None:
            with self._lock:
                k = self._index.setdefault(key, len(self._funcs))
                if k == len(self._funcs):
                    self._funcs.append(key)
        return self.BASE + k * self.FUNC_SPAN

    def address(self, name: str, filename: str, start_line: int, line: int) -> tuple[int, int]:
        """(call pc, offset from the function's entry) of ``line`` in that function."""
        offset = min(max(0, line - start_line) * self.LINE_STEP, self.FUNC_SPAN - self.LINE_STEP)
        return self.function_entry(name, filename, start_line) + offset, offset

    def lookup(self, pc: int) -> tuple | None:
        """(name, filename, start_line) of the function whose block holds ``pc``."""
        k = (pc - self.BASE) // self.FUNC_SPAN
        if pc < self.BASE or k >= len(self._funcs):
            return None
        return self._funcs[k]


ADDRESSES = AddressTable()


# ------------------------------------------------------------------ tabwriter

def tabwrite(lines: Sequence[str], tabwidth: int = 8, padding: int = 1) -> list[str]:
    """Align tab-separated cells like Go's ``tabwriter.NewWriter(w, 1, 8, 1, '\\t', 0)``:
    a column block is a run of consecutive lines that have that tab-terminated cell; cells
    are padded with tabs to the block's widest cell plus one, rounded up to a tab stop."""
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        if "\t" not in lines[i]:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < n and "\t" in lines[j]:
            j += 1
        out.extend(_align([line.split("\t") for line in lines[i:j]], tabwidth, padding))
        i = j
    return out


def _align(rows: list[list[str]], tabwidth: int, padding: int) -> list[str]:
    """Align a run of lines that all contain tabs (see `tabwrite`)."""
    def stop(width: int) -> int:
        return -(-(width + padding) // tabwidth) * tabwidth

    def pad(cell: str, width: int) -> str:
        return cell + "\t" * -(-(width - len(cell)) // tabwidth)

    if len({len(r) for r in rows}) == 1:  # the usual case: every line has the same cells
        widths = [stop(max(map(len, column))) for column in list(zip(*rows))[:-1]]
        return ["".join(pad(c, w) for c, w in zip(r, widths)) + r[-1] for r in rows]
    widths = [[0] * (len(r) - 1) for r in rows]
    for col in range(max(len(r) for r in rows) - 1):
        k = 0
        while k < len(rows):
            if len(rows[k]) - 1 <= col:
                k += 1
                continue
            m = k
            while m < len(rows) and len(rows[m]) - 1 > col:
                m += 1
            width = stop(max(len(rows[r][col]) for r in range(k, m)))
            for r in range(k, m):
                widths[r][col] = width
            k = m
    return ["".join(pad(c, w) for c, w in zip(r, ws)) + r[-1] for r, ws in zip(rows, widths)]


# ------------------------------------------------------------------ writing

def _stack_records(prof: Profile, addresses: AddressTable):
    """Per sample: (the ``@`` list text of return pcs, the ``#`` frame lines, aligned)."""
    funcs = list(zip(prof.func_name, prof.func_filename, prof.func_start_line.tolist()))
    loc_at: list[str] = []
    loc_cells: list[list[tuple[str, str, str]]] = []
    offsets = prof.line_offsets.tolist()
    line_func = prof.line_func.tolist()
    line_no = prof.line_no.tolist()
    for i in range(len(prof.loc_id)):
        cells = []
        pc = 0
        for j in range(offsets[i], offsets[i + 1]):
            name, filename, start = funcs[line_func[j]]
            call_pc, off = addresses.address(name, filename, start, line_no[j])
            pc = pc or call_pc
            cells.append((f"{call_pc:#x}", f"{name}+{off:#x}", f"{filename}:{line_no[j]}"))
        if not cells:  # a location without lines (e.g. read from a Go text profile)
            pc = max(int(prof.loc_address[i]), 1)
        loc_at.append(f" {pc + 1:#x}")
        loc_cells.append(cells)
    stacks = prof.stack_locs.tolist()
    so = prof.stack_offsets.tolist()
    # A record's frame lines depend on its locations and its two column widths; deep stacks
    # repeat the same locations, so each (location, widths) is formatted once.
    pc_len = [max((len(c[0]) for c in cells), default=0) for cells in loc_cells]
    fn_len = [max((len(c[1]) for c in cells), default=0) for cells in loc_cells]
    cache: dict = {}
    for s in range(prof.n_samples):
        locs = stacks[so[s]: so[s + 1]]
        widths = (max([pc_len[i] for i in locs], default=0), max([fn_len[i] for i in locs], default=0))
        lines = []
        for i in locs:
            block = cache.get((i, widths))
            if block is None:
                block = cache[(i, widths)] = _format_frames(loc_cells[i], widths)
            lines += block
        yield "@" + "".join([loc_at[i] for i in locs]), lines


def _format_frames(cells: list[tuple[str, str, str]], widths: tuple[int, int], tabwidth: int = 8) -> list[str]:
    """``#\tPC\tFUNC+OFF\tFILE:LINE`` lines aligned as Go's tabwriter does (`tabwrite`)
    in a record whose widest pc and function cells have ``widths``: each column is padded
    with tabs to the tab stop past its widest cell (a cell of length L in a column of
    width W takes W//8 - L//8 tabs)."""
    w_pc = (widths[0] + tabwidth) // tabwidth
    w_fn = (widths[1] + tabwidth) // tabwidth
    return [
        "#\t" + pc + "\t" * (w_pc - len(pc) // tabwidth) + fn + "\t" * (w_fn - len(fn) // tabwidth) + where
        for pc, fn, where in cells
    ]


def _raw(count: int, size: int, rate: int) -> tuple[int, int]:
    """Undo pprof's un-sampling: the sampled (count, bytes) that ``scaleHeapSample`` turns
    back into about (count, size)."""
    if count <= 0 or size <= 0 or rate <= 1:
        return max(count, 0), max(size, 0)
    avg = size / count
    raw_count = max(1, round(count / heap_unsample_weight(avg, rate)))
    return raw_count, raw_count * round(avg)  # whole-byte blocks, as allocations are


def format_heap_text(
    profile: Profile,
    memstats: Iterable[tuple[str, object]] | TypingMapping[str, object] | None = None,
    *,
    addresses: AddressTable = ADDRESSES,
) -> str:
    """``heap?debug=1`` text of a heap profile (values un-sampled, as the engine makes them).

    Like Go: record values are the raw sampled counts (un-sampling undone with each record's
    average size), records are sorted by in-use bytes (largest first), the header rate is
    2 x the sampling rate, and the header's alloc bytes get +1 when they would equal the
    in-use bytes (pprof would otherwise read the profile as 2-column). ``memstats`` (pairs
    or a mapping) becomes the ``# runtime.MemStats`` trailer, ``MaxRSS`` last.
    """
    types = [t.type for t in profile.sample_types]
    rate = int(profile.period)

    def col(*names):
        for name in names:
            if name in types:
                return profile.values[:, types.index(name)]
        return None

    io_, ib = col("inuse_objects", "objects"), col("inuse_space", "space")
    ao, ab = col("alloc_objects"), col("alloc_space")
    if io_ is None or ib is None:
        raise ProfileFormatError(
            f"a heap text profile needs inuse_objects and inuse_space values, got [{', '.join(types)}]"
        )
    if ao is None:
        ao, ab = io_, ib
    records = []
    io_, ib, ao, ab = (np.asarray(c).tolist() for c in (io_, ib, ao, ab))
    for s, (at, frame_lines) in enumerate(_stack_records(profile, addresses)):
        in_obj, in_bytes = _raw(io_[s], ib[s], rate)
        al_obj, al_bytes = _raw(ao[s], ab[s], rate)
        records.append((in_bytes, in_obj, al_obj, al_bytes, at, frame_lines))
    records.sort(key=lambda r: -r[0])
    t_io = sum(r[1] for r in records)
    t_ib = sum(r[0] for r in records)
    t_ao = sum(r[2] for r in records)
    t_ab = sum(r[3] for r in records)
    if t_ab == t_ib:
        t_ab += 1
    lines = [f"heap profile: {t_io}: {t_ib} [{t_ao}: {t_ab}] @ heap/{2 * rate}"]
    for in_bytes, in_obj, al_obj, al_bytes, at, frame_lines in records:
        lines.append(f"{in_obj}: {in_bytes} [{al_obj}: {al_bytes}] {at}")
        lines.extend(frame_lines)
        lines.append("")
    if memstats is not None:
        items = list(memstats.items()) if isinstance(memstats, TypingMapping) else list(memstats)
        items.sort(key=lambda kv: kv[0] == "MaxRSS")  # stable: only moves MaxRSS last
        lines.append("")
        lines.append("# runtime.MemStats")
        lines.extend(f"# {name} = {value}" for name, value in items)
    return "\n".join(lines) + "\n"


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def format_count_text(profile: Profile, name: str | None = None, *, addresses: AddressTable = ADDRESSES) -> str:
    """Go's count-profile text (goroutine/threadcreate ``debug=1``): identical stacks with
    identical string labels are merged, sorted by count (largest first), then by key."""
    name = name or profile.sample_types[0].type
    labels: dict[int, dict[str, str]] = {}
    for s, key, value in zip(profile.label_sample.tolist(), profile.label_key, profile.label_str):
        if value is not None:
            labels.setdefault(s, {})[key] = value
    groups: dict[str, list] = {}
    total = 0
    for s, (head, frame_lines) in enumerate(_stack_records(profile, addresses)):
        count = int(profile.values[s, 0])
        total += count
        label_line = ""
        if labels.get(s):
            pairs = sorted(labels[s].items())
            label_line = "# labels: {" + ", ".join(f"{_go_quote(k)}:{_go_quote(v)}" for k, v in pairs) + "}"
        key = head + "\n" + label_line
        group = groups.setdefault(key, [0, head, label_line, frame_lines])
        group[0] += count
    lines = [f"{name} profile: total {total}"]
    for key, (count, head, label_line, frame_lines) in sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0])):
        lines.append(f"{count} {head}")
        if label_line:
            lines.append(label_line)
        lines.extend(frame_lines)
        lines.append("")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ reading

# RE2, as pprof's parser (Python's re backtracks: a long line of digits would take
# quadratic time in an unanchored search); \d is ASCII-only there, as in Go.
_HEAP_HEADER = compile_pattern("heap header", r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)")
_HEAP_SAMPLE = compile_pattern("heap record", r"(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *] @([ x0-9a-f]*)")
_COUNT_HEADER = compile_pattern("count header", r"^(\w+) profile: total \d+$")
# pprof requires at least one address; Go writes "1 @" for threads with no stack (its own
# threadcreate?debug=1 has one), so this reader also takes an empty list.
_COUNT_SAMPLE = compile_pattern("count record", r"^(\d+) @((?: 0x[0-9a-f]+)*)$")
_HEX = compile_pattern("address", r"0x[0-9a-f]+")
_MEMORY_MAP = ("--- Memory map: ---", "MAPPED_LIBRARIES:")
_U64 = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1


def _int64(text: str, what: str, where: str) -> int:
    """A decimal field that must fit pprof's int64 (checked before Python builds a huge int)."""
    digits = text.lstrip("+-")
    if len(digits) > 19 or not digits.isascii() or not digits.isdigit():
        raise ProfileFormatError(f"{where}: {what} {text[:30]!r} is not a 64-bit integer")
    value = int(text)
    if not -_I64_MAX - 1 <= value <= _I64_MAX:
        raise ProfileFormatError(f"{where}: {what} {text!r} is out of the 64-bit range")
    return value


def _addresses(words: Iterable[str], where: str) -> list[int]:
    """Hex addresses (``0x...``), each at most 64 bits as pprof's ParseUint requires."""
    out = []
    for word in words:
        if len(word) > 2 + 16 and word[2:].lstrip("0")[16:]:
            raise ProfileFormatError(f"{where}: address {word[:30]!r} is wider than 64 bits")
        out.append(int(word, 16))
    return out


class _Builder:
    """Address-keyed locations, optionally named from ``#`` frame lines."""

    def __init__(self, frames: dict[int, list[tuple[str, str, int]]] | None):
        self.frames = frames or {}
        self.locs: dict[int, int] = {}
        self.loc_address: list[int] = []
        self.loc_lines: list[list[tuple[int, int]]] = []
        self.funcs: dict[tuple, int] = {}
        self.stacks: list[int] = []
        self.offsets = [0]
        self.values: list[list[int]] = []
        self.blocksizes: list[int] = []

    def location(self, addr: int, frame_pc: int) -> int:
        index = self.locs.get(addr)
        if index is None:
            index = self.locs[addr] = len(self.loc_address)
            self.loc_address.append(addr)
            lines = []
            for name, filename, line in self.frames.get(frame_pc, ()):
                f = self.funcs.setdefault((name, filename), len(self.funcs))
                lines.append((f, line))
            self.loc_lines.append(lines)
        return index

    def add(self, addrs: list[int], values: list[int]) -> None:
        for i, a in enumerate(addrs):
            # Return addresses point after the call; pprof moves all but the leaf back by 1,
            # in uint64 arithmetic (an address 0, as Go prints for threads without a stack,
            # becomes 0xffffffffffffffff).
            self.stacks.append(self.location((a - 1) & _U64 if i else a, (a - 1) & _U64))
        self.offsets.append(len(self.stacks))
        self.values.append(values)

    def build(self, sample_types, period_type, period, labels=None) -> Profile:
        n_locs = len(self.loc_address)
        line_counts = [len(l) for l in self.loc_lines]
        flat = [x for lines in self.loc_lines for x in lines]
        funcs = list(self.funcs)
        n = len(self.values)
        label_kw = {}
        if labels is not None:
            label_kw = dict(
                label_sample=np.arange(n, dtype=np.int64), label_key=_objects(["bytes"] * n),
                label_str=_objects([None] * n), label_num=np.array(labels, dtype=np.int64),
                label_unit=_objects(["bytes"] * n),
            )
        return Profile(
            sample_types=sample_types,
            values=np.array(self.values, dtype=np.int64).reshape(n, len(sample_types)),
            stack_offsets=np.array(self.offsets, dtype=np.int64),
            stack_locs=np.array(self.stacks, dtype=np.int64),
            loc_id=np.arange(1, n_locs + 1, dtype=np.uint64),
            loc_mapping=np.full(n_locs, -1, dtype=np.int64),
            loc_address=np.array(self.loc_address, dtype=np.uint64),
            loc_folded=np.zeros(n_locs, dtype=bool),
            line_offsets=np.concatenate([[0], np.cumsum(line_counts, dtype=np.int64)]).astype(np.int64),
            line_func=np.array([f for f, _ in flat], dtype=np.int64),
            line_no=np.array([ln for _, ln in flat], dtype=np.int64),
            line_col=np.zeros(len(flat), dtype=np.int64),
            func_id=np.arange(1, len(funcs) + 1, dtype=np.uint64),
            func_name=[f[0] for f in funcs],
            func_system_name=[f[0] for f in funcs],
            func_filename=[f[1] for f in funcs],
            func_start_line=np.zeros(len(funcs), dtype=np.int64),
            period_type=period_type,
            period=period,
            **label_kw,
        )


def _text(data: bytes | str) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data).decode("utf-8", errors="replace")
    return data


def _frame_lines(lines: Iterable[str]) -> dict[int, list[tuple[str, str, int]]]:
    """``#\\t0xPC\\tname+0xOFF\\tfile:line`` lines grouped by pc (inlined callee first)."""
    frames: dict[int, list] = {}
    for line in lines:
        if not line.startswith("#\t"):
            continue
        cells = [c for c in line[2:].split("\t") if c]
        if len(cells) < 3 or not cells[0].startswith("0x"):
            continue
        if len(cells[0]) > 18:
            continue  # wider than 64 bits: no record can refer to it
        try:
            pc = int(cells[0], 16)
        except ValueError:
            continue
        name = cells[1].rsplit("+0x", 1)[0]
        filename, _, lineno = cells[2].rpartition(":")
        ok = lineno.isascii() and lineno.isdigit() and len(lineno) <= 18
        frames.setdefault(pc, []).append((name, filename, int(lineno) if ok else 0))
    return frames


def _scale_heap(count: int, size: int, rate: int) -> tuple[int, int]:
    """pprof's scaleHeapSample: divide by the chance 1-e^(-avg/rate) of being sampled."""
    if count == 0 or size == 0:
        return 0, 0
    if rate <= 1:
        return count, size
    # pprof's own arithmetic (1 - exp, not -expm1), so values agree to the byte.
    chance = 1 - math.exp(-(size / count) / rate)
    if chance == 0:
        raise ValueError(f"sampling rate {rate} is too large for blocks of {size // count} bytes")
    scale = 1 / chance
    scaled_count, scaled_size = count * scale, size * scale
    if not (abs(scaled_count) <= _I64_MAX and abs(scaled_size) <= _I64_MAX):
        raise ValueError(f"un-sampled values {scaled_count:.3g}, {scaled_size:.3g} exceed 64 bits")
    return int(scaled_count), int(scaled_size)


def parse_heap_text(data: bytes | str, *, symbolize: bool = True, source: str = "heap profile") -> Profile:
    """Read ``heap?debug=1`` text (Go's or ours) as pprof's legacy heap parser does."""
    text = _text(data)
    lines = text.splitlines()
    if not lines:
        raise ProfileFormatError(f"{source} is empty")
    header = _HEAP_HEADER.search(lines[0])
    if header is None:
        raise ProfileFormatError(f"{source}: first line {lines[0][:80]!r} is not a 'heap profile: ...' header")
    io_, ib, ao, ab, kind, period_text = header.groups()
    period = _int64(period_text, "sampling period", f"{source}, line 1") if period_text else 0
    has_alloc = (ao != io_ and ao != "0") or (ab != ib and ab != "0")
    if kind in ("heapz_v2", "heap_v2"):
        sampled = True
    elif kind == "heap":
        sampled, period = True, period // 2
    elif kind == "heapprofile":
        sampled, period = False, 1
    else:
        raise ProfileFormatError(f"{source}: unknown heap profile kind {kind!r}")
    if has_alloc:
        types = [ValueType(t, "count" if t.endswith("objects") else "bytes") for t in HEAP_SAMPLE_TYPES]
    else:
        types = [ValueType("objects", "count"), ValueType("space", "bytes")]
    b = _Builder(_frame_lines(lines) if symbolize else None)
    blocksizes = []
    for lineno, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if any(t in stripped for t in _MEMORY_MAP):
            break
        m = _HEAP_SAMPLE.search(stripped)
        if m is None:
            raise ProfileFormatError(f"{source}, line {lineno}: not a heap record: {stripped[:80]!r}")
        values: list[int] = []
        blocksize = 0
        pairs = ([(m.group(3), m.group(4), "allocation")] if has_alloc else []) + [(m.group(1), m.group(2), "inuse")]
        where = f"{source}, line {lineno}"
        for count_text, size_text, what in pairs:
            count, size = _int64(count_text, f"{what} count", where), _int64(size_text, f"{what} bytes", where)
            if count == 0 and size != 0:
                raise ProfileFormatError(f"{source}, line {lineno}: {what} count was 0 but {what} bytes was {size}")
            if count != 0:
                blocksize = int(size / count)
                if sampled:
                    try:
                        count, size = _scale_heap(count, size, period)
                    except ValueError as exc:
                        raise ProfileFormatError(f"{where}: {exc}") from None
            values += [count, size]
        b.add(_addresses(_HEX.findall(m.group(5)), where), values)
        blocksizes.append(blocksize)
    prof = b.build(types, ValueType("space", "bytes"), period, labels=blocksizes)
    return prof


def parse_count_text(data: bytes | str, *, symbolize: bool = True, source: str = "count profile") -> Profile:
    """Read a Go count profile (goroutine/threadcreate ``debug=1``) as pprof does:
    ``<name>/count`` samples, period 1; ``#`` lines (labels included) are comments."""
    lines = _text(data).splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
        i += 1
    m = _COUNT_HEADER.match(lines[i]) if i < len(lines) else None
    if m is None:
        raise ProfileFormatError(f"{source}: expected a '<name> profile: total N' header")
    name = m.group(1)
    b = _Builder(_frame_lines(lines) if symbolize else None)
    for lineno, line in enumerate(lines[i + 1:], start=i + 2):
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line.startswith("---"):
            break
        s = _COUNT_SAMPLE.match(line)
        if s is None:
            raise ProfileFormatError(f"{source}, line {lineno}: not a '<count> @ 0x...' record: {line[:80]!r}")
        where = f"{source}, line {lineno}"
        b.add(_addresses(s.group(2).split(), where), [_int64(s.group(1), "count", where)])
    vt = ValueType(name, "count")
    return b.build([vt], vt, 1)


def parse(data: bytes | str, *, source: str = "profile", symbolize: bool = True) -> Profile:
    """Read any legacy text profile this module knows (heap or count)."""
    text = _text(data)
    first = next((l for l in text.splitlines() if l.strip() and not l.strip().startswith("#")), "")
    if first.startswith("heap profile:") or _HEAP_HEADER.search(first):
        return parse_heap_text(text, symbolize=symbolize, source=source)
    if _COUNT_HEADER.match(first):
        return parse_count_text(text, symbolize=symbolize, source=source)
    raise ProfileFormatError(
        f"{source}: not a profile.proto and not a legacy text profile (first line {first[:60]!r})"
    )


__all__ = [
    "ADDRESSES", "AddressTable", "format_count_text", "format_heap_text", "parse", "parse_count_text",
    "parse_heap_text", "tabwrite",
]
