from __future__ import annotations

from dataclean.checks.base import AuditContext, Finding, check
from dataclean.neardup import DEFAULT_MAX_DISTANCE, DEFAULT_MIN_SIMILARITY
from dataclean.text import plural


@check("near_duplicate", "warning", "resized, re-encoded, re-formatted, grayscaled or mirrored copies: pHash within "
       "max_distance bits, verified by thumbnail correlation >= min_similarity", fix_action="drop")
def near_duplicate(
    ctx: AuditContext, max_distance: int = DEFAULT_MAX_DISTANCE, min_similarity: float = DEFAULT_MIN_SIMILARITY
) -> list[Finding]:
    """One finding per file that has a verified partner: its closest one (smallest Hamming
    distance, then highest similarity, then path order) is named in the detail and gives the score,
    with a count of any further partners. So issues.csv has one near_duplicate row per file, like
    every other check, and the manifest's ``group`` column holds the whole cluster.

    The parameters are read where the clusters are built (AuditContext.clusters), so that every
    check sees the same groups. Their defaults and the evidence for them are in dataclean.neardup.
    """
    c = ctx.clusters
    paths = ctx.table["path"]
    p = c.near_pairs
    partners: dict[int, list[tuple[int, float, str, int, bool]]] = {}
    for i, j, dist, mirrored, sim in zip(p["i"].tolist(), p["j"].tolist(), p["distance"].tolist(), p["mirrored"].tolist(),
                                         p["similarity"].tolist()):
        for a, b in ((i, j), (j, i)):
            partners.setdefault(int(a), []).append((int(dist), -float(sim), paths[b], int(b), bool(mirrored)))
    out = []
    for row in sorted(partners):
        found = sorted(partners[row])
        dist, neg_sim, partner, _, mirrored = found[0]
        how = " (mirrored)" if mirrored else ""
        more = f"; {plural(len(found) - 1, 'more near duplicate')} in group {c.group[row]}" if len(found) > 1 else ""
        out.append(Finding(row, float(dist), f"phash distance {dist} to {partner}{how}, similarity {-neg_sim:.2f}{more}",
                           c.group[row]))
    return out
