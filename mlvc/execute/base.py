"""The executor protocol: how a stage's command is run, whatever runs it.

A pipeline hands each stage that must run to an executor as a `Job` and gets an `Outcome`
back. Nothing else crosses the seam: the executor does not know about mlvc.yaml, the lock,
the cache or the DAG, and the pipeline does not know about processes, containers or clusters.

    executor = get_executor("local")
    outcome = executor.run(Job(name="train", cmds=("python train.py",), wdir="/repo", ...))
    if not outcome.ok: ...   # outcome.returncode, outcome.stderr_tail

The contract every backend keeps:
- `run(job)` blocks until the job ends and returns an `Outcome`; it never raises for a
  command that fails (that is `returncode != 0`), only for a backend that cannot start at
  all (an `ExecutorError`). The commands in `job.cmds` run in order in `job.wdir`, each in a
  shell; the first non-zero exit stops the job.
- The job's environment is the caller's plus `job.env`; `CUDA_VISIBLE_DEVICES` is set to
  `job.gpu_ids` when a scheduler granted GPUs (a tuple, empty = no GPU), left alone when None.
- `run` is thread-safe: a scheduler may call it for independent jobs from several threads
  (the `-j` scheduler of the execution layer does; the serial repro calls it in a loop).
- `interrupt()` ends every running job (the whole process group, a container, a remote
  task) and makes the pending `run` calls return with `interrupted=True`. On Ctrl-C the
  caller sees KeyboardInterrupt; a backend must have ended its children before it
  re-raises, so nothing keeps writing outs after mlvc recorded the state.
- `resources` and `image` are hints that a backend honours as it can: `local` ignores
  `image` (the pipeline refuses an image stage on `local` before running it) and uses
  `resources` only for `gpu_ids`; `container` and `ray` map them to their own flags.
- stdout and stderr of the command are passed through to the user (stdout may be sent
  to stderr with `stdout_to_stderr`, so `--json` output stays clean); the last
  `STDERR_TAIL` bytes of stderr come back in `Outcome.stderr_tail` for error messages.

New backends subclass nothing: any object with `name`, `run` and `interrupt` works; add it
to `BACKENDS` so `get_executor(name)` finds it (imported lazily: Ray costs ~1 s to import).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

from mlvc.errors import ExecutorError
from mlvc.pointer import Ref

STDERR_TAIL = 4096

class OutputSink(Protocol):
    def write(self, data: bytes, stream: str) -> None: ...


@dataclass(frozen=True)
class Resources:
    """What a stage asks for; `memory` in bytes. None = no request."""

    cpus: float | None = None
    gpus: int | None = None
    memory: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in (("cpus", self.cpus), ("gpus", self.gpus), ("memory", self.memory)) if v is not None}


@dataclass(frozen=True)
class StageFiles:
    """A stage's inputs and outputs, repo-relative, for a backend with no shared filesystem.

    `deps` carries the hashes the plan saw (the lock records them), so a backend that ships the
    bytes can refuse a dep that changed since; `params` are the params files the stage reads;
    `persist` are the outs whose current content the command builds on."""

    root: str  # the workspace root (absolute); Job.wdir lies under it
    deps: dict[str, Ref] = field(default_factory=dict)
    outs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    persist: tuple[str, ...] = ()
    uncached: tuple[str, ...] = ()  # outs with `cache: false`


@dataclass(frozen=True)
class Job:
    name: str  # the stage name, for messages and logs
    cmds: tuple[str, ...]  # shell commands, run in order; the first failure stops the job
    wdir: str  # absolute working directory
    env: dict[str, str] = field(default_factory=dict)  # added to the caller's environment
    resources: Resources = Resources()
    image: str | None = None
    gpu_ids: tuple[int, ...] | None = None  # granted by a scheduler; None = not managed
    stdout_to_stderr: bool = False
    network: bool = False  # container backends: no network unless the stage says `network: true`
    # When set (by the parallel scheduler), stdout and stderr go to `output.write(data, "stdout"|"stderr")`
    # instead of straight to the terminal: see mlvc.execute.output.StageOutput. The caller closes it.
    output: OutputSink | None = None
    # What the stage reads and writes (set by the pipeline): backends that run the command away from
    # this workspace (`ray`) move these through the remote; `local` and `container` ignore it.
    files: StageFiles | None = None


@dataclass(frozen=True)
class Outcome:
    returncode: int  # of the first failing command, else 0; negative = killed by that signal
    stderr_tail: str = ""
    duration_s: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.interrupted


class Executor(Protocol):
    name: str

    def run(self, job: Job) -> Outcome: ...

    def interrupt(self) -> None: ...


# name -> "module:Class"; imported on first use.
BACKENDS: dict[str, str] = {
    "local": "mlvc.execute.local:LocalExecutor",
    "container": "mlvc.execute.container:ContainerExecutor",
    "ray": "mlvc.execute.ray:RayExecutor",
}


def get_executor(name: str = "local", **options: object) -> Executor:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ExecutorError(f"unknown executor {name!r} (known: {', '.join(sorted(BACKENDS))})") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(**options)
