"""Group-aware, label-stratified train/val/test split.

A *unit* is a duplicate cluster (rows sharing a ``group`` id) or a single row; units are never cut,
so no image (or its near copy) leaks between train and test. Each label is split on its own so
every class keeps the target proportions.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dataclean.fix.policy import DEFAULT_MIN_CLASS_SIZE, DEFAULT_SEED, DEFAULT_SPLIT, parse_split

SPLITS: tuple[str, str, str] = ("train", "val", "test")



def _label_seed(seed: int, label: str) -> list[int]:
    """A per-label seed, so adding or removing one class does not reshuffle the others."""
    digest = hashlib.sha256(label.encode("utf-8")).digest()
    return [seed, int.from_bytes(digest[:8], "big")]


def _units(paths: Sequence[str], labels: Sequence[str], groups: Sequence[str]) -> dict[str, list[int]]:
    """Unit id -> row positions; a row without a group is its own unit."""
    units: dict[str, list[int]] = defaultdict(list)
    for i, (p, g) in enumerate(zip(paths, groups)):
        units[f"g:{g}" if g else f"p:{p}:{i}"].append(i)
    return dict(units)


def allocate(sizes: Sequence[int], ratios: Sequence[float]) -> list[int]:
    """Assign units (given in placement order, by size) to split indices 0..2.

    Each unit goes to the split with the largest deficit ``target - current`` (ties: train, val,
    test); splits with a zero ratio are never used. With single images the counts end within one
    of the targets; a cluster can overshoot its split by less than its own size.
    """
    total = float(sum(sizes))
    weights = np.asarray(ratios, dtype=float) / float(sum(ratios))
    target = weights * total
    current = np.zeros(3)
    active = [j for j in range(3) if weights[j] > 0]
    out = []
    for s in sizes:
        j = max(active, key=lambda k: (target[k] - current[k], -k))
        current[j] += s
        out.append(j)
    return out


def assign_splits(
    df: pd.DataFrame,
    ratios: str | Sequence[float] = DEFAULT_SPLIT,
    seed: int = DEFAULT_SEED,
    min_class_size: int = DEFAULT_MIN_CLASS_SIZE,
    resplit: bool = False,
) -> pd.Series:
    """Return ``train``/``val``/``test`` for every row of ``df`` (uses ``path``, ``label``, ``group``).

    A cluster whose members carry several labels is placed with its most common label. A label
    with fewer than ``min_class_size`` rows goes wholly to train: it is too small to evaluate on,
    and every image is needed to learn it. Deterministic for a given ``seed`` and input rows.

    When ``df`` has a ``given_split`` (the dataset came split) and not ``resplit``, that split is
    kept: see :func:`keep_given_split`.
    """
    if not resplit and "given_split" in df.columns and df["given_split"].isin(SPLITS).any():
        return keep_given_split(df, ratios, seed, min_class_size)
    return _stratified(df, ratios, seed, min_class_size)


def keep_given_split(df: pd.DataFrame, ratios: str | Sequence[float] = DEFAULT_SPLIT, seed: int = DEFAULT_SEED,
                     min_class_size: int = DEFAULT_MIN_CLASS_SIZE) -> pd.Series:
    """Given test stays test and given train stays train. Without a given val, val is carved out of the
    given train (stratified and group-aware, ``val / (train + val)`` of it by ``ratios``). A row without
    a given split joins its cluster's given split, or is split by ``ratios`` like an unsplit dataset."""
    t, v, _ = parse_split(ratios)
    given = df["given_split"].where(df["given_split"].isin(SPLITS), "").astype(object)
    result = given.copy().rename("split")
    train = given.eq("train")
    if not given.eq("val").any() and train.any() and v > 0:
        carve = (100 * t / (t + v), 100 * v / (t + v), 0.0)  # train/val of the given train, as percentages
        result[train] = _stratified(df[train], carve, seed, min_class_size)
    loose = given.eq("")
    if loose.any():
        groups = df["group"].astype(str).str.strip() if "group" in df.columns else pd.Series("", index=df.index)
        side = {g: s for g, s in zip(groups[~loose], result[~loose]) if g}
        joined = pd.Series([side.get(g, "") for g in groups[loose]], index=groups[loose].index, dtype=object)
        result[joined.index] = joined
        rest = joined.eq("")
        if rest.any():
            result[rest[rest].index] = _stratified(df.loc[rest[rest].index], ratios, seed, min_class_size)
    return result.astype(object)


def _stratified(
    df: pd.DataFrame,
    ratios: str | Sequence[float],
    seed: int,
    min_class_size: int,
) -> pd.Series:
    ratios = parse_split(ratios)
    paths = [str(p) for p in df["path"].tolist()]
    labels = ["" if not isinstance(v, str) else v for v in df["label"].tolist()]
    groups = ["" if not isinstance(v, str) else v.strip() for v in
              (df["group"].tolist() if "group" in df.columns else [""] * len(df))]
    units = _units(paths, labels, groups)

    by_label: dict[str, list[str]] = defaultdict(list)
    for uid, rows in units.items():
        counts = Counter(labels[i] for i in rows)
        label = min(counts, key=lambda lb: (-counts[lb], lb))
        by_label[label].append(uid)

    result = [""] * len(df)
    for label in sorted(by_label):
        uids = sorted(by_label[label])
        n = sum(len(units[u]) for u in uids)
        if n < min_class_size:
            chosen = [0] * len(uids)
        else:
            order = np.random.default_rng(_label_seed(seed, label)).permutation(len(uids))
            uids = [uids[k] for k in order]
            uids.sort(key=lambda u: -len(units[u]))  # stable: random order within a size
            chosen = allocate([len(units[u]) for u in uids], ratios)
        for uid, j in zip(uids, chosen):
            for i in units[uid]:
                result[i] = SPLITS[j]
    return pd.Series(result, index=df.index, name="split", dtype=object)
