"""Near-duplicate search: exact Hamming-radius pairs over 64-bit hashes, then thumbnail verification.

Stage 1, :func:`pairs_within`, finds *every* pair of hashes within ``max_distance`` bits without
comparing all pairs. It uses multi-index hashing with the generalised pigeonhole principle: the 64
bits are split into ``m = max_distance + k`` blocks; two hashes that differ in at most
``max_distance`` bits differ in at most ``max_distance`` blocks, so they agree exactly on at least
``k`` blocks. A "table" buckets the hashes by the bits of some blocks (a radix sort of a digest),
pairs inside a bucket are candidates, and a vectorised popcount keeps the true ones. Pairs agreeing
on exactly ``k`` blocks differ in exactly one bit in each other block, so they meet in a *parity
table* on those k blocks whose key adds the other blocks' parities; the rest meet in a *plain table*
on the first ``k + 1`` blocks they agree on (see :func:`_make_plan`). Each pair is owned by exactly
one table, so no global de-duplication is needed and candidates can be streamed in bounded steps.
``k`` trades the number of tables (sorts) against bucket sizes; it is chosen per call from collision
counts measured on a sample, which also covers biased real hashes; the bits are dealt to blocks by
their entropy on that sample, so no block is made of near-constant bits. Equal hashes are collapsed
first, so a crowd of identical hashes costs only its (genuinely quadratic) output. Tables are
independent, so large searches spread them over threads (numpy releases the GIL in the sorts and
gathers). A table's pass is numpy's here or, when Numba is installed (the ``scale`` extra) and the
search is big, the compiled one of dataclean.neardup_jit: the same tables and pairs, ~5x faster.

The number of tables has to grow with n: to keep the candidates per hash bounded, a table's key
needs about log2(n) informative bits, which means a larger ``k`` and ``C(d + k + 1, k + 1)`` tables
(45, 165, 495, 1287 for k = 1..4 at radius 8). So the per-hash cost of an exact radius-8 search
grows with n (benchmarks/neardup.py measures it); it is not flat.

Stage 2, :func:`near_duplicate_pairs`, adds mirrored candidates (``phash`` against ``phash_mirror``)
and verifies each candidate with the Pearson correlation of the 16x16 grayscale thumbnails, so that
different garments photographed on the same background (similar hashes, different shapes) are not
paired.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import reduce
from itertools import combinations
from math import comb
from operator import or_
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

HASH_BITS = 64
#: ``progress(done, total)``: steps of a search done so far, of how many.
Progress = Callable[[int, int], None]

# Defaults, measured with benchmarks/neardup_tuning.py on clothing-dataset-small (3,781 garment
# photos on look-alike backgrounds) plus 12 transformed copies of 300 of them, and the imagededup set:
# * max_distance=8: copies that are resized 50%, JPEG q30/q50, PNG, WebP, BMP, grayscale, RGBA,
#   mirrored, or mirrored+halved+q50 are all within 4 bits (since signatures come from an exact
#   area-average reduction; 8 with the earlier LANCZOS one), so 8 leaves a margin. Unverified,
#   radius 8 yields 321 candidate pairs of unrelated photos (10 yields 1,357 and makes the search
#   ~4x slower on clustered hashes for no recall gain on these transforms).
# * min_similarity=0.99: every such copy scores >= 0.993, while different garments on the same
#   background score up to 0.988 (median 0.82); at 0.99 one of the 321 candidates survives, and it
#   is a real duplicate (the same photo filed under shorts/ and skirt/). Crops are out of scope:
#   a 5% crop scores as low as 0.81 and is always rejected.
DEFAULT_MAX_DISTANCE = 8
DEFAULT_MIN_SIMILARITY = 0.99

_PAIR_CHUNK = 1 << 21  # candidate pairs handled at once: bounds memory to ~100 MB per chunk
_SIM_CHUNK = 1 << 15  # pairs per thumbnail-correlation batch
_FOLD_MAX = 1 << 16  # up to this many distinct hashes, tables bucket a 16-bit digest of their keys (else 32-bit)
_SCRAMBLE = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: the top bits of value * it depend on every bit
_SCRAMBLE_PARITY = np.uint64(0xD1B54A32D192ED03)  # another one, to mix block parities into a parity table's key
_SAMPLE = 4096  # hashes sampled to estimate bucket collisions when choosing k
_MAX_K = 7
_MAX_TABLES = 8192
_FLAT_STD = 1.0  # thumbnails with a smaller standard deviation (gray levels) count as flat
# Rough per-operation costs (seconds) on a 2-core x86 machine, used only to compare plans; measured
# with benchmarks/neardup.py --mirrors. numpy's table pass (digest, radix sorts, gathers) costs ~29 ns
# per hash with the 16-bit digest at 20k hashes (numpy's radix sort clears 65,536 counters each
# time), ~20 ns with the 32-bit one at 200k and ~50 ns at 2M, as the arrays outgrow the caches.
# Numba's (dataclean.neardup_jit, bucketed sort from 2**18 hashes) ~8-10 ns at 200k, ~11-16 ns at 2M
# and ~20 ns at 20M, and each candidate costs it ~1-1.5 ns instead of ~15.
_COST_SORT_AT = 200_000


@dataclass(frozen=True)
class _Kernel:
    """How a table pass is run, and what it costs (seconds, per hash per table and per candidate)."""

    name: str
    sort_small: float  # per hash per table, up to _FOLD_MAX hashes
    sort: float  # per hash per table at _COST_SORT_AT hashes, times (n / that) ** growth above
    growth: float
    candidate: float  # per candidate pair: gathers, xor, popcount, owner

    def sort_cost(self, n: int) -> float:
        """Estimated seconds of one table's pass over ``n`` hashes."""
        if n <= _FOLD_MAX:
            return n * self.sort_small
        return n * self.sort * (n / _COST_SORT_AT) ** self.growth


