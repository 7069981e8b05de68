"""How the core reports progress without printing: the CLI passes a Progress, the core calls it."""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None, unit: str = "files") -> Task: ...

    def note(self, message: str) -> None: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class NullProgress:
    def task(self, description: str, total: int | None, unit: str = "files") -> Task:
        return _NullTask()

    def note(self, message: str) -> None:
        pass


NULL = NullProgress()
