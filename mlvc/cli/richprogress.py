"""Progress bars on stderr with rich, for a terminal only."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class _RichTask:
    def __init__(self, owner: RichProgress, task_id, total) -> None:
        self.owner = owner
        self.task_id = task_id

    def advance(self, n: int = 1) -> None:
        self.owner.bars.advance(self.task_id, n)

    def close(self) -> None:
        self.owner._closed(self.task_id)


class RichProgress:
    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.bars: Progress | None = None
        self.open = 0

    def task(self, description: str, total: int | None, unit: str = "files") -> _RichTask:
        if self.bars is None:
            self.bars = self._make(unit)
            self.bars.start()
        self.open += 1
        return _RichTask(self, self.bars.add_task(description, total=total), total)

    def _make(self, unit: str) -> Progress:
        if unit == "bytes":
            cols = [DownloadColumn(), TransferSpeedColumn()]
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
        )

    def _closed(self, task_id) -> None:
        self.open -= 1
        if self.bars is not None and self.open == 0:
            self.bars.stop()
            self.bars = None

    def note(self, message: str) -> None:
        self.console.print(message)
