"""mlvc.forked: work shared between this process and a real forked child."""

from __future__ import annotations

import os
import time

import pytest

from mlvc import forked


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


def _share(count, theirs=None, mine=None):
    """share_items over `count` items; which process did each (pid), and the items left undone."""
    done_here, taken = [], []
    forked.share_items(
        count,
        mine or (lambda i: done_here.append(i)),
        theirs or (lambda i: (i, os.getpid())),
        taken.append,
    )
    return done_here, taken


def test_share_items_does_every_item_once_in_one_process_or_the_other():
    def slow_mine(i):
        time.sleep(0.002)
        done_here.append(i)

    done_here: list[int] = []
    _, taken = _share(400, mine=slow_mine)
    theirs = [i for i, _ in taken]
    assert sorted(done_here + theirs) == list(range(400)), "each item exactly once"
    assert theirs and all(pid != os.getpid() for _, pid in taken), "the child took items, in another process"
    assert done_here, "this process took items too"


def test_a_shared_child_takes_items_before_finish_is_called():
    shared = forked.Shared(20, lambda i: (i, os.getpid()))
    time.sleep(1.0)  # this process's other work
    done_here: list[int] = []
    taken: list[tuple[int, int]] = []
    shared.finish(done_here.append, taken.append)
    assert done_here == [], "the child had taken every item"
    assert sorted(i for i, _ in taken) == list(range(20)) and all(pid != os.getpid() for _, pid in taken)


def test_share_items_brings_results_bigger_than_a_pipe_whole():
    _, taken = _share(20, theirs=lambda i: (i, bytes([i]) * 200_000))
    for i, data in taken:
        assert data == bytes([i]) * 200_000


@pytest.mark.parametrize("how", ["raises", "dies", "unmarshallable"])
def test_items_of_a_failed_child_are_left_for_the_caller(how):
    def theirs(i):
        if how == "raises":
            raise OSError("no")
        if how == "dies":
            os._exit(3)
        return object()  # marshal cannot send it

    def mine(i):
        time.sleep(0.01)  # the child gets to take items too
        done_here.append(i)

    done_here: list[int] = []
    _, taken = _share(50, theirs=theirs, mine=mine)
    assert taken == [], "nothing came back from a failed child"
    assert len(set(done_here)) == len(done_here) and len(done_here) < 50, "its items are left undone, not redone"


def test_share_items_waits_for_the_child_when_this_side_raises(tmp_path):
    marker = tmp_path / "child-done"

    def theirs(i):
        time.sleep(0.05)
        marker.write_text(str(i))
        return i

    def mine(i):
        time.sleep(0.02)
        raise ValueError("this side failed")

    with pytest.raises(ValueError, match="this side failed"):
        forked.share_items(100, mine, theirs, lambda r: None)
    assert marker.exists(), "the child was not waited for"
    assert int(marker.read_text()) < 10, "the queue was emptied: the child stopped after its item"


def test_share_items_does_everything_here_when_no_child_can_be_made(monkeypatch):
    def no_fork():
        raise OSError("EAGAIN: no more processes")

    monkeypatch.setattr(os, "fork", no_fork)
    done_here, taken = _share(30)
    assert done_here == list(range(30)) and taken == []
