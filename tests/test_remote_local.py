"""Remotes on a local folder: configuration, push/fetch/pull, subtree skipping, corruption, bad trees, gc."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git, run_mlvc
from remotehelpers import cache_hashes, flip_byte, loose_objects, packed_objects, remote_hashes, remote_read

from mlvc.hashing import hash_bytes, hash_file
from mlvc.repo import Repo
from mlvc.tree import Entry, Tree


def make_data(root: Path, nfiles: int = 20, dirs: int = 2) -> None:
    for d in range(dirs):
        sub = root / "data" / f"d{d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(nfiles):
            (sub / f"f{i}.bin").write_bytes(f"dir {d} file {i}\n".encode() * (i + 1))


def remote_objects(remote: Path) -> set[str]:
    return remote_hashes(remote)


def setup_pushed(repo: Path, mlvc, tmp_path: Path, nfiles: int = 20) -> Path:
    make_data(repo, nfiles)
    mlvc("add", "data")
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    mlvc("push")
    return remote


def clone(repo: Path, tmp_path: Path, name: str = "clone") -> Path:
    dest = tmp_path / name
    git("clone", "-q", str(repo), str(dest), cwd=tmp_path)
    return dest


def tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- configuration ---------------------------------------------------------------------------------
def test_remote_add_list_modify_remove(repo, mlvc, tmp_path):
    mlvc("remote", "add", "origin", str(tmp_path / "r"), "--default")
    mlvc("remote", "add", "s3r", "s3://bucket/prefix")
    mlvc("remote", "modify", "s3r", "endpointurl", "http://127.0.0.1:9000")
    mlvc("remote", "modify", "s3r", "region", "eu-west-1")
    listing = json.loads(mlvc("remote", "list", "--json").stdout)["remotes"]
    by_name = {r["name"]: r for r in listing}
    assert by_name["origin"]["default"] and not by_name["s3r"]["default"]
    assert by_name["s3r"]["options"] == {"endpointurl": "http://127.0.0.1:9000", "region": "eu-west-1"}
    assert mlvc("remote", "default").stdout.strip() == "origin"

    # a secret never goes to the committed config ...
    r = mlvc("remote", "modify", "s3r", "secret_access_key", "TOPSECRET123", check=False)
    assert r.returncode == 1 and "--local" in r.stderr and "TOPSECRET123" not in r.stderr
    # ... but config.local takes it, and list never shows it
    mlvc("remote", "modify", "--local", "s3r", "secret_access_key", "TOPSECRET123")
    assert "TOPSECRET123" not in (repo / ".mlvc" / "config").read_text()
    assert "TOPSECRET123" in (repo / ".mlvc" / "config.local").read_text()
    out = mlvc("remote", "list", "--json").stdout
    assert "TOPSECRET123" not in out and "***" in out

    r = mlvc("remote", "add", "origin", "/elsewhere", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = mlvc("remote", "add", "x", "foo://bucket/p", check=False)
    assert r.returncode == 1 and "unknown protocol 'foo'" in r.stderr and "Traceback" not in r.stderr
    r = mlvc("remote", "modify", "s3r", "endpoint", "x", check=False)
    assert r.returncode == 1 and "unknown remote option" in r.stderr

    mlvc("remote", "remove", "origin")
    names = [r["name"] for r in json.loads(mlvc("remote", "list", "--json").stdout)["remotes"]]
    assert names == ["s3r"]
    r = mlvc("push", check=False)  # no default any more, but only one remote: it is used
    assert "s3r" in r.stderr


def test_push_without_remote_says_how_to_add_one(repo, mlvc):
    r = mlvc("push", check=False)
    assert r.returncode == 1
    assert "mlvc remote add" in r.stderr and "Traceback" not in r.stderr


# -- push / pull ------------------------------------------------------------------------------------
def test_push_pull_roundtrip_in_a_clone(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path)
    objs = remote_objects(remote)
    assert len(objs) == 40 + 3  # files + two folder trees + the root tree
    assert len(packed_objects(remote)) == 40 and len(loose_objects(remote)) == 3  # small files in a pack, trees loose
    for h in objs:  # every object named by its bytes
        assert hash_bytes(remote_read(remote, h)) == h

    other = clone(repo, tmp_path)
    r = run_mlvc("pull", "--json", cwd=other)
    doc = json.loads(r.stdout)
    assert doc["objects"] == 43 and doc["checkout"][0]["written"] == 40
    assert tree_files(other / "data") == tree_files(repo / "data")
    assert run_mlvc("status", "--json", cwd=other).stdout.count('"unchanged"') == 1


def test_noop_push_sends_nothing_and_change_sends_only_the_changed_path(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path)
    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["objects"] == 0 and doc["skipped"] == 1  # the root tree is there: nothing below is examined

    (repo / "data" / "d1" / "f3.bin").write_bytes(b"changed")
    mlvc("add", "data")
    st = json.loads(mlvc("status", "--remote", "--json").stdout)
    assert st["paths"] == [{"path": "data", "state": "not pushed", "objects": 3, "bytes": 7}]
    doc = json.loads(mlvc("push", "--json").stdout)
    # the new file, the d1 tree and the root tree; d0's tree was found and its subtree skipped
    assert doc["objects"] == 3
    assert len(remote_objects(remote)) == 46
    st = json.loads(mlvc("status", "--remote", "--json").stdout)
    assert st["paths"][0]["state"] == "pushed"


def test_push_and_pull_targets_and_jobs(repo, mlvc, tmp_path):
    make_data(repo)
    (repo / "model.bin").write_bytes(b"weights" * 1000)
    mlvc("add", "data")
    mlvc("add", "model.bin")
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")
    mlvc("push", "model.bin", "-j", "1")
    assert set(remote_objects(remote)) == {hash_bytes(b"weights" * 1000)}
    mlvc("push", "-j", "3")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    other = clone(repo, tmp_path)
    run_mlvc("pull", "model.bin", cwd=other)
    assert (other / "model.bin").read_bytes() == b"weights" * 1000
    assert not (other / "data").exists()


def test_push_rev_and_all_commits(repo, mlvc, tmp_path):
    (repo / "m.txt").write_text("version 1\n")
    mlvc("add", "m.txt")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    (repo / "m.txt").write_text("version 2\n")
    mlvc("add", "m.txt")
    git("commit", "-qam", "v2", cwd=repo)
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")

    (repo / "m.txt").write_text("version 3\n")  # the workspace is always included, as in DVC
    mlvc("add", "m.txt")
    v1, v2, v3 = (hash_bytes(f"version {i}\n".encode()) for i in (1, 2, 3))
    mlvc("push", "--rev", "HEAD~1")
    assert set(remote_objects(remote)) == {v1, v3}
    mlvc("push", "--all-commits")
    assert set(remote_objects(remote)) == {v1, v2, v3}
    r = mlvc("push", "--rev", "nosuchbranch", check=False)
    assert r.returncode == 1 and "nosuchbranch" in r.stderr

    git("commit", "-qam", "v3 and the remote", cwd=repo)
    other = clone(repo, tmp_path)
    run_mlvc("fetch", "--rev", "HEAD~2", cwd=other)
    assert (other / ".mlvc" / "cache").exists()
    cached = cache_hashes(other / ".mlvc" / "cache")
    assert cached == {v1, v3}  # HEAD~2's and the clone's workspace's


def test_push_reports_objects_missing_everywhere(repo, mlvc, tmp_path):
    make_data(repo, 3, 1)
    mlvc("add", "data")
    mlvc("remote", "add", "origin", str(tmp_path / "remote"), "--default")
    victim = hash_bytes(b"dir 0 file 1\n" * 2)
    Repo.find(str(repo)).objects.remove_many({victim})  # it is packed: the pack is rewritten without it
    r = mlvc("push", check=False)
    assert r.returncode == 1 and victim in r.stderr and "data/d0/f1.bin" in r.stderr
    # the trees listing the missing object were held back: the remote makes no false promise
    objs = remote_objects(tmp_path / "remote")
    assert len(objs) == 2 and victim not in objs


# -- corruption and bad input ----------------------------------------------------------------------------
def test_pull_refuses_a_corrupt_object_and_fetches_the_rest(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path)
    victim = hash_bytes(b"dir 1 file 4\n" * 5)
    flip_byte(remote, victim, at=10)  # a byte inside the pack: same size, other bytes

    other = clone(repo, tmp_path)
    r = run_mlvc("pull", cwd=other, check=False)
    assert r.returncode == 1
    assert victim in r.stderr and "data/d1/f4.bin" in r.stderr and "corrupt" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    cache = other / ".mlvc" / "cache"
    cached = cache_hashes(cache)
    assert victim not in cached and len(cached) == 42  # everything else arrived
    assert not [p for p in cache.rglob("*mlvc-tmp*")]
    from mlvc.objects import ObjectStore

    assert all(ObjectStore(str(cache)).is_intact(h) for h in cached)

    # remote verify names it; the next push from the repo that has the right bytes sends it again and
    # drops the bad copy (the pack is rewritten without it)
    r = mlvc("remote", "verify", "--json", check=False)
    assert r.returncode == 1 and json.loads(r.stdout)["corrupt"] == [victim]
    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["replaced"] == [victim] and doc["objects"] == 1 + 2  # the object, d1's tree, the root tree
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["ok"]
    assert json.loads(mlvc("push", "--json").stdout)["objects"] == 0
    assert run_mlvc("pull", cwd=other).returncode == 0
    assert tree_files(other / "data") == tree_files(repo / "data")


def test_push_replaces_a_remote_object_whose_size_is_wrong(repo, mlvc, tmp_path):
    from mlvc import pointer
    from mlvc.repo import Repo

    remote = setup_pushed(repo, mlvc, tmp_path)
    victim = hash_bytes(b"dir 0 file 2\n" * 3)
    # a remote written loose (by an older mlvc), interrupted: one object truncated, its trees not there yet
    for p in (remote / "packs").iterdir():
        os.chmod(p, 0o644)
        p.unlink()
    path = remote / victim[:2] / victim[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"truncated")
    root = pointer.read(str(repo), "data.mlvc").ref.hash
    d0 = Repo(str(repo)).objects.read_tree(root).by_name()["d0"].hash
    for h in (root, d0):
        (remote / h[:2] / h[2:]).unlink()
    doc = json.loads(mlvc("push", "--json").stdout)
    # the 20 files below d0 (d1's tree is there: its subtree is trusted), the two trees
    assert doc["replaced"] == [victim] and doc["objects"] == 20 + 2
    assert not path.exists()  # the bad loose copy went once the packed one was up
    assert remote_read(remote, victim) == b"dir 0 file 2\n" * 3
    # d1's files went with the deleted packs (its tree was trusted): verify finds the hole
    assert json.loads(mlvc("remote", "verify", "--json", check=False).stdout)["missing"]


def _evil_pull(repo: Path, mlvc, tmp_path: Path, entries: list[list]) -> tuple:
    """Put a hand-made tree on the remote and a pointer to it in the repo; pull."""
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")
    payload = b"pwned\n"
    ph = hash_bytes(payload)
    rows = [[name, "file", ph, len(payload), "644"] for name in entries]
    raw = json.dumps({"schema": 1, "entries": rows}, separators=(",", ":")).encode()
    th = hash_bytes(raw)
    for h, data in ((ph, payload), (th, raw)):
        (remote / h[:2]).mkdir(parents=True, exist_ok=True)
        (remote / h[:2] / h[2:]).write_bytes(data)
    (repo / "data.mlvc").write_text(f"schema: 1\npath: data\nkind: tree\nhash: {th}\nsize: 6\nfiles: 1\n")
    return mlvc("pull", check=False), th


def test_pull_refuses_a_tree_with_dotdot_before_writing(repo, mlvc, tmp_path):
    r, th = _evil_pull(repo, mlvc, tmp_path, ["../escaped"])
    assert r.returncode == 1 and th in r.stderr and "unsafe entry name" in r.stderr
    assert not (repo / "escaped").exists() and not (repo / "data").exists()
    assert not (repo / ".mlvc" / "cache" / th[:2] / th[2:]).exists()


def test_pull_refuses_a_tree_with_an_absolute_name(repo, mlvc, tmp_path):
    target = tmp_path / "abs-target"
    r, th = _evil_pull(repo, mlvc, tmp_path, [str(target)])
    assert r.returncode == 1 and "unsafe entry name" in r.stderr
    assert not target.exists() and not (repo / "data").exists()


def test_pull_refuses_to_write_through_a_symlink_leaving_the_workspace(repo, mlvc, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "data").symlink_to(outside)
    r, _ = _evil_pull(repo, mlvc, tmp_path, ["x.txt"])
    assert r.returncode == 1 and "outside the repository" in r.stderr
    assert list(outside.iterdir()) == []


# -- verify and gc --------------------------------------------------------------------------------------
def test_remote_verify_reports_missing_objects_below_a_tree(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path)
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["checked"] == 43
    victim = hash_bytes(b"dir 0 file 0\n")
    (pack,) = (remote / "packs").glob("*.pack")  # a pack deleted by hand, its index left behind
    pack.unlink()
    r = mlvc("remote", "verify", check=False)
    assert r.returncode == 1 and f"missing: {victim}" in r.stdout and "corrupt pack" in r.stdout
    # the next push sends the lost objects again (the trees above them were noted as suspect) ...
    # (the same objects make the same pack, under the same name: the index finds its pack again)
    assert json.loads(mlvc("push", "--json").stdout)["objects"] == 40 + 3
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["ok"]
    assert json.loads(mlvc("push", "--json").stdout)["objects"] == 0


def test_gc_remote_lists_then_deletes_only_with_force(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path)
    (repo / "tmp.bin").write_bytes(b"scratch that nobody commits")
    mlvc("add", "tmp.bin")
    mlvc("push")
    scratch = hash_bytes(b"scratch that nobody commits")
    assert scratch in remote_objects(remote)
    (repo / "tmp.bin.mlvc").unlink()

    r = mlvc("gc", "--remote", "origin")
    assert scratch in r.stdout and "--force" in r.stdout
    assert scratch in remote_objects(remote)
    doc = json.loads(mlvc("gc", "--remote", "origin", "--force", "--json").stdout)
    assert doc["removed_hashes"] == [scratch] and doc["kept"] == 43
    assert scratch not in remote_objects(remote)

    # what only an older commit references is kept: the remote is shared
    (repo / "data" / "d0" / "f0.bin").write_bytes(b"new")
    mlvc("add", "data")
    git("commit", "-qam", "v2", cwd=repo)
    mlvc("push")
    doc = json.loads(mlvc("gc", "--remote", "origin", "--force", "--json").stdout)
    assert doc["removed"] == 0
    other = clone(repo, tmp_path)
    git("checkout", "-q", "HEAD~1", cwd=other)
    run_mlvc("pull", cwd=other)
    assert (other / "data" / "d0" / "f0.bin").read_bytes() == b"dir 0 file 0\n"


def test_trees_are_valid_and_sorted_on_the_remote(repo, mlvc, tmp_path):
    remote = setup_pushed(repo, mlvc, tmp_path, nfiles=3)
    from mlvc.tree import parse_tree

    trees = []
    for p in loose_objects(remote).values():
        data = p.read_bytes()
        if data.startswith(b'{"schema":'):
            trees.append(parse_tree(data))
    assert len(trees) == 3
    assert isinstance(trees[0], Tree) and all(isinstance(e, Entry) for t in trees for e in t)


def test_large_object_is_copied_and_verified_both_ways(repo, mlvc, tmp_path):
    """Over 16 MiB an object is streamed (copy and hash at once), not read into memory."""
    payload = os.urandom(17 << 20)
    (repo / "big.bin").write_bytes(payload)
    mlvc("add", "big.bin")
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")
    h = hash_bytes(payload)
    cached = repo / ".mlvc" / "cache" / h[:2] / h[2:]
    os.chmod(cached, 0o644)
    with open(cached, "r+b") as f:  # flip one byte in the cache: push must not send it under its name
        f.seek(1 << 20)
        f.write(bytes([payload[1 << 20] ^ 1]))
    r = mlvc("push", check=False)
    assert r.returncode == 1 and h in r.stderr and "corrupt in the local cache" in r.stderr
    assert h not in remote_objects(remote) and not list(remote.rglob("*mlvc-tmp*"))
    cached.write_bytes(payload)
    mlvc("push")
    assert hash_file(remote / h[:2] / h[2:]) == h
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "big", cwd=repo)
    other = clone(repo, tmp_path)
    run_mlvc("pull", cwd=other)
    assert (other / "big.bin").read_bytes() == payload
    # a corrupt big object on the remote is refused too
    os.chmod(remote / h[:2] / h[2:], 0o644)
    (remote / h[:2] / h[2:]).write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))  # never the same byte
    third = clone(repo, tmp_path, "third")
    r = run_mlvc("pull", cwd=third, check=False)
    assert r.returncode == 1 and h in r.stderr and "big.bin" in r.stderr
    assert not (third / ".mlvc" / "cache" / h[:2] / h[2:]).exists()
    assert not list((third / ".mlvc" / "cache").rglob("*mlvc-tmp*"))
