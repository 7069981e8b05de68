"""Content hashes: xxh3-128 as 32 lowercase hex digits.

xxh3 is fast, not collision-resistant: it catches corruption, not an attacker who can
write to a remote (docs/formats.md says so).
"""

from __future__ import annotations

import os

import xxhash

HASH_LEN = 32
BLOCK = 4 << 20


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str | os.PathLike[str]) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size <= BLOCK:
            # Small files (the common case): one read, no buffer juggling.
            return xxhash.xxh3_128_hexdigest(f.read())
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def is_hash(value: object) -> bool:
    if not isinstance(value, str) or len(value) != HASH_LEN:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return value == value.lower()
