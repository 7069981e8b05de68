"""`mlvc remove` (stop tracking) and `mlvc unprotect` (make linked files editable copies)."""

from __future__ import annotations

import os
import shutil

from mlvc import links
from mlvc.pointer import Pointer
from mlvc.workspace import tracked


def unprotect(repo, rel: str) -> int:
    """Replace hard- and symbolic links into the cache under `rel` by writable copies."""
    cache = os.path.realpath(repo.cache_dir) + os.sep
    count = 0
    abspath = repo.abs(rel)
    paths = [abspath] if not os.path.isdir(abspath) else [
        os.path.join(d, f) for d, _dirs, files in os.walk(abspath) for f in files
    ]
    for path in paths:
        linked = os.path.islink(path) and os.path.realpath(path).startswith(cache)
        if not linked and os.path.isfile(path):
            st = os.stat(path)
            linked = st.st_nlink > 1 or not st.st_mode & 0o200
        if not linked:
            continue
        source = os.path.realpath(path)
        mode = (os.stat(source).st_mode & 0o111) | 0o644
        links.place(source, path, "copy", mode)
        count += 1
    return count


def remove(repo, ptr: Pointer, delete_data: bool = False) -> None:
    abspath = repo.abs(ptr.path)
    if delete_data:
        if os.path.isdir(abspath) and not os.path.islink(abspath):
            shutil.rmtree(abspath)
        elif os.path.lexists(abspath):
            os.unlink(abspath)
    elif os.path.lexists(abspath):
        unprotect(repo, ptr.path)  # the cache may be collected later: keep independent copies
    os.unlink(repo.abs(ptr.pointer_path))
    tracked.gitignore_remove(repo.root, ptr.path)
