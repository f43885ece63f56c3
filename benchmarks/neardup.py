"""Benchmark dataclean.neardup.pairs_within: time, peak memory and pair count as n grows.

Three hash distributions (seeded):

* ``uniform``: independent uniform 64-bit hashes. Unrealistically easy: almost no pair is close.
* ``phashlike``: pHash-shaped hashes: 64 simulated low-frequency DCT coefficients with a fixed
  per-coefficient bias, thresholded at their row median like imagehash.phash (biased, coupled bits,
  always 32 ones), so buckets are fuller than uniform.
* ``clustered``: ``phashlike`` where 10% of the rows are copies of other rows with 0-3 bits flipped
  (re-encoded near-duplicates), so there are many true pairs and crowded buckets.

    python benchmarks/neardup.py [--sizes 10000,100000,1000000] [--max-distance 6] [--check]
                                 [--mirrors] [--threads T] [--identical 8000] [--reference 2000]
                                 [--kernels auto|numpy|numba|numpy,numba] [--estimate-tables N]

``--kernels numpy,numba`` times both table passes on the same hashes, one after the other, so that
their ratio is measured side by side; ``--estimate-tables N`` times N of the plan's tables and
extrapolates (for 10M images, whose whole search takes too long to wait for).

``--identical N`` then times the audit's duplicate clustering (``AuditContext.clusters``: pair
search, thumbnail verification, exact groups) on N byte-identical images against N distinct ones;
``--reference M`` also times the pre-collapse path (verifying every pair of rows) on M copies.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from dataclean.checks import AuditContext
from dataclean.hashing import from_hex, signatures_batch
from dataclean.neardup import pairs_within, pairs_within_bruteforce, verified_pairs
from dataclean.table import Table

_CHUNK = 100_000


def uniform(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


def _threshold(coef: np.ndarray) -> np.ndarray:
    bits = coef > np.median(coef, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def phashlike(n: int, rng: np.random.Generator, mirrors: bool = False) -> np.ndarray:
    """Median-thresholded 8x8 'DCT' blocks with 1/f amplitudes and a fixed per-coefficient bias.

    With ``mirrors``, 2n hashes: the n pHashes, then the pHashes of the same images mirrored left to
    right (a horizontal flip negates the coefficients of odd horizontal frequency), as the audit
    searches them (``phash`` and ``phash_mirror`` together).
    """
    u, v = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = (1.0 / (1.0 + u + v)).ravel().astype(np.float32)
    bias = (np.random.default_rng(12345).normal(0.0, 0.6, 64) * scale).astype(np.float32)
    bias[0] = 10.0  # the DC term is always above the median, as in real pHashes
    flip = np.where(v.ravel() % 2 == 1, -1.0, 1.0).astype(np.float32)
    out = np.empty(2 * n if mirrors else n, dtype=np.uint64)
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        coef = rng.standard_normal((m, 64), dtype=np.float32) * scale + bias
        out[lo : lo + m] = _threshold(coef)
        if mirrors:
            out[n + lo : n + lo + m] = _threshold(coef * flip)
    return out


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    """``phashlike`` with 10% of rows replaced by copies of other rows with 0-3 random bit flips."""
    h = phashlike(n, rng)
    dup = rng.choice(n, size=n // 10, replace=False)
    h[dup] = h[rng.integers(0, n, size=len(dup))]
    for _ in range(3):
        flip = rng.random(len(dup)) < 0.5
        bit = rng.integers(0, 64, size=len(dup)).astype(np.uint64)
        h[dup] = np.where(flip, h[dup] ^ (np.uint64(1) << bit), h[dup])
    return h


DISTRIBUTIONS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "uniform": uniform,
    "phashlike": phashlike,
    "clustered": clustered,
}


def measure(hashes: np.ndarray, max_distance: int, threads: int | None = None,
            kernel: str = "auto") -> tuple[float, float, int]:
    """Seconds, traced peak MiB (numpy buffers included) and pair count of one pairs_within call."""
    tracemalloc.start()
    t0 = time.perf_counter()
    pairs = pairs_within(hashes, max_distance, threads=threads, kernel=kernel)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, len(pairs)


def estimate(hashes: np.ndarray, max_distance: int, tables: int, threads: int | None, kernel: str = "auto") -> None:
    """Time the first ``tables`` tables of the plan pairs_within would run, and scale to all of them.

    For sizes whose full search takes too long to wait for (10M images): the tables are independent
    and alike, so their mean time (and the traced peak of the pass, which does not grow with the
    number of tables) says what the whole search costs. Printed as an extrapolation, never as a run.
    """
    from dataclean import neardup

    t0 = time.perf_counter()
    values = np.unique(hashes)
    plan, cost = neardup._choose_plan(values, max_distance, "auto")
    if plan is None:
        raise SystemExit("brute force chosen: nothing to extrapolate")
    run = neardup._NUMPY
    if neardup._use_numba(kernel, cost):  # type: ignore[arg-type]  # pairs_within's own choice
        run = neardup._NUMBA
        plan, cost = neardup._choose_plan(values, max_distance, "index", run)
        assert plan is not None
    prep = time.perf_counter() - t0
    sub = neardup.replace(plan, tables=plan.tables[:: max(1, len(plan.tables) // tables)][:tables])
    workers = threads or neardup._cpus()
    if run is neardup._NUMBA:  # compile (or load the compiled code) before the clock starts
        neardup._index_pairs(values[:4096], max_distance, neardup.replace(sub, tables=sub.tables[:1]), 1, kernel=run)
    tracemalloc.start()
    t0 = time.perf_counter()
    neardup._index_pairs(values, max_distance, sub, workers, kernel=run)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = prep + seconds * len(plan.tables) / len(sub.tables)
    print(f"estimate {len(hashes):>9} hashes, {run.name}: k={plan.k}, {len(plan.tables)} tables (model {cost:.1f} s); "
          f"{len(sub.tables)} tables timed in {seconds:.1f} s with {workers} thread(s) -> whole search ~{total:.1f} s "
          f"= {total / len(hashes) * 1e6:.1f} us/hash (extrapolated); traced peak {peak / 2**20:.0f} MiB", flush=True)


def check(hashes: np.ndarray, max_distance: int) -> None:
    """Compare with the brute-force reference; raise on any difference."""
    fast, slow = pairs_within(hashes, max_distance), pairs_within_bruteforce(hashes, max_distance)
    if not np.array_equal(fast, slow):
        raise SystemExit(f"MISMATCH on n={len(hashes)}: fast {len(fast)} pairs, brute force {len(slow)}")


def records(n: int, identical: bool, rng: np.random.Generator) -> AuditContext:
    """An audit context of n decoded images: n distinct random ones, or n copies of one (same MD5)."""
    pixels = rng.integers(0, 256, size=(1 if identical else n, 32 * 32), dtype=np.uint8)
    phash, mirror, thumbs = signatures_batch(pixels.tobytes())
    if identical:
        phash, mirror, thumbs = phash * n, mirror * n, thumbs * n
    md5 = ["0" * 32] * n if identical else [f"{i:032x}" for i in range(n)]
    table = Table({"path": [f"c/{i}.jpg" for i in range(n)], "md5": md5, "phash": phash, "phash_mirror": mirror})
    return AuditContext(table=table, thumbs=np.frombuffer(b"".join(thumbs), np.uint8).reshape(n, 16, 16))


def clustering(n: int, identical: bool, seed: int) -> tuple[float, float, int]:
    """Seconds, traced peak MiB and number of grouped rows of the audit's duplicate clustering."""
    ctx = records(n, identical, np.random.default_rng(seed))
    tracemalloc.start()
    t0 = time.perf_counter()
    grouped = int((ctx.clusters.group != "").sum())
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, grouped


