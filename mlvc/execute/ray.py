"""The `ray` backend: each stage a Ray task; its bytes move through the default remote, not a shared disk.

    executor = get_executor("ray", repo=repo, address="127.0.0.1:6379")
    outcome = executor.run(job)    # job.files says what the stage reads and writes

One stage, start to end:
1. Driver: the stage's inputs (deps, params files, persist outs) are stored in the local cache
   (a stat-cache hit for anything already hashed) and pushed to the remote; only what the
   remote lacks moves (the remotes' transfer engine). A dep whose hash differs from what the
   plan saw is refused: the lock would name bytes the command never read.
2. Cluster: a task with `num_cpus` / `num_gpus` (or the configured GPU resource) / `memory`
   from the stage's resources. The worker fetches the inputs by hash into a cache on its
   node (verified on the way in), checks them out into a scratch folder, runs the commands
   there (in the stage's image through the container backend when it has one), hashes the
   outs into its cache and pushes them to the remote, and returns their Refs. Output is
   relayed to the driver as it comes, through a small actor, and shown prefixed by stage.
3. Driver: the outs are fetched from the remote (verified) and checked out into the
   workspace; the pipeline then records them in mlvc.lock exactly as after a local run.

Failures: a failing command comes back as an Outcome with its exit code and stderr tail. A
worker that dies mid-stage (node lost, OOM, SIGKILL) is retried by Ray up to
`ray.max_retries` times; after that the stage fails with `RayWorkerLostError` and nothing
is recorded for it (the lock is written only after step 3 succeeded). `interrupt()` cancels
every running task (force-kills its worker).

Config (`.mlvc/config`): `[execute] executor = ray`, `address = HOST:PORT`; `[ray] remote`
(default: the default remote), `gpu_resource` (default `GPU`; tests use a custom resource),
`max_retries` (default 1), `worker_cache` (the node's object cache, default
`$TMPDIR/mlvc-ray-cache`), `scratch` (where stages run, default `$TMPDIR`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import (
    ExecutorError,
    MlvcError,
    RayStageError,
    RayWorkerLostError,
    RemoteConfigError,
    RemoteObjectsError,
)
from mlvc.execute.base import STDERR_TAIL, Job, Outcome, Resources
from mlvc.pointer import Ref

INSTALL_HINT = "the Ray executor needs Ray: pip install 'mlvc[ray]' (or: pip install 'ray[default]')"
POLL_S = 0.2  # how often the driver collects relayed output while a stage runs
DEFAULT_MAX_RETRIES = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def import_ray(address: str | None = None):
    """The `ray` module, or an ExecutorError that says how to install it.

    For a cluster on this machine (no address, or a loopback one) Ray is told to stay on
    loopback before it is imported (it reads this once): otherwise it swaps 127.0.0.1 for the
    machine's address and binds every interface."""
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None or _is_loopback(address):
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ExecutorError(INSTALL_HINT) from None
    return ray


# -- what travels to the worker and back ------------------------------------------------------
@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str  # absolute for a local folder: the worker resolves nothing against our workspace
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageTask:
    name: str
    cmds: tuple[str, ...]
    wdir: str  # relative to the scratch root ("" = the root)
    env: dict[str, str]
    inputs: dict[str, Ref]  # repo-relative path -> Ref, on the remote
    outs: tuple[str, ...]
    remote: RemoteSpec
    image: str | None = None
    network: bool = False
    resources: Resources = Resources()
    engine: str | None = None
    worker_cache: str | None = None
    scratch: str | None = None
    log_key: str = ""


@dataclass(frozen=True)
class StageDone:
    returncode: int
    stderr_tail: str = ""
    outs: dict[str, Ref] = field(default_factory=dict)
    duration_s: float = 0.0
    node: str = ""


