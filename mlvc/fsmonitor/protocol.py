"""Where the watcher of a repository lives and how it is spoken to: one JSON object per line
over a Unix socket in `.mlvc/tmp/fsmonitor/`, a folder only its owner can enter."""

from __future__ import annotations

import json
import os
import socket

PROTOCOL = 1  # a watcher that answers with another one is stopped and started again
FOLDER = os.path.join(".mlvc", "tmp", "fsmonitor")
SOCKET = "sock"
PID = "pid"
LOG = "log"
LOCK = "lock"
COOKIES = "cookies"  # watched; holds no open file, so its removal is seen at once
COOKIE_PREFIX = "cookie-"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; deeper repositories go through /proc/self/fd


def folder(root: str) -> str:
    return os.path.join(root, FOLDER)


def cookie_folder(root: str) -> str:
    return os.path.join(root, FOLDER, COOKIES)


class Address:
    """The socket's address, usable whatever the depth of the repository: a long path is reached
    through an open fd of its folder (/proc/self/fd/N/sock), which the holder closes when done."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(folder(root), SOCKET)
        self._fd: int | None = None
        self.address = self.path
        if len(os.fsencode(self.path)) > _SUN_PATH_MAX:
            self._fd = os.open(folder(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self.address = f"/proc/self/fd/{self._fd}/{SOCKET}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def send(conn: socket.socket, doc: dict) -> None:
    conn.sendall(json.dumps(doc).encode() + b"\n")


def receive(conn: socket.socket) -> dict:
    """One reply line; ValueError if the watcher hung up or said something that is not one."""
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise ValueError("the file-system watcher closed the connection")
        buf += chunk
    doc = json.loads(buf)
    if not isinstance(doc, dict):
        raise ValueError("the file-system watcher sent no object")
    return doc