def reference(n: int, seed: int) -> float:
    """Seconds of the pre-collapse path on n identical copies: verify every pair of rows."""
    ctx = records(n, True, np.random.default_rng(seed))
    t0 = time.perf_counter()
    verified_pairs(from_hex(ctx.table["phash"]), from_hex(ctx.table["phash_mirror"]), ctx.thumbs, 8, 0.99)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated n values")
    ap.add_argument("--max-distance", type=int, default=6)
    ap.add_argument("--distributions", default=",".join(DISTRIBUTIONS), help="comma-separated subset")
    ap.add_argument("--mirrors", action="store_true",
                    help="phashlike only: each n stands for n images, searched with their mirrored hashes (2n hashes)")
    ap.add_argument("--threads", type=int, default=None, help="threads for the tables (default: pairs_within's choice)")
    ap.add_argument("--estimate-tables", type=int, default=0,
                    help="time only this many of the plan's tables and extrapolate (for sizes too slow to run whole)")
    ap.add_argument("--check", action="store_true", help="compare with brute force on the first --check-size hashes")
    ap.add_argument("--check-size", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--identical", type=int, default=8000, help="time clustering of N identical vs N distinct images (0: skip)")
    ap.add_argument("--reference", type=int, default=0, help="also time the pre-collapse path on M identical copies")
    ap.add_argument("--kernels", default="auto", help="table passes to time, comma-separated: auto, numpy, numba")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    print(f"pairs_within, max_distance={args.max_distance}")
    print(f"{'distribution':<12} {'kernel':<6} {'n':>9} {'hashes':>9} {'seconds':>9} {'us/hash':>8} {'peak MiB':>9} "
          f"{'maxrss MiB':>10} {'pairs':>10}")
    if any(k in ("numba", "auto") for k in args.kernels.split(",")):
        from dataclean import neardup

        if neardup._numba():
            t0 = time.perf_counter()
            neardup._numba_usable()  # import + load (or compile) once, outside the timed runs
            print(f"(Numba's pass loaded in {time.perf_counter() - t0:.2f} s: import, compiled code from its cache "
                  "or a first compile; not in the times below)")
    for name in args.distributions.split(","):
        for n in sizes:
            rng = np.random.default_rng(args.seed)
            hashes = phashlike(n, rng, mirrors=True) if args.mirrors and name == "phashlike" else DISTRIBUTIONS[name](n, rng)
            if args.check:
                check(hashes[: args.check_size], args.max_distance)
            for kernel in args.kernels.split(","):
                if args.estimate_tables:
                    estimate(hashes, args.max_distance, args.estimate_tables, args.threads, kernel)
                    continue
                seconds, peak, count = measure(hashes, args.max_distance, args.threads, kernel)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{name:<12} {kernel:<6} {n:>9} {len(hashes):>9} {seconds:>9.2f} {seconds / len(hashes) * 1e6:>8.1f} "
                      f"{peak:>9.1f} {rss:>10.0f} {count:>10}", flush=True)
    if args.check:
        print(f"check: fast path == brute force on the first {args.check_size} hashes of every run")
    if args.identical:
        n = args.identical
        print(f"\nduplicate clustering (AuditContext.clusters), max_distance=8, n={n}")
        print(f"{'images':<10} {'seconds':>9} {'peak MiB':>9} {'grouped':>8}")
        timing = {}
        for kind in ("distinct", "identical"):
            timing[kind], peak, grouped = clustering(n, kind == "identical", args.seed)
            print(f"{kind:<10} {timing[kind]:>9.3f} {peak:>9.1f} {grouped:>8}", flush=True)
        print(f"identical / distinct: {timing['identical'] / timing['distinct']:.2f}x (target <= 2x)")
    if args.reference:
        print(f"pre-collapse path (every pair verified), {args.reference} identical copies: "
              f"{reference(args.reference, args.seed):.2f} s")


if __name__ == "__main__":
    main()
