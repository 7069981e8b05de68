"""The stat cache: never hash an unchanged file twice, never rebuild an unchanged tree.

Two tables in one SQLite file under `.mlvc/tmp/`:
- files: inode -> (size, mtime_ns, hash). A hit needs the same inode, size and mtime_ns.
- trees: signature -> tree hash, where the signature is a hash of a directory's listing
  with each entry's inode/size/mtime (files) or tree hash (subfolders). An unchanged folder
  then costs one stat per entry and no tree serialization.
Linux ≥ 6.13 gives ext4/xfs/btrfs/tmpfs multigrain timestamps: a write after our stat
always gets a new mtime, so a same-size rewrite inside one clock tick is still seen.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable

SCHEMA = 1


class StatCache:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._pending_files: list[tuple[int, int, int, str]] = []
        self._pending_trees: list[tuple[str, str]] = []
        self._knows_files: bool | None = None  # whether the files table holds a row (asked once)
        # `repro -j N` hashes deps and outs from several threads: one connection, used under this lock.
        self._guard = threading.RLock()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        return self._db  # type: ignore[return-value]

    def open(self) -> None:
        """Open the database: at the first question, or sooner (a status opens it while its forked
        walk runs)."""
        if self._db is not None:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.OperationalError:
            raise  # busy or locked: another mlvc uses it, never delete it
        except sqlite3.DatabaseError:
            # Not a database any more (a crash, a full disk, a stray write): it is only a
            # cache, so start a new one rather than fail every command.
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(self.path + suffix)
                except FileNotFoundError:
                    pass
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS files "
                "(ino INTEGER PRIMARY KEY, size INTEGER, mtime INTEGER, hash TEXT)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS trees (sig TEXT PRIMARY KEY, hash TEXT)")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def lookup_files(self, stats: Iterable[os.stat_result]) -> dict[int, str]:
        """inode -> hash for those stats that still match what was recorded."""
        if not self.knows_files():
            return {}
        wanted = {st.st_ino: st for st in stats}
        if not wanted:
            return {}
        found: dict[int, str] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 900):  # SQLite's host-parameter limit
            batch = keys[i : i + 900]
            marks = ",".join("?" * len(batch))
            with self._guard:
                rows = self.db.execute(
                    f"SELECT ino, size, mtime, hash FROM files WHERE ino IN ({marks})", batch
                ).fetchall()
            for ino, size, mtime, h in rows:
                st = wanted[ino]
                if st.st_size == size and st.st_mtime_ns == mtime:
                    found[ino] = h
        return found

    def knows_files(self) -> bool:
        """Whether any file was recorded: a fresh cache (a new repository, a new clone) answers a
        first add of 50,000 files with one query instead of 56."""
        if self._knows_files is None:
            with self._guard:
                self._knows_files = bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM files)").fetchone()[0])
        return self._knows_files

    def record_file(self, st: os.stat_result, h: str) -> None:
        self._pending_files.append((st.st_ino, st.st_size, st.st_mtime_ns, h))

    def record_files(self, rows: list[tuple[int, int, int, str]]) -> None:
        """`record_file` of many files at once: (inode, size, mtime_ns, hash) rows."""
        self._pending_files.extend(rows)

    def lookup_trees(self, sigs: list[str]) -> dict[str, tuple[str, int, int]]:
        """signature -> (tree hash, size, file count) for those of `sigs` that were recorded (one
        query per 900)."""
        found: dict[str, tuple[str, int, int]] = {}
        for i in range(0, len(sigs), 900):  # SQLite's host-parameter limit
            batch = sigs[i : i + 900]
            with self._guard:
                rows = self.db.execute(
                    f"SELECT sig, hash FROM trees WHERE sig IN ({','.join('?' * len(batch))})", batch
                ).fetchall()
            for sig, value in rows:
                h, size, nfiles = value.split(":")
                found[sig] = (h, int(size), int(nfiles))
        return found

    def record_tree(self, sig: str, h: str, size: int, nfiles: int) -> None:
        """A folder's listing signature and what it scanned to: its tree hash, size and file count."""
        self._pending_trees.append((sig, f"{h}:{size}:{nfiles}"))

    def flush(self) -> None:
        with self._guard:
            self._flush()

    def _flush(self) -> None:
        if not (self._pending_files or self._pending_trees):
            return
        try:
            # In inode order: each row lands beside the last one in the table's B-tree (a walk
            # gives a folder's files by name, its inodes in any order: up to 2x slower).
            self._pending_files.sort()
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", self._pending_files)
                self.db.executemany("INSERT OR REPLACE INTO trees VALUES (?,?)", self._pending_trees)
            if self._pending_files:
                self._knows_files = True
        except sqlite3.OperationalError:
            # A cache that cannot be written (read-only checkout, full disk) only costs speed.
            pass
        self._pending_files.clear()
        self._pending_trees.clear()

    def close(self) -> None:
        with self._guard:
            self._flush()
            if self._db is not None:
                self._db.close()
                self._db = None
