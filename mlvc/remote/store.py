"""A remote's objects over fsspec: the cache's layout (`ROOT/ab/cdef...`, `ROOT/packs/ID.pack|.idx`) at any URL.

`RemoteStore` works for every fsspec protocol; `LocalRemoteStore` is the same store with a
local folder's fast paths (scandir listing, copy + rename so an object lands whole).
Every call raises `RemoteError` naming the remote, with secrets blanked out.
"""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from mlvc import links
from mlvc.errors import MlvcError, RemoteError
from mlvc.hashing import is_hash
from mlvc.remote.config import RemoteConfig, redact

T = TypeVar("T")
SHARDS = [f"{i:02x}" for i in range(256)]
PACKS = "packs"  # ROOT/packs/ID.pack + ID.idx: small objects, many to a file (see mlvc/packs.py)
RETRIES = 4  # attempts after the first, on transient errors only
BACKOFF_S = 0.25


class RemoteStore:
    def __init__(self, cfg: RemoteConfig, fs, root: str) -> None:
        self.cfg = cfg
        self.fs = fs
        self.root = root.rstrip("/")
        self._checked = False

    @property
    def name(self) -> str:
        return self.cfg.name

    def key(self, h: str) -> str:
        return f"{self.root}/{h[:2]}/{h[2:]}"

    def pack_key(self, name: str) -> str:
        """Where a pack file (`ID.pack` or `ID.idx`) is on the remote."""
        return f"{self.root}/{PACKS}/{name}"

    # -- errors ---------------------------------------------------------------------
    def error(self, exc: BaseException, doing: str) -> RemoteError:
        """A one-line RemoteError that names the remote and says which failure it was."""
        where = f"remote {self.cfg.name!r} ({self.cfg.url})"
        msg = _first_line(exc)
        if isinstance(exc, PermissionError) or _code(exc) in _AUTH_CODES:
            text = f"{where}: access denied while {doing}: the server rejected the credentials ({msg})"
        elif isinstance(exc, FileNotFoundError) and _code(exc) == "NoSuchBucket":
            text = f"{where}: bucket does not exist ({msg})"
        elif is_transient(exc):
            text = f"{where}: cannot reach the remote while {doing} ({type(exc).__name__}: {msg})"
        else:
            text = f"{where}: {doing} failed ({type(exc).__name__}: {msg})"
        return RemoteError(redact(text, self.cfg.secrets))

    def retry(self, fn: Callable[[], T], doing: str) -> T:
        """Run `fn`, retrying transient failures with exponential backoff and jitter."""
        for attempt in range(RETRIES + 1):
            try:
                return fn()
            except MlvcError:
                raise
            except Exception as exc:
                if attempt == RETRIES or not is_transient(exc):
                    raise self.error(exc, doing) from exc
                time.sleep(BACKOFF_S * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    # -- checks -----------------------------------------------------------------------
    def check(self) -> None:
        """Fail early (one request) on a missing bucket or rejected credentials."""
        if self._checked:
            return
        bucket = self.root.split("/", 1)[0]
        if self.cfg.protocol in ("s3", "gs", "gcs", "az", "abfs"):
            try:
                exists = self.retry(lambda: self.fs.exists(bucket), "checking the bucket")
            except RemoteError:
                # exists() can hide the cause; a listing shows whether it was the credentials
                self.retry(lambda: self.fs.ls(bucket, refresh=True), "checking the bucket")
                raise
            if not exists:
                # s3fs answers False for a bucket it may not see, too: list it to tell which
                try:
                    self.fs.ls(bucket, refresh=True)
                except FileNotFoundError:
                    raise RemoteError(
                        f"remote {self.cfg.name!r} ({self.cfg.url}): bucket {bucket!r} does not exist"
                    ) from None
                except Exception as exc:
                    raise self.error(exc, "checking the bucket") from exc
        self._checked = True

    # -- listing ----------------------------------------------------------------------
    def list_shard(self, shard: str) -> dict[str, int]:
        """{hash: size} of the objects in one shard folder (temp files and strays ignored)."""

        def ls() -> list[dict]:
            try:
                return self.fs.ls(f"{self.root}/{shard}", detail=True, refresh=True)
            except FileNotFoundError:
                return []

        found: dict[str, int] = {}
        for info in self.retry(ls, f"listing {shard}/"):
            if info.get("type") == "directory":
                continue
            h = shard + info["name"].rstrip("/").rsplit("/", 1)[-1]
            if is_hash(h):
                found[h] = int(info.get("size") or 0)
        return found

    def list_strays(self) -> list[str]:
        """Leftover temp files from an interrupted upload (local folders only)."""
        return []

    # -- pack files -----------------------------------------------------------------------
    def pack_folder(self) -> str | None:
        """A local folder where new packs can be written in place (folder remotes), else None."""
        return None

    def list_pack_files(self) -> dict[str, int]:
        """{name: size} of the files in ROOT/packs/ (`ID.pack`, `ID.idx`; temp files left out)."""

        def ls() -> list[dict]:
            try:
                return self.fs.ls(f"{self.root}/{PACKS}", detail=True, refresh=True)
            except FileNotFoundError:
                return []

        found: dict[str, int] = {}
        for info in self.retry(ls, f"listing {PACKS}/"):
            name = info["name"].rstrip("/").rsplit("/", 1)[-1]
            if info.get("type") != "directory" and not links.is_tmp_name(name):
                found[name] = int(info.get("size") or 0)
        return found

    def read_pack_file(self, name: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes [start, end) of a pack file (the whole file without a range): one GET."""

        def cat() -> bytes:
            try:
                return self.fs.cat_file(self.pack_key(name), start=start, end=end)
            except FileNotFoundError:
                raise RemoteError(f"remote {self.cfg.name!r}: {PACKS}/{name} is not on the remote") from None

        return self.retry(cat, f"reading {PACKS}/{name}")

    def put_pack_file(self, local_path: str, name: str) -> None:
        """Upload a pack file: one PUT (multipart for large ones), so it is whole on the remote or absent."""
        self.retry(lambda: self.fs.put_file(local_path, self.pack_key(name)), f"uploading {PACKS}/{name}")

    def delete_pack_files(self, names: list[str]) -> None:
        """Delete pack files one by one, in the order given (an .idx before its .pack)."""
        for name in names:

            def rm(name: str = name) -> None:
                try:
                    self.fs.rm_file(self.pack_key(name))
                except FileNotFoundError:
                    pass

            self.retry(rm, f"deleting {PACKS}/{name}")

    # -- transfers ----------------------------------------------------------------------
    def put(self, local_path: str, h: str) -> None:
        """Upload one object: a single PUT, so it is whole on the remote or absent."""
        self.retry(lambda: self.fs.put_file(local_path, self.key(h)), f"uploading {h}")

    def put_verified(self, local_path: str, h: str) -> bool:
        """Upload a large object if its bytes hash to `h` (False, nothing sent, if they do not)."""
        from mlvc.hashing import hash_file

        if hash_file(local_path) != h:
            return False
        self.put(local_path, h)
        return True

    def get_verified(self, h: str, dest: str) -> str:
        """Download a large object to `dest`; returns the hash of the bytes written there."""
        from mlvc.hashing import hash_file

        self.get(h, dest)
        return hash_file(dest)

    def put_bytes(self, h: str, data: bytes) -> None:
        """Upload one small object from memory (one PUT)."""
        self.retry(lambda: self.fs.pipe_file(self.key(h), data), f"uploading {h}")

    def get(self, h: str, dest: str) -> None:
        """Download one object to `dest` (a temp path the caller verifies and renames)."""

        def get() -> None:
            try:
                self.fs.get_file(self.key(h), dest)
            except FileNotFoundError:
                raise RemoteError(f"remote {self.cfg.name!r}: object {h} is not on the remote") from None

        self.retry(get, f"downloading {h}")

    def read(self, h: str) -> bytes:
        def cat() -> bytes:
            try:
                return self.fs.cat_file(self.key(h))
            except FileNotFoundError:
                raise RemoteError(f"remote {self.cfg.name!r}: object {h} is not on the remote") from None

        return self.retry(cat, f"reading {h}")

    def open_read(self, h: str):
        """A binary file object over one object (for streaming large ones)."""
        from mlvc.hashing import BLOCK

        return self.fs.open(self.key(h), "rb", block_size=BLOCK)

    def delete(self, hashes: Iterable[str]) -> None:
        keys = [self.key(h) for h in hashes]
        for i in range(0, len(keys), 1000):
            batch = keys[i : i + 1000]
            self.retry(lambda b=batch: self.fs.rm(b), "deleting objects")

    def delete_paths(self, paths: list[str]) -> None:
        for p in paths:
            self.retry(lambda p=p: self.fs.rm_file(p), f"deleting {p}")


class LocalRemoteStore(RemoteStore):
    """A folder remote: the same store, with scandir listings and temp + rename writes."""

    def __init__(self, cfg: RemoteConfig, fs, root: str) -> None:
        super().__init__(cfg, fs, root)
        self._made: set[str] = set()

    def check(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise RemoteError(f"remote {self.cfg.name!r}: {self.root} is not a folder")

    def list_shard(self, shard: str) -> dict[str, int]:
        return self._sizes(shard, lambda name: shard + name if is_hash(shard + name) else None)

    def _sizes(self, folder: str, key_of: Callable[[str], str | None]) -> dict[str, int]:
        """{key: size} of the files in ROOT/folder whose name `key_of` maps to a key (None: skip it)."""
        found: dict[str, int] = {}
        try:
            it = os.scandir(os.path.join(self.root, folder))
        except FileNotFoundError:
            return found
        except OSError as exc:
            raise self.error(exc, f"listing {folder}/") from exc
        with it:
            for e in it:
                key = key_of(e.name)
                if key is not None:
                    try:
                        found[key] = e.stat().st_size
                    except FileNotFoundError:  # deleted while listed
                        continue
        return found

    def list_strays(self) -> list[str]:
        out = []
        for shard in [*SHARDS, PACKS]:
            d = os.path.join(self.root, shard)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in os.listdir(d) if links.is_tmp_name(n)]
        return out

    def pack_folder(self) -> str | None:
        # PackWriter's own commit (temp + rename of the .pack, then of the .idx) is the remote's protocol
        return os.path.join(self.root, PACKS)

    def list_pack_files(self) -> dict[str, int]:
        return self._sizes(PACKS, lambda name: None if links.is_tmp_name(name) else name)

    def read_pack_file(self, name: str, start: int | None = None, end: int | None = None) -> bytes:
        path = self.pack_key(name)
        try:
            with open(path, "rb", buffering=0) as f:
                if start is None:
                    return f.read()
                return os.pread(f.fileno(), (end if end is not None else os.fstat(f.fileno()).st_size) - start,
                                start)
        except FileNotFoundError:
            raise RemoteError(f"remote {self.cfg.name!r}: {PACKS}/{name} is not on the remote") from None
        except OSError as exc:
            raise self.error(exc, f"reading {PACKS}/{name}") from exc

    def put_pack_file(self, local_path: str, name: str) -> None:
        dest = self.pack_key(name)
        try:
            self._mkdir(os.path.dirname(dest))
            links.place(local_path, dest, "reflink", 0o444)  # temp + rename inside: whole or absent
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise RemoteError(f"remote {self.cfg.name!r} ({self.root}): no space left on device") from None
            raise self.error(exc, f"uploading {PACKS}/{name}") from exc

    def delete_pack_files(self, names: list[str]) -> None:
        for name in names:
            links.unlink_quiet(self.pack_key(name))

    def put(self, local_path: str, h: str) -> None:
        self._write(h, lambda dest: links.place(local_path, dest, "copy", 0o444))

    def put_verified(self, local_path: str, h: str) -> bool:
        from mlvc.remote.localcopy import copy_hashing

        dest = self.key(h)
        tmp = links.tmp_path_for(dest)
        try:
            self._mkdir(os.path.dirname(dest))
            if copy_hashing(local_path, tmp) != h:
                os.unlink(tmp)
                return False
            os.replace(tmp, dest)
            return True
        except OSError as exc:
            links.unlink_quiet(tmp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise RemoteError(f"remote {self.cfg.name!r} ({self.root}): no space left on device") from None
            raise self.error(exc, f"uploading {h}") from exc
        except BaseException:
            links.unlink_quiet(tmp)
            raise

    def get_verified(self, h: str, dest: str) -> str:
        from mlvc.remote.localcopy import copy_hashing

        try:
            return copy_hashing(self.key(h), dest)
        except FileNotFoundError:
            links.unlink_quiet(dest)
            raise RemoteError(f"remote {self.cfg.name!r}: object {h} is not on the remote") from None
        except OSError as exc:
            links.unlink_quiet(dest)
            raise self.error(exc, f"downloading {h}") from exc

    def _mkdir(self, parent: str) -> None:
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    def put_bytes(self, h: str, data: bytes) -> None:
        self._write(h, lambda dest: links.write_bytes_atomic(dest, data, 0o444))

    def _write(self, h: str, write) -> None:
        """Write object `h` by `write(dest)` (temp + rename inside it); failures as one-line errors."""
        dest = self.key(h)
        try:
            self._mkdir(os.path.dirname(dest))
            write(dest)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise RemoteError(f"remote {self.cfg.name!r} ({self.root}): no space left on device") from None
            raise self.error(exc, f"uploading {h}") from exc

    def get(self, h: str, dest: str) -> None:
        try:
            links.place(self.key(h), dest, "reflink", 0o444)
        except FileNotFoundError:
            raise RemoteError(f"remote {self.cfg.name!r}: object {h} is not on the remote") from None
        except OSError as exc:
            raise self.error(exc, f"downloading {h}") from exc

    def read(self, h: str) -> bytes:
        try:
            with open(self.key(h), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise RemoteError(f"remote {self.cfg.name!r}: object {h} is not on the remote") from None

    def open_read(self, h: str):
        return open(self.key(h), "rb")

    def delete(self, hashes: Iterable[str]) -> None:
        for h in hashes:
            try:
                os.unlink(self.key(h))
            except FileNotFoundError:
                pass

    def delete_paths(self, paths: list[str]) -> None:
        for p in paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def open_store(cfg: RemoteConfig, repo_root: str) -> RemoteStore:
    """The store for a configured remote (imports fsspec and the protocol's library lazily)."""
    proto = cfg.protocol
    if proto == "file":
        import fsspec.implementations.local

        path = cfg.url[len("file://") :] if cfg.url.startswith("file://") else cfg.url
        root = os.path.normpath(os.path.join(repo_root, os.path.expanduser(path)))
        return LocalRemoteStore(cfg, fsspec.implementations.local.LocalFileSystem(), root)
    import fsspec

    _quiet_async_noise()
    try:
        cls = fsspec.get_filesystem_class(proto)
    except (ValueError, ImportError) as exc:
        hint = " (pip install s3fs)" if proto == "s3" else ""
        raise RemoteError(
            f"remote {cfg.name!r} ({cfg.url}): cannot open protocol {proto!r}: {_first_line(exc)}{hint}"
        ) from None
    try:
        fs = cls(**storage_options(cfg))
    except Exception as exc:
        raise RemoteError(redact(f"remote {cfg.name!r} ({cfg.url}): cannot connect: {_first_line(exc)}",
                                 cfg.secrets)) from None
    root = cls._strip_protocol(cfg.url)
    if not root:
        raise RemoteError(f"remote {cfg.name!r} ({cfg.url}): the URL names no bucket or folder")
    return RemoteStore(cfg, fs, root)


def _quiet_async_noise() -> None:
    """Async filesystems (s3fs on aiohttp) leave failed requests' tasks behind when a connection
    drops; asyncio then logs "Task exception was never retrieved" with a traceback at exit. The
    failure itself reaches the user as one RemoteError line (with our traceback under --verbose)."""
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def storage_options(cfg: RemoteConfig) -> dict[str, object]:
    """fsspec keyword arguments for a remote's options (credentials only from config.local/env)."""
    o = dict(cfg.options)
    o.pop("jobs", None)
    if cfg.protocol == "s3":
        opts: dict[str, object] = {}
        client: dict[str, object] = {}
        if "endpointurl" in o:
            opts["endpoint_url"] = o["endpointurl"]
        if "region" in o:
            client["region_name"] = o["region"]
        if "profile" in o:
            opts["profile"] = o["profile"]
        if "access_key_id" in o:
            opts["key"] = o["access_key_id"]
        if "secret_access_key" in o:
            opts["secret"] = o["secret_access_key"]
        if "session_token" in o:
            opts["token"] = o["session_token"]
        if o.get("anon", "").lower() in ("1", "true", "yes"):
            opts["anon"] = True
        if "verify_ssl" in o:
            client["verify"] = o["verify_ssl"].lower() not in ("0", "false", "no")
        if client:
            opts["client_kwargs"] = client
        # Fail over a dead endpoint in seconds, not minutes; our own retry loop backs off on top.
        opts["config_kwargs"] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}
        return opts
    out: dict[str, object] = {}
    rename = {"user": "username", "keyfile": "key_filename"}
    for k, v in o.items():
        key = rename.get(k, k)
        out[key] = int(v) if k == "port" and v.isdigit() else v
    return out


_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken"}


def _code(exc: BaseException) -> str:
    for e in (exc, exc.__cause__, exc.__context__):
        resp = getattr(e, "response", None)
        if isinstance(resp, dict):
            return str(resp.get("Error", {}).get("Code", ""))
    return ""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection trouble and timeouts, not a missing file or a refusal."""
    if isinstance(exc, (FileNotFoundError, PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError)):
        return False
    if _code(exc) in _AUTH_CODES or _code(exc) == "NoSuchBucket":
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    name = type(exc).__name__
    mod = type(exc).__module__ or ""
    if any(w in name for w in ("Connection", "Timeout", "ConnectTimeout", "ServerDisconnected", "IncompleteRead")):
        return True
    if mod.startswith(("aiohttp", "botocore", "urllib3", "paramiko")) and "ClientError" not in name:
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT,
                                                   errno.EPIPE, errno.EAGAIN, None):
        return True
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
