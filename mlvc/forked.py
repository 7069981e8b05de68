"""Share per-file work with one forked child: on 2+ CPUs, half the syscalls run in another process.

A no-op status of 50,000 files is 50,000 stat calls, and an add with hardlinks 50,000 open +
read + link: kernel work that one Python thread issues one at a time and that threads would only
serialize on the GIL. `both_halves` runs one half in a forked child and the other here, and
brings the child's result back through a pipe as marshal data.

The child runs only the function it is given (no SQLite, no output, no locks) and always leaves
by `os._exit`. When it fails (an exception, a crash, unreadable data) the caller gets None for
its half and does that half itself, so the work must be safe to redo.
"""

from __future__ import annotations

import marshal
import os
import threading
from collections.abc import Callable

# From this many files on (a pointer's count, the files to add); MLVC_WALK_FORK_MIN_FILES overrides
# it (tests force the forked paths on small trees with 1).
FORK_MIN_FILES = 20_000


def should_fork(expect_files: int) -> bool:
    """Share the work with a forked child? Only for many files (a fork costs ~1-3 ms), where this
    process may use 2+ CPUs, and never from a process running other threads (a child of a
    threaded process may inherit locks held by threads that do not exist in it)."""
    if not expect_files or not hasattr(os, "fork"):
        return False
    try:
        least = int(os.environ.get("MLVC_WALK_FORK_MIN_FILES") or FORK_MIN_FILES)
    except ValueError:
        least = FORK_MIN_FILES
    return expect_files >= least and usable_cpus() > 1 and threading.active_count() == 1


def both_halves(mine: Callable[[], object], theirs: Callable[[], object]) -> tuple[object, object | None]:
    """(mine(), theirs()) with `theirs` run in a forked child at the same time; None in place of
    the child's result when it failed or no child could be made (the caller redoes that half).
    The child is always waited for, also when `mine` raises: nothing works behind the caller."""
    try:
        r, w = os.pipe()
    except OSError:
        return mine(), None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return mine(), None
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)
            view = memoryview(marshal.dumps(theirs()))
            while view:
                view = view[os.write(w, view) :]
            code = 0
        except BaseException:  # noqa: BLE001, S110 - the parent redoes this half
            pass
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    try:
        result = mine()
        data = _read_all_fd(r)
    finally:
        os.close(r)  # a child still writing gets EPIPE and exits
        _, code = os.waitpid(pid, 0)
    if code != 0 or not data:
        return result, None
    try:
        return result, marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return result, None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on (a cpuset, taskset)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read_all_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
