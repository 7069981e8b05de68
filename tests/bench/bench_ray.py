#!/usr/bin/env python3
"""Benchmarks for the Ray executor and the scale figures of docs/scale.md (printed as markdown).

    python tests/bench/bench_ray.py fanout [--runs 3] [--items 8] [--sleep 1]
        the foreach fan-out pipeline: `mlvc repro -j 2` (local) vs `mlvc repro --executor ray`
        on a 2-CPU Ray cluster on this machine; a local-folder remote (so the figure is Ray's cost)
    python tests/bench/bench_ray.py overhead [--stages 10] [--tasks 200]
        a bare Ray task's round trip, and mlvc's per-stage cost on Ray over a local stage
    python tests/bench/bench_ray.py workspace [--files 100000]
        `mlvc add` and a no-op `mlvc status` over many small files
    python tests/bench/bench_ray.py scale [--s3]
        tree build/hash/parse per 100k entries; mlvc.lock rewrite for 1,000 stages; planning a
        1,000-stage DAG (`mlvc repro --dry`); remote listing and existence-check rates
        (a local folder; with --s3 also SeaweedFS S3 on 127.0.0.1)

Each command starts what it needs (a Ray head with `ray start --head --block` on a free loopback
port, stopped by ending that process) in a temp dir, and removes it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def sh(args: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.monotonic()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **RAY_ENV, **(env or {})})
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return took


def mlvc(*args: str, cwd: Path) -> float:
    return sh([sys.executable, "-m", "mlvc", *args], cwd)


@contextlib.contextmanager
def ray_head(tmp: Path, cpus: int = 2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp / "ray-start.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            ["ray", "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
             f"--num-cpus={cpus}", "--num-gpus=0", '--resources={"GPU_FAKE": 2}', "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={tmp / 'ray'}"],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **RAY_ENV, "HOME": str(tmp)}, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("ray start failed:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def new_repo(path: Path, remote: Path) -> Path:
    path.mkdir(parents=True)
    sh(["git", "init", "-q"], path)
    mlvc("init", cwd=path)
    mlvc("remote", "add", "store", str(remote), "--default", cwd=path)
    mlvc("config", "ray.worker_cache", str(path.parent / "worker-cache"), cwd=path)  # removed with the temp dir
    return path


# -- fan-out --------------------------------------------------------------------------------
FANOUT = """\
stages:
  work:
    foreach: {items}
    do:
      cmd: >-
        sleep {sleep} &&
        python3 -c "d=open('big.bin','rb').read(); open('out/w${{item}}.bin','wb').write(d[:1<<20]*${{item}})"
      deps:
        - big.bin
      outs:
        - out/w${{item}}.bin
"""


def fanout(args) -> None:
    items = list(range(1, args.items + 1))
    rows: dict[str, list[float]] = {"local -j 2": [], "ray (2 CPUs, same machine)": []}
    with tempfile.TemporaryDirectory(prefix="mlvc-bench-ray-") as t:
        tmp = Path(t)
        with ray_head(tmp) as address:
            for r in range(args.runs):
                for label, extra in (("local -j 2", ["-j", "2"]),
                                     ("ray (2 CPUs, same machine)", ["--executor", "ray", "--address", address])):
                    repo = new_repo(tmp / f"{label.split()[0]}-{r}", tmp / f"remote-{label.split()[0]}-{r}")
                    (repo / "big.bin").write_bytes(os.urandom(10 << 20))
                    (repo / "mlvc.yaml").write_text(FANOUT.format(items=json.dumps(items), sleep=args.sleep))
                    rows[label].append(mlvc("repro", *extra, cwd=repo))
            start = time.monotonic()
            connect = sh([sys.executable, "-c", f"import ray; ray.init(address='{address}', log_to_driver=False)"],
                         tmp)
            del start
    floor = args.sleep * len(items) / 2
    print(f"Fan-out: {len(items)} stages, each `sleep {args.sleep}` + a 1–{len(items)} MiB out from a 10 MiB dep; "
          f"floor {floor:g} s (two at a time); median of {args.runs}\n")
    print("| executor | runs (s) | median |\n|---|---|---|")
    for label, runs in rows.items():
        print(f"| {label} | {', '.join(f'{x:.2f}' for x in runs)} | {statistics.median(runs):.2f} s |")
    print(f"\n(`python -c 'import ray; ray.init(address=...)'` alone: {connect:.2f} s)")


# -- overhead -------------------------------------------------------------------------------
def overhead(args) -> None:
    with tempfile.TemporaryDirectory(prefix="mlvc-bench-ray-") as t:
        tmp = Path(t)
        with ray_head(tmp) as address:
            code = f"""
import time, ray
ray.init(address={address!r}, log_to_driver=False, logging_level="ERROR")
@ray.remote
def noop():
    return 0
ray.get(noop.remote())
t = time.monotonic()
for _ in range({args.tasks}):
    ray.get(noop.remote())
