"""Tests for dataclean.neardup: exact pair search against brute force, and verified near-duplicates."""

from __future__ import annotations

import io
from math import comb

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from dataclean import neardup
from dataclean.hashing import signatures
from dataclean.neardup import near_duplicate_pairs, pairs_within, pairs_within_bruteforce

U64 = np.uint64


def _uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(U64).max, size=n, dtype=U64, endpoint=True)


def _clustered(n: int, seed: int) -> np.ndarray:
    """n/10 random bases, each row a base with up to 4 random bit flips: many pairs near any radius."""
    rng = np.random.default_rng(seed)
    h = _uniform(n // 10, seed)[rng.integers(0, n // 10, size=n)]
    for _ in range(4):
        bit = rng.integers(0, 64, size=n).astype(U64)
        h = np.where(rng.random(n) < 0.6, h ^ (U64(1) << bit), h)
    return h


def _few_values(n: int, seed: int) -> np.ndarray:
    """Many equal hashes: only 6 distinct values, at distances 0, 8, 16, ... from each other."""
    return np.random.default_rng(seed).integers(0, 6, size=n).astype(U64) * U64(0x0101010101010101)


def _crowded(n: int, seed: int) -> np.ndarray:
    """Distinct hashes that differ only in 12 bits: huge buckets of different hashes (chunking)."""
    low = np.random.default_rng(seed).choice(4096, size=min(n, 4096), replace=False).astype(U64)
    return U64(0xA5A5A5A5A5A5A5A5) ^ ((low & U64(0x3F)) | ((low >> U64(6)) << U64(40)))


def _biased(n: int, seed: int) -> np.ndarray:
    """pHash-shaped: one constant bit, 16 bits set 90% of the time, the rest fair, plus near-copies.

    Skewed bit entropies make the plan deal bits to blocks by entropy (not by stride)."""
    rng = np.random.default_rng(seed)
    p = np.concatenate(([1.0], np.full(16, 0.9), np.full(47, 0.5)))[rng.permutation(64)]
    bits = rng.random((n, 64)) < p
    h = np.packbits(bits, axis=1).view(">u8").ravel().astype(U64)
    copies = rng.integers(0, n, size=n // 4)
    h[rng.integers(0, n, size=n // 4)] = h[copies] ^ (U64(1) << rng.integers(0, 64, size=n // 4).astype(U64))
    return h


GENERATORS = {"uniform": _uniform, "clustered": _clustered, "few_values": _few_values, "biased": _biased}


@pytest.mark.parametrize(("fold", "kernel"), [(True, "numpy"), (False, "numpy"), (False, "numba")],
                         ids=["16-bit-digest", "32-bit-digest", "numba"])
@pytest.mark.parametrize("method", ["auto", "index", "brute"])
@pytest.mark.parametrize("max_distance", [0, 1, 3, 6, 8, 10, 64, 70], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("kind", list(GENERATORS))
def test_matches_bruteforce(kind: str, max_distance: int, method: str, fold: bool, kernel: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables bucket 16-bit digests of their keys for small inputs, full keys for large ones; numpy's
    table pass or Numba's: all exact."""
    monkeypatch.setattr(neardup, "_FOLD_MAX", 1 << 16 if fold else 0)
    hashes = GENERATORS[kind](800, seed=max_distance)
    expected = pairs_within_bruteforce(hashes, max_distance)
    np.testing.assert_array_equal(pairs_within(hashes, max_distance, method=method, kernel=kernel), expected)


@pytest.mark.parametrize(("fold", "kernel"), [(True, "numpy"), (False, "numpy"), (False, "numba")],
                         ids=["16-bit-digest", "32-bit-digest", "numba"])
@pytest.mark.parametrize("method", ["auto", "index"])
def test_crowded_buckets_of_different_hashes(method: str, fold: bool, kernel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """~4.5M candidate pairs per table: several bounded chunks (numpy); an output that outgrows its
    first buffer (Numba: walked again into a bigger one)."""
    monkeypatch.setattr(neardup, "_FOLD_MAX", 1 << 16 if fold else 0)
    hashes = _crowded(3000, seed=1)
    expected = pairs_within_bruteforce(hashes, 6)
    assert len(expected) > 4096 * 4
    np.testing.assert_array_equal(pairs_within(hashes, 6, method=method, kernel=kernel), expected)


@pytest.mark.parametrize(("step_min", "kernel"), [(1, "numpy"), (4096, "numpy"), (4096, "numba")],
                         ids=["offset-walk", "ranks", "numba"])
@pytest.mark.parametrize("threads", [1, 3])
def test_pair_walk_and_threads_do_not_change_results(step_min: int, kernel: str, threads: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates come from an offset walk over sorted digests (then rank arithmetic for the last
    crowded buckets); tables may be split over threads. Neither changes a single pair."""
    monkeypatch.setattr(neardup, "_STEP_MIN", step_min)
    hashes = np.concatenate((_crowded(1500, seed=2), _biased(1500, seed=4), _clustered(1000, seed=5)))
    expected = pairs_within_bruteforce(hashes, 6)
    assert len(expected) > 10_000
    np.testing.assert_array_equal(pairs_within(hashes, 6, method="index", threads=threads, kernel=kernel), expected)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("method", ["index", "brute"])
def test_progress_counts_every_step_once(method: str, threads: int) -> None:
    """``progress(done, total)``: (0, total) once the plan is made, then 1, 2, ... total, one call per
    table (a lock keeps the count in order when threads search), and the pairs are the same."""
    hashes = np.concatenate((_biased(1500, seed=4), _clustered(1000, seed=5)))
    calls: list[tuple[int, int]] = []
    got = pairs_within(hashes, 6, method=method, threads=threads, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(got, pairs_within_bruteforce(hashes, 6))
    plan, _ = neardup._choose_plan(np.unique(hashes), 6, "index")
    assert plan is not None
    total = 1 if method == "brute" else len(plan.tables)  # C(d + k + 1, k + 1) tables
    assert total == 1 or total == comb(6 + plan.k + 1, plan.k + 1)
    assert calls == [(done, total) for done in range(total + 1)]


def test_blocks_dealt_by_entropy_partition_the_bits() -> None:
    """With per-bit entropies, every bit lands in exactly one block and the informative bits are
    spread: no block holds two of the eight fair bits before every block holds one."""
    entropy = np.zeros(64)
    entropy[[3, 9, 17, 22, 30, 41, 50, 63]] = 1.0
    plan = neardup._make_plan(6, 2, entropy)
    masks = plan.block_masks
    assert len(masks) == 8 and all(masks)
    assert sum(bin(m).count("1") for m in masks) == 64 and np.bitwise_or.reduce(np.array(masks, dtype=U64)) == U64(2**64 - 1)
    fair = sum(1 << b for b in (3, 9, 17, 22, 30, 41, 50, 63))
    assert sorted(bin(m & fair).count("1") for m in masks) == [1] * 8


@pytest.mark.parametrize(
    ("max_distance", "expected"),
    [(0, [[0, 4]]), (1, [[0, 1], [0, 4], [1, 2], [1, 4]]), (2, [[0, 1], [0, 2], [0, 4], [1, 2], [1, 4], [2, 4]])],
    ids=["d0", "d1", "d2"],
)
def test_small_exact_example(max_distance: int, expected: list[list[int]]) -> None:
    hashes = np.array([0, 1, 3, 0xFF, 0], dtype=U64)
    got = pairs_within(hashes, max_distance)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.int64))


@pytest.mark.parametrize("max_distance", [1, 6, 13, 63], ids=lambda d: f"d{d}")
def test_distance_exactly_at_threshold(max_distance: int) -> None:
    hashes = np.array([0, (1 << max_distance) - 1], dtype=U64)  # exactly max_distance bits apart
    np.testing.assert_array_equal(pairs_within(hashes, max_distance), [[0, 1]])
    assert pairs_within(hashes, max_distance - 1).shape == (0, 2)


def test_all_equal_hashes_give_every_pair() -> None:
    got = pairs_within(np.full(2100, 42, dtype=U64), 0)  # 2.2M pairs: more than one bounded chunk
    assert got.shape == (2203950, 2)
    assert got[0].tolist() == [0, 1] and got[-1].tolist() == [2098, 2099]
    assert (np.diff(got[:, 0] * 2100 + got[:, 1]) > 0).all()


@pytest.mark.parametrize("n", [0, 1], ids=["empty", "single"])
def test_empty_and_single(n: int) -> None:
    got = pairs_within(np.zeros(n, dtype=U64), 6)
    assert got.shape == (0, 2) and got.dtype == np.int64


def test_output_sorted_and_ordered() -> None:
    hashes = _clustered(2000, seed=3)
    got = pairs_within(hashes, 6)
    assert len(got) == len(pairs_within_bruteforce(hashes, 6)) == 9410
    assert (got[:, 0] < got[:, 1]).all()
    np.testing.assert_array_equal(got, got[np.lexsort((got[:, 1], got[:, 0]))])


@pytest.mark.parametrize(
    ("hashes", "max_distance", "error", "message"),
    [
        ([1, 2], 3, TypeError, "received list"),
        (np.array([1, 2], dtype=np.int64), 3, TypeError, "received dtype=int64"),
        (np.zeros((2, 2), dtype=U64), 3, ValueError, r"received shape=\(2, 2\)"),
        (np.zeros(2, dtype=U64), -1, ValueError, "received max_distance=-1"),
        (np.zeros(2, dtype=U64), 2.5, TypeError, r"received 2.5 \(float\)"),
        (np.zeros(2, dtype=U64), True, TypeError, r"received True \(bool\)"),
    ],
    ids=["list", "int64", "2d", "negative", "float", "bool"],
)
def test_argument_errors(hashes: object, max_distance: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        pairs_within(hashes, max_distance)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        pairs_within_bruteforce(hashes, max_distance)  # type: ignore[arg-type]


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="received method='fast'"):
        pairs_within(np.zeros(2, dtype=U64), 1, method="fast")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- near_duplicate_pairs

A, A_MIRROR = 0x00000000FFFFFFFF, 0xFFFFFFFF00000000  # 64 bits apart: never confused


def _handmade() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0 and 1 equal; 2 is their mirror; 3 has a close hash but another picture; 4 is far away."""
    rng = np.random.default_rng(0)
    t = rng.integers(0, 256, size=(16, 16)).astype(np.uint8)
    other = rng.integers(0, 256, size=(16, 16)).astype(np.uint8)
    phash = np.array([A, A, A_MIRROR, A ^ 1, 0x0F0F0F0F0F0F0F0F], dtype=U64)
    mirror = np.array([A_MIRROR, A_MIRROR, A, A_MIRROR ^ 1, 0x0F0F0F0F0F0F0F0F], dtype=U64)
    thumbs = np.stack([t, t, t[:, ::-1], other, t])
    return phash, mirror, thumbs


def test_near_duplicates_verified() -> None:
    got = near_duplicate_pairs(*_handmade(), max_distance=4, min_similarity=0.9)
    expected = pd.DataFrame(
        {"i": [0, 0, 1], "j": [1, 2, 2], "distance": [0, 0, 0], "mirrored": [False, True, True],
         "similarity": [1.0, 1.0, 1.0]}
    )
    pd.testing.assert_frame_equal(got, expected, atol=1e-6)


def test_unverified_candidates_include_the_impostor() -> None:
    got = near_duplicate_pairs(*_handmade(), max_distance=4, min_similarity=-1.0)
    assert list(zip(got.i, got.j, got.distance, got.mirrored)) == [
        (0, 1, 0, False), (0, 2, 0, True), (0, 3, 1, False), (1, 2, 0, True), (1, 3, 1, False), (2, 3, 1, True)
    ]
    assert (got.similarity[got.j == 3].abs() < 0.2).all()


@pytest.mark.parametrize(
    ("levels", "expected"), [((7, 7), 1.0), ((0, 255), 0.0), ((7, None), 0.0)], ids=["same", "black_white", "textured"]
)
def test_flat_thumbnails(levels: tuple[int, int | None], expected: float) -> None:
    thumbs = np.full((2, 16, 16), levels[0], dtype=np.uint8)
    if levels[1] is None:
        thumbs[1] = np.random.default_rng(0).integers(0, 256, size=(16, 16))
    else:
        thumbs[1] = levels[1]
    h = np.zeros(2, dtype=U64)
    got = near_duplicate_pairs(h, h, thumbs, max_distance=0, min_similarity=-1.0)
    assert got.similarity.tolist() == [pytest.approx(expected)]


def _encode(im: Image.Image, fmt: str) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")


def test_real_signatures_find_copies_not_strangers() -> None:
    rng = np.random.default_rng(7)
    bases = [Image.fromarray(rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8)).resize((160, 120)) for _ in range(3)]
    images = bases + [
        _encode(bases[0].resize((80, 60)), "JPEG"),  # 3: half size, JPEG
        _encode(ImageOps.mirror(bases[1]), "PNG"),  # 4: mirrored
        _encode(bases[2].convert("RGBA"), "WEBP"),  # 5: alpha + WebP
    ]
    sigs = [signatures(im.convert("L")) for im in images]
    phash = np.array([s[0] for s in sigs], dtype=U64)
    mirror = np.array([s[1] for s in sigs], dtype=U64)
    thumbs = np.stack([s[2] for s in sigs])
    got = near_duplicate_pairs(phash, mirror, thumbs)
    assert list(zip(got.i, got.j, got.mirrored)) == [(0, 3, False), (1, 4, True), (2, 5, False)]
    assert (got.similarity >= 0.99).all()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"thumbs": np.zeros((5, 16, 16), dtype=np.float32)}, TypeError, "received dtype=float32"),
        ({"phash_mirror": np.zeros(4, dtype=U64)}, ValueError, "received 5, 4 and 5"),
        ({"phash": np.zeros(5, dtype=np.int64)}, TypeError, "phash must have dtype uint64"),
        ({"min_similarity": 1.5}, ValueError, "received min_similarity=1.5"),
        ({"max_distance": -2}, ValueError, "received max_distance=-2"),
    ],
    ids=["thumb_dtype", "length", "hash_dtype", "similarity", "distance"],
)
def test_near_duplicate_argument_errors(change: dict, error: type, message: str) -> None:
    phash, mirror, thumbs = _handmade()
    kwargs = {"phash": phash, "phash_mirror": mirror, "thumbs": thumbs, **change}
    with pytest.raises(error, match=message):
        near_duplicate_pairs(**kwargs)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_parity_and_plain_tables_report_each_pair_once(k: int) -> None:
    """Every pair within the radius belongs to exactly one table of a plan: pairs agreeing on exactly
    k blocks (one flipped bit in each other block) to the parity table on those blocks, the rest to
    the plain table on their first k + 1 agreeing blocks."""
    rng = np.random.default_rng(k)
    d = 6
    plan = neardup._make_plan(d, k, neardup._bit_entropy(_biased(4096, seed=k)))
    x = np.zeros(0, dtype=U64)
    for bits in range(d + 1):  # xors with 0..d bits set, at random positions
        pos = np.argsort(rng.random((500, 64)), axis=1)[:, :bits]
        x = np.concatenate((x, np.bitwise_or.reduce(U64(1) << pos.astype(U64), axis=1) if bits else np.zeros(500, U64)))
    owners = np.zeros(len(x), dtype=np.int64)
    for sel, _, parity in plan.tables:
        owners += neardup._owned(x, plan, sel, parity)
    assert (owners == 1).all()
    assert sum(p for *_, p in plan.tables) == comb(d + k, k) and len(plan.tables) == comb(d + k + 1, k + 1)


def test_thumb_similarity_is_pearson_exactly() -> None:
    """The correlation comes from exact integer sums: it equals float64 corrcoef to ~1e-12 (the
    earlier float32 centring was off by up to ~4e-7), mirrored pairs are compared flipped
    left-right, and flat thumbnails follow their rule (two flat ones: 1 - |mean difference| / 255;
    flat against textured: 0)."""
    rng = np.random.default_rng(3)
    thumbs = rng.integers(0, 256, (300, 16, 16), dtype=np.uint8)
    thumbs[1] = np.clip(thumbs[0].astype(int) + rng.integers(-2, 3, (16, 16)), 0, 255)  # a near copy
    thumbs[2] = thumbs[0][:, ::-1]  # a mirrored copy
    thumbs[3], thumbs[4] = 40, 91  # flat
    thumbs[5] = 255  # flat at the top of the range, where float32 sums of squares must still be exact
    i = np.array([0, 0, 0, 3, 3, 5, *range(10, 200)])
    j = np.array([1, 2, 2, 4, 0, 3, *range(100, 290)])
    mirrored = np.zeros(len(i), dtype=bool)
    mirrored[2] = True
    got = neardup.thumb_similarity(thumbs, i, j, mirrored)
    assert got[1] < 0.2 and got[2] == pytest.approx(1.0, abs=1e-12)  # direct vs flipped view of the mirror
    assert got[3] == 1 - 51 / 255 and got[4] == 0.0 and got[5] == 1 - 215 / 255
    for k in [0, *range(6, len(i))]:
        b = thumbs[j[k]][:, ::-1] if mirrored[k] else thumbs[j[k]]
        expected = np.corrcoef(thumbs[i[k]].ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1]
        assert abs(got[k] - expected) < 1e-12, k


def test_kernel_choice_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """``kernel="auto"`` runs numpy's pass on a small search (Numba is not even imported: its import
    and code load would cost more than the search) and Numba's on one estimated over _NUMBA_MIN
    (_NUMBA_LOADED_MIN once it is loaded); without Numba, "auto" is numpy and "numba" a clear error."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from dataclean.neardup import pairs_within\n"
            "h = np.random.default_rng(0).integers(0, 2**63, 2000, dtype=np.int64).astype(np.uint64)\n"
            "pairs_within(h, 8); print('numba' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    hashes = _biased(3000, seed=4)
    used: list[str] = []
    real = neardup._index_pairs
    monkeypatch.setattr(neardup, "_index_pairs", lambda *a, **k: used.append(k["kernel"].name) or real(*a, **k))
    monkeypatch.setattr(neardup, "_NUMBA_MIN", 0.0)
    monkeypatch.setattr(neardup, "_NUMBA_LOADED_MIN", 0.0)  # the threshold once an earlier search loaded it
    expected = pairs_within_bruteforce(hashes, 8)
    np.testing.assert_array_equal(pairs_within(hashes, 8, method="index"), expected)
    monkeypatch.setattr(neardup, "_numba", lambda: False)
    np.testing.assert_array_equal(pairs_within(hashes, 8, method="index"), expected)
    assert used == ["numba", "numpy"]
    with pytest.raises(ModuleNotFoundError, match=r"^kernel='numba' needs Numba: pip install 'dataclean\[scale\]'$"):
        pairs_within(hashes, 8, kernel="numba")
    with pytest.raises(ValueError, match="kernel must be 'auto', 'numpy' or 'numba'; received kernel='cuda'"):
        pairs_within(hashes, 8, kernel="cuda")  # type: ignore[arg-type]


def test_prefetch_loads_the_compiled_pass_only_for_big_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search over PREFETCH_IMAGES images or more will use Numba's pass: its import and code load
    start on a thread (while an audit's files decode); below that, or without Numba, nothing starts."""
    import subprocess
    import sys

    code = ("import sys; from dataclean.neardup import PREFETCH_IMAGES, prefetch_kernel\n"
            "assert prefetch_kernel(PREFETCH_IMAGES - 1) is None and 'numba' not in sys.modules\n"
            "t = prefetch_kernel(PREFETCH_IMAGES); t.join(120)\n"
            "print(t.name, 'dataclean.neardup_jit' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["dataclean-numba-load", "True", "True"]
    monkeypatch.setattr(neardup, "_numba", lambda: False)
    assert neardup.prefetch_kernel(10 * neardup.PREFETCH_IMAGES) is None


@pytest.mark.parametrize(("bits", "buckets"), [(8, 0), (16, 0), (17, 0), (24, 0), (32, 0), (17, 8), (18, 3),
                                               (24, 8), (32, 8), (32, 5)])
def test_numba_digest_widths_and_bucketed_sort(bits: int, buckets: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Numba's pass sorts on a digest of log2(n) + 3 bits: one counting pass up to 16 bits, two above
    (from 16,384 hashes); from 2**18 hashes the digests are first bucketed by their top bits, each
    bucket split again, and each part sorted on the rest (neardup_jit.bucket_bits). Any width and any
    bucketing is exact: digest-only collisions fail the distance or owner check."""
    from dataclean import neardup_jit

    monkeypatch.setattr(neardup, "_numba_digest_bits", lambda n: bits)
    monkeypatch.setattr(neardup_jit, "bucket_bits", lambda n, digest_bits: buckets)
    hashes = np.concatenate((_crowded(800, seed=6), _biased(800, seed=7), _clustered(800, seed=8)))
    np.testing.assert_array_equal(pairs_within(hashes, 6, method="index", kernel="numba"), pairs_within_bruteforce(hashes, 6))


@pytest.mark.parametrize(("hi", "mask"), [(7, 0x00FF00FF00FF00FF), (1, 0x00FF00FF00FF00FF), (8, 0xF)],
                         ids=["128-buckets", "2-buckets-split-64", "crowded"])
def test_numba_bucketed_sort_orders_by_digest(hi: int, mask: int) -> None:
    """The bucketed sort leaves every value next to those with its digest, in digest order, and keeps
    every value once, on 300,000 hashes: 128 buckets of ~2,300 (the default there), 2 buckets each
    split 64 ways, and a 4-bit key (16 digests: most buckets empty, a few of ~19,000)."""
    from dataclean import neardup_jit

    n, bits = 300_000, 22
    assert neardup_jit.bucket_bits(n, bits) == 7 and neardup_jit.bucket_bits(n - 100_000, bits) == 0
    values = np.unique(_uniform(n, seed=12))
    digest, tmp_d, vals, tmp_v, count, _ = neardup_jit.work_buffers(len(values))
    neardup_jit._sort_by_digest(values, np.zeros(0, np.uint64), np.uint64(mask), False, np.uint64(0), bits, hi,
                                neardup._SCRAMBLE, neardup._SCRAMBLE_PARITY, digest, tmp_d, vals, tmp_v, count)
    want = ((values & np.uint64(mask)) * neardup._SCRAMBLE >> np.uint64(64 - bits)).astype(np.uint32)
    order = np.argsort(want, kind="stable")
    np.testing.assert_array_equal(digest, want[order])
    np.testing.assert_array_equal(vals, values[order])  # stable too: ties keep the input's order


def test_numba_matches_numpy_on_a_big_search() -> None:
    """40,000 hashes (two counting passes, several threads): the same pairs as numpy's pass, which the
    brute-force tests hold exact."""
    hashes = np.concatenate((_biased(20_000, seed=9), _clustered(20_000, seed=10)))
    got = pairs_within(hashes, 8, method="index", kernel="numba", threads=2)
    assert len(got) > 1000
    np.testing.assert_array_equal(got, pairs_within(hashes, 8, method="index", kernel="numpy", threads=1))


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_radius_63_uses_all_64_blocks(kernel: str) -> None:
    """At radius 63 a plan has 64 one-bit blocks: block sets need all 64 bits (unsigned in Numba)."""
    hashes = _uniform(120, seed=11)
    np.testing.assert_array_equal(pairs_within(hashes, 63, method="index", kernel=kernel),  # type: ignore[arg-type]
                                  pairs_within_bruteforce(hashes, 63))


def test_a_numba_that_cannot_run_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Numba installed but unable to run (a mismatched numpy, no compiler backend): one RuntimeWarning,
    and the search runs numpy's pass with the same pairs; asking for kernel="numba" is a clear error."""
    from dataclean import neardup_jit

    def broken() -> None:
        raise ImportError("numba needs numpy < 2.5")

    monkeypatch.setattr(neardup_jit, "warm", broken)
    monkeypatch.setattr(neardup, "_NUMBA_STATE", {})
    monkeypatch.setattr(neardup, "_NUMBA_MIN", 0.0)
    hashes = _biased(3000, seed=12)
    with pytest.warns(RuntimeWarning, match=r"cannot run \(ImportError: numba needs numpy < 2.5\); using numpy's"):
        got = pairs_within(hashes, 8, method="index")
    np.testing.assert_array_equal(got, pairs_within_bruteforce(hashes, 8))
    with pytest.raises(RuntimeError, match=r"^kernel='numba': Numba is installed but cannot run: ImportError: numba needs"):
        pairs_within(hashes, 8, kernel="numba")
    assert neardup.prefetch_kernel(10 * neardup.PREFETCH_IMAGES) is None  # already known not to run
