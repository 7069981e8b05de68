"""The repository: find its root, open its parts (config, cache, stat cache, lock), check paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property

from mlvc.errors import NotARepoError, PathError, RepoExistsError

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:  # each part is imported when first opened: a no-op repro needs none (sqlite3 alone ~5 ms)
    from mlvc.config import Config
    from mlvc.lock import RepoLock
    from mlvc.objects import ObjectStore
    from mlvc.statcache import StatCache

DOT = ".mlvc"
DOT_GITIGNORE = "/config.local\n/tmp/\n/cache/\n/quarantine/\n"
CONFIG_HEADER = "# mlvc configuration (committed). Secrets go in config.local, which git ignores.\n"


class Repo:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.dot = os.path.join(self.root, DOT)
        self.tmp_dir = os.path.join(self.dot, "tmp")
        self.on_lock_wait: Callable[[str], None] | None = None

    # -- opening ------------------------------------------------------------
    @classmethod
    def find(cls, start: str | None = None) -> Repo:
        here = os.path.abspath(start or os.getcwd())
        probe = here
        while True:
            if os.path.isdir(os.path.join(probe, DOT)):
                return cls(probe)
            parent = os.path.dirname(probe)
            if parent == probe:
                raise NotARepoError(f"{here}: not inside an mlvc repository (run `mlvc init` first)")
            probe = parent

    @classmethod
    def init(cls, path: str | None = None) -> tuple[Repo, bool]:
        """Create `.mlvc/` (and a git repository when there is none). Returns (repo, git_created)."""
        from mlvc import gitrepo

        root = os.path.abspath(path or os.getcwd())
        if f"{os.sep}.git{os.sep}" in root + os.sep:
            raise PathError(f"{root}: is inside a .git folder; run `mlvc init` in the work tree")
        if os.path.isdir(os.path.join(root, DOT)):
            raise RepoExistsError(f"{root}: already an mlvc repository ({DOT}/ exists)")
        git_created = False
        if gitrepo.find_git_root(root) is None:
            gitrepo.init(root)
            git_created = True
        repo = cls(root)
        for sub in ("cache", "tmp"):
            os.makedirs(os.path.join(repo.dot, sub), exist_ok=True)
        with open(os.path.join(repo.dot, ".gitignore"), "w") as f:
            f.write(DOT_GITIGNORE)
        with open(os.path.join(repo.dot, "config"), "w") as f:
            f.write(CONFIG_HEADER + "[core]\nlink = auto\n")
        return repo, git_created

    # -- parts --------------------------------------------------------------
    @cached_property
    def config(self) -> Config:
        from mlvc.config import Config

        return Config(os.path.join(self.dot, "config"), os.path.join(self.dot, "config.local"))

    @cached_property
    def cache_dir(self) -> str:
        configured = self.config.get("cache", "dir")
        if configured:
            return os.path.join(self.root, os.path.expanduser(configured))
        return os.path.join(self.dot, "cache")

    @cached_property
    def objects(self) -> ObjectStore:
        from mlvc.objects import ObjectStore

        return ObjectStore(self.cache_dir)

    @cached_property
    def stat_cache(self) -> StatCache:
        from mlvc.statcache import StatCache

        return StatCache(os.path.join(self.tmp_dir, "stat.db"))

    @cached_property
    def lock(self) -> RepoLock:
        return self.lock_waiting(self.config.get_float("core", "lock_timeout"))

    def lock_waiting(self, timeout: float) -> RepoLock:
        """The repo lock, given up on after `timeout` seconds (`lock` waits core.lock_timeout)."""
        from mlvc.lock import RepoLock

        return RepoLock(os.path.join(self.tmp_dir, "lock"), timeout, self.on_lock_wait)

    @cached_property
    def link_type(self) -> str:
        """The configured link type, with `auto` resolved: reflink where the filesystem can, else copy."""
        configured = self.config.link_type
        if configured != "auto":
            return configured
        from mlvc.links import reflink_supported

        os.makedirs(self.cache_dir, exist_ok=True)
        return "reflink" if reflink_supported(self.cache_dir) else "copy"

    def close(self) -> None:
        if "stat_cache" in self.__dict__:
            self.stat_cache.close()

    # -- paths --------------------------------------------------------------
    def rel(self, user_path: str, must_exist: bool = True) -> str:
        """Repo-relative posix path for a user's path argument, or a PathError that says why not."""
        absolute = os.path.abspath(user_path)
        if must_exist and not os.path.lexists(absolute):
            raise PathError(f"{user_path}: no such file or directory")
        if absolute != self.root and not absolute.startswith(self.root + os.sep):
            raise PathError(f"{user_path}: is outside the repository {self.root}")
        rel = os.path.relpath(absolute, self.root).replace(os.sep, "/")
        if rel == ".":
            raise PathError(f"{user_path}: is the repository root; name a file or folder inside it")
        first = rel.split("/", 1)[0]
        if first in (DOT, ".git"):
            raise PathError(f"{user_path}: is inside {first}/, which mlvc does not track")
        return rel

    def abs(self, rel: str) -> str:
        return os.path.join(self.root, rel.replace("/", os.sep))
