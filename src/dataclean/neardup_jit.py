"""The multi-index table pass of dataclean.neardup compiled with Numba (the ``scale`` extra).

Same tables, keys, ownership rule and results as the numpy pass in dataclean.neardup; what changes
is the cost: one table's pass is a radix sort of the hashes by a digest of their key and one walk
over the runs of equal digests, checking each candidate pair's distance and owner as it goes. The
numpy pass spends most of its time making and gathering temporary arrays; this one touches each
hash a few times per table, and each candidate once.

The sort is cache-aware. A digest of 16 bits or fewer takes one counting pass, and up to 2**18
hashes a longer one takes two over all of them (it all fits in the last-level cache). From 2**18
hashes the digests are first bucketed by their top bits (at most 256 buckets: few enough
destinations for the writes to stream), each bucket is split by a few
more bits into parts of ~2,000-4,000 hashes while it sits in the second-level cache, and each part is
sorted on the rest by two counting passes in the first-level cache. The two global passes over 20M
hashes scattered each pass over 16,384 destinations: ~25 ns per hash per table, against ~13 for
the bucketed sort (and ~7 for either at 100k). Compiled on first use and cached on disk by Numba
(``cache=True``); it releases the GIL, so tables run on several threads.

Imported only by dataclean.neardup, only when Numba is installed and a search is big enough to
pay for the import (~0.2 s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)
_MAX_BUCKET_BITS = 8
_BUCKETED_FROM = 1 << 18
_SPLIT = (1 << _MAX_BUCKET_BITS) + 1  # the count scratch holds the buckets' bounds, then a bucket's split,
_INNER = 2 * _SPLIT  # then the counts of a counting pass within the split


_NJIT: Any = nb.njit


def _compiled(inline: str = "never") -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit``, cached on disk when Numba finds a writable place for its cache (else compiled
    afresh in each process: ~3 s, still far less than the big search that asks for it)."""
    def wrap(func: Callable[..., Any]) -> Any:
        try:
            return _NJIT(cache=True, nogil=True, inline=inline)(func)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return _NJIT(nogil=True, inline=inline)(func)
    return wrap


@_compiled(inline="always")
def _popcount(x: np.uint64) -> np.uint64:
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@_compiled()
def _radix_pass(src_d: np.ndarray, src_v: np.ndarray, dst_d: np.ndarray, dst_v: np.ndarray,
                shift: int, bits: int, count: np.ndarray) -> None:
    """Stable counting sort of (digest, value) by ``bits`` bits of the digest from ``shift`` up
    (``count``: at least 2**bits + 1 int64 of scratch)."""
    size = 1 << bits
    mask = np.uint32(size - 1)
    sh = np.uint32(shift)
    count[: size + 1] = 0
    for i in range(len(src_d)):
        count[((src_d[i] >> sh) & mask) + 1] += 1
    for b in range(size):
        count[b + 1] += count[b]
    for i in range(len(src_d)):
        b = (src_d[i] >> sh) & mask
        at = count[b]
        dst_d[at] = src_d[i]
        dst_v[at] = src_v[i]
        count[b] = at + 1


def work_buffers(n: int) -> tuple[np.ndarray, ...]:
    """Scratch for :func:`table_pairs` over ``n`` hashes, reused table after table by one thread
    (~24 bytes per hash); the last item holds the room for pairs that the last table needed."""
    return (np.empty(n, np.uint32), np.empty(n, np.uint32), np.empty(n, np.uint64), np.empty(n, np.uint64),
            np.empty(_INNER + (1 << 16) + 1, np.int64), np.array([4096], np.int64))


def bucket_bits(n: int, digest_bits: int) -> int:
    """Top digest bits that bucket ``n`` hashes (buckets of ~2,000-4,000 up to 2**20 hashes, n / 256
    above: at most 8 bits, few enough destinations for the writes to stream; at least 2 bits left for
    the passes); 0 (two counting passes over all of them) below 2**18 hashes, where that is as fast."""
    return 0 if n < _BUCKETED_FROM else _clamped_bucket_bits(n.bit_length() - 12, digest_bits)


def _clamped_bucket_bits(hi: int, digest_bits: int) -> int:
    return max(0, min(_MAX_BUCKET_BITS, hi, digest_bits - 2))