# -- the driver side ----------------------------------------------------------------------
class RayExecutor:
    name = "ray"

    def __init__(
        self,
        repo=None,
        address: str | None = None,
        remote: str | None = None,
        gpu_resource: str | None = None,
        max_retries: int | None = None,
        worker_cache: str | None = None,
        scratch: str | None = None,
    ) -> None:
        if repo is None:
            raise ExecutorError("the ray executor needs the repository (get_executor('ray', repo=repo))")
        self.repo = repo
        conf = repo.config
        self.address = address or conf.get("execute", "address") or conf.get("ray", "address") or None
        self.remote_name = remote or conf.get("ray", "remote") or None
        self.gpu_resource = gpu_resource or conf.get("ray", "gpu_resource") or "GPU"
        self.max_retries = _int(max_retries, conf.get("ray", "max_retries"), DEFAULT_MAX_RETRIES, "ray.max_retries")
        self.worker_cache = worker_cache or conf.get("ray", "worker_cache") or None
        self.scratch = scratch or conf.get("ray", "scratch") or None
        self.engine = conf.get("execute", "engine") or None
        self._ray = import_ray(self.address)  # fail at once, with the install hint, not on the first stage
        self._guard = threading.RLock()
        self._connected = False
        self._relay = None
        self._task_fn = None
        self._store = None
        self._remote_spec: RemoteSpec | None = None
        self._on_remote: set[str] = set()  # root hashes known complete on the remote
        self._running: dict[str, Any] = {}  # log key -> ObjectRef
        self._interrupted = False

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        with self._guard:
            if self._connected:
                return
            self._remote()  # no remote, no way for the bytes to travel: say so before touching the cluster
            ray = self._ray
            if self.address and not ray.is_initialized():
                _check_reachable(self.address)
            try:
                if not ray.is_initialized():
                    ray.init(
                        address=self.address,  # None: RAY_ADDRESS, a cluster on this machine, else a local one
                        log_to_driver=False,  # stage output comes through our relay, prefixed by stage
                        logging_level="ERROR",
                        configure_logging=True,
                        namespace="mlvc",
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "auto (RAY_ADDRESS or a local cluster)"
                raise ExecutorError(
                    f"cannot connect to the Ray cluster at {where}: {_first_line(exc)} "
                    "(start one with `ray start --head`, or pass --address HOST:PORT)"
                ) from None
            self._task_fn = ray.remote(run_stage_task)
            self._relay = ray.remote(num_cpus=0)(LogRelay).remote()
            self._connected = True

    def capacity(self):
        """The cluster's CPUs, memory and GPUs (the configured GPU resource), for the scheduler."""
        from mlvc.execute.capacity import Capacity

        self.connect()
        total = self._ray.cluster_resources()
        gpus = int(total.get(self.gpu_resource, 0))
        return Capacity(
            cpus=float(total.get("CPU", 0)), memory=int(total.get("memory", 0)), gpu_ids=tuple(range(gpus)),
            source="ray",
        )

    # -- the remote ---------------------------------------------------------------------
    def _remote(self):
        with self._guard:
            if self._store is None:
                from mlvc.remote import config as rconfig
                from mlvc.remote.store import open_store

                try:
                    cfg = rconfig.load(self.repo.config, self.remote_name)
                except RemoteConfigError as exc:
                    raise RemoteConfigError(
                        f"the ray executor moves each stage's data through a remote the workers can reach: {exc}"
                    ) from None
                store = open_store(cfg, self.repo.root)
                url = cfg.url
                if cfg.protocol == "file":
                    url = store.root  # absolute: workers resolve nothing against our workspace
                self._remote_spec = RemoteSpec(cfg.name, url, dict(cfg.options))
                self._store = store
            return self._store

    def _ship_inputs(self, job: Job) -> dict[str, Ref]:
        """Store the stage's inputs in the cache and push them to the remote; their Refs."""
        from mlvc.remote.roots import Root
        from mlvc.remote.transfer import describe_problems, push
        from mlvc.workspace.scan import Scanner

        files = job.files
        assert files is not None
        paths = list(files.deps) + [p for p in files.params if p not in files.deps]
        paths += [p for p in files.persist if os.path.lexists(self.repo.abs(p)) and p not in paths]
        store = self._remote()
        link = "reflink" if self.repo.link_type == "reflink" else "copy"
        refs: dict[str, Ref] = {}
        with self._guard:  # one stage at a time stores and pushes: shared inputs go up once
            scanner = Scanner(self.repo, store=True, link_type=link)
            for path in paths:
                if not os.path.exists(self.repo.abs(path)):
                    raise ExecutorError(f"stage {job.name!r}: input {path!r} does not exist")
                ref = scanner.scan(path)[0]
                planned = files.deps.get(path)
                if planned is not None and planned.hash != ref.hash:
                    raise ExecutorError(
                        f"stage {job.name!r}: dep {path!r} changed while repro was running; rerun `mlvc repro`"
                    )
                refs[path] = ref
            todo = [Root(p, r) for p, r in refs.items() if r.hash not in self._on_remote]
            if todo:
                result = push(self.repo, store, todo)
                if not result.ok:
                    raise RemoteObjectsError(describe_problems(result, "push of stage inputs"))
                self._on_remote.update(r.ref.hash for r in todo)
        return refs

    def _bring_back(self, job: Job, outs: dict[str, Ref]) -> None:
        """Fetch the outs the worker pushed (verified) and check them out into the workspace."""
        from mlvc.pointer import Pointer
        from mlvc.remote.roots import Root
        from mlvc.remote.transfer import describe_problems, fetch
        from mlvc.workspace.checkout import Checkout

        files = job.files
        assert files is not None
        store = self._remote()
        result = fetch(self.repo, store, [Root(p, r) for p, r in outs.items()])
        if not result.ok:
            raise RemoteObjectsError(describe_problems(result, f"fetch of stage {job.name!r} outs"))
        with self._guard:
            self._on_remote.update(r.hash for r in outs.values())
            for path, ref in outs.items():
                link = "copy" if path in files.uncached else None
                res = Checkout(self.repo, link_type=link).run([Pointer(path, ref)])[0]
                if res.missing or res.refused:
                    why = res.missing or f"would overwrite {', '.join(res.refused[:3])}"
                    raise ExecutorError(f"stage {job.name!r}: cannot check out out {path!r}: {why}")

    # -- running ----------------------------------------------------------------------------
    def run(self, job: Job) -> Outcome:
        if job.files is None:
            raise ExecutorError(f"stage {job.name!r}: the ray executor runs pipeline stages (no stage files given)")
        if self._interrupted:
            return Outcome(-15, "", 0.0, True)
        start = time.monotonic()
        self.connect()
        inputs = self._ship_inputs(job)
        task = self._task_for(job, inputs)
        ref = self._submit(task)
        with self._guard:
            self._running[task.log_key] = ref
        try:
            done = self._wait(job, task, ref)
        except BaseException:
            self._cancel(ref)  # Ctrl-C in the serial loop: the stage must not go on running
            raise
        finally:
            with self._guard:
                self._running.pop(task.log_key, None)
        if done is None:  # cancelled by interrupt()
            return Outcome(-15, "", time.monotonic() - start, True)
        if done.returncode == 0:  # an out the command did not create is reported by the pipeline
            self._bring_back(job, done.outs)
        return Outcome(done.returncode, done.stderr_tail, time.monotonic() - start)

    def _task_for(self, job: Job, inputs: dict[str, Ref]) -> StageTask:
        files = job.files
        assert files is not None and self._remote_spec is not None
        wdir = os.path.relpath(job.wdir, files.root).replace(os.sep, "/")
        if wdir == "." or wdir.startswith(".."):
            wdir = ""
        return StageTask(
            name=job.name, cmds=job.cmds, wdir=wdir, env=dict(job.env), inputs=inputs, outs=files.outs,
            remote=self._remote_spec, image=job.image, network=job.network, resources=job.resources,
            engine=self.engine, worker_cache=self.worker_cache, scratch=self.scratch,
            log_key=f"{job.name}#{uuid.uuid4().hex[:12]}",
        )

    def _submit(self, task: StageTask):
        opts = task_options(task.resources, self.gpu_resource, self.max_retries)
        return self._task_fn.options(name=f"mlvc:{task.name}", **opts).remote(  # type: ignore[union-attr]
            task, self._relay, self.gpu_resource
        )

    def _wait(self, job: Job, task: StageTask, ref) -> StageDone | None:
        ray = self._ray
        sink = _Sink(job)
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_S)
                self._pump(task.log_key, sink)
                if ready:
                    break
            self._pump(task.log_key, sink)
            try:
                return ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                return None
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.LocalRayletDiedError) as exc:
                if self._interrupted:
                    return None
                tries = "" if self.max_retries == 0 else f" (after {self.max_retries} retr" + (
                    "y)" if self.max_retries == 1 else "ies)")
                raise RayWorkerLostError(
                    f"stage {job.name!r}: the Ray worker running it died{tries}: {_first_line(exc)}; "
                    "nothing recorded for it in mlvc.lock"
                ) from None
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                msg = str(cause) if isinstance(cause, MlvcError) else _first_line(cause or exc)
                raise RayStageError(f"stage {job.name!r} on the Ray cluster: {msg}") from None
        finally:
            sink.close()

    def _pump(self, key: str, sink: _Sink) -> None:
        try:
            chunks = self._ray.get(self._relay.drain.remote(key))  # type: ignore[union-attr]
        except Exception:  # the relay is best effort: a lost line never fails a stage
            return
        for stream, data in chunks:
            sink.write(data, stream)

    def _cancel(self, ref) -> None:
        try:
            self._ray.cancel(ref, force=True)
        except Exception:
            pass

    def interrupt(self) -> None:
        with self._guard:
            self._interrupted = True
            refs = list(self._running.values())
        for ref in refs:
            self._cancel(ref)


