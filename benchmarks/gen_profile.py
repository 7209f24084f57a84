"""Make large synthetic heap profiles (Go's four sample types, ~20 frames per sample, a
`bytes` label) for the load benchmark: ``python benchmarks/gen_profile.py 1000000 out.pb.gz``.

Stacks are random walks down a fixed call tree of functions, so they share prefixes like
real programs do, and nearly every sample's stack is distinct, like Go's merged heap records.
"""
from __future__ import annotations

import sys

import numpy as np

from pyprofnb.model.profile import Mapping, Profile, ValueType


def make_profile(n_samples: int, depth: int = 20, n_functions: int = 3000, seed: int = 1) -> Profile:
    rng = np.random.default_rng(seed)
    n_locs = n_functions * 3  # three call sites per function
    loc_func = np.arange(n_locs) // 3
    lengths = rng.integers(depth - 5, depth + 6, size=n_samples)
    total = int(lengths.sum())
    # Frame k of a sample calls into a location chosen from a band of the tree at depth k.
    band = n_locs // (depth + 6)
    pos = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    depth_from_root = np.repeat(lengths, lengths) - 1 - pos
    stack_locs = depth_from_root * band + rng.integers(0, band, size=total)
    sizes = rng.choice([16, 32, 64, 128, 512, 4096, 65536], size=n_samples)
    counts = rng.integers(1, 50, size=n_samples)
    inuse = rng.integers(0, 2, size=n_samples) * counts // 2
    values = np.stack([counts, counts * sizes, inuse, inuse * sizes], axis=1).astype(np.int64)
    names = [f"example.com/app/pkg{i % 40}.Func{i}" for i in range(n_functions)]
    files = [f"/src/app/pkg{i % 40}/file{i % 7}.go" for i in range(n_functions)]
    return Profile(
        sample_types=[ValueType("alloc_objects", "count"), ValueType("alloc_space", "bytes"),
                      ValueType("inuse_objects", "count"), ValueType("inuse_space", "bytes")],
        values=values,
        stack_offsets=np.concatenate([[0], np.cumsum(lengths)]),
        stack_locs=stack_locs,
        loc_id=np.arange(1, n_locs + 1, dtype=np.uint64),
        loc_mapping=np.zeros(n_locs, dtype=np.int64),
        loc_address=(0x400000 + np.arange(n_locs) * 16).astype(np.uint64),
        loc_folded=np.zeros(n_locs, dtype=bool),
        line_offsets=np.arange(n_locs + 1),
        line_func=loc_func,
        line_no=10 + np.arange(n_locs) % 3,
        line_col=np.zeros(n_locs, dtype=np.int64),
        func_id=np.arange(1, n_functions + 1, dtype=np.uint64),
        func_name=names, func_system_name=names, func_filename=files,
        func_start_line=np.full(n_functions, 5),
        mappings=[Mapping(id=1, memory_start=0x400000, memory_limit=0x400000 + n_locs * 16, filename="/bin/app",
                          has_functions=True, has_filenames=True, has_line_numbers=True)],
        label_sample=np.arange(n_samples), label_key=np.full(n_samples, "bytes", dtype=object),
        label_str=np.full(n_samples, None, dtype=object), label_num=sizes, label_unit=np.full(n_samples, "bytes", dtype=object),
        period_type=ValueType("space", "bytes"), period=524288, time_nanos=1_700_000_000_000_000_000,
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = sys.argv[2] if len(sys.argv) > 2 else f"heap-{n}.pb.gz"
    make_profile(n).save(out)
    print(out)
