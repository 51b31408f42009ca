"""Scenes inside one topic: cut a run of pieces into visual moments of a target length.

Dynamic programming over the allowed cut points, so that a long stretch is split at its
best boundary and a short piece joins the neighbour it is more related to, by one rule:
minimise (time outside the range, heavily) + (distance from a comfortable length) +
(the cost of each cut, lower at paragraph breaks and between unrelated sentences).
"""
from __future__ import annotations

import math

# Seconds outside [min, max] outweigh every other consideration.
OUT_OF_RANGE_PER_SECOND = 100.0
# Comfortable scene length, as a fraction of the way from min to max.
TARGET_POSITION = 0.4
SHAPE_WEIGHT = 1.0
PARAGRAPH_CUT = -0.3
SENTENCE_CUT = 0.05
COHESION_CUT = 0.5  # times the similarity of the two sentences a cut would separate
CLAUSE_CUT = 1.0
NO_CUT = math.inf


def cut_cost(kind: str, similarity: float = 0.0) -> float:
    """Cost of a scene boundary of this kind: "paragraph", "sentence", "clause" or "none"."""
    return {
        "paragraph": PARAGRAPH_CUT,
        "sentence": SENTENCE_CUT + COHESION_CUT * similarity,
        "clause": CLAUSE_CUT,
        "none": NO_CUT,
    }[kind]


def scene_starts(seconds: list[float], cuts: list[float], min_seconds: float, max_seconds: float) -> list[int]:
    """Indices of the pieces that open a scene; cuts[i] is the cost of a scene starting at piece i (i >= 1)."""
    n = len(seconds)
    target = min_seconds + TARGET_POSITION * (max_seconds - min_seconds)
    spread = max(max_seconds - min_seconds, 1.0)
    elapsed = [0.0]
    for value in seconds:
        elapsed.append(elapsed[-1] + value)

    def scene_cost(duration: float) -> float:
        outside = max(0.0, min_seconds - duration) + max(0.0, duration - max_seconds)
        return OUT_OF_RANGE_PER_SECOND * outside + SHAPE_WEIGHT * ((duration - target) / spread) ** 2

    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for end in range(1, n + 1):
        start = end - 1
        # Scenes longer than twice the maximum are never worth considering, unless one piece is.
        while start >= 0 and (start == end - 1 or elapsed[end] - elapsed[start] <= 2 * max_seconds):
            cost = best[start] + scene_cost(elapsed[end] - elapsed[start]) + (cuts[start] if start else 0.0)
            if cost < best[end]:
                best[end], back[end] = cost, start
            start -= 1
    starts = []
    end = n
    while end > 0:
        end = back[end]
        starts.append(end)
    return sorted(starts)
