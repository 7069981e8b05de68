"""Reproduce a pipeline: run what is stale, in dependency order, through an executor.

Per stage, in order: decide (plan.Planner) -> up to date / restore missing outs from the
cache / replay from the run cache / run the stage's data checks (`checks:`, mlvc.data.checks;
here in the driver, whatever the executor), then the command. A failing check fails the stage
before its command starts, like a failing command: nothing is recorded for it. After a run
the outs are stored in the cache like `mlvc add`ed data (cache: false outs are only hashed),
git-ignored, and the stage's entry (with its check results) is written to mlvc.lock at once,
so an interrupted repro leaves a lock that is true for every stage it names. A rerun that
produces the same bytes changes no downstream dep, so the wave stops there.

The serial loop lives in `Reproducer.run`; a parallel scheduler drives the same three steps
(`decide`, `execute`, `finish`) from its own loop: they are safe to call from worker threads
as long as a stage is only handed out after all its upstream stages finished.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from mlvc.errors import DataCheckError, MlvcError, StageFailedError
from mlvc.execute.base import Executor, Job, Outcome, get_executor
from mlvc.pipeline import graph as graph_mod
from mlvc.pipeline import lockfile, spec
from mlvc.pipeline.lockfile import LockedOut, LockEntry
from mlvc.pipeline.params import ParamsReader
from mlvc.pipeline.plan import FROZEN, OK, RESTORE, RUN, Decision, Hasher, Planner
from mlvc.pipeline.runcache import RunCache
from mlvc.pointer import Pointer
from mlvc.progress import NULL, Progress

# StageResult.action values
RAN, RESTORED, REPLAYED, UP_TO_DATE, SKIPPED_FROZEN, FAILED, SKIPPED, WOULD_RUN, WOULD_RESTORE = (
    "ran", "restored", "run-cache", "up-to-date", "frozen", "failed", "skipped", "would run", "would restore",
)  # fmt: skip


@dataclass
class StageResult:
    name: str
    action: str
    reasons: list[str] = field(default_factory=list)
    returncode: int | None = None
    stderr_tail: str = ""
    duration_s: float = 0.0
    changed: bool = False  # some out differs from what the lock had
    runs_on: dict[str, object] | None = None  # --dry: backend (local/container), engine, image, resources
    error: str = ""  # why the stage failed when it is not the command's exit code (a data check)
    checks: list[dict[str, object]] | None = None  # the data checks' outcomes (ran, or failed on a check)

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {"name": self.name, "action": self.action, "reasons": self.reasons}
        if self.runs_on is not None:
            doc["runs_on"] = self.runs_on
        if self.returncode is not None:
            doc["returncode"] = self.returncode
        if self.error:
            doc["error"] = self.error
        if self.checks is not None:
            doc["checks"] = self.checks
        if self.action in (RAN, RESTORED, REPLAYED):
            doc["changed"] = self.changed
            doc["duration_s"] = round(self.duration_s, 3)
        return doc


class Listener(Protocol):
    def starting(self, stage: spec.Stage, decision: Decision, how: str) -> None: ...

    def finished(self, result: StageResult) -> None: ...


class _Quiet:
    def starting(self, stage: spec.Stage, decision: Decision, how: str) -> None:
        pass

    def finished(self, result: StageResult) -> None:
        pass


@dataclass
class Options:
    targets: list[str] | None = None
    force: bool = False
    single: bool = False
    downstream: bool = False
    dry: bool = False
    keep_going: bool = False
    run_cache: bool = True
    jobs: int = 1  # stages at once (mlvc.execute.scheduler); 1 = the serial loop


class Reproducer:
    def __init__(
        self,
        repo,
        pipeline: spec.PipelineFile | None = None,
        executor: Executor | None = None,
        listener: Listener | None = None,
        progress: Progress = NULL,
        stdout_to_stderr: bool = False,
    ) -> None:
        self.repo = repo
        self.pf = pipeline or spec.load(repo.root)
        self.graph = graph_mod.build(self.pf)
        self.lock = lockfile.read(repo.root, self.pf.lock_path)
        self.hasher = Hasher(repo, progress)
        self.reader = ParamsReader(repo.root)
        self.planner = Planner(repo, self.graph, self.hasher, self.reader)
        self.runcache = RunCache(repo)
        self._executor = executor
        self.listener = listener or _Quiet()
        self.progress = progress
        self.stdout_to_stderr = stdout_to_stderr
        self._lock_guard = threading.Lock()
        self._store_scanner = None
        self._container = None  # the container executor, made on the first `image:` stage
        self._capacity = None  # the machine's (or config's) CPUs/memory/GPUs, read on first use
        self._parallel = False

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = get_executor("local")
        return self._executor

    # -- the no-op memo (mlvc.pipeline.noop) ------------------------------------
    def input_files(self) -> list[str]:
        """Files besides deps and outs that a verdict reads: templating's and every stage's params files."""
        files = dict.fromkeys(self.pf.reads)
        for stage in self.pf.stages.values():
            files.update(dict.fromkeys(decl.file for decl in stage.params))
        return list(files)

    def noop_paths(self, results: list[StageResult]) -> list[str] | None:
        """The deps and outs that a no-op verdict (`results`: every stage up to date or frozen) rests on;
        None when there is something else to it: a stage ran or was restored, an image stage (its image
        ID comes from the engine), a stage up to date only by dvc.lock."""
        if any(r.action not in (UP_TO_DATE, SKIPPED_FROZEN) for r in results) or self.planner.adopted:
            return None
        stages = [self.graph.stages[r.name] for r in results]
        if any(stage.image for stage in stages):
            return None
        paths = [dep.path for stage in stages for dep in stage.deps] + [o.path for stage in stages for o in stage.outs]
        return list(dict.fromkeys(paths))

    # -- planning (status, --dry) ---------------------------------------------
    def plan(self, targets: list[str] | None = None, single: bool = False, downstream: bool = False,
             force: bool = False) -> list[Decision]:  # fmt: skip
        """What a repro would do, without running or writing anything."""
        names = self.graph.select(targets, single, downstream)
        self.planner.check_inputs(names)
        self._resolve_images(names)
        unknown: dict[str, str] = {}
        decisions = []
        for name in names:
            stage = self.graph.stages[name]
            d = self.planner.decide(stage, self.lock.stages.get(name), force, unknown)
            if d.action == RUN:
                unknown.update({o.path: name for o in stage.outs})
            decisions.append(d)
        return decisions

    # -- reproducing ------------------------------------------------------------
    def run(self, opts: Options) -> list[StageResult]:
        if opts.dry:
            return [self._dry_result(d) for d in self.plan(opts.targets, opts.single, opts.downstream, opts.force)]
        names = self.graph.select(opts.targets, opts.single, opts.downstream)
        self.planner.check_inputs(names)
        self._resolve_images(names)
        self._check_capacity(names, opts)
        results: dict[str, StageResult] = {}
        blocked: set[str] = set()
        try:
            if opts.jobs > 1:
                return self._run_parallel(names, opts)
            for name in names:
                failed_up = sorted(self.graph.upstream[name] & blocked)
                if failed_up:
                    blocked.add(name)
                    results[name] = StageResult(name, SKIPPED, [f"upstream {failed_up[0]!r} failed"])
                    self.listener.finished(results[name])
                    continue
                result = self.reproduce_one(name, opts)
                results[name] = result
                if result.action == FAILED:
                    blocked.add(name)
                    if not opts.keep_going:
                        raise _failure(self.graph.stages[name], result)
            failures = [r for r in results.values() if r.action == FAILED]
            if failures:
                raise _failure(self.graph.stages[failures[0].name], failures[0], len(failures))
        finally:
            self.repo.stat_cache.flush()
        return [results[n] for n in names if n in results]

    def reproduce_one(self, name: str, opts: Options, grant=None) -> StageResult:
        stage = self.graph.stages[name]
        entry = self.lock.stages.get(name)
        d = self.planner.decide(stage, entry, opts.force)
        if d.action in (OK, FROZEN):
            if d.adopted is not None and d.action == OK:  # up to date by dvc.lock: into mlvc.lock, nothing runs
                self._record(stage, d, d.adopted.outs)
            result = StageResult(name, UP_TO_DATE if d.action == OK else SKIPPED_FROZEN, d.reasons)
            self.listener.finished(result)
            return result
        start = time.monotonic()
        if d.action == RESTORE and entry is not None:
            self.listener.starting(stage, d, "restore")
            if self._checkout(stage, {p: entry.outs[p] for p in d.missing}):
                result = StageResult(name, RESTORED, d.reasons, duration_s=time.monotonic() - start)
                self.listener.finished(result)
                return result
        key = RunCache.key(stage, d.deps, d.params) if opts.run_cache and not opts.force else None
        if key is not None:
            cached = self.runcache.get(key)
            if cached is not None and self._replay(stage, d, cached):
                self.listener.starting(stage, d, "run-cache")
                changed = self._record(stage, d, cached)
                result = StageResult(name, REPLAYED, d.reasons, duration_s=time.monotonic() - start, changed=changed)
                self.listener.finished(result)
                return result
        checks = None
        if stage.checks:  # the gate: in this process, before the command, whatever the executor
            self.listener.starting(stage, d, "check")
            try:
                checks = self.run_checks(stage)
            except MlvcError as exc:
                result = _check_failed(stage, d, exc)
                result.duration_s = time.monotonic() - start
                self.listener.finished(result)
                return result
        self.listener.starting(stage, d, "run")
        outcome = self.execute(stage, d, grant)
        result = self.finish(stage, d, outcome, key, opts.run_cache, checks)
        result.duration_s = time.monotonic() - start
        self.listener.finished(result)
        return result

    def run_checks(self, stage: spec.Stage) -> list[dict[str, object]]:
        """The stage's data checks against the workspace (raises DataCheckError on a failure): in the
        driver, before the command, so a stage never starts on data that fails them, wherever it runs."""
        from mlvc.data.checks import run_checks

        return [r.to_dict() for r in run_checks(self.repo, stage.name, stage.checks)]

    def execute(self, stage: spec.Stage, d: Decision, grant=None) -> Outcome:
        """Make room for the outs (keeping their bytes safe in the cache) and run the command."""
        self._secure_outs(stage)
        for out in stage.outs:
            if not out.persist:
                _remove(self.repo.abs(out.path))
            else:
                _unshare(self.repo.abs(out.path))
            self.hasher.invalidate(out.path)
        for out in stage.outs:  # a command may expect an out's folder to exist, as in DVC
            os.makedirs(os.path.dirname(self.repo.abs(out.path)), exist_ok=True)
        job = Job(
            name=stage.name,
            cmds=stage.cmds,
            wdir=self.repo.abs(stage.wdir) if stage.wdir else self.repo.root,
            env=stage.env,
            resources=stage.resources,
            image=stage.image,
            stdout_to_stderr=self.stdout_to_stderr,
            network=stage.network,
            files=self._stage_files(stage, d),
        )
        from mlvc.execute.scheduler import Grant, with_grant

        if grant is None:  # the serial loop: one stage at a time, so its GPUs are the first free ones
            gpus = stage.resources.gpus or 0
            grant = Grant(gpu_ids=self.capacity.gpu_ids[:gpus] if gpus else ())
        logs = os.path.join(self.repo.tmp_dir, "logs") if self._parallel else None
        job, sink = with_grant(job, grant, logs, parallel=self._parallel)
        try:
            return self._executor_for(stage).run(job)
        finally:
            if sink is not None:
                sink.close()

    def finish(self, stage: spec.Stage, d: Decision, outcome: Outcome, key: str | None,
               use_run_cache: bool = True, checks: list[dict[str, object]] | None = None) -> StageResult:  # fmt: skip
        """Record a finished command: store its outs and write the lock, or record nothing."""
        if not outcome.ok:
            if outcome.interrupted:
                raise KeyboardInterrupt
            return StageResult(stage.name, FAILED, d.reasons, outcome.returncode, outcome.stderr_tail)
        missing = [o.path for o in stage.outs if not os.path.lexists(self.repo.abs(o.path))]
        if missing:
            return StageResult(
                stage.name, FAILED, d.reasons, 0, f"the command succeeded but did not create {', '.join(missing)}"
            )
        outs = self._store_outs(stage, for_run_cache=key is not None)
        changed = self._record(stage, d, outs, checks)
        if key is not None and use_run_cache:
            self.runcache.put(key, stage.name, outs)
        return StageResult(stage.name, RAN, d.reasons, 0, outcome.stderr_tail, changed=changed, checks=checks)

    # -- outs -------------------------------------------------------------------
    def _scanner(self):
        if self._store_scanner is None:
            from mlvc.workspace.scan import Scanner

            self._store_scanner = Scanner(self.repo, store=True, progress=self.progress)
        return self._store_scanner

    def _secure_outs(self, stage: spec.Stage) -> None:
        """Before a command replaces cached outs, make sure their current bytes are in the cache:
        nothing that exists only in the workspace is lost, whatever the command does."""
        for out in stage.outs:
            if out.cache and os.path.exists(self.repo.abs(out.path)):
                self._scanner().scan(out.path)

    def _store_outs(self, stage: spec.Stage, for_run_cache: bool) -> dict[str, LockedOut]:
        from mlvc.workspace.link import link_node
        from mlvc.workspace.scan import Scanner
        from mlvc.workspace.tracked import gitignore_add

        outs: dict[str, LockedOut] = {}
        for out in stage.outs:
            self.hasher.invalidate(out.path)
            if out.cache:
                scanner = self._scanner()
                ref, node = scanner.scan(out.path)
                link_node(self.repo, node, scanner.link_type)
                gitignore_add(self.repo.root, out.path)
            elif for_run_cache:  # small files (metrics) kept as objects so a replay can restore them
                ref = Scanner(self.repo, store=True, link_type="copy").scan(out.path)[0]
            else:
                ref = self.hasher.ref(out.path)
                assert ref is not None
            self.hasher.remember(out.path, ref)
            outs[out.path] = LockedOut(ref, out.cache)
        return outs

    def _checkout(self, stage: spec.Stage, outs: dict[str, LockedOut]) -> bool:
        """Link `outs` back from the cache; False when some object is not there."""
        from mlvc.workspace.checkout import Checkout
        from mlvc.workspace.tracked import gitignore_add

        ptrs = [Pointer(p, o.ref) for p, o in outs.items()]
        try:
            results = Checkout(self.repo, progress=self.progress).run(ptrs)
        except MlvcError:
            return False
        ok = all(r.missing is None and not r.refused for r in results)
        for p, o in outs.items():
            self.hasher.invalidate(p)
            if ok:
                self.hasher.remember(p, o.ref)
            if o.cache:
                gitignore_add(self.repo.root, p)
        return ok

    def _replay(self, stage: spec.Stage, d: Decision, cached: dict[str, LockedOut]) -> bool:
        if set(cached) != {o.path for o in stage.outs}:
            return False
        if not all(self.repo.objects.has(o.ref.hash) for o in cached.values()):
            return False
        self._secure_outs(stage)
        return self._checkout(stage, cached)

    def _record(self, stage: spec.Stage, d: Decision, outs: dict[str, LockedOut],
                checks: list[dict[str, object]] | None = None) -> bool:  # fmt: skip
        entry = LockEntry(stage.settings(), dict(d.deps), d.params, dict(outs), list(checks or []))
        with self._lock_guard:
            old = self.lock.stages.get(stage.name)
            self.lock.stages[stage.name] = entry
            self.lock.stages = {n: e for n, e in self.lock.stages.items() if n in self.pf.stages}
            lockfile.write(self.repo.root, self.lock, list(self.pf.stages), self.pf.lock_path)
        if old is None:
            return True
        return {p: o.ref.hash for p, o in old.outs.items()} != {p: o.ref.hash for p, o in outs.items()}

    def _dry_result(self, d: Decision) -> StageResult:
        action = {RUN: WOULD_RUN, RESTORE: WOULD_RESTORE, OK: UP_TO_DATE, FROZEN: SKIPPED_FROZEN}[d.action]
        result = StageResult(d.name, action, d.reasons)
        if d.action == RUN:
            result.runs_on = self.runs_on(self.graph.stages[d.name])
        return result

    # -- where stages run (mlvc.execute: scheduler, capacity, container backend) ----------
    @property
    def capacity(self):
        if self._capacity is None:
            from mlvc.execute.capacity import machine_capacity

            cluster = getattr(self._executor, "capacity", None)  # a cluster backend (ray) has its own
            self._capacity = cluster() if callable(cluster) else machine_capacity(self.repo.config)
        return self._capacity

    def _stage_files(self, stage: spec.Stage, d: Decision):
        """What the stage reads and writes, for a backend that runs it away from this workspace (ray)."""
        from mlvc.execute.base import StageFiles

        return StageFiles(
            root=self.repo.root,
            deps=dict(d.deps),
            outs=tuple(o.path for o in stage.outs),
            params=tuple(dict.fromkeys(p.file for p in stage.params)),
            persist=tuple(o.path for o in stage.outs if o.persist),
            uncached=tuple(o.path for o in stage.outs if not o.cache),
        )

    def _engine_name(self) -> str | None:
        return self.repo.config.get("execute", "engine") or None

    def _executor_for(self, stage: spec.Stage) -> Executor:
        """`image:` stages go to the container backend, unless a non-local executor was chosen.
        Made once under a lock: workers of `-j` ask at the same time, and Ctrl-C must reach the one they use."""
        with self._lock_guard:
            executor = self.executor
            if stage.image and executor.name == "local":
                if self._container is None:
                    self._container = get_executor("container", root=self.repo.root, engine=self._engine_name())
                return self._container
            return executor

    def _interrupt_all(self) -> None:
        for ex in (self._executor, self._container):
            if ex is not None:
                ex.interrupt()

    def _resolve_images(self, names: list[str]) -> None:
        """Each image stage's image ID (sha256:...) from the engine: it enters the stage's settings,
        so a different image makes the stage stale and mlvc.lock records what ran."""
        images = [self.graph.stages[n] for n in names if self.graph.stages[n].image]
        if not images or (self._executor is not None and self._executor.name != "local"):
            return
        from mlvc.execute.container import image_digest

        engine = self._engine_name()
        for stage in images:
            stage.image_id = image_digest(stage.image, engine)  # type: ignore[arg-type]

    def _check_capacity(self, names: list[str], opts: Options) -> None:
        """A stage that asks for more than the machine has is an error before anything runs
        (checked only when such a stage would run: an up-to-date one is left alone)."""
        asking = [n for n in names if self.graph.stages[n].resources.to_dict()]
        if not asking:
            return
        too_big = []
        for n in asking:
            try:
                self.capacity.check(n, self.graph.stages[n].resources)
            except MlvcError as exc:
                too_big.append((n, exc))
        if not too_big:
            return
        would_run = {d.name for d in self.plan(opts.targets, opts.single, opts.downstream, opts.force)
                     if d.action == RUN}  # fmt: skip
        for n, exc in too_big:
            if n in would_run:
                raise exc

    def runs_on(self, stage: spec.Stage) -> dict[str, object]:
        """Where a stage would run and with what: for `repro --dry`."""
        doc: dict[str, object] = {}
        if stage.image and (self._executor is None or self._executor.name == "local"):
            from mlvc.execute.container import find_engine

            doc["backend"] = "container"
            try:
                doc["engine"] = find_engine(self._engine_name()).kind
            except MlvcError:
                doc["engine"] = None
            doc["image"] = stage.image
            if stage.image_id:
                doc["image_id"] = stage.image_id
            doc["network"] = stage.network
        else:
            doc["backend"] = self.executor.name if self._executor is not None else "local"
        doc["resources"] = stage.resources.to_dict()
        if stage.checks:
            doc["checks"] = len(stage.checks)  # data checks that would run first, in this process
        gpus = stage.resources.gpus or 0
        doc["gpus_available"] = self.capacity.gpus if gpus else None
        return doc

    def _run_parallel(self, names: list[str], opts: Options) -> list[StageResult]:
        """Up to `opts.jobs` stages at once within capacity; each one through `reproduce_one`."""
        from mlvc.execute.scheduler import Task, run_dag

        self._parallel = True
        results: dict[str, StageResult] = {}

        def run_one(task: Task, grant) -> bool:
            result = self.reproduce_one(task.name, opts, grant)
            results[task.name] = result
            return result.action != FAILED

        tasks = [Task(n, self.graph.stages[n].resources, tuple(self.graph.upstream[n])) for n in names]
        report = run_dag(
            tasks, run_one, jobs=opts.jobs, capacity=self.capacity, keep_going=opts.keep_going,
            interrupt=self._interrupt_all,
        )
        for name, err in report.failed.items():
            if err is not None and name not in results:  # not a failed command: the backend or mlvc itself
                raise err
        for name in report.skipped:
            failed_up = sorted(self.graph.ancestors({name}) & set(report.failed))
            why = f"upstream {failed_up[0]!r} failed" if failed_up else "stopped after a failure"
            results[name] = StageResult(name, SKIPPED, [why])
            self.listener.finished(results[name])
        failures = [results[n] for n in names if n in results and results[n].action == FAILED]
        if failures:
            raise _failure(self.graph.stages[failures[0].name], failures[0], len(failures))
        return [results[n] for n in names if n in results]


def _check_failed(stage: spec.Stage, d: Decision, exc: MlvcError) -> StageResult:
    """A stage whose data checks failed (or could not run: unreadable data, a missing reference):
    failed like a command that exits non-zero, with the check's one-line message."""
    if isinstance(exc, DataCheckError):
        return StageResult(stage.name, FAILED, d.reasons, error=str(exc), checks=[r.to_dict() for r in exc.results])
    return StageResult(stage.name, FAILED, d.reasons, error=f"stage {stage.name}: data check could not run: {exc}")


