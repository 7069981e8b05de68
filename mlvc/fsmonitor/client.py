"""Asking the watcher of a repository: listing signatures of tracked folders, start, stop, info.

Every failure here (no Linux, no watcher and none can start, a timeout, a watcher of another
protocol) ends as "no answer": `status` then walks the folders as it would without a watcher.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from mlvc.errors import MlvcError
from mlvc.fsmonitor.protocol import COOKIE_PREFIX, LOG, PID, PROTOCOL, Address, cookie_folder, folder, receive, send
from mlvc.links import unlink_quiet

START_WAIT_S = 5.0
ANSWER_WAIT_S = 10.0  # relisting what changed: at worst a walk of the folders


class WatcherError(MlvcError):
    pass


def supported() -> bool:
    return sys.platform.startswith("linux")


def signatures(root: str, targets: list[str]) -> dict[str, str]:
    """Tracked folder -> its listing signature now, for those the watcher has listed; the others
    it lists after answering, for the next status. {} when no watcher runs: one is started, and
    this call does not wait for it."""
    if not supported():
        return {}
    try:
        conn = connect(root)
        if conn is None:
            launch(root, targets)  # it walks them once this status (walking them itself) is done
            return {}
    except (OSError, WatcherError):
        return {}
    cookie = os.path.join(cookie_folder(root), f"{COOKIE_PREFIX}{os.getpid()}-{time.monotonic_ns()}")
    try:
        with conn:
            # Made before asking: the watcher answers once it has read the cookie's event, and
            # so every event of a change made before this call.
            os.close(os.open(cookie, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            conn.settimeout(ANSWER_WAIT_S)
            send(conn, {"op": "signatures", "cookie": os.path.basename(cookie), "targets": targets})
            reply = receive(conn)
    except (OSError, ValueError):
        return {}
    finally:
        unlink_quiet(cookie)
    if reply.get("protocol") != PROTOCOL:
        stop(root)  # an older or newer mlvc's watcher: the next status starts ours
        return {}
    found = reply.get("signatures") if reply.get("ok") else None
    if not isinstance(found, dict):
        return {}
    return {t: s for t, s in found.items() if t in targets and isinstance(s, str)}


def watch(root: str, targets: list[str]) -> None:
    """Have the watcher walk and watch `targets` soon, starting it where none runs; no waiting
    for it, and no error: a watcher that cannot help leaves `status` walking as before."""
    if not supported():
        return
    try:
        conn = connect(root)
        if conn is None:
            launch(root, targets)
            return
        with conn:
            send(conn, {"op": "watch", "targets": targets})
    except (OSError, WatcherError):
        pass


def connect(root: str) -> socket.socket | None:
    """A connection to the running watcher; None when none runs."""
    try:
        address = Address(root)
    except FileNotFoundError:
        return None  # no watcher ever ran here
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address.address)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    finally:
        address.close()
    return conn


def start(root: str) -> socket.socket:
    """Start the watcher of `root` (detached: it outlives this command) and connect to it."""
    if not supported():
        raise WatcherError("the file-system watcher needs Linux (inotify)")
    launch(root, [], wait=True)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        conn = connect(root)
        if conn is not None:
            return conn
        time.sleep(0.005)
    log = os.path.join(folder(root), LOG)
    raise WatcherError(f"the file-system watcher did not start in {START_WAIT_S:.0f} s (see {log})")


def launch(root: str, targets: list[str], wait: bool = False) -> None:
    """Run the launcher, which forks the watcher off and exits (`wait`: for that exit, so no
    zombie outlives this call; else it is reaped when this short command ends)."""
    import subprocess

    here = folder(root)
    os.makedirs(here, mode=0o700, exist_ok=True)
    with open(os.path.join(here, LOG), "ab") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "mlvc.fsmonitor.daemon", root, *targets],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
        )  # fmt: skip
    if wait:
        try:
            launcher.wait(START_WAIT_S)
        except subprocess.TimeoutExpired:
            raise WatcherError("the file-system watcher's launcher hung") from None


def ask(root: str, op: str) -> dict | None:
    """The watcher's reply to `op` ("info", "stop"); None when no watcher runs."""
    try:
        conn = connect(root)
    except OSError:
        return None
    if conn is None:
        return None
    try:
        with conn:
            conn.settimeout(ANSWER_WAIT_S)
            send(conn, {"op": op})
            return receive(conn)
    except (OSError, ValueError):
        return None


def stop(root: str) -> int | None:
    """Stop the watcher; its pid, or None when none ran."""
    pid = _pid(root)
    if ask(root, "stop") is None:
        return None
    deadline = time.monotonic() + START_WAIT_S
    while pid is not None and time.monotonic() < deadline and _alive(pid):
        time.sleep(0.01)  # gone before returning: a test or script may delete the folder next
    return pid


def _pid(root: str) -> int | None:
    try:
        with open(os.path.join(folder(root), PID)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process took the number: ours is gone, but waiting is harmless
    return True

