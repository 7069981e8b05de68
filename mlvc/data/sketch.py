"""Streaming, mergeable sketches with bounded memory: a histogram for numbers, KMV for distinct counts.

Histogram: a sparse histogram on a power-of-two grid, bin k covering [k*w, (k+1)*w) with w = 2**exp,
holding at most MAX_BINS occupied bins. The first batch sets w to about 1/1024 of its central 99 %
range; whenever more than MAX_BINS bins are occupied, w doubles and neighbouring bins merge. Outliers
occupy a few bins and do not blur the bulk (a dense fixed window would). One pass suffices, and two
histograms can always be brought onto the same grid exactly — which is what drift needs (shared
bins). Quantiles interpolate linearly within a bin, so their error is below one bin width.

KMV (k minimum values): keeps the K smallest 64-bit hashes of the values seen; distinct count is
estimated as (K-1) / (K-th smallest / 2**64), relative error about 1/sqrt(K) (~1.6 %).
"""

from __future__ import annotations

import math

import numpy as np

MAX_BINS = 8192
INITIAL_BINS = 1024
KMV_K = 4096
_U64 = np.uint64
_I64 = np.int64


class Histogram:
    def __init__(self, exp: int | None = None, keys: np.ndarray | None = None, counts: np.ndarray | None = None):
        self.exp = exp
        self.keys = keys if keys is not None else np.zeros(0, dtype=_I64)  # sorted absolute bin numbers
        self.counts = counts if counts is not None else np.zeros(0, dtype=_I64)

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exp) if self.exp is not None else 0.0

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def add(self, values: np.ndarray) -> None:
        """Add finite float64 values."""
        if values.size == 0:
            return
        lo, hi = float(values.min()), float(values.max())
        if self.exp is None:
            if values.size >= 1000:
                lo_c, hi_c = np.percentile(values, [0.5, 99.5])
                span = float(hi_c - lo_c)
            else:
                span = hi - lo
            span = span or max(abs(lo), 1.0) * 2.0**-20
            self.exp = math.ceil(math.log2(span / INITIAL_BINS))
        big = max(abs(lo), abs(hi))
        if big / self.width > 2.0**60:  # keep bin numbers well inside int64
            self._coarsen(math.ceil(math.log2(big / self.width)) - 60)
        idx = np.floor(values / self.width).astype(_I64)
        i_lo, i_hi = int(idx.min()), int(idx.max())
        if i_hi - i_lo < 1 << 20:
            c = np.bincount(idx - i_lo)
            nz = np.nonzero(c)[0]
            keys, counts = nz.astype(_I64) + i_lo, c[nz].astype(_I64)
        else:
            keys, counts = np.unique(idx, return_counts=True)
        self._absorb(keys, counts.astype(_I64))

    def merge(self, other: Histogram) -> None:
        if other.exp is None:
            return
        if self.exp is None:
            self.exp, self.keys, self.counts = other.exp, other.keys.copy(), other.counts.copy()
            return
        other = other.copy()
        other._coarsen(self.exp - other.exp)
        self._coarsen(other.exp - self.exp)
        self._absorb(other.keys, other.counts)

    def copy(self) -> Histogram:
        return Histogram(self.exp, self.keys.copy(), self.counts.copy())

    # -- grid -------------------------------------------------------------------
    def _absorb(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self.keys, self.counts = _combine(np.concatenate([self.keys, keys]), np.concatenate([self.counts, counts]))
        while self.keys.size > MAX_BINS:
            self._coarsen(1)

    def _coarsen(self, steps: int) -> None:
        """Multiply the bin width by 2**steps: absolute bin k becomes k >> steps (floor division)."""
        if steps <= 0 or self.exp is None:
            return
        self.exp += steps
        self.keys, self.counts = _combine(self.keys >> steps, self.counts, presorted=True)

    # -- reading ----------------------------------------------------------------
    def quantiles(self, qs: list[float], lo: float, hi: float) -> list[float]:
        """Quantiles, interpolated within bins and clamped to the true [lo, hi]."""
        n = self.total
        if n == 0:
            return [math.nan for _ in qs]
        cum = np.cumsum(self.counts)
        out = []
        for q in qs:
            target = q * n
            i = min(int(np.searchsorted(cum, target, side="left")), self.keys.size - 1)
            before = cum[i - 1] if i > 0 else 0
            frac = (target - before) / self.counts[i]
            value = (int(self.keys[i]) + float(frac)) * self.width
            out.append(min(max(value, lo), hi))
        return out

    def to_dict(self) -> dict:
        return {"exp": self.exp, "bins": [[int(k), int(c)] for k, c in zip(self.keys, self.counts, strict=True)]}

    @classmethod
    def from_dict(cls, doc: dict) -> Histogram:
        bins = doc.get("bins") or []
        keys = np.array([k for k, _ in bins], dtype=_I64)
        counts = np.array([c for _, c in bins], dtype=_I64)
        return cls(doc.get("exp"), keys, counts)


def _combine(keys: np.ndarray, counts: np.ndarray, presorted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sum the counts of equal keys; keys come back sorted and unique."""
    if keys.size == 0:
        return keys, counts
    if not presorted:
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
    starts = np.concatenate([[0], np.nonzero(np.diff(keys))[0] + 1])
    return keys[starts], np.add.reduceat(counts, starts)


def aligned(a: Histogram, b: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """Counts of `a` and `b` over the same bins (exact: both grids are powers of two)."""
    a, b = a.copy(), b.copy()
    a._coarsen(b.exp - a.exp)
    b._coarsen(a.exp - b.exp)
    keys = np.union1d(a.keys, b.keys)
    ca = np.zeros(keys.size, dtype=_I64)
    cb = np.zeros(keys.size, dtype=_I64)
    ca[np.searchsorted(keys, a.keys)] = a.counts
    cb[np.searchsorted(keys, b.keys)] = b.counts
    return ca, cb


# -- distinct counts ------------------------------------------------------------------
_RNG = np.random.default_rng(0x6D6C7663)
_POS_WEIGHTS = _RNG.integers(1, 2**63, size=1 << 12, dtype=np.int64).astype(_U64) | _U64(1)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads a linear hash over all 64 bits."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> _U64(27))) * _U64(0x94D049BB133111EB)
        return h ^ (h >> _U64(31))


def hash_values(arr) -> np.ndarray:
    """64-bit hashes of a pyarrow array's non-null values, vectorised (no per-value Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arr.drop_null() if arr.null_count else arr
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type) or pa.types.is_large_string(arr.type):
        return _hash_strings(arr)
    if pa.types.is_boolean(arr.type):
        return _mix(np.asarray(pc.cast(arr, pa.uint64()).to_numpy(zero_copy_only=False), dtype=_U64) + _U64(1))
    values = np.asarray(arr.to_numpy(zero_copy_only=False))
    return _mix(values.astype(np.float64).view(_U64))


def _hash_strings(arr) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    start, end = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets).astype(np.int64)
    out = lengths.astype(_U64) * _U64(0x9E3779B97F4A7C15)
    if end > start:
        chunk = data[start:end].astype(_U64) + _U64(1)
        pos = np.arange(end - start, dtype=np.int64) - np.repeat(offsets[:-1].astype(np.int64) - start, lengths)
        with np.errstate(over="ignore"):
            terms = chunk * _POS_WEIGHTS[pos & (len(_POS_WEIGHTS) - 1)]
            nonempty = lengths > 0
            sums = np.add.reduceat(terms, (offsets[:-1] - start)[nonempty])
            out[nonempty] += sums
    return _mix(out)


class KMV:
    def __init__(self, mins: np.ndarray | None = None) -> None:
        self.mins = mins if mins is not None else np.zeros(0, dtype=_U64)

    def add(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        both = np.unique(np.concatenate([self.mins, hashes]))
        self.mins = both[:KMV_K]

    def merge(self, other: KMV) -> None:
        self.add(other.mins)

    def estimate(self) -> int:
        if self.mins.size < KMV_K:
            return int(self.mins.size)
        kth = float(self.mins[-1]) / 2.0**64
        return round((KMV_K - 1) / kth)
