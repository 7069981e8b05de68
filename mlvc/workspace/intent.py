"""Checkout's intent logs: the fresh workspace files a checkout is writing in place.

A file that did not exist is created in place (one directory operation, not a temp file and a
rename), so a killed checkout can leave it part-written: bytes not in the cache, which a rerun
would refuse to overwrite. Before creating the first one, a checkout renames a log into
`.mlvc/tmp/checkout-intent/` naming each path and the object going there, and removes it once
they are written (after an error too: a file that failed is removed). A log left behind names
files an interrupted checkout was writing: one whose bytes are still a prefix of its object may
be overwritten; anything else at that path (the user's) is refused as usual.

Format: records `HASH SP PATH NUL`, PATH repo-relative with `/` (a name may hold a newline).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from mlvc import links

DIR = "checkout-intent"

_live: set[str] = set()  # this process's logs in use (parallel stages check out at once): not leftovers
_live_guard = threading.Lock()


def begin(tmp_dir: str, files: list[tuple[str, str]]) -> str:
    """Log `files` ((repo-relative path, hash) each) as about to be created in place; the log's path."""
    folder = os.path.join(tmp_dir, DIR)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{os.getpid()}-{os.urandom(6).hex()}")
    with _live_guard:
        _live.add(path)
    try:
        links.write_bytes_atomic(path, _encode(files))
    except BaseException:
        end(path)
        raise
    return path


def end(path: str) -> None:
    """The logged files are all written (or removed): forget them."""
    links.unlink_quiet(path)
    with _live_guard:
        _live.discard(path)


class Leftovers:
    """What interrupted checkouts were writing, read from the logs they left."""

    def __init__(self, tmp_dir: str) -> None:
        self.folder = os.path.join(tmp_dir, DIR)
        self.logs: dict[str, list[tuple[str, str]]] = {}
        self.stale: list[str] = []  # temp files of logs never renamed in: nothing was written under them
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            names = []
        with _live_guard:
            live = set(_live)
        for name in names:
            path = os.path.join(self.folder, name)
            if links.is_tmp_name(name):
                if os.path.join(self.folder, name[1 : name.index(links.TMP_MARK)]) not in live:
                    self.stale.append(path)
            elif path not in live:
                try:
                    with open(path, "rb") as f:
                        self.logs[path] = _decode(f.read())
                except FileNotFoundError:
                    pass
        self.hashes = {rel: h for files in self.logs.values() for rel, h in files}

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def get(self, rel: str) -> str | None:
        """The object an interrupted checkout was writing at `rel`, if one was."""
        return self.hashes.get(rel)

    def settle(self, done: Callable[[str], bool]) -> None:
        """Forget the files that `done` says a later checkout has made whole: a log with none left is
        removed, else rewritten with the rest (one checkout may restore only some of the paths)."""
        for path in self.stale:
            links.unlink_quiet(path)
        with _live_guard:  # reread under the lock: a checkout beside this one may have settled some
            for path in self.logs:
                try:
                    with open(path, "rb") as f:
                        files = _decode(f.read())
                except FileNotFoundError:
                    continue
                rest = [(rel, h) for rel, h in files if not done(rel)]
                if not rest:
                    links.unlink_quiet(path)
                elif len(rest) < len(files):
                    links.write_bytes_atomic(path, _encode(rest))


def _encode(files: list[tuple[str, str]]) -> bytes:
    return b"".join(h.encode() + b" " + os.fsencode(rel) + b"\0" for rel, h in files)


def _decode(data: bytes) -> list[tuple[str, str]]:
    files = []
    for record in data.split(b"\0")[:-1]:
        h, _, rel = record.partition(b" ")
        files.append((os.fsdecode(rel), h.decode("ascii", "replace")))
    return files
