"""Remotes on a real S3 server (SeaweedFS `weed mini` on 127.0.0.1, which checks credentials), through s3fs."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import _s3server_module, git, need, run_mlvc
from remotehelpers import cache_hashes

from mlvc import packs
from mlvc.hashing import hash_bytes

ROOT = Path(__file__).resolve().parents[1]


s3server = _s3server_module()  # the same module the session `seaweed` fixture in conftest.py runs


def _have_s3() -> bool:
    return importlib.util.find_spec("s3fs") is not None and s3server.weed_binary() is not None


@pytest.fixture
def s3env(seaweed, monkeypatch):
    """Credentials as a user has them: in the environment, not in any mlvc file."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return seaweed


def add_s3_remote(mlvc, server, name: str, bucket: str = "mlvc-test", prefix: str | None = None) -> str:
    prefix = prefix or name
    mlvc("remote", "add", name, f"s3://{bucket}/{prefix}", "--default")
    mlvc("remote", "modify", name, "endpointurl", server.endpoint)
    return prefix


def make_files(root: Path, n: int, dirs: int = 4) -> None:
    for i in range(n):
        d = root / "data" / f"d{i % dirs}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(f"object {i}\n".encode() * (1 + i % 7))


def s3fs_client(server):
    import s3fs

    return s3fs.S3FileSystem(key=server.key, secret=server.secret, endpoint_url=server.endpoint,
                             skip_instance_cache=True)


