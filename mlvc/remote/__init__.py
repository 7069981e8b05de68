"""Remotes: one transfer engine over fsspec for every protocol (s3://, gs://, az://, ssh://, local folders).

- `config`: the `[remote "NAME"]` sections, defaults, and which options are secrets.
- `store`: a remote's object layout (`ab/cdef...` and `packs/`, as in the cache) over an fsspec filesystem.
- `packed`: small objects in packs on a remote (their indexes, ranged reads, building and rewriting packs).
- `transfer`: push / fetch / status planning and parallel, retried, verified transfers.
- `roots`: which objects to move (workspace pointers and lock files, or git commits).
- `maintain`: `remote verify` and `gc --remote`.
"""
