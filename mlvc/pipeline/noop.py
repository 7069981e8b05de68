"""The no-op memo: a `mlvc repro` with nothing changed since the last no-op one answers from stats.

A repro that finds every stage it considers up to date (or frozen) records in `.mlvc/tmp/repro-noop`
what that verdict rests on: the stat signatures of the pipeline, lock, config, params and templating
files and of every dep and out of those stages (a folder by the listing signature the scanner
walked it to, so recording costs no second walk), with the per-stage results. The next repro with
the same targets and options takes the same signatures again; when every one matches, so does the
verdict, and it is printed without loading the pipeline, the lock, the stat cache or the code that
runs stages: those imports are most of a no-op's time. Any difference, an unreadable memo or another
mlvc version means the full check, which records a new memo when its verdict is again a no-op. Not
recorded: a verdict that rests on something no file shows (a container stage's image ID, asked from
the engine) or on dvc.lock (the full check then writes mlvc.lock).

A signature is (inode, size, mtime_ns), the stat cache's own test, and each is taken before the
file is read for the verdict (deps and outs: by the scan that hashes them), so a file that changes
during the check leaves a signature that no longer matches. Local and disposable like the stat
cache: deleting it costs one full check.
"""

from __future__ import annotations

import marshal
import os
import sys
from stat import S_ISDIR

from mlvc import __version__

FILE = os.path.join(".mlvc", "tmp", "repro-noop")
FORMAT = 1
# What every verdict reads before the stages are known: signed first, before the full check reads them.
FIXED = ("mlvc.yaml", "dvc.yaml", "mlvc.lock", "dvc.lock", "params.yaml", ".mlvc/config", ".mlvc/config.local")


def key(targets: list[str] | None, single: bool, downstream: bool, dry: bool) -> tuple:
    """The question (which stages; --dry, which judges a missing dep differently) and the memo's
    format: a memo answers only the same question."""
    return (FORMAT, __version__, sys.hexversion, tuple(targets or ()), single, downstream, dry)


def file_signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def signature(root: str, rel: str) -> object:
    """How `rel` looks now: a file's stat signature, a folder's listing signature, None when absent."""
    try:
        st = os.stat(os.path.join(root, rel))
    except (FileNotFoundError, NotADirectoryError):
        return None
    if S_ISDIR(st.st_mode):
        from mlvc.workspace.walk import folder_signature  # imported only for a folder dep or out

        return folder_signature(root, rel)
    return file_signature(st)


def answer(root: str, memo_key: tuple) -> list[dict[str, object]] | None:
    """The recorded results (StageResult.to_dict() per stage) while nothing they rest on changed, else None."""
    try:
        with open(os.path.join(root, FILE), "rb") as f:
            memo = marshal.load(f)
        if memo["key"] != memo_key:
            return None
        for rel, sig in memo["signatures"]:
            if signature(root, rel) != sig:
                return None
        return memo["results"]
    except Exception:  # absent, unreadable, another format; a folder that cannot be walked: the full check says why
        return None


class Recorder:
    """Takes the signatures for a memo during a full check; writes it if the verdict is a no-op."""

    def __init__(self, root: str, memo_key: tuple) -> None:
        self.root = root
        self.key = memo_key
        self.signatures: dict[str, object] = {rel: signature(root, rel) for rel in FIXED}

    def watch(self, rels: list[str]) -> None:
        """Sign more files before the check reads them (params files, templating's `vars` files)."""
        for rel in rels:
            if rel not in self.signatures:
                self.signatures[rel] = signature(self.root, rel)

    def write(self, scanned: dict[str, object], paths: list[str], results: list[dict[str, object]]) -> None:
        """Record `results`, judged from the deps and outs `paths`, whose signatures the check's scans
        took (`scanned`). A path missing there, or signed differently before, changed during the check:
        then the old memo is dropped and none recorded."""
        signatures = dict(self.signatures)
        for rel in paths:
            if rel not in scanned or signatures.get(rel, scanned[rel]) != scanned[rel]:
                forget(self.root)
                return
            signatures[rel] = scanned[rel]
        memo = {"key": self.key, "signatures": list(signatures.items()), "results": results}
        try:
            from mlvc.links import write_bytes_atomic

            write_bytes_atomic(os.path.join(self.root, FILE), marshal.dumps(memo))
        except OSError:
            pass  # a memo that cannot be written only costs the next no-op its full check


def forget(root: str) -> None:
    """Drop the memo: a full check whose verdict it is not (something ran, or cannot be memoised)."""
    try:
        os.unlink(os.path.join(root, FILE))
    except OSError:
        pass
