"""`mlvc log --plot FILE.png`: a real PNG drawn by matplotlib (the `plot` extra) from metrics in git."""

from __future__ import annotations

import json
import struct

from tests.conftest import git

PIPE = "stages:\n  train:\n    cmd: python3 train.py\n    metrics:\n      - metrics.json: {cache: false}\n"


def test_log_plot_png(mlvc, repo, tmp_path):
    (repo / "mlvc.yaml").write_text(PIPE)
    for i, acc in enumerate([0.5, 0.6, 0.55, 0.8]):
        (repo / "metrics.json").write_text(json.dumps({"acc": acc, "train": {"loss": 1 - acc}}))
        git("add", "-A", cwd=repo)
        git("commit", "-qm", f"c{i}", cwd=repo)
    png = tmp_path / "acc.png"
    mlvc("log", "--metric", "acc", "--plot", str(png))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR: a picture of a real size, not an empty stub
    assert width >= 300 and height >= 200
    assert len(data) > 5_000


def test_plot_unknown_extension_is_one_line_error(mlvc, repo, tmp_path):
    (repo / "mlvc.yaml").write_text(PIPE)
    (repo / "metrics.json").write_text('{"acc": 0.5}')
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "c0", cwd=repo)
    r = mlvc("log", "--plot", str(tmp_path / "acc.gif"), check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
