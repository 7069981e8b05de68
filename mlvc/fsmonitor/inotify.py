"""Linux inotify through ctypes: the three calls and the event records, nothing more."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

IN_ACCESS = 0x1
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_UNMOUNT = 0x2000
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_EXCL_UNLINK = 0x4000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# What changes a listing signature (names, mode, inode, size, mtime of files; subfolders), and
# what ends a watch. Reads (IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE) are left out: a status reads nothing.
CHANGES = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
SELF = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT
# Events that add or remove an entry: a subfolder named by one is walked again, not kept.
STRUCTURE = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class InotifyError(OSError):
    pass


def _libc() -> ctypes.CDLL:
    """The C library: already loaded into Python itself (glibc or musl), else found by name."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "inotify_init1"):
        return libc
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class Inotify:
    """One inotify instance: a non-blocking fd whose events come out in the order they happened."""

    def __init__(self) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise InotifyError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd

    def add_watch(self, path: str, mask: int) -> int:
        """The watch descriptor of `path` (the same one again for a path already watched)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            err = ctypes.get_errno()
            raise InotifyError(err, f"{path}: inotify_add_watch: {os.strerror(err)}")
        return wd

    def rm_watch(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)  # an already gone watch (EINVAL) is fine

    def read(self) -> list[tuple[int, int, str]]:
        """The events queued now, as (wd, mask, name); [] when there are none."""
        try:
            data = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        events = []
        pos, end, unpack = 0, len(data), _HEADER.unpack_from
        while pos < end:
            wd, mask, _cookie, size = unpack(data, pos)
            pos += 16
            name = data[pos : pos + size].rstrip(b"\0") if size else b""
            pos += size
            events.append((wd, mask, os.fsdecode(name)))
        return events

    def close(self) -> None:
        os.close(self.fd)