_NUMPY = _Kernel("numpy", 2.9e-8, 2e-8, 0.4, 1.5e-8)
_NUMBA = _Kernel("numba", 6e-9, 9e-9, 0.15, 1e-9)
#: Estimated numpy seconds above which the search runs Numba's pass when Numba is installed: its
#: import and the load of its compiled code (cached on disk) take ~0.45 s (a first compile ~3 s).
_NUMBA_MIN = 0.5
_NUMBA_LOADED_MIN = 0.05  # ... and above which it runs it once loaded (it is faster from a few tables up)
_COST_BRUTE = 3e-9  # per pair in blocked brute force
_COST_TABLES = 256  # tables whose sample collisions estimate a plan's candidates
_THREAD_MIN = 0.1  # estimated seconds above which tables are searched by several threads (below, no gain)
_THREAD_BYTES = 48  # temporaries per distinct hash held by one thread's table pass (measured: ~40)
_THREAD_MEMORY = 2 << 30  # the threads' temporaries together stay under this (10M images: 2 threads)

Method = Literal["auto", "index", "brute"]
KernelName = Literal["auto", "numpy", "numba"]


@dataclass(frozen=True)
class _Plan:
    """Multi-index plan over ``d + k`` blocks: ``tables`` holds (block selection bitmask, key bit
    mask, parity) per table: the k-block parity tables, then the (k + 1)-block plain ones."""

    k: int
    block_masks: tuple[int, ...]
    tables: tuple[tuple[int, int, bool], ...]


# --------------------------------------------------------------------------- validation


def _check_hashes(hashes: object, name: str = "hashes") -> np.ndarray:
    """Return ``hashes`` if it is a 1-D uint64 array, else raise saying what was received."""
    if not isinstance(hashes, np.ndarray):
        raise TypeError(
            f"{name} must be a 1-D numpy array of dtype uint64; received {type(hashes).__name__}. "
            "Convert with numpy.asarray(values, dtype=numpy.uint64)."
        )
    if hashes.dtype != np.uint64:
        raise TypeError(f"{name} must have dtype uint64; received dtype={hashes.dtype}.")
    if hashes.ndim != 1:
        raise ValueError(f"{name} must be 1-D; received shape={hashes.shape}.")
    return hashes


def _check_distance(max_distance: object) -> int:
    """Return ``max_distance`` as a non-negative int, else raise saying what was received."""
    if isinstance(max_distance, (bool, np.bool_)) or not isinstance(max_distance, (int, np.integer)):
        raise TypeError(
            f"max_distance must be an int; received {max_distance!r} ({type(max_distance).__name__})."
        )
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0; received max_distance={max_distance}.")
    return int(max_distance)


# --------------------------------------------------------------------------- small helpers


def _empty_pairs() -> np.ndarray:
    return np.empty((0, 2), dtype=np.int64)


def _ranks(sizes: np.ndarray) -> np.ndarray:
    """0, 1, ..., s-1 for each s in ``sizes``, concatenated (a vectorised ``arange`` per group)."""
    total = int(sizes.sum())
    offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total, dtype=np.int64) - offsets


