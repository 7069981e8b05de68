"""Capacity: what the machine has (CPUs, /proc/meminfo, `nvidia-smi -L`) and what config says instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlvc.config import Config
from mlvc.errors import CapacityError, ConfigError
from mlvc.execute.base import Resources
from mlvc.execute.capacity import (
    Capacity,
    detect_gpus,
    detect_memory,
    machine_capacity,
    parse_gpus,
    parse_memory,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 << 20), ("16G", 16 << 30), ("1.5GiB", 3 << 29), ("2gb", 2 << 30), ("1024", 1024), (4096, 4096)],
)
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1G", "1X", True])
def test_parse_memory_rejects(bad):
    with pytest.raises(ConfigError, match="expected a size"):
        parse_memory(bad)


def test_parse_gpus():
    assert parse_gpus("2", "x") == (0, 1)
    assert parse_gpus("0", "x") == ()
    assert parse_gpus("3,1", "x") == (1, 3)
    with pytest.raises(ConfigError, match="GPU count"):
        parse_gpus("two", "x")


def test_memory_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:         1000 kB\n")
    assert detect_memory(str(meminfo)) == 16384000 * 1024
    assert detect_memory() > 0  # the real /proc/meminfo


def fake_nvidia_smi(bin_dir: Path, count: int) -> None:
    lines = "".join(f"echo 'GPU {i}: NVIDIA Fake (UUID: GPU-{i:04d})'\n" for i in range(count))
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] || exit 2\n{lines}")
    script.chmod(0o755)


def test_gpus_from_nvidia_smi(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, 4)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == (0, 1, 2, 3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")  # mlvc itself restricted to two of them
    assert detect_gpus() == (1, 3)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert detect_gpus() == ()


def test_config_overrides_the_machine(repo):
    cfg = Config(str(repo / ".mlvc" / "config"), str(repo / ".mlvc" / "config.local"))
    machine = machine_capacity(cfg)
    assert machine.source == "machine" and machine.cpus >= 1 and machine.memory > 0
    cfg.set("execute", "gpus", "2")
    cfg.set("execute", "cpus", "6")
    cfg.set("execute", "memory", "8G")
    cap = machine_capacity(Config(cfg.path, cfg.local_path))
    assert (cap.cpus, cap.memory, cap.gpu_ids, cap.source) == (6.0, 8 << 30, (0, 1), "config")
    cfg.set("execute", "cpus", "none")
    with pytest.raises(ConfigError, match="execute.cpus must be a positive number"):
        machine_capacity(Config(cfg.path, cfg.local_path))


def test_check_names_the_stage_and_what_is_missing():
    cap = Capacity(cpus=4, memory=8 << 30, gpu_ids=(0, 1))
    cap.check("ok", Resources(cpus=4, gpus=2, memory=8 << 30))
    with pytest.raises(CapacityError, match=r"stage 'big' asks for more .*gpus: 3 > 2; memory: 16G > 8G"):
        cap.check("big", Resources(gpus=3, memory=16 << 30))
