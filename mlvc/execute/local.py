"""The `local` backend: each command in a shell subprocess on this machine.

Every job runs in its own process group (a new session), so `interrupt()` and Ctrl-C end the
command and everything it started, not just the shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from mlvc.execute.base import STDERR_TAIL, Job, Outcome, OutputSink

TERM_GRACE_S = 5.0


class LocalExecutor:
    name = "local"

    def __init__(self, shell: str | None = None) -> None:
        # Like DVC: the user's $SHELL, so a dvc.yaml written for it behaves the same.
        self.shell = shell or os.environ.get("SHELL") or "/bin/sh"
        self._procs: set[subprocess.Popen] = set()
        self._guard = threading.Lock()
        self._interrupted = False

    def run(self, job: Job) -> Outcome:
        env = {**os.environ, **job.env}
        if job.gpu_ids is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in job.gpu_ids)
        start = time.monotonic()
        tail = b""
        for cmd in job.cmds:
            if self._interrupted:
                return Outcome(-signal.SIGTERM, tail.decode(errors="replace"), time.monotonic() - start, True)
            rc, tail = self._run_one(cmd, job, env)
            if rc != 0 or self._interrupted:
                return Outcome(rc, tail.decode(errors="replace"), time.monotonic() - start, self._interrupted)
        return Outcome(0, tail.decode(errors="replace"), time.monotonic() - start)

    def interrupt(self) -> None:
        self._interrupted = True
        with self._guard:
            procs = list(self._procs)
        for p in procs:
            _end_group(p)

    # -- one command --------------------------------------------------------
    def _run_one(self, cmd: str, job: Job, env: dict[str, str]) -> tuple[int, bytes]:
        stdout = sys.stderr.fileno() if job.stdout_to_stderr else None
        if job.output is not None:  # parallel run: whole lines, prefixed, via the scheduler's sink
            stdout = subprocess.PIPE
        try:
            proc = subprocess.Popen(
                [self.shell, "-c", cmd],
                cwd=job.wdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return 127, f"{self.shell}: {exc.strerror}\n".encode()
        with self._guard:
            self._procs.add(proc)
        if self._interrupted:  # interrupt() ran between Popen and the add above: it did not see this one
            _end_group(proc)
        tail = bytearray()
        pumps = [threading.Thread(target=_pump, args=(proc.stderr, tail, job.output), daemon=True)]
        if proc.stdout is not None:
            pumps.append(threading.Thread(target=_pump, args=(proc.stdout, None, job.output, "stdout"), daemon=True))
        for pump in pumps:
            pump.start()
        try:
            rc = proc.wait()
        except BaseException:  # Ctrl-C (or any error here): the command must not outlive us
            _end_group(proc)
            raise
        finally:
            for pump in pumps:
                pump.join(timeout=2)
            with self._guard:
                self._procs.discard(proc)
        return rc, bytes(tail)


def _pump(stream, tail: bytearray | None, sink: OutputSink | None = None, kind: str = "stderr") -> None:
    """Copy the child's stderr to ours (or to `sink`) as it comes, keeping the last STDERR_TAIL bytes."""
    out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") and sink is None else None
    for chunk in iter(lambda: stream.read1(65536), b""):
        if sink is not None:
            sink.write(chunk, kind)
        if tail is None:
            continue
        if out is not None:
            try:
                out.write(chunk)
                out.flush()
            except (OSError, ValueError):
                out = None
        tail += chunk
        if len(tail) > STDERR_TAIL:
            del tail[: len(tail) - STDERR_TAIL]
    stream.close()


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM the job's process group, SIGKILL it after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group, even if the leader exited
    except (ProcessLookupError, PermissionError):
        pass