def test_push_pull_through_s3(repo, mlvc, s3env, tmp_path):
    make_files(repo, 30)
    (repo / "big.bin").write_bytes(os.urandom(20 << 20))  # over the in-memory limit: streamed both ways
    mlvc("add", "data")
    mlvc("add", "big.bin")
    prefix = add_s3_remote(mlvc, s3env, "roundtrip")
    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["objects"] == 30 + 4 + 1 + 1
    fs = s3fs_client(s3env)
    keys = fs.find(f"mlvc-test/{prefix}")
    packed = [k for k in keys if k.rsplit("/", 2)[-2] == "packs"]
    assert len(packed) == 2 and len(keys) == 2 + 6  # the 30 small files in one pack (+ its index)
    assert all(len(k.rsplit("/", 2)[-2]) == 2 for k in keys if k not in packed)  # ab/cdef... like the cache
    assert json.loads(mlvc("push", "--json").stdout)["objects"] == 0
    assert json.loads(mlvc("status", "--remote", "--json").stdout)["paths"][0]["state"] == "pushed"

    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    other = tmp_path / "clone"
    git("clone", "-q", str(repo), str(other), cwd=tmp_path)
    r = run_mlvc("pull", "--json", cwd=other)
    assert json.loads(r.stdout)["objects"] == 36
    assert (other / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    assert (other / "data" / "d1" / "f5.txt").read_bytes() == (repo / "data" / "d1" / "f5.txt").read_bytes()
    assert json.loads(run_mlvc("remote", "verify", "--json", cwd=other).stdout)["ok"]


def test_corrupt_object_on_s3_is_refused(repo, mlvc, s3env, tmp_path):
    make_files(repo, 8, dirs=1)
    mlvc("add", "data")
    prefix = add_s3_remote(mlvc, s3env, "corrupt")
    mlvc("push")
    victim = hash_bytes(b"object 3\n" * 4)
    corrupt_in_pack(s3fs_client(s3env), f"mlvc-test/{prefix}", victim)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    other = tmp_path / "clone"
    git("clone", "-q", str(repo), str(other), cwd=tmp_path)
    r = run_mlvc("pull", cwd=other, check=False)
    assert r.returncode == 1 and victim in r.stderr and "data/d0/f3.txt" in r.stderr
    assert (other / "data").exists() is False or not (other / "data" / "d0" / "f3.txt").exists()
    cached = cache_hashes(other / ".mlvc" / "cache")
    assert victim not in cached and len(cached) == 9  # 7 good files + the d0 and data trees


def corrupt_in_pack(fs, root: str, h: str) -> None:
    """Flip one byte of object `h` inside the S3 pack that holds it (same size, other bytes)."""
    fs.invalidate_cache()
    for key in fs.find(f"{root}/packs", refresh=True):
        if key.endswith(packs.IDX):
            slot = packs.decode_index(fs.cat_file(key), key).get(h)
            if slot is not None:
                pack_key = key[: -len(packs.IDX)] + packs.PACK
                data = bytearray(fs.cat_file(pack_key))
                data[slot[0]] ^= 0xFF
                fs.pipe_file(pack_key, bytes(data))
                return
    raise AssertionError(f"{h} is in no pack")


def test_gc_and_verify_on_s3_rewrite_a_partly_dead_pack_and_find_a_flipped_byte(repo, mlvc, s3env, tmp_path):
    make_files(repo, 12, dirs=2)
    mlvc("add", "data")
    prefix = add_s3_remote(mlvc, s3env, "packgc")
    mlvc("push")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    (repo / "scratch").mkdir()
    for i in range(5):
        (repo / "scratch" / f"s{i}.txt").write_text(f"scratch {i}\n")
    (repo / "data" / "d0" / "f0.txt").write_text("new\n")
    mlvc("add", "scratch")
    mlvc("add", "data")
    mlvc("push")  # one pack: the new data file and the 5 scratch files nobody commits
    (repo / "scratch.mlvc").unlink()
    git("commit", "-qam", "v2", cwd=repo)
    fs = s3fs_client(s3env)
    before = {k for k in fs.find(f"mlvc-test/{prefix}/packs", refresh=True)}
    doc = json.loads(mlvc("gc", "--remote", "packgc", "--force", "--json").stdout)
    assert doc["removed"] == 5 + 1 and len(doc["packs_rewritten"]) == 1  # 5 files + the scratch tree
    fs.invalidate_cache()
    after = {k for k in fs.find(f"mlvc-test/{prefix}/packs", refresh=True)}
    assert len(after) == 4 and len(after & before) == 2  # the first pack untouched, the second rewritten
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["ok"]

    victim = hash_bytes(b"new\n")
    corrupt_in_pack(fs, f"mlvc-test/{prefix}", victim)
    r = mlvc("remote", "verify", "--json", check=False)
    assert r.returncode == 1 and json.loads(r.stdout)["corrupt"] == [victim]
    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["replaced"] == [victim]
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["ok"]
    other = tmp_path / "clone"
    git("clone", "-q", str(repo), str(other), cwd=tmp_path)
    run_mlvc("pull", cwd=other)
    assert (other / "data" / "d0" / "f0.txt").read_text() == "new\n"


def test_missing_bucket_and_wrong_credentials_are_one_line_errors(repo, mlvc, s3env):
    (repo / "x.txt").write_text("x\n")
    mlvc("add", "x.txt")
    mlvc("remote", "add", "nobucket", "s3://no-such-bucket-here/p")
    mlvc("remote", "modify", "nobucket", "endpointurl", s3env.endpoint)
    r = mlvc("push", "-r", "nobucket", check=False)
    assert r.returncode == 1 and "no-such-bucket-here" in r.stderr and "does not exist" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    add_s3_remote(mlvc, s3env, "creds")
    wrong = "WRONG-secret-value-42"
    r = mlvc("push", check=False, env={"AWS_SECRET_ACCESS_KEY": wrong})
    assert r.returncode == 1 and "rejected the credentials" in r.stderr
    assert wrong not in r.stderr and wrong not in r.stdout and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    # credentials from config.local work and are never shown, even when wrong
    mlvc("remote", "modify", "--local", "creds", "access_key_id", s3env.key)
    mlvc("remote", "modify", "--local", "creds", "secret_access_key", wrong)
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    r = mlvc("-v", "push", check=False, env=env)
    assert r.returncode == 1 and wrong not in r.stderr + r.stdout
    mlvc("remote", "modify", "--local", "creds", "secret_access_key", s3env.secret)
    assert json.loads(mlvc("push", "--json", env=env).stdout)["objects"] == 1
    assert s3env.secret not in (repo / ".mlvc" / "config").read_text()


def test_server_stopping_mid_push_then_same_push_completes(repo, mlvc, tmp_path, monkeypatch):
    need(_have_s3(), "SeaweedFS and s3fs are needed for the S3 tests")
    server = s3server.SeaweedS3(str(tmp_path / "weed"))
    server.start()
    try:
        server.make_bucket("faults")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
        make_files(repo, 300, dirs=6)
        (repo / "data" / "big").mkdir()
        for i in range(60):  # over packs.SMALL: one PUT each, so the push lasts long enough to cut
            (repo / "data" / "big" / f"b{i}.bin").write_bytes(bytes([i]) * (200 << 10))
        mlvc("add", "data")
        add_s3_remote(mlvc, server, "flaky", bucket="faults")
        proc = subprocess.Popen([sys.executable, "-m", "mlvc", "push", "-j", "2"], cwd=repo, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        fs = s3fs_client(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if len(fs.find("faults/flaky", refresh=True)) >= 10:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        # Freeze the push while the server goes down, so it cannot finish first however fast the machine.
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGSTOP)
        server.stop()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            pytest.skip("the push finished before the server stopped (machine too fast for this timing)")
        assert proc.returncode == 1
        assert "remote 'flaky'" in err and "s3://faults/flaky" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1

        server.start()
        doc = json.loads(mlvc("push", "--json").stdout)
        assert doc["objects"] > 0
        assert json.loads(mlvc("push", "--json").stdout)["objects"] == 0
        v = json.loads(mlvc("remote", "verify", "--json").stdout)
        assert v["ok"] and v["checked"] == 300 + 60 + 6 + 2
    finally:
        server.stop()
