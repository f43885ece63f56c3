"""Exact and near-duplicate clusters in one id space.

Exact duplicates share an MD5; near duplicates are verified pHash pairs (dataclean.neardup). The
cluster of a file is the connected component of both kinds of edge, so ``fix`` and the split see
one notion of group. Only decoded files take part (two empty files are not "duplicates").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from dataclean.neardup import verified_pairs
from dataclean.record import from_hex

#: The stage name :func:`find_clusters` reports its candidate search's progress under (AuditContext.progress).
NEAR_DUPLICATE_STAGE = "near-duplicate search"

if TYPE_CHECKING:
    from dataclean.checks.base import AuditContext


@dataclass(frozen=True)
class Clusters:
    exact_key: np.ndarray  # per row: md5 when it has an identical twin, else ""
    near_pairs: dict[str, np.ndarray]  # i, j, distance, mirrored, similarity (table rows; identical twins excluded)
    group: np.ndarray  # per row: "g1", "g2", ... or "" when alone


def find_clusters(ctx: AuditContext, max_distance: int, min_similarity: float) -> Clusters:
    table = ctx.table
    n = len(table)
    decoded = np.flatnonzero(ctx.decoded)
    md5 = table["md5"]
    # Each decoded row's MD5 as a number, 0, 1, ... in order of first appearance: one dict entry per
    # distinct MD5 and no container per row (a list per file made this step's cost grow with n).
    first: dict[str, int] = {}
    code = np.array([first.setdefault(md5[r], len(first)) for r in decoded.tolist()], dtype=np.int64)
    sizes = np.bincount(code, minlength=len(first))
    grouped = decoded[np.argsort(code, kind="stable")]  # rows by MD5 (first appearance), row order within
    reps = grouped[np.cumsum(sizes) - sizes]  # each MD5's first row: ascending
    twin = sizes[code] > 1  # exact twins: chain each member to the first member of its md5 group
    twins, twin_dst = decoded[twin], reps[code[twin]]
    exact_key = np.full(n, "", dtype=object)
    exact_key[twins] = [md5[r] for r in twins.tolist()]

    # Byte-identical files have identical hashes and thumbnails: search and verify one representative
    # per MD5, then give every copy its representative's pairs. Comparing 8,000 copies of one image
    # pairwise (32 million pairs, all then discarded as same-MD5) was the audit's only quadratic step.
    phash, mirror = table["phash"], table["phash_mirror"]
    rep_rows = reps.tolist()
    sub = verified_pairs(
        from_hex([phash[r] for r in rep_rows]),
        from_hex([mirror[r] for r in rep_rows]),
        ctx.thumbs[reps],
        max_distance=max_distance,
        min_similarity=min_similarity,
        progress=None if ctx.progress is None else partial(ctx.progress, NEAR_DUPLICATE_STAGE),
    )
    near = _expand(sub, grouped, sizes, n)

    src = np.concatenate([twins, near["i"].astype(np.int64)])
    dst = np.concatenate([twin_dst, near["j"].astype(np.int64)])
    group = _component_ids(n, src, dst)
    return Clusters(exact_key=exact_key, near_pairs=near, group=group)


def _expand(sub: dict[str, np.ndarray], grouped: np.ndarray, sizes: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Pairs between representatives -> pairs between every copy of one and every copy of the other
    (table rows, ``i < j``, sorted by ``i, j``: what pairing all rows would have given, minus same-MD5 pairs).

    ``grouped`` holds the rows of representative 0's copies, then 1's, ...; ``sizes`` how many each has.
    """
    start = np.cumsum(sizes) - sizes
    if len(sub["i"]) == 0 or (sizes == 1).all():
        reps = grouped[start]
        return {**sub, "i": reps[sub["i"]], "j": reps[sub["j"]]}
    a, b = sub["i"].astype(np.int64), sub["j"].astype(np.int64)
    per_pair = sizes[a] * sizes[b]
    pair = np.repeat(np.arange(len(a)), per_pair)
    k = np.arange(int(per_pair.sum())) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    x = grouped[start[a][pair] + k // sizes[b][pair]]
    y = grouped[start[b][pair] + k % sizes[b][pair]]
    i, j = np.minimum(x, y), np.maximum(x, y)
    order = np.argsort(i * n + j, kind="stable")
    out = {key: v[pair][order] for key, v in sub.items() if key not in ("i", "j")}
    return {"i": i[order], "j": j[order], **out}


def components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected components of an undirected graph: each node's smallest reachable node.

    Vectorised min-label propagation with pointer jumping: every round, both ends of every edge take
    the smaller of their labels, then each label jumps to its own label; it stops when nothing changes
    (a few rounds on duplicate clusters, which are small and shallow).
    """
    label = np.arange(n)
    while True:
        low = np.minimum(label[src], label[dst])
        new = label.copy()
        np.minimum.at(new, src, low)
        np.minimum.at(new, dst, low)
        new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


def members(keys: np.ndarray) -> dict[str, list[int]]:
    """Rows per non-empty key (a group id or an MD5), in row order: ``{"g1": [3, 9], ...}``."""
    out: dict[str, list[int]] = {}
    for r in np.flatnonzero(keys != ""):
        out.setdefault(str(keys[r]), []).append(int(r))
    return out


def label_conflicts(labels: Sequence[str], groups: Sequence[str]) -> dict[int, list[str]]:
    """Rows of duplicate groups that carry two or more labels -> the group's other labels, sorted.

    The one definition the label_conflict check and the fix policy share, so that a manifest's
    ``issues`` and ``reason`` never disagree. Unlabelled rows (files at the dataset root) take no
    part: they have no label to contradict, and are handled as plain duplicates.
    """
    by_group: dict[str, list[int]] = {}
    for row, (label, gid) in enumerate(zip(labels, groups)):
        if gid and label:
            by_group.setdefault(str(gid), []).append(row)
    out: dict[int, list[str]] = {}
    for rows in by_group.values():
        names = sorted({labels[r] for r in rows})
        if len(names) > 1:
            for r in rows:
                out[r] = [n for n in names if n != labels[r]]
    return out


def _component_ids(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Name connected components of size >= 2 as g1, g2, ... in order of their first row."""
    out = np.full(n, "", dtype=object)
    if n == 0 or len(src) == 0:
        return out
    comp = components(n, src, dst)
    sizes = np.bincount(comp, minlength=n)
    multi = sizes[comp] > 1
    order: dict[int, int] = {}
    for row in np.flatnonzero(multi):  # rows ascending -> ids in order of first member
        order.setdefault(int(comp[row]), len(order) + 1)
    out[multi] = [f"g{order[int(c)]}" for c in comp[multi]]
    return out