def _sorted_pairs(left: list[np.ndarray], right: list[np.ndarray], n: int) -> np.ndarray:
    """Concatenate pair parts, orient them ``i < j`` and sort lexicographically."""
    if not left:
        return _empty_pairs()
    a = np.concatenate(left).astype(np.int64, copy=False)
    b = np.concatenate(right).astype(np.int64, copy=False)
    code = np.sort(np.minimum(a, b) * n + np.maximum(a, b))
    return np.column_stack((code // n, code % n))


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and sizes of the runs of two or more equal adjacent keys in ``sorted_keys``.

    Only the positions where a key equals the next one are materialised (few, when most buckets
    are singletons), not one entry per bucket.
    """
    pos = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])  # keys[i] == keys[i + 1]
    if not len(pos):
        return pos, pos
    breaks = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = pos[np.concatenate(([0], breaks))]
    last = pos[np.concatenate((breaks - 1, [len(pos) - 1]))]
    return starts, last - starts + 2


_STEP_MIN = 4096  # below this many positions, the offset walk hands the rest to rank arithmetic


def _offset_pairs(sorted_keys: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(left, right)`` positions of all pairs of equal keys in ``sorted_keys``, each once.

    Walks offsets: in sorted keys, ``keys[p] == keys[p + o]`` implies ``keys[p] == keys[p + o - 1]``,
    so the positions for offset ``o`` are filtered from those for ``o - 1`` and the work is
    proportional to the pairs found; positions come out ascending, so gathers through them stay
    nearly sequential. Once few positions are left (a handful of crowded buckets), the remaining
    pairs (offsets ``o`` and more) come from :func:`_bucket_runs`'s rank arithmetic instead of one
    numpy step per offset. Each step holds at most ``len(sorted_keys)`` positions.
    """
    pos = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    offset = 1
    while len(pos) >= _STEP_MIN:
        yield pos, pos + offset
        offset += 1
        pos = pos[pos + offset < len(sorted_keys)]
        pos = pos[sorted_keys[pos + offset] == sorted_keys[pos]]
    if len(pos):
        yield from _bucket_runs(sorted_keys, skip=offset)


def _bucket_runs(sorted_keys: np.ndarray, chunk: int = _PAIR_CHUNK, skip: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(left, right)`` positions of all pairs of equal keys at least ``skip`` positions apart,
    ~``chunk`` pairs at a time.

    ``sorted_keys`` must be sorted; positions index it. Memory stays bounded by ``chunk`` (plus one
    element's partners) however crowded a bucket is.
    """
    if len(sorted_keys) < 2:
        return
    starts, sizes = _runs(sorted_keys)
    starts, sizes = starts[sizes > skip], sizes[sizes > skip]
    if not len(starts):
        return
    rank = _ranks(sizes)
    pos = np.repeat(starts, sizes) + rank
    later = np.repeat(sizes, sizes) - skip - rank  # how many bucket members >= skip later each one pairs with
    pos, later = pos[later > 0], later[later > 0]
    cum = np.cumsum(later)
    cuts = np.searchsorted(cum, np.arange(chunk, int(cum[-1]), chunk), side="right")
    bounds = np.concatenate(([0], cuts, [len(pos)]))
    bounds = bounds[np.append(True, bounds[1:] != bounds[:-1])]  # sorted already: drop repeats
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        left = np.repeat(pos[lo:hi], later[lo:hi])
        yield left, left + skip + _ranks(later[lo:hi])


def _bucket_pairs(keys: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(left, right)`` indices into ``keys`` of all pairs with equal keys, in chunks."""
    order = np.argsort(keys, kind="stable")
    for left, right in _bucket_runs(keys[order]):
        yield order[left], order[right]


# --------------------------------------------------------------------------- brute force


def pairs_within_bruteforce(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """Reference search: compare every pair, one row at a time (O(n^2) time, O(n) memory).

    Same contract as :func:`pairs_within`; kept simple so the fast path can be tested against it.
    """
    h = _check_hashes(hashes)
    d = _check_distance(max_distance)
    parts = []
    for i in range(len(h) - 1):
        j = np.flatnonzero(np.bitwise_count(h[i + 1 :] ^ h[i]) <= d) + i + 1
        parts.append(np.column_stack((np.full(len(j), i, dtype=np.int64), j.astype(np.int64))))
    return np.concatenate(parts) if parts else _empty_pairs()


def _blocked_pairs(values: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within ``d`` by blocked brute force, row blocks bounded to ~``_PAIR_CHUNK`` cells."""
    n = len(values)
    rows = max(1, _PAIR_CHUNK // max(n, 1))
    left, right = [], []
    for a in range(0, n - 1, rows):
        block = values[a : a + rows]
        close = np.bitwise_count(block[:, None] ^ values[None, a:]) <= d
        close &= np.arange(len(block))[:, None] < np.arange(n - a)[None, :]  # j > i only
        i, j = np.nonzero(close)
        left.append(i + a)
        right.append(j + a)
    if not left:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(left), np.concatenate(right)


# --------------------------------------------------------------------------- multi-index hashing


def _bit_entropy(sample: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each of the 64 bit positions over ``sample``."""
    ones = np.array([np.count_nonzero(sample & np.uint64(1 << b)) for b in range(HASH_BITS)], dtype=np.float64)
    p = np.clip(ones / max(len(sample), 1), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def _make_plan(d: int, k: int, entropy: np.ndarray | None = None) -> _Plan:
    """Split the 64 bits into ``m = d + k`` blocks and list the tables.

    A pair within ``d`` bits differs in at most ``d`` blocks, so it agrees on at least ``k``. If it
    agrees on exactly ``k`` blocks, the other ``d`` blocks differ in at least one bit each and in
    ``d`` bits together: exactly one bit each, so the parity of every other block is flipped. Such
    a pair is found in a *parity table* on its k agreeing blocks, whose key adds the parities of the
    other d blocks up to complement (``d - 1`` more bits of key). A pair agreeing on ``k + 1`` blocks
    or more is found in a *plain table* on the first ``k + 1`` of them. That makes
    ``C(m, k) + C(m, k + 1) = C(m + 1, k + 1)`` tables, as many as the plain scheme over ``m + 1``
    blocks, but each with longer keys (e.g. 19-20 bits instead of 17.5 for 165 tables at radius 8):
    a quarter to a third of the candidates.

    Any partition keeps the search exact (the pigeonhole argument does not care which bits share a
    block). Without ``entropy``, bit b goes to block b mod m: strided blocks mix DCT rows and columns.
    With the per-bit ``entropy`` of the data, bits are dealt most informative first to the block
    whose entropy is lowest so far, so that no table keys on a block of near-constant bits (real
    pHashes have a constant DC bit and strongly biased low-frequency ones): fewer candidates.
    """
    m = d + k
    if entropy is None:
        block_masks = tuple(sum(1 << b for b in range(i, HASH_BITS, m)) for i in range(m))
    else:
        masks, sums, sizes = [0] * m, [0.0] * m, [0] * m
        for b in np.argsort(-entropy, kind="stable"):
            i = min(range(m), key=lambda j: (sums[j], sizes[j], j))
            masks[i] |= 1 << int(b)
            sums[i] += float(entropy[b])
            sizes[i] += 1
        block_masks = tuple(masks)
    tables = tuple(
        (sum(1 << i for i in sel), reduce(or_, (block_masks[i] for i in sel), 0), size == k)
        for size in (k, k + 1)
        for sel in combinations(range(m), size)
    )
    return _Plan(k=k, block_masks=block_masks, tables=tables)


def _block_parities(values: np.ndarray, plan: _Plan) -> np.ndarray:
    """Bit b of each result is the parity of ``values``' bits in block b."""
    parity = np.zeros(len(values), dtype=np.uint64)
    for b, mask in enumerate(plan.block_masks):
        parity |= (np.bitwise_count(values & np.uint64(mask)) & np.uint8(1)).astype(np.uint64) << np.uint64(b)
    return parity


def _parity_keys(values: np.ndarray, parity: np.ndarray, sel: int, mask: int, m: int) -> np.ndarray:
    """A parity table's keys: the key bits, mixed with the parities of the other blocks up to
    complement (a pair whose other blocks all differ in one bit gets equal keys)."""
    rest = ((1 << m) - 1) & ~sel
    q = parity & np.uint64(rest)
    if rest:
        low = (rest & -rest).bit_length() - 1
        q ^= ((q >> np.uint64(low)) & np.uint64(1)) * np.uint64(rest)
    return (values & np.uint64(mask)) ^ (q * _SCRAMBLE_PARITY)


def _collisions(keys: np.ndarray) -> int:
    """Number of pairs with equal keys."""
    _, counts = np.unique(keys, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _plan_cost(values: np.ndarray, sample: np.ndarray, plan: _Plan, kernel: _Kernel = _NUMPY) -> float:
    """Estimated seconds for ``plan`` run by ``kernel``: sorts plus candidates, scaled up from the
    sample's collisions."""
    n, s = len(values), len(sample)
    scale = n * (n - 1) / max(s * (s - 1), 1)
    tables = plan.tables[:: -(-len(plan.tables) // _COST_TABLES)]  # at most _COST_TABLES, evenly spread
    parity = _block_parities(sample, plan)
    m = len(plan.block_masks)
    per_table = sum(
        _collisions(_parity_keys(sample, parity, sel, mask, m) if par else sample & np.uint64(mask))
        for sel, mask, par in tables
    ) / len(tables)
    return len(plan.tables) * (kernel.sort_cost(n) + per_table * scale * kernel.candidate)


def _sample(values: np.ndarray, size: int) -> np.ndarray:
    """``size`` of ``values``, chosen pseudo-randomly but deterministically: those whose scrambled value
    (times an odd 64-bit constant, which every bit of the value reaches) is smallest."""
    scrambled = values * _SCRAMBLE
    return values[np.argpartition(scrambled, size)[:size]]


def _choose_plan(values: np.ndarray, d: int, method: Method, kernel: _Kernel = _NUMPY) -> tuple[_Plan | None, float]:
    """The cheapest multi-index plan for ``kernel`` and its estimated seconds, or None when brute
    force is cheaper (or the only option)."""
    n = len(values)
    sample = values if n <= _SAMPLE else _sample(values, _SAMPLE)
    entropy = _bit_entropy(sample)
    best, best_cost = None, np.inf if method == "index" else n * (n - 1) / 2 * _COST_BRUTE
    for k in range(1, _MAX_K + 1):
        tables = comb(d + k + 1, k + 1)
        if d + k > HASH_BITS or tables > _MAX_TABLES:
            break
        if tables * kernel.sort_cost(n) >= best_cost:  # the sorts alone cost more, and grow with k
            break
        plan = _make_plan(d, k, entropy)
        cost = _plan_cost(values, sample, plan, kernel)
        if cost < best_cost:
            best, best_cost = plan, cost
    return best, best_cost


def _owned(x: np.ndarray, plan: _Plan, sel: int, parity: bool) -> np.ndarray:
    """Which pairs (xors ``x``, all within the radius) the table ``sel`` reports: a parity table those
    agreeing on exactly its blocks, a plain table those whose first ``k + 1`` agreeing blocks are its
    own. Every pair within the radius is reported by exactly one table."""
    zero = np.zeros(len(x), dtype=np.int64)
    for b, mask in enumerate(plan.block_masks):
        zero |= ((x & np.uint64(mask)) == 0).astype(np.int64) << b
    if parity:
        return zero == sel
    rest = zero.copy()
    for _ in range(plan.k + 1):
        rest &= rest - 1  # clear the lowest set bit
    return zero ^ rest == sel


def _sorted_by_key(values: np.ndarray, mask: int, fold: bool, keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``values`` ordered by a digest of their key (``values & mask``, or ``keys``), and the digests
    in that order.

    The digest is one that numpy sorts by radix (16-bit integers): one 16-bit digest for few hashes,
    else a 32-bit one sorted in two stable 16-bit passes (low half, then high half), each pass
    carrying the values themselves, so no index array is gathered (nor the digests, for plain keys:
    they are recomputed from the values). Keys that merely share a digest meet as candidates and
    fail the block check in :func:`_index_pairs`.
    """
    m = np.uint64(mask)
    if keys is None and not fold:
        low = ((values & m) * _SCRAMBLE >> np.uint64(32)).astype(np.uint16)
        by_low = values[np.argsort(low, kind="stable")]
        high = ((by_low & m) * _SCRAMBLE >> np.uint64(48)).astype(np.uint16)
        by_key = by_low[np.argsort(high, kind="stable")]
        return by_key, ((by_key & m) * _SCRAMBLE >> np.uint64(32)).astype(np.uint32)
    keys = values & m if keys is None else keys
    if fold:
        digest = (keys * _SCRAMBLE >> np.uint64(48)).astype(np.uint16)
        order = np.argsort(digest, kind="stable")
        return values[order], digest[order]
    wide = (keys * _SCRAMBLE >> np.uint64(32)).astype(np.uint32)
    order = np.argsort(wide.astype(np.uint16), kind="stable")
    by_low, wide = values[order], wide[order]
    order = np.argsort((wide >> np.uint32(16)).astype(np.uint16), kind="stable")
    return by_low[order], wide[order]


def _index_pairs(values: np.ndarray, d: int, plan: _Plan, threads: int = 1,
                 parities: np.ndarray | None = None, done: Callable[[], None] | None = None,
                 kernel: _Kernel = _NUMPY) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of distinct sorted ``values`` within ``d`` bits (as indices into them), table by table.

    With ``threads`` > 1 the tables are dealt round-robin to that many threads: numpy releases the
    GIL in the sorts, gathers and ufuncs that make up a table's pass (Numba's pass releases it
    throughout), so they run on separate cores, and each pair is owned by one table
    (:func:`_owned`), so no merging is needed. ``parities``: the values' block parities
    (:func:`_block_parities`), computed once here when not given. ``done()`` is called after each
    table (from the thread that searched it). ``kernel``: numpy's table pass or Numba's.
    """
    if parities is None and any(parity for *_, parity in plan.tables):
        parities = _block_parities(values, plan)
    if threads > 1 and len(plan.tables) > 1:
        from concurrent.futures import ThreadPoolExecutor

        def part(i: int) -> tuple[np.ndarray, np.ndarray]:
            return _index_pairs(values, d, replace(plan, tables=plan.tables[i::threads]), 1, parities, done, kernel)

        with ThreadPoolExecutor(threads, thread_name_prefix="dataclean-neardup") as pool:
            parts = list(pool.map(part, range(min(threads, len(plan.tables)))))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    passes = _numba_tables if kernel is _NUMBA else _numpy_tables
    tables = [(a, b) for a, b in passes(values, d, plan, parities, done) if len(a)]
    left, right = [a for a, _ in tables], [b for _, b in tables]
    if not left:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # The pairs were collected as values; ``values`` is sorted and distinct, so a binary search gives
    # their indices (cheaper than carrying an index array through every table's sort).
    return np.searchsorted(values, np.concatenate(left)), np.searchsorted(values, np.concatenate(right))


def _numpy_tables(values: np.ndarray, d: int, plan: _Plan, parities: np.ndarray | None,
                  done: Callable[[], None] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each table's pairs (as values), by numpy's pass."""
    fold = len(values) <= _FOLD_MAX
    for sel, mask, parity in plan.tables:
        keys = _parity_keys(values, parities, sel, mask, len(plan.block_masks)) if parities is not None and parity else None
        by_key, digest = _sorted_by_key(values, mask, fold, keys)
        near_a, near_b = [], []
        for a, b in _offset_pairs(digest):
            close = np.flatnonzero(np.bitwise_count(by_key[a] ^ by_key[b]) <= d)
            near_a.append(by_key[a[close]])
            near_b.append(by_key[b[close]])
        if near_a:
            a, b = np.concatenate(near_a), np.concatenate(near_b)
            own = _owned(a ^ b, plan, sel, parity)  # report each pair in one table only
            yield a[own], b[own]
        if done is not None:
            done()


def _numba_tables(values: np.ndarray, d: int, plan: _Plan, parities: np.ndarray | None,
                  done: Callable[[], None] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each table's pairs (as values), by Numba's pass (dataclean.neardup_jit), same as numpy's."""
    from dataclean import neardup_jit

    n, m = len(values), len(plan.block_masks)
    work = neardup_jit.work_buffers(n)  # this thread's, reused table after table
    block_masks = np.array(plan.block_masks, dtype=np.uint64)
    parity_of = parities if parities is not None else np.zeros(0, np.uint64)
    bits = _numba_digest_bits(n)
    for sel, mask, parity in plan.tables:
        rest = ((1 << m) - 1) & ~sel if parity else 0
        yield neardup_jit.table_pairs(values, parity_of, mask, sel, parity, rest, block_masks, plan.k, d, bits,
                                      _SCRAMBLE, _SCRAMBLE_PARITY, work)
        if done is not None:
            done()


def _numba_digest_bits(n: int) -> int:
    """Digest bits Numba's pass sorts ``n`` hashes on: ~1/16 of them meet a digest-only collision per
    table (one counting pass up to 16 bits, two above)."""
    return min(32, max(8, n.bit_length() + 3))


def _numba() -> bool:
    """Whether Numba is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


_NUMBA_STATE: dict[str, str | bool] = {}  # "usable": bool, "problem": why not, once tried
_NUMBA_LOCK = threading.Lock()


def _numba_usable() -> bool:
    """Whether Numba's pass can run here: imported and its compiled code loaded (or compiled) once per
    process. A Numba that is installed but cannot run (a version that does not match numpy, no
    compiler backend) is reported once as a RuntimeWarning, and the search uses numpy's pass."""
    with _NUMBA_LOCK:
        if "usable" not in _NUMBA_STATE:
            try:
                from dataclean import neardup_jit

                neardup_jit.warm()
                _NUMBA_STATE["usable"] = True
            except Exception as exc:  # noqa: BLE001 - any failure means: numpy's pass instead
                _NUMBA_STATE.update(usable=False, problem=f"{type(exc).__name__}: {exc}".splitlines()[0])
                warnings.warn(f"Numba's compiled near-duplicate search cannot run ({_NUMBA_STATE['problem']}); "
                              "using numpy's (slower on big datasets)", RuntimeWarning, stacklevel=3)
        return bool(_NUMBA_STATE["usable"])


def _use_numba(kernel: KernelName, cost: float) -> bool:
    """Whether a search estimated at ``cost`` numpy seconds runs Numba's pass."""
    if kernel == "numba":
        if not _numba():
            raise ModuleNotFoundError("kernel='numba' needs Numba: pip install 'dataclean[scale]'")
        if not _numba_usable():
            raise RuntimeError(f"kernel='numba': Numba is installed but cannot run: {_NUMBA_STATE['problem']}")
        return True
    if kernel == "numpy":
        return False
    loaded = _NUMBA_STATE.get("usable") is True  # already paid for (e.g. by prefetch_kernel)
    return cost > (_NUMBA_LOADED_MIN if loaded else _NUMBA_MIN) and _numba() and _numba_usable()


#: From this many images (twice as many hashes, mirrors included) a search is expected to use Numba's
#: pass (estimated over _NUMBA_MIN), and :func:`prefetch_kernel` loads it ahead.
PREFETCH_IMAGES = 50_000
_LOADING: list[threading.Thread] = []  # the prefetch thread, while it may be running


def prefetch_kernel(images: int) -> threading.Thread | None:
    """Import Numba's table pass and load its compiled code on a daemon thread, when a search over
    ``images`` images will likely use it (and Numba is installed): ~0.45 s that an audit spends while
    its workers decode instead of after the last file (~3 s the first time, when it compiles).
    Returns the thread (None when not started). A search that starts before it is done waits for it;
    so does a fork of this process (a worker pool started again after a crash), which must not
    inherit the import locks the thread holds."""
    if images < PREFETCH_IMAGES or not _numba() or "usable" in _NUMBA_STATE:
        return None
    if not _LOADING:
        os.register_at_fork(before=_join_loading)
    thread = threading.Thread(target=_numba_usable, name="dataclean-numba-load", daemon=True)
    _LOADING[:] = [thread]
    thread.start()
    return thread


def _join_loading() -> None:
    for thread in _LOADING:
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join()


# --------------------------------------------------------------------------- public search


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _expand_groups(
    u: np.ndarray, v: np.ndarray, inverse: np.ndarray, n_values: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Turn pairs of distinct values into pairs of input indices, plus pairs of equal hashes."""
    counts = np.bincount(inverse, minlength=n_values)
    order = np.argsort(inverse, kind="stable")
    starts = np.cumsum(counts) - counts
    left, right = [], []
    for a, b in _bucket_pairs(inverse):  # equal hashes: distance 0
        left.append(a)
        right.append(b)
    if counts.max(initial=0) <= 1:
        left.append(order[u])
        right.append(order[v])
        return left, right
    for lo in range(0, len(u), _PAIR_CHUNK):
        cu, cv = u[lo : lo + _PAIR_CHUNK], v[lo : lo + _PAIR_CHUNK]
        sizes = counts[cu] * counts[cv]
        r = _ranks(sizes)
        width = np.repeat(counts[cv], sizes)
        left.append(order[np.repeat(starts[cu], sizes) + r // width])
        right.append(order[np.repeat(starts[cv], sizes) + r % width])
    return left, right


class _Steps:
    """Counts finished steps for a ``progress(done, total)`` callback (threads may call it at once)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self._lock = threading.Lock()
        if progress is not None:
            progress(0, total)

    def __call__(self) -> None:
        if self.progress is not None:
            with self._lock:
                self.done += 1
                self.progress(self.done, self.total)


def pairs_within(hashes: np.ndarray, max_distance: int, *, method: Method = "auto", threads: int | None = None,
                 progress: Progress | None = None, kernel: KernelName = "auto") -> np.ndarray:
    """All index pairs ``i < j`` with ``popcount(hashes[i] ^ hashes[j]) <= max_distance``.

    ``hashes`` is a 1-D uint64 array. Returns an ``(k, 2)`` int64 array, each pair once, sorted
    lexicographically. Exact (no pair missed, none invented) and sub-quadratic for small radii on
    realistic hashes; the output itself can be quadratic (e.g. many equal hashes). ``method``:
    ``"auto"`` picks multi-index hashing or brute force by estimated cost, ``"index"`` forces
    multi-index hashing where possible (radius < 64), ``"brute"`` forces blocked brute force.
    ``threads``: threads for the multi-index tables (default: the CPUs this process may use, when
    the search is estimated to take over 0.1 s, and no more than keep their temporaries under
    2 GiB; each thread holds ~48 bytes per hash). Results do not depend on it.
    ``progress(done, total)``: called once the plan is made (``done`` 0) and after each of its
    ``total`` steps (multi-index tables; brute force is one step), ``done`` counting up to ``total``
    (no calls for fewer than two hashes). ``kernel``: who runs the tables' passes: ``"numpy"``,
    ``"numba"`` (compiled: ~5x faster on big searches; needs Numba, in the ``scale`` extra) or
    ``"auto"``: Numba when it is installed and the search is estimated over ~0.5 s, else numpy.
    Results do not depend on it.
    """
    h = _check_hashes(hashes)
    d = min(_check_distance(max_distance), HASH_BITS)
    if method not in ("auto", "index", "brute"):
        raise ValueError(f"method must be 'auto', 'index' or 'brute'; received method={method!r}.")
    if kernel not in ("auto", "numpy", "numba"):
        raise ValueError(f"kernel must be 'auto', 'numpy' or 'numba'; received kernel={kernel!r}.")
    if kernel == "numba":
        _use_numba(kernel, 0.0)  # raises, before any work, when Numba is missing or broken
    n = len(h)
    if n < 2:
        return _empty_pairs()
    values, inverse = np.unique(h, return_inverse=True)
    plan, cost = (None, 0.0) if method == "brute" or d >= HASH_BITS else _choose_plan(values, d, method)
    run = _NUMPY
    if plan is not None and _use_numba(kernel, cost):
        run = _NUMBA
        plan, cost = _choose_plan(values, d, "index", _NUMBA)
        assert plan is not None
    if threads is None:
        threads = min(_cpus(), max(1, _THREAD_MEMORY // (_THREAD_BYTES * len(values)))) if cost > _THREAD_MIN else 1
    step = _Steps(progress, 1 if plan is None else len(plan.tables))
    if plan is None:
        u, v = _blocked_pairs(values, d)
        step()
    else:
        u, v = _index_pairs(values, d, plan, max(1, int(threads)), done=step, kernel=run)
    left, right = _expand_groups(u, v, inverse.ravel(), len(values))
    return _sorted_pairs(left, right, n)


# --------------------------------------------------------------------------- verification


def _check_inputs(phash: np.ndarray, phash_mirror: np.ndarray, thumbs: np.ndarray) -> None:
    """Raise if the three signature arrays do not describe the same n images."""
    _check_hashes(phash, "phash")
    _check_hashes(phash_mirror, "phash_mirror")
    if not isinstance(thumbs, np.ndarray) or thumbs.dtype != np.uint8 or thumbs.ndim != 3:
        got = f"dtype={thumbs.dtype}, shape={thumbs.shape}" if isinstance(thumbs, np.ndarray) else type(thumbs).__name__
        raise TypeError(f"thumbs must be a uint8 array of shape (n, 16, 16); received {got}.")
    if not len(phash) == len(phash_mirror) == len(thumbs):
        raise ValueError(
            "phash, phash_mirror and thumbs must have the same length; received "
            f"{len(phash)}, {len(phash_mirror)} and {len(thumbs)}."
        )


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of two (p, pixels) uint8 arrays.

    From exact sums: every product of two uint8 values, and any sum of 256 of them (16x16 pixels), is
    an integer below 2**24, which float32 holds exactly whatever the order of the additions (float64
    for bigger thumbnails), so
    ``sum(a)``, ``sum(a*a)`` and ``sum(a*b)`` come exact from float32 dot products (several times
    cheaper than centring each row first), and the correlation is formed from them in float64.
    Flat rows (std < ``_FLAT_STD``) have no shape to correlate: two flat thumbnails score
    ``1 - |mean difference| / 255`` and a flat one against a textured one scores 0.
    """
    n = a.shape[1]
    exact = np.dtype(np.float32 if n * 255 * 255 < 1 << 24 else np.float64)  # float64 for thumbnails over 16x16
    fa: np.ndarray[Any, np.dtype[np.floating[Any]]] = a.astype(exact)
    fb: np.ndarray[Any, np.dtype[np.floating[Any]]] = b.astype(exact)
    sa, sb = np.einsum("ij->i", fa).astype(np.float64), np.einsum("ij->i", fb).astype(np.float64)
    # n * variance and n * covariance (exact sums; the subtraction in float64)
    va = np.einsum("ij,ij->i", fa, fa).astype(np.float64) - sa * sa / n
    vb = np.einsum("ij,ij->i", fb, fb).astype(np.float64) - sb * sb / n
    cov = np.einsum("ij,ij->i", fa, fb).astype(np.float64) - sa * sb / n
    flat_a, flat_b = va < n * _FLAT_STD**2, vb < n * _FLAT_STD**2
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.sqrt(va * vb)
    r = np.where(flat_a | flat_b, 0.0, r)
    r = np.where(flat_a & flat_b, 1.0 - np.abs(sa - sb) / (n * 255.0), r)
    return np.clip(r, -1.0, 1.0)


def thumb_similarity(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``thumbs[i]`` with ``thumbs[j]`` (mirrored left-right where asked)."""
    out = np.empty(len(i), dtype=np.float64)
    for lo in range(0, len(i), _SIM_CHUNK):
        sl = slice(lo, lo + _SIM_CHUNK)
        a = thumbs[i[sl]]
        b = thumbs[j[sl]]
        flip = np.flatnonzero(mirrored[sl])
        b[flip] = b[flip, :, ::-1]
        out[sl] = _pearson(a.reshape(len(a), -1), b.reshape(len(b), -1))
    return out


def _candidates(phash: np.ndarray, phash_mirror: np.ndarray, d: int,
                progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``i < j`` whose direct or mirrored hash distance is within ``d``."""
    n = len(phash)
    raw = pairs_within(np.concatenate((phash, phash_mirror)), d, progress=progress)
    i, j = raw[:, 0] % n, raw[:, 1] % n
    keep = (i != j) & ((raw[:, 0] < n) | (raw[:, 1] < n))  # drop self-vs-own-mirror, mirror-vs-mirror
    code = np.unique(np.minimum(i, j)[keep] * n + np.maximum(i, j)[keep])
    return code // n, code % n


def near_duplicate_pairs(
    phash: np.ndarray,
    phash_mirror: np.ndarray,
    thumbs: np.ndarray,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> pd.DataFrame:
    """Verified near-duplicate pairs among n images, mirrored copies included.

    Candidates are pairs whose pHashes are within ``max_distance`` bits directly, or with one image
    mirrored (``phash`` of one against ``phash_mirror`` of the other, either way round). The
    orientation with the smaller distance wins (direct on ties); the pair is kept when the Pearson
    correlation of the 16x16 thumbnails in that orientation is ``>= min_similarity``.

    Returns a DataFrame with columns ``i, j`` (int64, ``i < j``), ``distance`` (int64),
    ``mirrored`` (bool) and ``similarity`` (float64), one row per unordered pair, sorted by ``i, j``.
    """
    import pandas as pd

    return pd.DataFrame(verified_pairs(phash, phash_mirror, thumbs, max_distance, min_similarity))


def verified_pairs(
    phash: np.ndarray,
    phash_mirror: np.ndarray,
    thumbs: np.ndarray,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """:func:`near_duplicate_pairs` as a dict of equal-length arrays (no pandas); ``progress``: the
    candidate search's (:func:`pairs_within`)."""
    _check_inputs(phash, phash_mirror, thumbs)
    d = _check_distance(max_distance)
    if not -1.0 <= float(min_similarity) <= 1.0:
        raise ValueError(f"min_similarity must be in [-1, 1]; received min_similarity={min_similarity}.")
    i, j = _candidates(phash, phash_mirror, d, progress)
    direct = np.bitwise_count(phash[i] ^ phash[j]).astype(np.int64)
    mirror = np.minimum(
        np.bitwise_count(phash[i] ^ phash_mirror[j]), np.bitwise_count(phash_mirror[i] ^ phash[j])
    ).astype(np.int64)
    mirrored = mirror < direct
    sim = thumb_similarity(thumbs, i, j, mirrored)
    keep = (np.minimum(direct, mirror) <= d) & (sim >= min_similarity)
    return {
        "i": i[keep].astype(np.int64),
        "j": j[keep].astype(np.int64),
        "distance": np.minimum(direct, mirror)[keep],
        "mirrored": mirrored[keep],
        "similarity": sim[keep],
    }