def task_options(r: Resources, gpu_resource: str = "GPU", max_retries: int = DEFAULT_MAX_RETRIES) -> dict[str, Any]:
    """Ray's options for a stage's resources: CPUs (1 when unset, as Ray's default), GPUs as `num_gpus`
    or as the configured custom resource, memory in bytes; retried only when the worker dies."""
    opts: dict[str, Any] = {
        "num_cpus": r.cpus if r.cpus is not None else 1, "max_retries": max_retries, "retry_exceptions": False,
    }
    if r.gpus:
        if gpu_resource == "GPU":
            opts["num_gpus"] = r.gpus
        else:
            opts["resources"] = {gpu_resource: r.gpus}
    if r.memory:
        opts["memory"] = r.memory
    return opts


class _Sink:
    """Relayed output to the job's sink (prefixed whole lines when stages run at once), else to stderr."""

    def __init__(self, job: Job) -> None:
        from mlvc.execute.output import StageOutput

        self.own = None
        self.out = job.output
        if self.out is None:
            self.own = StageOutput(job.name, stdout_to_stderr=job.stdout_to_stderr)
            self.out = self.own

    def write(self, data: bytes, stream: str) -> None:
        self.out.write(data, stream)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


class LogRelay:
    """A tiny actor (no CPU) that holds each running stage's output until the driver collects it."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[tuple[str, bytes]]] = {}

    def write(self, key: str, stream: str, data: bytes) -> None:
        self.chunks.setdefault(key, []).append((stream, data))

    def drain(self, key: str) -> list[tuple[str, bytes]]:
        return self.chunks.pop(key, [])


# -- the worker side --------------------------------------------------------------------------
class _RelayOutput:
    """Job.output on the worker: every chunk goes to the driver through the relay actor (in order)."""

    def __init__(self, relay, key: str) -> None:
        self.relay = relay
        self.key = key

    def write(self, data: bytes, stream: str) -> None:
        self.relay.write.remote(self.key, stream, bytes(data))


def scratch_repo(root: str, cache_dir: str):
    """A bare mlvc repository in `root` whose object cache is the node's shared `cache_dir`."""
    from mlvc.repo import Repo

    dot = os.path.join(root, ".mlvc")
    os.makedirs(os.path.join(dot, "tmp"), exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(dot, "config"), "w", encoding="utf-8") as f:
        f.write(f"[core]\nlink = copy\n[cache]\ndir = {cache_dir}\n")
    return Repo(root)


