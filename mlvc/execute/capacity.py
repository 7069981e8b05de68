"""What this machine can run at once: CPUs, memory and GPUs, from the machine or from config.

    cap = machine_capacity(config)        # [execute] cpus / gpus / memory override detection
    cap.check(name, resources)            # CapacityError when one stage asks more than there is

Detection: CPUs are the ones this process may run on (`sched_getaffinity`), memory is
`MemTotal` from /proc/meminfo, GPUs are the lines of `nvidia-smi -L` (none when it is not
installed). When `CUDA_VISIBLE_DEVICES` is set for mlvc itself, only those GPU ids are used.
Config: `cpus = 8`, `memory = 64G`, `gpus = 2` (ids 0 and 1) or `gpus = 0,3` (exactly those ids).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from mlvc.errors import CapacityError, ConfigError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_memory(value: object, where: str = "memory") -> int:
    """`512M`, `16G`, `1.5GiB`, `2gb` or a plain number of bytes -> bytes (powers of 1024)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a size like 512M or 16G, not {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(f"{where}: a size cannot be negative ({value!r})")
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ConfigError(f"{where}: expected a size like 512M or 16G, not {value!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def format_memory(n: int) -> str:
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n}B"


@dataclass(frozen=True)
class Capacity:
    cpus: float
    memory: int  # bytes
    gpu_ids: tuple[int, ...]
    source: str = "machine"  # "machine", "config" or "machine+config": where the figures came from

    @property
    def gpus(self) -> int:
        return len(self.gpu_ids)

    def to_dict(self) -> dict[str, object]:
        return {"cpus": self.cpus, "memory": self.memory, "gpus": self.gpus, "gpu_ids": list(self.gpu_ids)}

    def describe(self) -> str:
        return f"{self.cpus:g} CPUs, {format_memory(self.memory)} memory, {self.gpus} GPUs"

    def check(self, name: str, resources: object) -> None:
        """Raise CapacityError when `resources` (cpus/gpus/memory attributes) exceed this machine."""
        cpus = getattr(resources, "cpus", None)
        gpus = getattr(resources, "gpus", None)
        memory = getattr(resources, "memory", None)
        wants: list[str] = []
        if cpus is not None and cpus > self.cpus:
            wants.append(f"cpus: {cpus:g} > {self.cpus:g}")
        if gpus is not None and gpus > self.gpus:
            wants.append(f"gpus: {gpus} > {self.gpus}")
        if memory is not None and memory > self.memory:
            wants.append(f"memory: {format_memory(memory)} > {format_memory(self.memory)}")
        if wants:
            raise CapacityError(
                f"stage {name!r} asks for more than this machine has ({'; '.join(wants)}); "
                f"lower its resources or set [execute] cpus/gpus/memory in .mlvc/config"
            )


def detect_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def detect_memory(meminfo: str = "/proc/meminfo") -> int:
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def detect_gpus() -> tuple[int, ...]:
    """GPU ids from `nvidia-smi -L` ("GPU 0: NVIDIA H100 ..."), narrowed by our own CUDA_VISIBLE_DEVICES."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        listing = subprocess.run(
            [exe, "-L"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    ids = tuple(int(m.group(1)) for m in re.finditer(r"^GPU (\d+):", listing, re.MULTILINE))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return ids
    wanted = [v.strip() for v in visible.split(",") if v.strip()]
    if all(v.isdigit() for v in wanted):
        return tuple(i for i in (int(v) for v in wanted) if i in ids)
    return ids  # UUIDs or MIG names: leave the listing as it is


def parse_gpus(value: str, where: str) -> tuple[int, ...]:
    """`2` -> (0, 1); `0,3` -> (0, 3); `0` or empty -> ()."""
    text = value.strip()
    try:
        if "," in text:
            ids = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
            if any(i < 0 for i in ids):
                raise ValueError
            return ids
        count = int(text or 0)
        if count < 0:
            raise ValueError
        return tuple(range(count))
    except ValueError:
        raise ConfigError(f"{where}: expected a GPU count (2) or a list of GPU ids (0,3), not {value!r}") from None


def machine_capacity(config: object | None = None) -> Capacity:
    """The machine's capacity, with `[execute] cpus / memory / gpus` from config taking precedence."""
    get = getattr(config, "get", None)
    where = getattr(config, "path", ".mlvc/config")

    def conf(key: str) -> str | None:
        if get is None:
            return None
        value = get("execute", key)
        return None if value is None or str(value).strip() == "" else str(value)

    from_config = []
    cpus_s, mem_s, gpus_s = conf("cpus"), conf("memory"), conf("gpus")
    if cpus_s is not None:
        try:
            cpus = float(cpus_s)
            if cpus <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{where}: execute.cpus must be a positive number, not {cpus_s!r}") from None
        from_config.append("cpus")
    else:
        cpus = float(detect_cpus())
    if mem_s is not None:
        memory = parse_memory(mem_s, f"{where}: execute.memory")
        from_config.append("memory")
    else:
        memory = detect_memory()
    if gpus_s is not None:
        gpu_ids = parse_gpus(gpus_s, f"{where}: execute.gpus")
        from_config.append("gpus")
    else:
        gpu_ids = detect_gpus()
    source = "machine" if not from_config else ("config" if len(from_config) == 3 else "machine+config")
    return Capacity(cpus=cpus, memory=memory, gpu_ids=gpu_ids, source=source)
