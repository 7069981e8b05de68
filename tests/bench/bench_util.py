#!/usr/bin/env python3
# ruff: noqa: UP031, E501, E741  (a verbatim copy of ../shared/bench/bench_util.py; keep it in step with the harness)
"""Untimed helpers for run_bench.sh (stdlib only).

  bench_util.py touch   PATH PCT          bump mtime of PCT% of the files under PATH
  bench_util.py modify  PATH PCT SEED     rewrite PCT% of the files under PATH (new content, same size)
  bench_util.py verify  SRC DST           exit 1 unless DST has exactly SRC's files with identical bytes
  bench_util.py summarize CSV [CSV...]    markdown tables (median wall s, max RSS MiB) from results CSVs;
                                         with several tools, a TOOL/FIRST ratio column per later tool

The files picked are every k-th of the sorted file list (k = 100/PCT), at least one:
the same set for every tool.  Modified files are written to a temp file and renamed over
the original (new inode), so a tool that hard-links or reflinks workspace files to its
cache can never have its cache corrupted by the benchmark.  Files over 4 MiB get one
1 MiB block in the middle changed; smaller files are rewritten whole.
"""
import filecmp
import os
import random
import statistics
import sys
import time


def files_under(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            out.append(os.path.join(root, f))
    return out


def pick(path, pct):
    fs = files_under(path)
    k = max(1, int(round(100.0 / float(pct))))
    sel = fs[::k]
    return sel or fs[:1]


def cmd_touch(path, pct):
    sel = pick(path, pct)
    now = time.time_ns()
    for i, f in enumerate(sel):
        os.utime(f, ns=(now + i, now + i))
    print("touched %d files" % len(sel))


def cmd_modify(path, pct, seed):
    sel = pick(path, pct)
    r = random.Random("modify-%s" % seed)
    for f in sel:
        size = os.path.getsize(f)
        tmp = f + ".bench-tmp"
        if size > (4 << 20):
            mid = (size // 2) & ~4095
            with open(f, "rb") as src, open(tmp, "wb") as dst:
                left = mid
                while left:
                    b = src.read(min(left, 16 << 20))
                    dst.write(b)
                    left -= len(b)
                dst.write(r.getrandbits(8 << 20).to_bytes(1 << 20, "little"))
                src.seek(mid + (1 << 20))
                while True:
                    b = src.read(16 << 20)
                    if not b:
                        break
                    dst.write(b)
        else:
            with open(tmp, "wb") as dst:
                dst.write(r.getrandbits(8 * size).to_bytes(size, "little") if size else b"")
        os.replace(tmp, f)
    print("modified %d files" % len(sel))


def cmd_verify(src, dst):
    a = [os.path.relpath(f, src) for f in files_under(src)]
    b = [os.path.relpath(f, dst) for f in files_under(dst)]
    if os.path.isfile(src):
        a, b = [""], [""] if os.path.isfile(dst) else []
    if sorted(a) != sorted(b):
        missing = sorted(set(a) - set(b))[:5]
        extra = sorted(set(b) - set(a))[:5]
        print("FILE SET DIFFERS: %d vs %d files; missing %s extra %s" % (len(a), len(b), missing, extra))
        return 1
    bad = 0
    for rel in a:
        fa = os.path.join(src, rel) if rel else src
        fb = os.path.join(dst, rel) if rel else dst
        if not filecmp.cmp(fa, fb, shallow=False):
            bad += 1
            if bad <= 5:
                print("DIFFERS:", rel or fa)
    print("verified %d files, %d differ" % (len(a), bad))
    return 1 if bad else 0


STEPS = ["init", "add", "status_noop", "status_noop2", "status_touch1pct", "status_mod1pct", "push",
         "pull", "verify_pull", "checkout", "verify_checkout", "repro_first", "verify_repro",
         "repro_noop"]
DATASETS = ["tiny", "many", "big", "mixed"]


def cmd_summarize(paths):
    import csv
    runs = {}     # (tool, ds, step) -> [(wall, rss_kb, rc)]; rc None: step not applicable ("na")
    versions = {}
    for p in paths:
        with open(p, newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row["tool"], row["dataset"], row["step"])
                if row["rc"] == "na":
                    runs.setdefault(key, []).append((None, None, None))
                else:
                    runs.setdefault(key, []).append(
                        (float(row["wall_s"]), int(float(row["maxrss_kb"] or 0)), int(row["rc"])))
                versions[row["tool"]] = row["tool_version"]
    tools = list(dict.fromkeys(k[0] for k in runs))
    dss = [d for d in DATASETS if any(k[1] == d for k in runs)] + \
        sorted({k[1] for k in runs} - set(DATASETS))
    steps = [s for s in STEPS if any(k[2] == s for k in runs)] + \
        sorted({k[2] for k in runs} - set(STEPS))
    print("Tools: " + ", ".join("%s %s" % (t, versions[t]) for t in tools))
    print()
    print("Cells: median wall seconds over n runs; RSS = median of the runs' max RSS (MiB); FAIL(rc) if any run failed;")
    print("n/a: the tool has no such operation (see its adapter); -: not run.")
    for ds in dss:
        print()
        print("### %s" % ds)
        print()
        hdr = ["step"]
        for t in tools:
            hdr += ["%s wall s" % t, "%s RSS MiB" % t]
        for t in tools[1:]:
            hdr.append("%s/%s" % (t, tools[0]))
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        for st in steps:
            cells = [st]
            meds = []
            for t in tools:
                rs = runs.get((t, ds, st))
                if not rs:
                    cells += ["-", "-"]
                    meds.append(None)
                    continue
                if all(r[2] is None for r in rs):
                    cells += ["n/a", ""]
                    meds.append(None)
                    continue
                rs = [r for r in rs if r[2] is not None]
                if st.startswith("verify"):
                    bad = [r for r in rs if r[2] != 0]
                    cells += ["FAIL" if bad else "ok", ""]
                    meds.append(None)
                    continue
                med = statistics.median(r[0] for r in rs)
                rss = statistics.median(r[1] for r in rs) / 1024.0
                fails = [r[2] for r in rs if r[2] != 0]
                c = "%.3f (n=%d)" % (med, len(rs))
                if fails:
                    c += " FAIL(rc=%d)" % fails[0]
                cells += [c, "%.0f" % rss]
                meds.append(med)
            for m in meds[1:]:
                r = m / meds[0] if m is not None and meds[0] else None
                cells.append("" if r is None else ("%.2fx" % r if r >= 0.1 else "%.3fx" % r))
            print("| " + " | ".join(cells) + " |")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    c = argv[1]
    if c == "touch":
        cmd_touch(argv[2], argv[3])
    elif c == "modify":
        cmd_modify(argv[2], argv[3], argv[4])
    elif c == "verify":
        sys.exit(cmd_verify(argv[2], argv[3]))
    elif c == "summarize":
        cmd_summarize(argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