serial = (time.monotonic() - t) / {args.tasks}
t = time.monotonic()
ray.get([noop.remote() for _ in range({args.tasks})])
par = (time.monotonic() - t) / {args.tasks}
print(serial, par)
"""
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, **RAY_ENV}, check=True).stdout.split()
            serial, par = float(out[-2]), float(out[-1])
            n = args.stages
            spec = "stages:\n" + "".join(
                f"  s{i}:\n    cmd: cp in.txt o{i}.txt\n    deps: [in.txt]\n    outs: [o{i}.txt]\n" for i in range(n)
            )
            times = {}
            ray_args = ["--executor", "ray", "--address", address, "-j", "1"]
            for label, extra in (("local", ["-j", "1"]), ("ray", ray_args)):
                repo = new_repo(tmp / f"repo-{label}", tmp / f"remote-{label}")
                (repo / "in.txt").write_text("x\n")
                (repo / "mlvc.yaml").write_text(spec)
                one = "stages:\n  s0:\n    cmd: cp in.txt o0.txt\n    deps: [in.txt]\n    outs: [o0.txt]\n"
                base = new_repo(tmp / f"{label}-one", tmp / f"remote-{label}-one")
                (base / "in.txt").write_text("x\n")
                (base / "mlvc.yaml").write_text(one)
                t1 = mlvc("repro", *extra, cwd=base)
                tn = mlvc("repro", *extra, cwd=repo)
                times[label] = (t1, tn, (tn - t1) / (n - 1))
    print(f"Bare Ray task (no-op) round trip: {serial * 1000:.1f} ms serial, {par * 1000:.1f} ms each "
          f"when {args.tasks} are in flight\n")
    print(f"mlvc per stage, serial (`-j 1`), {n} stages `cp in.txt oI.txt` vs 1 stage; "
          f"per stage = (T{n} − T1)/{n - 1}\n")
    print(f"| executor | 1 stage | {n} stages | per stage |\n|---|---|---|---|")
    for label, (t1, tn, per) in times.items():
        print(f"| {label} | {t1:.2f} s | {tn:.2f} s | {per:.2f} s |")


# -- scale -----------------------------------------------------------------------------------
def scale(args) -> None:
    sys.path.insert(0, str(ROOT))
    from mlvc.hashing import hash_bytes
    from mlvc.tree import FILE, Entry, Tree, parse_tree

    n = 100_000
    entries = [Entry(f"f{i:07d}.bin", FILE, f"{i:032x}", i, "644") for i in range(n)]
    t = time.monotonic()
    tree = Tree.of(list(reversed(entries)))
    data = tree.serialize()
    h = hash_bytes(data)
    build = time.monotonic() - t
    t = time.monotonic()
    parse_tree(data)
    parse = time.monotonic() - t
    print(f"- tree of {n:,} entries: build + serialize + hash {build:.2f} s; parse (with name checks) "
          f"{parse:.2f} s; {len(data) / 1e6:.1f} MB ({len(data) / n:.0f} B/entry) -> {h[:8]}…")

    from mlvc.pipeline import lockfile
    from mlvc.pipeline.lockfile import Lock, LockedOut, LockEntry
    from mlvc.pointer import Ref

    with tempfile.TemporaryDirectory(prefix="mlvc-bench-scale-") as tdir:
        tmp = Path(tdir)
        lock = Lock({f"s{i}": LockEntry({"cmd": f"python step.py {i}"}, {f"d{i}.txt": Ref(f"{i:032x}", "file", 1, 1)},
                                        {}, {f"o{i}.txt": LockedOut(Ref(f"{i + 1:032x}", "file", 1, 1))})
                     for i in range(1000)})
        t = time.monotonic()
        for _ in range(20):
            lockfile.write(str(tmp), lock, list(lock.stages))
        write = (time.monotonic() - t) / 20
        print(f"- mlvc.lock of 1,000 stages: one rewrite {write * 1000:.1f} ms "
              f"({(tmp / 'mlvc.lock').stat().st_size / 1e3:.0f} kB); rewritten after each of 1,000 stages "
              f"= {write * 1000:.1f} s in all (measured x 1,000)")

        # a 1,000-stage DAG: 10 chains of 100 stages, each reading the previous stage's out
        repo = new_repo(tmp / "dag", tmp / "remote")
        (repo / "seed.txt").write_text("0\n")
        lines = ["stages:"]
        for c in range(10):
            for i in range(100):
                dep = "seed.txt" if i == 0 else f"c{c}/o{i - 1}.txt"
                lines += [f"  c{c}s{i}:", f"    cmd: cp {dep} c{c}/o{i}.txt", f"    deps: [{dep}]",
                          f"    outs: [c{c}/o{i}.txt]"]
        (repo / "mlvc.yaml").write_text("\n".join(lines) + "\n")
        dry = statistics.median(mlvc("repro", "--dry", cwd=repo) for _ in range(3))
        sys_t = statistics.median(sh([sys.executable, "-c", "import mlvc.cli.app"], repo) for _ in range(3))
        print(f"- `mlvc repro --dry` on a 1,000-stage DAG (10 chains x 100, never run): {dry:.2f} s wall "
              f"(python + mlvc start-up alone {sys_t:.2f} s)")
        t = time.monotonic()
        mlvc("repro", "-j", "2", cwd=repo)
        ran = time.monotonic() - t
        noop = statistics.median(mlvc("repro", cwd=repo) for _ in range(3))
        print(f"- the same DAG run locally with -j 2: {ran:.1f} s ({ran:.0f} ms per stage); "
              f"no-op `mlvc repro` afterwards: {noop:.2f} s")

        # remote listing and existence checks over a local folder with 100k objects (256 shards)
        remote = tmp / "listing"
        count = 100_000
        for i in range(count):
            hx = hash_bytes(str(i).encode())
            d = remote / hx[:2]
            d.mkdir(parents=True, exist_ok=True)
            (d / hx[2:]).write_bytes(b"")
        print(listing_rates("local folder", str(remote), {}, count))
        if args.s3:
            print(s3_listing(tmp))


def workspace(args) -> None:
    """`mlvc add` of N small files in 100 folders, then a no-op `mlvc status` (stat cache + tree signatures)."""
    with tempfile.TemporaryDirectory(prefix="mlvc-bench-ws-") as t:
        tmp = Path(t)
        repo = new_repo(tmp / "ws", tmp / "remote")
        for i in range(args.files):
            d = repo / "data" / f"d{i % 100:03d}"
            if i < 100:
                d.mkdir(parents=True)
            (d / f"f{i}.txt").write_bytes(b"%d\n" % i)
        add = mlvc("add", "data", cwd=repo)
        status = statistics.median(mlvc("status", cwd=repo) for _ in range(3))
        (repo / "data" / "d007" / "f7.txt").write_bytes(b"changed\n")
        one = mlvc("status", cwd=repo)
        readd = mlvc("add", "data", cwd=repo)
    print(f"- {args.files:,} small files in 100 folders: `mlvc add` {add:.1f} s ({args.files / add:,.0f} files/s); "
          f"no-op `mlvc status` {status:.2f} s; after changing one file: `status` {one:.2f} s, `add` {readd:.2f} s")


def listing_rates(label: str, url: str, options: dict, count: int) -> str:
    from mlvc.hashing import hash_bytes
    from mlvc.remote.config import RemoteConfig
    from mlvc.remote.store import open_store
    from mlvc.remote.transfer import RemoteIndex, _Pool, default_jobs

    store = open_store(RemoteConfig("bench", url, options), "/")
    pool = _Pool(default_jobs(store))
    t = time.monotonic()
    found = RemoteIndex(store, pool).all()
    full = time.monotonic() - t
    want = [hash_bytes(str(i).encode()) for i in range(0, count, max(1, count // 1000))][:1000]
    t = time.monotonic()
    got = RemoteIndex(store, pool).lookup(want)
    check = time.monotonic() - t
    assert len(found) >= count and len(got) == len(want), (len(found), len(got))
    return (f"- {label}: full listing of {len(found):,} objects {full:.2f} s ({len(found) / full:,.0f} objects/s, "
            f"256 shard listings); existence check of {len(want):,} hashes {check:.2f} s")


def s3_listing(tmp: Path) -> str:
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor

    spec = importlib.util.spec_from_file_location("s3server", ROOT / "remotes" / "s3server.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    from mlvc.hashing import hash_bytes

    count = 20_000
    with mod.SeaweedS3(str(tmp / "seaweed")) as s3:
        s3.make_bucket("bench")
        import s3fs

        fs = s3fs.S3FileSystem(key=s3.key, secret=s3.secret, endpoint_url=s3.endpoint)
        hashes = [hash_bytes(str(i).encode()) for i in range(count)]
        t = time.monotonic()
        with ThreadPoolExecutor(32) as ex:
            list(ex.map(lambda hx: fs.pipe_file(f"bench/objs/{hx[:2]}/{hx[2:]}", b"x"), hashes))
        put = time.monotonic() - t
        opts = {"endpointurl": s3.endpoint, "access_key_id": s3.key, "secret_access_key": s3.secret}
        line = listing_rates(f"S3 (SeaweedFS, 127.0.0.1), {count:,} objects", "s3://bench/objs", opts, count)
    return line + f"; uploading them took {put:.1f} s ({count / put:,.0f} PUT/s, 32 threads)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fanout")
    f.add_argument("--runs", type=int, default=3)
    f.add_argument("--items", type=int, default=8)
    f.add_argument("--sleep", type=float, default=1.0)
    o = sub.add_parser("overhead")
    o.add_argument("--stages", type=int, default=10)
    o.add_argument("--tasks", type=int, default=200)
    s = sub.add_parser("scale")
    s.add_argument("--s3", action="store_true")
    w = sub.add_parser("workspace")
    w.add_argument("--files", type=int, default=100_000)
    args = ap.parse_args()
    if shutil.which("ray") is None and args.cmd in ("fanout", "overhead"):
        raise SystemExit("needs Ray: pip install 'mlvc[ray]'")
    {"fanout": fanout, "overhead": overhead, "scale": scale, "workspace": workspace}[args.cmd](args)


if __name__ == "__main__":
    main()