# Runs beside each stage on the worker (`python -c WATCHDOG ROOT`), reading its stdin. The worker writes
# "done" when the stage ends; EOF without it means the worker died (SIGKILL, OOM): then every process
# still working in the scratch folder is ended (with its process group) and the folder removed.
WATCHDOG = r"""
import os, shutil, signal, sys, time
root = os.path.realpath(sys.argv[1])
if sys.stdin.read().strip() == "done":
    sys.exit(0)
def inside():
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                cwd = os.readlink(f"/proc/{p}/cwd")
            except OSError:
                continue
            if cwd == root or cwd.startswith(root + "/"):
                pids.append(int(p))
    return pids
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in inside():
        for kill in (lambda: os.killpg(os.getpgid(pid), sig), lambda: os.kill(pid, sig)):
            try:
                kill()
            except OSError:
                pass
    time.sleep(2 if sig == signal.SIGTERM else 0.2)
shutil.rmtree(root, ignore_errors=True)
"""


def _start_watchdog(root: str):
    import subprocess

    try:
        return subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, root], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
        )
    except OSError:
        return None  # best effort: the stage runs without it


def _stop_watchdog(proc) -> None:
    if proc is None:
        return
    try:
        proc.communicate(b"done\n", timeout=10)
    except Exception:
        proc.kill()


