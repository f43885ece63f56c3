from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.neardup import DEFAULT_MAX_DISTANCE, DEFAULT_MIN_SIMILARITY


@check("near_duplicate", "warning", "resized, re-encoded, re-formatted, grayscaled or mirrored copies: pHash within "
       "max_distance bits, verified by thumbnail correlation >= min_similarity", fix_action="drop")
def near_duplicate(
    ctx: AuditContext, max_distance: int = DEFAULT_MAX_DISTANCE, min_similarity: float = DEFAULT_MIN_SIMILARITY
) -> list[Finding]:
    """One finding per member of each verified pair (the score is the pair's Hamming distance).

    The parameters are read where the clusters are built (AuditContext.clusters), so that every
    check sees the same groups. Their defaults and the evidence for them are in dataclean.neardup.
    """
    c = ctx.clusters
    paths = ctx.table["path"]
    out = []
    p = c.near_pairs
    for i, j, dist, mirrored, sim in zip(p["i"].tolist(), p["j"].tolist(), p["distance"].tolist(), p["mirrored"].tolist(),
                                         p["similarity"].tolist()):
        how = " (mirrored)" if mirrored else ""
        for a, b in ((i, j), (j, i)):
            out.append(Finding(int(a), float(dist), f"phash distance {dist} to {paths[b]}{how}, similarity {sim:.2f}",
                               c.group[a]))
    return out