def table_pairs(values: np.ndarray, parity: np.ndarray, mask: int, sel: int, is_parity: bool, rest: int,
                block_masks: np.ndarray, k: int, d: int, digest_bits: int, scramble: np.uint64,
                scramble_parity: np.uint64, work: tuple[np.ndarray, ...],
                buckets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (as values) of distinct ``values`` within ``d`` bits that the table ``sel`` owns.

    ``mask``: the table's key bits; a parity table (``is_parity``) mixes in the parities of the
    ``rest`` blocks up to complement (``parity``: each value's block parities). ``digest_bits``
    (<= 32) of the scrambled key are sorted on: keys that merely share a digest meet as candidates
    and fail the distance or ownership check. ``work``: :func:`work_buffers` (this thread's).
    ``buckets``: top digest bits bucketed first (default :func:`bucket_bits`; any value is exact).
    """
    digest, tmp_d, vals, tmp_v, count, room = work
    n = len(values)
    hi = bucket_bits(n, digest_bits) if buckets is None else _clamped_bucket_bits(buckets, digest_bits)
    _sort_by_digest(values, parity, np.uint64(mask), is_parity, np.uint64(rest), digest_bits, hi, scramble,
                    scramble_parity, digest[:n], tmp_d[:n], vals[:n], tmp_v[:n], count)
    keys = tmp_d[:n] if digest_bits <= 16 else digest[:n]
    while True:
        cap = int(room[0])
        out_a = np.empty(cap, dtype=np.uint64)
        out_b = np.empty(cap, dtype=np.uint64)
        found = _walk(keys, vals[:n], block_masks, np.uint64(sel), is_parity, k, d, out_a, out_b)
        if found <= cap:
            return out_a[:found], out_b[:found]
        room[0] = found + found // 4  # walk again, into room for all of them (and the next tables' like them)


@_compiled()
def _sort_by_digest(values: np.ndarray, parity: np.ndarray, mask: np.uint64, is_parity: bool, rest: np.uint64,
                    digest_bits: int, hi: int, scramble: np.uint64, scramble_parity: np.uint64, digest: np.ndarray,
                    tmp_d: np.ndarray, vals: np.ndarray, tmp_v: np.ndarray, count: np.ndarray) -> None:
    """``vals`` = ``values`` ordered by their keys' digests, which end up in ``tmp_d`` (16 bits or fewer:
    one counting pass) or ``digest``: bucketed by the top ``hi`` bits, each bucket split by a few more
    bits while it is in the second-level cache, and each part sorted on the rest by two counting
    passes in the first-level cache; ``hi`` 0: two counting passes over all of them. ``hi`` must lie
    in 0..min(8, digest_bits - 2) (table_pairs clamps it: Numba checks no bounds). ``count``: the
    work buffer's (the buckets' bounds, a bucket's split, a pass's counts)."""
    n = len(values)
    top = np.uint64(64 - digest_bits)
    low = np.uint64(0)
    if rest:
        while not (rest >> low) & _ONE:
            low += _ONE
    for i in range(n):
        key = values[i] & mask
        if is_parity:
            q = parity[i] & rest
            if rest and (q >> low) & _ONE:
                q ^= rest
            key ^= q * scramble_parity
        digest[i] = np.uint32((key * scramble) >> top)
    if digest_bits <= 16:
        _radix_pass(digest, values, tmp_d, vals, 0, digest_bits, count)
        return
    if hi == 0:  # what fits in the last-level cache: two counting passes over all of it
        first = digest_bits // 2
        _radix_pass(digest, values, tmp_d, tmp_v, 0, first, count)
        _radix_pass(tmp_d, tmp_v, digest, vals, first, digest_bits - first, count)
        return
    lo = digest_bits - hi
    bounds = count[:_SPLIT]  # after the pass: where each bucket ends
    _radix_pass(digest, values, tmp_d, tmp_v, lo, hi, bounds)
    split = count[_SPLIT:_INNER]
    inner = count[_INNER:]
    start = 0
    for b in range(1 << hi):  # each bucket: split again by a few more bits (in L2), then sorted on the rest (in L1)
        end = bounds[b]
        size = end - start
        hi2 = min(lo - 2, _MAX_BUCKET_BITS, max(0, _bit_length(size) - 12))
        rest_bits = lo - hi2
        first = rest_bits // 2
        _radix_pass(tmp_d[start:end], tmp_v[start:end], digest[start:end], vals[start:end], rest_bits, hi2, split)
        at = start
        for c in range(1 << hi2):
            stop = start + split[c]
            if stop - at > 1:
                _radix_pass(digest[at:stop], vals[at:stop], tmp_d[at:stop], tmp_v[at:stop], 0, first, inner)
                _radix_pass(tmp_d[at:stop], tmp_v[at:stop], digest[at:stop], vals[at:stop], first, rest_bits - first, inner)
            at = stop
        start = end


@_compiled(inline="always")
def _bit_length(x: int) -> int:
    n = 0
    while x:
        x >>= 1
        n += 1
    return n


@_compiled()
def _walk(digest: np.ndarray, vals: np.ndarray, block_masks: np.ndarray, sel: np.uint64, is_parity: bool, k: int,
          d: int, out_a: np.ndarray, out_b: np.ndarray) -> int:
    """How many pairs within ``d`` bits table ``sel`` owns among the runs of equal ``digest``; the
    first ``len(out_a)`` of them are written to ``out_a``/``out_b``. (No allocation in the loop: a
    growable output there made the whole walk ~3x slower.)"""
    n = len(digest)
    m = len(block_masks)
    cap = len(out_a)
    found = 0
    dd = np.uint64(d)
    i = 0
    while i < n - 1:
        j = i + 1
        while j < n and digest[j] == digest[i]:
            j += 1
        for p in range(i, j - 1):
            vp = vals[p]
            for q in range(p + 1, j):
                x = vp ^ vals[q]
                if _popcount(x) > dd:
                    continue
                zero = np.uint64(0)
                for b in range(m):
                    if not (x & block_masks[b]):
                        zero |= _ONE << np.uint64(b)
                if is_parity:
                    owned = zero == sel
                else:
                    rest_zero = zero
                    for _ in range(k + 1):
                        rest_zero &= rest_zero - _ONE  # clear the lowest set bit
                    owned = (zero ^ rest_zero) == sel
                if owned:
                    if found < cap:
                        out_a[found] = vp
                        out_b[found] = vals[q]
                    found += 1
        i = j
    return found


def warm() -> None:
    """Load (or compile) the compiled code now, on a tiny input, so that a later search does not wait
    for it: dataclean.neardup.prefetch_kernel calls this on a thread while an audit's files decode."""
    values = np.arange(1, 65, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    values.sort()
    table_pairs(values, np.zeros(len(values), np.uint64), 0xFFFF, 1, False, 0,
                np.array([0xFFFF, 0xFFFF << 16, 0xFFFF << 32, 0xFFFF << 48], dtype=np.uint64), 1, 2, 8,
                np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03), work_buffers(len(values)))
