"""`image:` stages through `mlvc repro`, under real podman and real docker."""
# ruff: noqa: F811  (fixtures imported from exechelpers are used as parameters)

from __future__ import annotations

import os
import re
import subprocess

from exechelpers import docker_engine, engine_image, import_image, podman_engine  # noqa: F401


def test_image_stage_outs_cached_owned_and_image_change_makes_it_stale(engine_image, repo, mlvc):
    engine, _ = engine_image
    image = f"localhost/mlvc-test-repro-{os.getpid()}:latest"
    import_image(engine, image, marker="first")
    try:
        mlvc("config", "execute.engine", engine)
        (repo / "in.txt").write_text("hello\n")
        (repo / "mlvc.yaml").write_text(
            "stages:\n"
            "  shout:\n"
            f"    image: {image}\n"
            "    cmd: tr a-z A-Z < in.txt > out.txt; cat /etc/mlvc-marker > marker.txt; cat /proc/net/dev > net.txt\n"
            "    deps: [in.txt]\n"
            "    outs: [out.txt, marker.txt, net.txt]\n"
        )
        mlvc("repro", "-j", "2")
        out = repo / "out.txt"
        assert out.read_text() == "HELLO\n" and (repo / "marker.txt").read_text() == "first\n"
        assert out.stat().st_uid == os.getuid() and out.stat().st_gid == os.getgid()
        ifaces = lambda p: {ln.split(":")[0].strip() for ln in p.read_text().splitlines()[2:]}  # noqa: E731
        assert ifaces(repo / "net.txt") == {"lo"}  # no network unless the stage asks (network: true: executor tests)
        lock = (repo / "mlvc.lock").read_text()
        first_id = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", image],
                                  capture_output=True, text=True, check=True).stdout.strip()
        assert re.search(r"image_id: \"?sha256:" + first_id.removeprefix("sha256:"), lock), lock
        assert "Everything is up to date" in mlvc("repro").stdout
        import_image(engine, image, marker="second")  # same name, different image
        dry = mlvc("repro", "--dry").stdout
        assert f"shout: would run: image_id changed [container {engine} {image}, no network]" in dry
        mlvc("repro")
        assert (repo / "marker.txt").read_text() == "second\n"
        assert first_id.removeprefix("sha256:") not in (repo / "mlvc.lock").read_text()
    finally:
        subprocess.run([engine, "rmi", "-f", image], capture_output=True)


def test_image_stage_exit_code_and_missing_image(engine_image, repo, mlvc):
    engine, image = engine_image
    mlvc("config", "execute.engine", engine)
    (repo / "mlvc.yaml").write_text(
        "stages:\n"
        "  fail:\n"
        f"    image: {image}\n"
        "    cmd: echo not today >&2; exit 5\n"
        "    outs: [never.txt]\n"
    )
    res = mlvc("repro", check=False)
    assert res.returncode == 1
    assert "stage 'fail' exit code 5: not today; nothing recorded for it in mlvc.lock" in res.stderr
    assert not (repo / "mlvc.lock").exists()
    (repo / "mlvc.yaml").write_text(
        "stages:\n  gone:\n    image: localhost/mlvc-no-such-image:9\n    cmd: 'true'\n    outs: [x]\n"
    )
    res = mlvc("repro", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"mlvc: error: image 'localhost/mlvc-no-such-image:9' is not present in {engine}: build it or "
        f"`{engine} pull localhost/mlvc-no-such-image:9` (mlvc never pulls images)"
    )
