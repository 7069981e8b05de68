"""Install and remove mlvc's git hooks in a repository's hooks folder.

The folder is `core.hooksPath` when git is configured with one (read through dulwich's config
stack: the repository's, the user's and the system's), else `hooks/` in the common git folder
(shared by every worktree). Installing is idempotent. A hook that is already there and is not
ours is kept as `NAME.pre-mlvc` and our script runs it first; uninstalling puts it back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc.errors import HooksError
from mlvc.githooks.scripts import CHAINED_SUFFIX, HOOKS, is_ours, script

INSTALLED, UPDATED, UNCHANGED, CHAINED = "installed", "updated", "unchanged", "installed, chaining the existing hook"
REMOVED, RESTORED, ABSENT, FOREIGN = "removed", "removed, the previous hook restored", "not installed", "not ours, kept"


@dataclass(frozen=True)
class HookResult:
    name: str
    path: str
    state: str

    def to_dict(self) -> dict[str, str]:
        return {"hook": self.name, "path": self.path, "state": self.state}


def hooks_dir(git) -> str:
    """The folder git runs hooks from, for a dulwich repository with a work tree."""
    try:
        configured = git.get_config_stack().get((b"core",), b"hooksPath")
    except KeyError:
        configured = None
    if configured:
        path = os.path.expanduser(configured.decode("utf-8", "surrogateescape"))
        return os.path.normpath(os.path.join(git.path, path))  # relative: to the top of the work tree
    return os.path.join(git.commondir(), "hooks")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise HooksError(f"{path}: is a folder, not a hook script; move it away and rerun") from None


def _write(path: str, text: str) -> None:
    tmp = f"{path}.mlvc-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install(folder: str, names: tuple[str, ...] = HOOKS) -> list[HookResult]:
    os.makedirs(folder, exist_ok=True)
    results = []
    for name in names:
        path = os.path.join(folder, name)
        want = script(name)
        current = _read(path) if os.path.lexists(path) else None
        if current is not None and is_ours(current):
            if current == want and os.access(path, os.X_OK):
                results.append(HookResult(name, path, UNCHANGED))
                continue
            _write(path, want)
            results.append(HookResult(name, path, UPDATED))
            continue
        state = INSTALLED
        if os.path.lexists(path):  # someone else's hook: keep it and run it first
            kept = path + CHAINED_SUFFIX
            if os.path.lexists(kept):
                raise HooksError(f"{path}: a hook is in the way and {kept} exists too; merge or move one and rerun")
            os.rename(path, kept)
            state = CHAINED
        _write(path, want)
        results.append(HookResult(name, path, state))
    return results


def uninstall(folder: str, names: tuple[str, ...] = HOOKS) -> list[HookResult]:
    results = []
    for name in names:
        path = os.path.join(folder, name)
        kept = path + CHAINED_SUFFIX
        current = _read(path) if os.path.lexists(path) else None
        if current is not None and not is_ours(current):
            results.append(HookResult(name, path, FOREIGN))
            continue
        if current is None:
            if os.path.lexists(kept) and not os.path.lexists(path):  # our hook was deleted by hand
                os.rename(kept, path)
                results.append(HookResult(name, path, RESTORED))
            else:
                results.append(HookResult(name, path, ABSENT))
            continue
        os.remove(path)
        if os.path.lexists(kept):
            os.rename(kept, path)
            results.append(HookResult(name, path, RESTORED))
        else:
            results.append(HookResult(name, path, REMOVED))
    return results
