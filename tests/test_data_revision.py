"""history/revision: revision strings and reading files and tracked data at a commit (real git histories)."""

from __future__ import annotations

import pytest
from conftest import git


def test_revisions_resolve_like_git(repo, mlvc):
    from mlvc.errors import PathError, RevisionError
    from mlvc.history.revision import Snapshot
    from mlvc.repo import Repo

    (repo / "data").mkdir()
    for i in range(3):
        (repo / "p.txt").write_text(f"v{i}\n")
        (repo / "data" / "f.csv").write_text(f"a\n{i}\n")
        mlvc("add", "data")
        git("add", "-A", cwd=repo)
        git("commit", "-qm", f"c{i}", cwd=repo)
        if i == 0:
            git("tag", "light", cwd=repo)
        if i == 1:
            git("tag", "-a", "ann", "-m", "annotated", cwd=repo)
    git("gc", "-q", cwd=repo)  # packed objects
    r = Repo(str(repo))
    for rev, version in [("HEAD", 2), ("main", 2), ("HEAD~2", 0), ("HEAD^", 1), ("light", 0), ("ann", 1),
                         ("ann^", 0), ("main~1^{}", 1), (git("rev-parse", "--short", "HEAD~1", cwd=repo).strip(), 1)]:
        with Snapshot(r, rev) as snap:
            assert snap.commit.decode() == git("rev-parse", rev + "^{commit}", cwd=repo).strip(), rev
            assert snap.read_file("p.txt") == f"v{version}\n".encode(), rev
            assert snap.read_bytes("data/f.csv") == f"a\n{version}\n".encode(), rev  # inside a tracked folder
            assert snap.tracked("data").kind == "tree" and snap.tracked("data").files == 1
            assert snap.tracked("p.txt") is None
    with Snapshot(r, "HEAD") as snap:
        with pytest.raises(PathError, match="nope.txt: not a file in git at HEAD"):
            snap.read_file("nope.txt")
        assert snap.tracked("data/missing.csv") is None
    for bad, message in [("nope", "unknown revision"), ("HEAD~5", "has no parent"), ("HEAD~x", "not a revision")]:
        with pytest.raises(RevisionError, match=message):
            Snapshot(r, bad)
