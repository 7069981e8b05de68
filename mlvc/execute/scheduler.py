"""Run a DAG of stages at once, up to `-j` and within the machine's CPU, memory and GPU capacity.

The scheduler knows nothing of mlvc.yaml, the lock or the cache. It gets the stages to run
(each with the names it must wait for and the resources it takes) and a callback that runs
one stage and records it; the pipeline keeps its own per-stage logic (run cache, hashing
outs, writing the lock under a mutex) in that callback.

    report = run_dag(tasks, run_one, jobs=4, capacity=machine_capacity(config), keep_going=False,
                     interrupt=executor.interrupt)
    # run_one(task, grant) -> bool, called from a worker thread once every task in task.after succeeded;
    # grant.gpu_ids are the GPUs the stage holds while it runs (empty tuple = none).

Rules:
- A task is started when all of `after` succeeded, a `-j` slot is free and its resources fit
  into what running tasks leave (a task without a resource request takes only a slot).
  Ready tasks are started in the order given (the pipeline's topological order); a smaller
  one may start ahead of a larger one that does not fit yet.
- Before anything runs, every task is checked against the capacity: one that could never
  fit raises CapacityError and nothing is started.
- A failure (the callback returns False or raises) stops new work and lets running tasks end;
  with `keep_going` everything not downstream of a failure still runs. Downstream tasks of a
  failure are reported as skipped, never run.
- Ctrl-C (KeyboardInterrupt in the calling thread) calls `interrupt()` (the executor ends
  every running command), waits for the running callbacks to return, then re-raises.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mlvc.execute.base import Executor, Job, Outcome, Resources
from mlvc.execute.capacity import Capacity
from mlvc.execute.output import StageOutput, log_path_for


@dataclass(frozen=True)
class Task:
    name: str
    resources: Resources = Resources()
    after: tuple[str, ...] = ()  # tasks in this run that must succeed first (others are ignored)


@dataclass(frozen=True)
class Grant:
    """What a running task holds: its GPU ids (CUDA_VISIBLE_DEVICES), CPUs and memory."""

    gpu_ids: tuple[int, ...] = ()
    cpus: float = 0.0
    memory: int = 0

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.gpu_ids)


@dataclass
class Report:
    succeeded: list[str] = field(default_factory=list)  # in completion order
    failed: dict[str, BaseException | None] = field(default_factory=dict)  # None = callback returned False
    skipped: list[str] = field(default_factory=list)  # never started: downstream of a failure, or stopped
    peak_running: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


RunOne = Callable[[Task, Grant], bool]


class _Pool:
    """Capacity left while tasks run; GPUs are handed out lowest id first."""

    def __init__(self, capacity: Capacity) -> None:
        self.cpus = capacity.cpus
        self.memory = capacity.memory
        self.free_gpus = sorted(capacity.gpu_ids)

    def fits(self, r: Resources) -> bool:
        return (
            (r.cpus or 0) <= self.cpus + 1e-9
            and (r.memory or 0) <= self.memory
            and (r.gpus or 0) <= len(self.free_gpus)
        )

    def take(self, r: Resources) -> Grant:
        n = r.gpus or 0
        ids, self.free_gpus = tuple(self.free_gpus[:n]), self.free_gpus[n:]
        self.cpus -= r.cpus or 0
        self.memory -= r.memory or 0
        return Grant(gpu_ids=ids, cpus=float(r.cpus or 0), memory=int(r.memory or 0))

    def give_back(self, g: Grant) -> None:
        self.cpus += g.cpus
        self.memory += g.memory
        self.free_gpus = sorted(self.free_gpus + list(g.gpu_ids))


def check_capacity(tasks: Sequence[Task], capacity: Capacity) -> None:
    """CapacityError for the first task that asks for more than the machine has."""
    for t in tasks:
        capacity.check(t.name, t.resources)


def run_dag(
    tasks: Sequence[Task],
    run_one: RunOne,
    *,
    jobs: int,
    capacity: Capacity,
    keep_going: bool = False,
    interrupt: Callable[[], None] | None = None,
) -> Report:
    check_capacity(tasks, capacity)
    names = {t.name for t in tasks}
    waiting: dict[str, set[str]] = {t.name: {a for a in t.after if a in names and a != t.name} for t in tasks}
    order = [t.name for t in tasks]
    position = {n: i for i, n in enumerate(order)}
    by_name = {t.name: t for t in tasks}
    children: dict[str, list[str]] = {n: [] for n in names}
    for n, deps in waiting.items():
        for d in deps:
            children[d].append(n)

    pool = _Pool(capacity)
    jobs = max(1, jobs)
    report = Report()
    done: queue.Queue[tuple[str, Grant, bool, BaseException | None]] = queue.Queue()
    running: dict[str, threading.Thread] = {}
    ready: list[str] = [n for n in order if not waiting[n]]
    stopping = False

    def worker(task: Task, grant: Grant) -> None:
        try:
            ok, err = bool(run_one(task, grant)), None
        except BaseException as exc:  # reported to the main thread; KeyboardInterrupt there
            ok, err = False, exc
        done.put((task.name, grant, ok, err))

    def skip_downstream(name: str) -> None:
        stack = list(children[name])
        while stack:
            n = stack.pop()
            if n in waiting:
                del waiting[n]
                report.skipped.append(n)
                stack.extend(children[n])

    def start_ready() -> None:
        for n in list(ready):
            if len(running) >= jobs:
                return
            t = by_name[n]
            if not pool.fits(t.resources):
                continue
            ready.remove(n)
            del waiting[n]
            th = threading.Thread(target=worker, args=(t, pool.take(t.resources)), name=f"mlvc-stage-{n}", daemon=True)
            running[n] = th
            th.start()
            report.peak_running = max(report.peak_running, len(running))

    try:
        start_ready()
        while running:
            name, grant, ok, err = done.get()
            running.pop(name).join()
            pool.give_back(grant)
            if isinstance(err, KeyboardInterrupt):
                raise err
            if ok:
                report.succeeded.append(name)
                for c in children[name]:
                    if c in waiting:
                        waiting[c].discard(name)
                        if not waiting[c] and c not in ready:
                            ready.append(c)
                ready.sort(key=position.__getitem__)
            else:
                report.failed[name] = err
                skip_downstream(name)
                if not keep_going:
                    stopping = True
            if not stopping:
                start_ready()
    except BaseException:
        # Ctrl-C (or an error in the scheduler itself): end every running command, wait for the
        # callbacks to return (they record nothing for an interrupted stage), then re-raise.
        if interrupt is not None:
            interrupt()
        _drain(running, done, pool, report)
        raise
    report.skipped.extend(n for n in order if n in waiting)
    return report


def _drain(running: dict[str, threading.Thread], done: queue.Queue, pool: _Pool, report: Report) -> None:
    while running:
        try:
            name, grant, ok, err = done.get(timeout=30)
        except queue.Empty:
            return  # a callback that will not return: give up on it rather than hang
        except KeyboardInterrupt:
            continue  # a second Ctrl-C while children are being ended: keep waiting for them
        running.pop(name, None)
        pool.give_back(grant)
        if ok:
            report.succeeded.append(name)
        else:
            report.failed[name] = err


def with_grant(
    job: Job, grant: Grant, logs_dir: str | None = None, parallel: bool = False
) -> tuple[Job, StageOutput | None]:
    """The job as it runs under a grant: CUDA_VISIBLE_DEVICES = exactly its GPUs (empty = none); when
    stages run at once, its output as whole lines prefixed with the stage name; with `logs_dir`, a
    log of each stage's output in `logs_dir/<stage>.log`. Close the returned StageOutput after the job."""
    sink = None
    if parallel or logs_dir:
        sink = StageOutput(
            job.name,
            log_path=log_path_for(logs_dir, job.name) if logs_dir else None,
            prefix=None if parallel else "",
            stdout_to_stderr=job.stdout_to_stderr,
        )
    return replace(job, gpu_ids=grant.gpu_ids, output=sink), sink


def run_jobs(
    jobs_after: Sequence[tuple[Job, tuple[str, ...]]],
    executor: Executor,
    *,
    jobs: int,
    capacity: Capacity,
    keep_going: bool = False,
    logs_dir: str | None = None,
) -> tuple[Report, dict[str, Outcome]]:
    """Run jobs straight through an executor under the scheduler (no pipeline): each job with the
    names of the jobs it waits for. Returns the report and every finished job's outcome."""
    by_name = {job.name: job for job, _ in jobs_after}
    outcomes: dict[str, Outcome] = {}
    guard = threading.Lock()

    def run_one(task: Task, grant: Grant) -> bool:
        job, sink = with_grant(by_name[task.name], grant, logs_dir, parallel=jobs > 1)
        try:
            outcome = executor.run(job)
        finally:
            if sink is not None:
                sink.close()
        with guard:
            outcomes[task.name] = outcome
        return outcome.ok

    tasks = [Task(job.name, job.resources, tuple(after)) for job, after in jobs_after]
    report = run_dag(tasks, run_one, jobs=jobs, capacity=capacity, keep_going=keep_going, interrupt=executor.interrupt)
    return report, outcomes
