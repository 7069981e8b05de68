"""Output of stages that run at once, kept apart: whole lines only, each prefixed with its stage.

    out = StageOutput("train", log_path=".mlvc/tmp/logs/train.log", prefix="train | ")
    out.write(b"epoch 1\\nepo", "stdout")   # prints "train | epoch 1", keeps "epo" until its line ends
    out.close()                              # flushes the unfinished last line

Every line goes to the terminal under one process-wide lock, so two stages never mix within
a line; the log file gets the same whole lines, unprefixed (stdout and stderr come through two
pipes: lines keep their order within a stream, not across the two). A backend that is handed
a `Job.output` pipes the command's stdout and stderr into it instead of passing them through.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import BinaryIO

_TERMINAL = threading.Lock()
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def log_path_for(logs_dir: str, stage: str) -> str:
    """`.mlvc/tmp/logs/<stage>.log`, the stage name made safe for a file name (`sub/dvc.yaml:a` -> `sub_dvc.yaml_a`)."""
    return os.path.join(logs_dir, _UNSAFE.sub("_", stage) + ".log")


class StageOutput:
    def __init__(
        self,
        name: str,
        log_path: str | None = None,
        prefix: str | None = None,
        stdout_to_stderr: bool = False,
        echo: bool = True,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.prefix = (f"{name} | " if prefix is None else prefix).encode()
        self.stdout_to_stderr = stdout_to_stderr
        self.echo = echo
        self._partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._guard = threading.Lock()
        self._log: BinaryIO | None = None
        if log_path:
            os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
            self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, data: bytes, stream: str = "stdout") -> None:
        with self._guard:
            buf = self._partial[stream]
            buf += data
            cut = buf.rfind(b"\n")
            if cut < 0:
                return
            lines = bytes(buf[: cut + 1])
            del buf[: cut + 1]
            if self._log is not None:
                self._log.write(lines)
                self._log.flush()
        if self.echo:
            self._emit(lines, stream)

    def close(self) -> None:
        with self._guard:
            rest = {k: bytes(v) for k, v in self._partial.items() if v}
            for v in self._partial.values():
                v.clear()
            if self._log is not None:
                for data in rest.values():
                    self._log.write(data + b"\n")
                self._log.close()
                self._log = None
        if self.echo:
            for stream, data in rest.items():
                self._emit(data + b"\n", stream)

    def _emit(self, lines: bytes, stream: str) -> None:
        text = b"".join(self.prefix + line + b"\n" for line in lines.rstrip(b"\n").split(b"\n"))
        target = sys.stderr if (stream == "stderr" or self.stdout_to_stderr) else sys.stdout
        out = getattr(target, "buffer", None)
        with _TERMINAL:
            try:
                if out is not None:
                    target.flush()
                    out.write(text)
                    out.flush()
                else:
                    target.write(text.decode(errors="replace"))
                    target.flush()
            except (OSError, ValueError):
                pass