def run_stage_task(task: StageTask, relay, gpu_resource: str = "GPU") -> StageDone:
    """Body of the Ray task: materialise inputs from the remote, run, hash and push the outs."""
    from mlvc.execute.local import LocalExecutor
    from mlvc.pointer import Pointer
    from mlvc.remote.roots import Root
    from mlvc.remote.store import open_store
    from mlvc.remote.transfer import describe_problems, fetch, push
    from mlvc.workspace.checkout import Checkout
    from mlvc.workspace.scan import Scanner

    start = time.monotonic()
    base = task.scratch or tempfile.gettempdir()
    cache_dir = task.worker_cache or os.path.join(tempfile.gettempdir(), "mlvc-ray-cache")
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix=f"mlvc-stage-{_UNSAFE.sub('_', task.name)[:60]}-", dir=base)
    repo = scratch_repo(root, cache_dir)
    watchdog = _start_watchdog(root)
    try:
        from mlvc.remote.config import RemoteConfig

        store = open_store(RemoteConfig(task.remote.name, task.remote.url, dict(task.remote.options)), root)
        got = fetch(repo, store, [Root(p, r) for p, r in task.inputs.items()])
        if not got.ok:
            raise RemoteObjectsError(describe_problems(got, "fetch of stage inputs"))
        placed = Checkout(repo, link_type="reflink").run([Pointer(p, r) for p, r in task.inputs.items()])
        for res in placed:
            if res.missing or res.refused:
                raise MlvcError(f"cannot place input {res.path!r} on the worker: {res.missing or res.refused}")
        for out in task.outs:  # a command may expect an out's folder to exist, as in DVC
            os.makedirs(os.path.dirname(repo.abs(out)), exist_ok=True)
        if task.wdir:  # the stage's working folder, even when no input lies in it
            os.makedirs(repo.abs(task.wdir), exist_ok=True)
        job = Job(
            name=task.name, cmds=task.cmds, wdir=repo.abs(task.wdir) if task.wdir else root, env=task.env,
            resources=task.resources, image=task.image, network=task.network,
            gpu_ids=_gpu_ids(task.resources, gpu_resource), output=_RelayOutput(relay, task.log_key),
        )
        if task.image:
            from mlvc.execute.container import ContainerExecutor

            outcome = ContainerExecutor(root=root, engine=task.engine).run(job)
        else:
            outcome = LocalExecutor().run(job)
        node = _node_id()
        if not outcome.ok:
            return StageDone(outcome.returncode or 1, outcome.stderr_tail[-STDERR_TAIL:], {},
                             time.monotonic() - start, node)
        scanner = Scanner(repo, store=True, link_type="copy")
        outs = {p: scanner.scan(p)[0] for p in task.outs if os.path.lexists(repo.abs(p))}
        sent = push(repo, store, [Root(p, r) for p, r in outs.items()])
        if not sent.ok:
            raise RemoteObjectsError(describe_problems(sent, "push of stage outs"))
        return StageDone(0, outcome.stderr_tail[-STDERR_TAIL:], outs, time.monotonic() - start, node)
    finally:
        repo.close()
        shutil.rmtree(root, onerror=_writable_then_retry)
        _stop_watchdog(watchdog)


def _gpu_ids(r: Resources, gpu_resource: str) -> tuple[int, ...] | None:
    """CUDA_VISIBLE_DEVICES on the worker: none for a stage without GPUs; Ray's own ids for `GPU`."""
    if not r.gpus:
        return ()
    if gpu_resource != "GPU":
        return None  # a custom resource: Ray hands out no device ids, leave the variable alone
    try:
        import ray

        return tuple(int(i) for i in ray.get_gpu_ids())
    except Exception:
        return None


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:
        return ""


def _writable_then_retry(func, path, _exc) -> None:
    try:
        os.chmod(os.path.dirname(path), 0o755)
        func(path)
    except OSError:
        pass


def _int(explicit: int | None, configured: str | None, default: int, where: str) -> int:
    if explicit is not None:
        return explicit
    if configured is None or configured.strip() == "":
        return default
    try:
        value = int(configured)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise ExecutorError(f".mlvc/config: {where} must be a whole number 0 or more, not {configured!r}") from None


def _split_address(address: str) -> tuple[str, int | None]:
    text = address.split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    if not host:
        return text, None
    return host.strip("[]"), int(port) if port.isdigit() else None


def _is_loopback(address: str) -> bool:
    host = _split_address(address)[0]
    return host in ("localhost", "::1") or host.startswith("127.")


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, on a cluster address nothing answers at (Ray retries for long)."""
    import socket

    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, port = _split_address(address)
    if port is None:
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(
            f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc} "
            "(start one with `ray start --head`, or pass --address HOST:PORT)"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["RayExecutor", "RayWorkerLostError", "RayStageError", "INSTALL_HINT"]
