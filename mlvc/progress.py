"""How the core reports progress without printing: the CLI passes a Progress, the core calls it.

Plain base classes that show nothing, not typing.Protocols: every command imports this module, and
typing (with re, contextlib and enum) is ~5 ms of each start. The CLI's rich bars subclass them
(mlvc/cli/richprogress.py).
"""

from __future__ import annotations


class Task:
    """One bar: the core advances it as work is done and closes it at the end."""

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class Progress:
    """Makes the bars (`task`) and shows one-line notes between them."""

    def task(self, description: str, total: int | None, unit: str = "files") -> Task:
        return Task()

    def note(self, message: str) -> None:
        pass


NULL = Progress()
