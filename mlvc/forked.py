"""Share per-file work with one forked child: on 2+ CPUs, half the syscalls run in another process.

A no-op status of 50,000 files is 50,000 stat calls, and an add with hardlinks 50,000 open +
read + link: kernel work that one Python thread issues one at a time and that threads would only
serialize on the GIL. `share_items` runs the work as numbered items that this process and one
forked child take from a shared queue, and brings each of the child's results back through a
pipe as marshal data; `Shared` does it in two steps, so this process can do other work once the
child has begun. Fixed halves would not do: on a shared VM one process is often given less
CPU than the other, and the faster one would wait.

The child runs only the function it is given (no SQLite, no output, no locks) and always leaves
by `os._exit`. When it fails (an exception, a crash, unreadable data) the items it took and did
not report are left for the caller to do itself, so the work must be safe to redo.
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


# The queue holds each item's number as 4 bytes, all written before the fork into one pipe (64 KiB).
MAX_ITEMS = 16_000
_ITEM = 4


def share_items(
    count: int,
    mine: Callable[[int], object],
    theirs: Callable[[int], object],
    take: Callable[[object], object],
) -> None:
    """Do items 0..count-1 here (`mine(i)`) and in a forked child (`theirs(i)`), each process taking
    the next item from a shared queue: neither waits while the other still has work, however the
    items' cost differs or the CPUs are shared. Each result of `theirs` comes back as marshal data
    and is given to `take` here, between this process's own items, so applying it costs nothing
    after the last one.

    An item the child took and did not report (it failed, or no child could be made) is done by
    nobody: the caller finds what is left and does it. When `mine` or `take` raises, the queue is
    emptied and the child waited for before the error goes on: nothing works behind the caller."""
    Shared(count, theirs).finish(mine, take)


class Shared:
    """`share_items` in two steps: once made, the forked child is taking items; `finish` does the
    rest here. In between this process can do other work (a status opens its stat cache while
    its walk's child runs), and the child takes items meanwhile.

    One never finished (the caller failed in between) leaves its child to end with this process:
    the child only runs `theirs`, then blocks on its full pipe until this process's exit closes
    it (EPIPE)."""

    def __init__(self, count: int, theirs: Callable[[int], object]) -> None:
        if count > MAX_ITEMS:
            raise ValueError(f"share_items: {count} items, at most {MAX_ITEMS}")
        self.count = count
        self.pid: int | None = None  # no child: every item is done here
        self.queue_r = self.results_r = -1
        queue = _pipe()
        results = _pipe() if queue is not None else None
        if queue is None or results is None:
            if queue is not None:
                os.close(queue[0])
                os.close(queue[1])
            return
        self.queue_r, queue_w = queue
        try:
            os.write(queue_w, b"".join(i.to_bytes(_ITEM, "little") for i in range(count)))
        finally:
            os.close(queue_w)  # an empty queue reads as its end, in both processes
        self.results_r, results_w = results
        self.pid = _fork()
        if self.pid == 0:
            _child(self.queue_r, self.results_r, results_w, theirs)
        os.close(results_w)
        if self.pid is None:
            os.close(self.results_r)
            os.close(self.queue_r)

    def finish(self, mine: Callable[[int], object], take: Callable[[object], object]) -> None:
        """Take items from the queue until it is empty, applying the child's results as they come,
        and wait for the child; without one, every item here."""
        if self.pid is None:
            for i in range(self.count):
                mine(i)
            return
        results = _Results(self.results_r, take)
        try:
            while item := os.read(self.queue_r, _ITEM):
                mine(int.from_bytes(item, "little"))
                results.take_ready()
            results.take_rest()
        except BaseException:
            while os.read(self.queue_r, 1 << 16):  # the child stops after the item it is on
                pass
            raise
        finally:
            os.close(self.queue_r)
            os.close(self.results_r)  # a child still writing gets EPIPE and exits
            os.waitpid(self.pid, 0)


def _child(queue_r: int, results_r: int, results_w: int, theirs) -> None:
    code = 1
    try:
        os.close(results_r)
        # A pipe read of 4 bytes from a queue of 4-byte items takes one item whole.
        while item := os.read(queue_r, _ITEM):
            data = marshal.dumps(theirs(int.from_bytes(item, "little")))
            _write_all(results_w, len(data).to_bytes(8, "little") + data)
        code = 0
    except BaseException:  # noqa: BLE001, S110 - its items are left undone for the caller
        pass
    finally:
        os._exit(code)


def _pipe() -> tuple[int, int] | None:
    try:
        return os.pipe()
    except OSError:
        return None


def _fork() -> int | None:
    try:
        return os.fork()
    except OSError:
        return None


class _Results:
    """Length-prefixed marshal frames from the child, given to `take` as they come whole."""

    def __init__(self, fd: int, take: Callable[[object], object]) -> None:
        self.fd, self.take, self.buffer = fd, take, bytearray()
        os.set_blocking(fd, False)

    def take_ready(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 20):
                self.buffer += chunk
        except BlockingIOError:
            pass
        self._take_whole()

    def take_rest(self) -> None:
        os.set_blocking(self.fd, True)
        self.buffer += _read_all_fd(self.fd)
        self._take_whole()  # a frame cut short (the child died writing it) is left undone

    def _take_whole(self) -> None:
        buffer, start = self.buffer, 0
        while len(buffer) - start >= 8:
            end = start + 8 + int.from_bytes(buffer[start : start + 8], "little")
            if end > len(buffer):
                break
            try:
                result = marshal.loads(buffer[start + 8 : end])
            except (ValueError, EOFError, TypeError):
                result = None
            start = end
            if result is not None:
                self.take(result)
        del buffer[:start]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
