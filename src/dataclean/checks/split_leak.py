"""Leaks across the given split: the same or a near-same image in two of train / val / test.

A duplicate cluster (exact or near, the clusters every duplicate check shares) whose members sit in
two given splits lets a model be evaluated on what it trained on. Every member of such a cluster
that has a given split is flagged; the detail names the closest member on another side. The same
image under two *classes* is label_conflict; under two *splits* it is this check (both can hold).
"""

from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.duplicates import members
from dataclean.layout import SPLIT_ORDER


def _no_given_split(ctx: AuditContext) -> str | None:
    return None if any(ctx.given_splits) else "no given split (not a pre-split dataset)"


@check("split_leak", "error", "the same or a near-same image in two given splits (train / val / test)",
       fix_action="drop", applies=_no_given_split)
def split_leak(ctx: AuditContext) -> list[Finding]:
    t = ctx.table
    paths, md5, phash, mirror = t["path"], t["md5"], t["phash"], t["phash_mirror"]
    given = ctx.given_splits
    out = []
    for gid, rows in members(ctx.clusters.group).items():
        sides = {given[r] for r in rows if given[r]}
        if len(sides) < 2:
            continue
        for r in (r for r in rows if given[r]):
            others = [o for o in rows if given[o] and given[o] != given[r]]
            dist = {o: 0 if md5[o] == md5[r] else _distance(phash[r], phash[o], mirror[o]) for o in others}
            o = min(others, key=lambda k: (dist[k], SPLIT_ORDER.index(given[k]), paths[k]))
            how = "identical to" if md5[o] == md5[r] else "a copy of"
            more = f" (+{len(others) - 1} more)" if len(others) > 1 else ""
            out.append(Finding(r, float(dist[o]),
                               f"{given[r]} file is {how} {paths[o]} in {given[o]}, distance {dist[o]}{more}", gid))
    return out


def _distance(a: str, b: str, b_mirror: str) -> int:
    """Hamming distance between pHash ``a`` and ``b`` or ``b``'s mirrored pHash, whichever is closer."""
    x = int(a, 16)
    return min(bin(x ^ int(b, 16)).count("1"), bin(x ^ int(b_mirror, 16)).count("1") if b_mirror else 64)
