#!/usr/bin/env python3
"""One bare xxh3-128 pass over FILE, as hash_limits.py does it (4 MiB readinto blocks, warm cache).

    python tests/bench/bench_hashpass.py FILE      -> prints "SECONDS GB/s" of the pass itself

run_data_bench.sh runs it beside each `mlvc add` of the 2 GiB file, under the same machine load,
and also times the whole process (interpreter start + import xxhash + pass) from outside: the
fair counterpart of a whole `mlvc add` command.
"""

from __future__ import annotations

import sys
import time

import xxhash

BLOCK = 4 << 20


def main() -> int:
    path = sys.argv[1]
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    t = time.perf_counter()
    h = xxhash.xxh3_128()
    size = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    h.hexdigest()
    s = time.perf_counter() - t
    print(f"{s:.4f} {size / s / 1e9:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
