"""mlvc.forked: one half of the work in a real forked child, the other here."""

from __future__ import annotations

import os
import time

import pytest

from mlvc import forked


def test_both_halves_brings_the_childs_result_back():
    parent = os.getpid()
    mine, theirs = forked.both_halves(lambda: ("mine", os.getpid()), lambda: ["theirs", os.getpid(), b"\0" * 300_000])
    assert mine == ("mine", parent)
    assert theirs[0] == "theirs" and theirs[1] != parent, "the other half ran in another process"
    assert theirs[2] == b"\0" * 300_000, "a result bigger than a pipe's buffer arrives whole"


@pytest.mark.parametrize("how", ["raises", "dies", "unmarshallable"])
def test_a_failed_child_gives_none_for_the_caller_to_redo(how):
    def theirs():
        if how == "raises":
            raise OSError("no")
        if how == "dies":
            os._exit(3)
        return object()  # marshal cannot send it

    assert forked.both_halves(lambda: 1, theirs) == (1, None)


def test_the_child_is_waited_for_when_this_half_raises(tmp_path):
    marker = tmp_path / "child-done"

    def theirs():
        time.sleep(0.3)
        marker.write_text("done")
        return 0

    def mine():
        raise ValueError("this half failed")

    with pytest.raises(ValueError, match="this half failed"):
        forked.both_halves(mine, theirs)
    assert marker.read_text() == "done", "the child was still working when the error came back"


def test_progress_bars_start_no_thread_so_a_terminal_still_gets_the_forked_paths():
    import threading

    from mlvc.cli.richprogress import RichProgress

    before = threading.active_count()
    progress = RichProgress()
    task = progress.task("Adding 50 files", 50)
    for _ in range(50):
        task.advance(1)
    assert threading.active_count() == before, "rich's refresh thread would rule out forked.should_fork"
    task.close()
    assert progress.bars is None
