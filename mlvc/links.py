"""Putting bytes in place: reflink, hardlink, symlink or copy, via a temp file + rename.

Everything lands whole or not at all: a reader never sees a half-written file. The one exception
is `place_new`/`write_new` (a new file filled in place, for checkout's fresh files: see
mlvc/workspace/intent.py for how an interrupted one is recognised).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Callable

LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
TMP_MARK = ".mlvc-tmp-"
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
NO_HARDLINK = (errno.EXDEV, errno.EMLINK, errno.EPERM)  # where a hard link cannot be made: copy instead


_TMP_SEQ = itertools.count()
_TMP_TOKEN: list[str] = []  # per process: random, so two processes never pick the same names


def tmp_path_for(dest: str) -> str:
    """A fresh temp name beside `dest` (a random per-process token + pid + a counter: no syscall per name)."""
    if not _TMP_TOKEN:
        _TMP_TOKEN.append(os.urandom(3).hex())
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail[:100]}{TMP_MARK}{_TMP_TOKEN[0]}{os.getpid():x}-{next(_TMP_SEQ):x}")


def is_tmp_name(name: str) -> bool:
    return TMP_MARK in name


def _clone(src: str, dst: str, mode: int) -> bool:
    """Reflink src to dst (a new file). False when the filesystem cannot."""
    with open(src, "rb") as s:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if _clone_fd(s.fileno(), fd):
                return True
            os.unlink(dst)
            return False
        finally:
            os.close(fd)


def _clone_fd(src_fd: int, fd: int) -> bool:
    import fcntl

    try:
        fcntl.ioctl(fd, FICLONE, src_fd)
        return True
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF):
            return False
        raise


def _copy(src: str, dst: str, mode: int) -> None:
    with open(src, "rb", buffering=0) as s:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            _copy_fd(s, fd)
        finally:
            os.close(fd)


def _copy_fd(s, fd: int) -> None:
    """Copy the open file `s` (from its start) into the empty file `fd`."""
    size = os.fstat(s.fileno()).st_size
    try:
        left = size
        while left > 0:
            n = os.copy_file_range(s.fileno(), fd, left)
            if n == 0:
                break
            left -= n
    except OSError as exc:
        restart_copy(exc, s, fd)
        while chunk := s.read(8 << 20):
            _write_all(fd, chunk)


def restart_copy(exc: OSError, src, fd: int) -> None:
    """After `copy_file_range` failed with `exc`: re-raise unless this kernel or file system just
    cannot do it (then the caller copies by read and write), and rewind both ends for that."""
    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
        raise exc
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    src.seek(0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # a short write (a filling disk) is not an error: write the rest
        view = view[os.write(fd, view) :]


def write_bytes_atomic(dest: str, data: bytes, mode: int = 0o644) -> None:
    tmp = tmp_path_for(dest)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException as exc:
        unlink_quiet(tmp)
        _raise_if_disk_full(exc, dest)
        raise


def _raise_if_disk_full(exc: BaseException, dest: str) -> None:
    """ENOSPC/EDQUOT become a DiskFullError that says where (os.write's own error names no file)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        from mlvc.errors import DiskFullError

        raise DiskFullError(
            f"no space left on device writing {dest}; nothing partial was kept, free some space and rerun"
        ) from None


def place(src: str, dest: str, link_type: str, mode: int) -> str:
    """Make `dest` have the bytes of `src` by `link_type`; returns the link type used.

    `mode` applies to copies and reflinks; hard and symbolic links share the source's mode.
    """
    if link_type in ("hardlink", "symlink"):
        # A link appears whole or not at all: where `dest` is free (a fresh checkout), no temp file.
        try:
            if _link_at_free(src, dest, link_type):
                return link_type
            link_type = "copy"
        except FileExistsError:
            pass
    tmp = tmp_path_for(dest)
    try:
        used = link_type
        if link_type == "hardlink":
            try:
                os.link(src, tmp)
            except OSError as exc:
                if exc.errno not in NO_HARDLINK:
                    raise
                used = "copy"
                _copy(src, tmp, mode)
        elif link_type == "symlink":
            os.symlink(os.path.abspath(src), tmp)
        elif link_type == "reflink" and _clone(src, tmp, mode):
            pass
        else:
            used = "copy"
            _copy(src, tmp, mode)
        os.replace(tmp, dest)
        return used
    except BaseException as exc:
        unlink_quiet(tmp)
        _raise_if_disk_full(exc, dest)
        raise


def _link_at_free(src: str, dest: str, link_type: str) -> bool:
    """A hard or symbolic link to `src` at `dest`; False where no hard link can be made (the cache
    on another filesystem, an inode with too many links): copy instead. FileExistsError raises."""
    try:
        if link_type == "hardlink":
            os.link(src, dest)
        else:
            os.symlink(os.path.abspath(src), dest)
        return True
    except OSError as exc:
        if isinstance(exc, FileExistsError) or link_type != "hardlink" or exc.errno not in NO_HARDLINK:
            raise
        return False


def write_new(dest: str, data: bytes, mode: int = 0o644) -> os.stat_result:
    """Create `dest` (which must not exist: FileExistsError) holding `data`, written in place; its fstat.

    Not atomic: a reader, or a kill, can see it part-written (always a prefix of `data`). On an error
    it is removed again. One directory operation instead of two (create, then rename) per file.
    """
    return _create_new(dest, mode, lambda fd: _write_all(fd, data))


def place_new(src: str, dest: str, link_type: str, mode: int) -> os.stat_result:
    """`place` for a `dest` that does not exist (FileExistsError), with no temp file; its stat
    (for a symlink, of what it points to). Links appear whole; copies and clones are written in
    place, as by `write_new`."""
    if link_type in ("hardlink", "symlink") and _link_at_free(src, dest, link_type):
        return os.stat(dest)
    with open(src, "rb", buffering=0) as s:

        def fill(fd: int) -> None:
            if not (link_type == "reflink" and _clone_fd(s.fileno(), fd)):
                _copy_fd(s, fd)

        return _create_new(dest, mode, fill)


def _create_new(dest: str, mode: int, fill: Callable[[int], object]) -> os.stat_result:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            fill(fd)
            return os.fstat(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        unlink_quiet(dest)  # ours (O_EXCL): whole or absent after an error, as with a temp file
        _raise_if_disk_full(exc, dest)
        raise


def reflink_supported(directory: str) -> bool:
    probe_src = os.path.join(directory, f".reflink-probe{TMP_MARK}{os.urandom(4).hex()}")
    probe_dst = probe_src + "-clone"
    try:
        with open(probe_src, "wb") as f:
            f.write(b"mlvc")
        ok = _clone(probe_src, probe_dst, 0o644)
        return ok
    except OSError:
        return False
    finally:
        unlink_quiet(probe_src)
        unlink_quiet(probe_dst)


def make_writable(path: str) -> None:
    st = os.stat(path)
    os.chmod(path, st.st_mode | stat.S_IWUSR)


def unlink_quiet(path: str | None) -> None:
    """Remove `path` if it is there (None: nothing to remove)."""
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
