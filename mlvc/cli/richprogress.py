"""Progress bars on stderr with rich, for a terminal only.

Redrawn from `advance` (at most every REFRESH_S), not by rich's refresh thread: the forked walk
and add (mlvc/forked.py) are never taken from a process that runs other threads, and on a
terminal that thread would have kept them in one process.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mlvc import progress


class _RichTask(progress.Task):
    def __init__(self, owner: RichProgress, task_id, total) -> None:
        self.owner = owner
        self.task_id = task_id

    def advance(self, n: int = 1) -> None:
        bars = self.owner.bars
        if bars is not None:
            bars.advance(self.task_id, n)
            self.owner.tick(bars)

    def close(self) -> None:
        self.owner._closed(self.task_id)


REFRESH_S = 0.1


class RichProgress(progress.Progress):
    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.bars: Progress | None = None
        self.open = 0
        self._drawn = 0.0

    def tick(self, bars: Progress) -> None:
        now = time.monotonic()
        if now - self._drawn >= REFRESH_S:
            self._drawn = now
            bars.refresh()

    def task(self, description: str, total: int | None, unit: str = "files") -> _RichTask:
        if self.bars is None:
            self.bars = self._make(unit)
            self.bars.start()
        self.open += 1
        return _RichTask(self, self.bars.add_task(description, total=total, unit=unit), total)

    def _make(self, unit: str) -> Progress:
        if unit == "bytes":
            cols = [DownloadColumn(), TransferSpeedColumn()]
        elif unit == "objects":  # transfers: an objects task and a bytes task share the display
            cols = [_CountRateColumn()]
        else:
            cols = [MofNCompleteColumn()]
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            *cols,
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            auto_refresh=False,
        )

    def _closed(self, task_id) -> None:
        self.open -= 1
        if self.bars is not None and self.open == 0:
            self.bars.stop()
            self.bars = None

    def note(self, message: str) -> None:
        self.console.print(message)


class _CountRateColumn(ProgressColumn):
    """`12,345/50,000 objects 4,100/s` or `120.5/230.0 MB 45.2 MB/s`, by each task's own unit."""

    def render(self, task):
        from rich.filesize import decimal
        from rich.text import Text

        speed = task.finished_speed or task.speed or 0
        total = task.total
        if task.fields.get("unit") == "bytes":
            tot = f"/{decimal(int(total))}" if total else ""
            return Text(f"{decimal(int(task.completed))}{tot} {decimal(int(speed))}/s", style="progress.download")
        tot = f"/{int(total):,}" if total else ""
        unit = task.fields.get("unit", "")
        return Text(f"{int(task.completed):,}{tot} {unit} {speed:,.0f}/s", style="progress.download")
