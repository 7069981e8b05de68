"""The `container` backend: a stage's commands inside an image, with podman or docker.

    executor = get_executor("container", root="/repo", engine=config.get("execute", "engine"))
    digest = image_digest("localhost/train:1", engine)   # "sha256:..." for mlvc.lock

Each job is one `ENGINE run` of `/bin/sh -c SCRIPT` (its commands in order, the first failure
stops), with:
- the workspace root bind-mounted at the same path and the job's wdir as working directory,
  so a command works the same in and out of the container;
- `--user UID:GID` of the caller (plus `--userns=keep-id` for rootless podman), so outs belong
  to the user;
- `--network none` unless the job says `network`;
- each declared env variable as `-e NAME` (the value travels in the engine's environment,
  never on its command line);
- the granted GPUs as `--gpus "device=0,1"` (docker) or CDI `--device nvidia.com/gpu=0` (podman);
  `CUDA_VISIBLE_DEVICES` is not passed in: the engine shows the container exactly its GPUs;
- `--cpus` / `--memory` from the stage's resources; `--init`, so signals end the command;
- the image by its ID (the digest that goes into mlvc.lock), `--pull never`: mlvc never pulls.

The engine's client runs through the local backend (its own process group, stderr tail,
output kept apart when stages run at once); `interrupt()` also kills the containers by name.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass, replace

from mlvc.errors import ExecutorError
from mlvc.execute.base import Job, Outcome
from mlvc.execute.local import LocalExecutor

ENGINES = ("podman", "docker")
INSPECT_TIMEOUT_S = 60


@dataclass(frozen=True)
class Engine:
    kind: str  # "podman" or "docker": which flags it takes
    path: str

    @property
    def rootless_podman(self) -> bool:
        return self.kind == "podman" and os.getuid() != 0


def find_engine(configured: str | None = None) -> Engine:
    """The engine named in config (`podman`, `docker` or a path), else podman or docker on PATH."""
    if configured:
        path = shutil.which(configured)
        if path is None:
            raise ExecutorError(
                f"container engine {configured!r} (execute.engine in .mlvc/config) is not installed or not on PATH"
            )
        return Engine(_kind_of(path), path)
    for kind in ENGINES:
        path = shutil.which(kind)
        if path is not None:
            return Engine(kind, path)
    raise ExecutorError(
        "no container engine found for an `image:` stage: install podman or docker, "
        "or name one with `mlvc config execute.engine PATH`"
    )


def _kind_of(path: str) -> str:
    base = os.path.basename(path).lower()
    for kind in ENGINES:
        if kind in base:
            return kind
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout.lower()
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    return "podman" if "podman" in version else "docker"


def _engine(engine: Engine | str | None) -> Engine:
    return engine if isinstance(engine, Engine) else find_engine(engine)


_DIGESTS: dict[tuple[str, str], str] = {}
_DIGESTS_GUARD = threading.Lock()


def image_digest(image: str, engine: Engine | str | None = None) -> str:
    """The local image's ID as `sha256:HEX` (a different image, a different ID): what mlvc.lock records.

    Asked once per process per image. Raises ExecutorError when the engine is missing, not
    permitted or not running, or when the image is not present (mlvc never pulls).
    """
    eng = _engine(engine)
    key = (eng.path, image)
    with _DIGESTS_GUARD:
        if key in _DIGESTS:
            return _DIGESTS[key]
    try:
        proc = subprocess.run(
            [eng.path, "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ExecutorError(f"{eng.kind} did not answer within {INSPECT_TIMEOUT_S}s (image inspect {image})") from None
    except OSError as exc:
        raise ExecutorError(f"cannot run {eng.path}: {exc.strerror}") from None
    ident = proc.stdout.strip().splitlines()[0].strip() if proc.returncode == 0 and proc.stdout.strip() else ""
    if not ident:
        raise _inspect_error(eng, image, proc.stderr)
    digest = ident if ident.startswith("sha256:") else f"sha256:{ident}"
    with _DIGESTS_GUARD:
        _DIGESTS[key] = digest
    return digest


def forget_digests() -> None:
    """Drop the per-process digest cache (after building or removing an image in the same process)."""
    with _DIGESTS_GUARD:
        _DIGESTS.clear()


def _inspect_error(eng: Engine, image: str, stderr: str) -> ExecutorError:
    text = stderr.strip()
    low = text.lower()
    if "permission denied" in low or "access denied" in low or "operation not permitted" in low:
        return ExecutorError(
            f"{eng.kind} is not permitted for this user ({_first_line(text)}): "
            + ("add the user to the docker group or use podman" if eng.kind == "docker" else "check podman's setup")
        )
    if "cannot connect to the docker daemon" in low or "is the docker daemon running" in low:
        return ExecutorError(f"the docker daemon is not running ({_first_line(text)}): start dockerd, or use podman")
    if "no such image" in low or "image not known" in low or "no such object" in low or not text:
        return ExecutorError(
            f"image {image!r} is not present in {eng.kind}: build it or `{eng.kind} pull {image}` "
            "(mlvc never pulls images)"
        )
    return ExecutorError(f"{eng.kind} cannot inspect image {image!r}: {_first_line(text)}")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "no message"


_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_counter = itertools.count(1)


def container_name(stage: str) -> str:
    safe = _NAME_UNSAFE.sub("_", stage).strip("_.-")[:60] or "stage"
    return f"mlvc-{safe}-{os.getpid()}-{next(_counter)}"


def job_script(cmds: tuple[str, ...]) -> str:
    """One /bin/sh script for the job's commands: each in a subshell, the first failure's code ends it."""
    if len(cmds) == 1:
        return cmds[0]
    return "\n".join(f"(\n{cmd}\n) || exit $?" for cmd in cmds)


def gpu_flags(engine: Engine, job: Job) -> list[str]:
    ids = job.gpu_ids
    if ids is None:  # not scheduled: the first N devices
        ids = tuple(range(job.resources.gpus or 0))
    if not ids:
        return []
    if engine.kind == "docker":
        return ["--gpus", '"device=' + ",".join(str(i) for i in ids) + '"']
    return [arg for i in ids for arg in ("--device", f"nvidia.com/gpu={i}")]


def container_argv(
    engine: Engine, job: Job, image_ref: str, root: str, name: str, user: str | None = None
) -> list[str]:
    """The full `ENGINE run ...` command line for one job."""
    for path in {root, job.wdir}:
        if ":" in path:
            raise ExecutorError(f"cannot bind-mount {path!r} into a container: the path contains ':'")
    argv = [engine.path, "run", "--rm", "--init", "--name", name, "--pull", "never"]
    argv += ["--user", user or f"{os.getuid()}:{os.getgid()}"]
    if engine.rootless_podman:
        argv.append("--userns=keep-id")
    if not job.network:
        argv += ["--network", "none"]
    argv += ["-v", f"{root}:{root}", "-w", job.wdir]
    for key in sorted(job.env):
        argv += ["-e", key]
    if job.resources.cpus:
        argv += ["--cpus", f"{job.resources.cpus:g}"]
    if job.resources.memory:
        argv += ["--memory", str(int(job.resources.memory))]
    argv += gpu_flags(engine, job)
    argv += [image_ref, "/bin/sh", "-c", job_script(job.cmds)]
    return argv


_ENGINE_FAILURE = re.compile(
    r"^(Error: |docker: Error response from daemon|Error response from daemon|docker: )", re.MULTILINE
)


class ContainerExecutor:
    name = "container"

    def __init__(
        self, root: str | None = None, engine: Engine | str | None = None, user: str | None = None,
        shell: str | None = None,
    ) -> None:
        self.root = os.path.abspath(root) if root else None
        self._engine_spec = engine
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self.user = user
        self._local = LocalExecutor(shell=shell or "/bin/sh")
        self._names: set[str] = set()
        self._guard = threading.Lock()
        self._interrupted = False

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = find_engine(self._engine_spec if isinstance(self._engine_spec, str) else None)
        return self._engine

    def run(self, job: Job) -> Outcome:
        if not job.image:
            raise ExecutorError(f"stage {job.name!r} has no image: the container backend runs `image:` stages only")
        if self._interrupted:
            return Outcome(-15, "", 0.0, True)
        eng = self.engine
        digest = image_digest(job.image, eng)
        name = container_name(job.name)
        argv = container_argv(eng, job, digest, self.root or job.wdir, name, self.user)
        with self._guard:
            self._names.add(name)
        try:
            # The engine client runs like any local command; the job's env is in its environment for `-e NAME`.
            outcome = self._local.run(replace(job, cmds=(shlex.join(argv),), image=None))
        except BaseException:  # Ctrl-C in the serial loop: the local backend ended the client; end the container
            self._kill([name])
            raise
        finally:
            with self._guard:
                self._names.discard(name)
        if self._interrupted and not outcome.ok:  # killed by name before the client saw our signal
            return replace(outcome, interrupted=True)
        if outcome.returncode in (125, 126, 127) and not outcome.interrupted:
            failure = list(_ENGINE_FAILURE.finditer(outcome.stderr_tail))
            if failure:
                line = outcome.stderr_tail[failure[-1].start():].splitlines()[0]
                raise ExecutorError(f"{eng.kind} could not run stage {job.name!r}: {line.strip()}{_hint(line)}")
        return outcome

    def interrupt(self) -> None:
        with self._guard:
            self._interrupted = True
            names = list(self._names)
        self._kill(names)
        self._local.interrupt()

    def _kill(self, names: list[str]) -> None:
        killers = []
        for name in names:
            try:
                killers.append(
                    subprocess.Popen(
                        [self.engine.path, "kill", name],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                )
            except OSError:
                pass
        for k in killers:
            try:
                k.wait(timeout=15)
            except subprocess.TimeoutExpired:
                k.kill()


def _hint(line: str) -> str:
    low = line.lower()
    if "cdi" in low or "capabilities: [[gpu]]" in low or "nvidia" in low:
        return " (GPUs in containers need the NVIDIA container toolkit: CDI specs for podman, the runtime for docker)"
    if "permission denied" in low:
        return " (the engine is not permitted for this user)"
    return ""