def _failure(stage: spec.Stage, result: StageResult, count: int = 1) -> StageFailedError:
    tail = " | ".join(line for line in result.stderr_tail.strip().splitlines()[-3:] if line.strip())
    more = f" ({count - 1} more failed)" if count > 1 else ""
    if result.error:  # a data check: its own one-line message, naming the stage
        return StageFailedError(f"{stage.where}: {result.error}{more}; nothing recorded for it in mlvc.lock")
    code = f"exit code {result.returncode}" if result.returncode else "failed"
    detail = f": {tail}" if tail else ""
    return StageFailedError(
        f"{stage.where}: stage {stage.name!r} {code}{detail}{more}; nothing recorded for it in mlvc.lock"
    )


def _unshare(path: str) -> None:
    """Turn hard and symbolic links into the cache under a persist out into private copies: the
    command may write to them in place, and the cache object must not change (root ignores 0444)."""
    import stat as stat_mod

    from mlvc import links

    paths = [path] if not os.path.isdir(path) or os.path.islink(path) else [
        os.path.join(d, f) for d, _, files in os.walk(path) for f in files
    ]  # fmt: skip
    for p in paths:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat_mod.S_ISLNK(st.st_mode) or (stat_mod.S_ISREG(st.st_mode) and st.st_nlink > 1):
            links.place(os.path.realpath(p), p, "copy", 0o644 | (st.st_mode & 0o111))


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
