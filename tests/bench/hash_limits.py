#!/usr/bin/env python3
# ruff: noqa: UP031, E501, E741  (a verbatim copy of ../shared/bench/hash_limits.py; keep it in step with the harness)
"""Raw throughput limits on one big file, warm page cache, single core.

    /tmp/bench/hash-venv/bin/python hash_limits.py FILE [--reps 3] [--out results-limits.csv]

Passes (median of --reps, after one untimed warm-up read so the file sits in page cache):
  cat        `cat FILE > /dev/null`            (kernel read path, no hashing)
  read       Python readinto() of 4 MiB blocks (Python I/O, no hashing)
  md5        hashlib.md5 over the file          (DVC 3's object hash)
  sha256     hashlib.sha256 over the file
  xxh3_64    xxhash.xxh3_64                     (needs `pip install xxhash`)
  xxh3_128   xxhash.xxh3_128
  blake3     blake3.blake3 (only if the blake3 package is installed)
GB/s = 1e9 bytes per second.  Appends/creates CSV rows: pass,bytes,median_s,gb_per_s,runs_s
"""
import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time

BLOCK = 4 << 20


def hash_pass(path, factory):
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    h = factory() if factory else None
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            if h is not None:
                h.update(mv[:n])
    return h.hexdigest() if h is not None else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-limits.csv"))
    a = ap.parse_args()
    size = os.path.getsize(a.file)

    passes = [("cat", None), ("read", None), ("md5", hashlib.md5), ("sha256", hashlib.sha256)]
    try:
        import xxhash
        passes += [("xxh3_64", xxhash.xxh3_64), ("xxh3_128", xxhash.xxh3_128)]
    except ImportError:
        print("xxhash not installed: skipping xxh3 passes", file=sys.stderr)
    try:
        import blake3
        passes.append(("blake3", blake3.blake3))
    except ImportError:
        pass

    hash_pass(a.file, None)  # warm the page cache
    rows = []
    for name, factory in passes:
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            if name == "cat":
                with open(os.devnull, "wb") as dn:
                    subprocess.run(["cat", a.file], stdout=dn, check=True)
            else:
                hash_pass(a.file, factory)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        rows.append((name, size, med, size / med / 1e9, times))
        print("%-9s %7.3f s  %6.2f GB/s   (runs: %s)" % (name, med, size / med / 1e9,
                                                        " ".join("%.3f" % x for x in times)), flush=True)
    new = not os.path.exists(a.out)
    with open(a.out, "a") as f:
        if new:
            f.write("pass,bytes,median_s,gb_per_s,runs_s,python,cpu\n")
        cpu = ""
        try:
            cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
        except Exception:
            pass
        for name, sz, med, gbs, times in rows:
            f.write("%s,%d,%.4f,%.3f,%s,%s,%s\n" % (name, sz, med, gbs, " ".join("%.4f" % x for x in times),
                                                    platform.python_version(), cpu.replace(",", " ")))


if __name__ == "__main__":
    main()
