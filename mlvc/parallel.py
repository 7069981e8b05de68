"""Parallel file work in threads: hashing, copying and linking release the GIL.

A plain thread pool rather than joblib on these paths: importing joblib pulls in numpy (~0.35 s),
more than a whole no-op command costs. Work goes in batches so per-task overhead stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def in_batches(fn: Callable[[Sequence[T]], object], items: Sequence[T], batch: int, jobs: int, name: str) -> None:
    """Call `fn` on consecutive batches of `items`, `jobs` at a time; the first error is raised
    after every running batch has ended (nothing keeps writing behind the caller's back)."""
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    if jobs <= 1 or len(batches) <= 1:
        for b in batches:
            fn(b)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(min(jobs, len(batches)), thread_name_prefix=name)
    try:
        for _ in pool.map(fn, batches):
            pass
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
