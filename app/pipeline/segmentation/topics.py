"""Topic boundaries inside unbroken prose, found by lexical cohesion.

In the spirit of C99: sentences of one topic share rarer words, so the similarity matrix
shows dense blocks along its diagonal. We choose the cut that maximises the similarity
inside blocks above the document's own background level (an additive, contiguous form
of modularity), solved exactly by dynamic programming over sentence boundaries. A
paragraph break makes a boundary cheaper; a cut inside a paragraph costs extra.
"""
from __future__ import annotations

import numpy as np

from .cohesion import similarity_matrix

BACKGROUND_SCALE = 1.0
BACKGROUND_FIXED = None
PARAGRAPH_BONUS = 0.3
INSIDE_PARAGRAPH_COST = 0.3


def topic_starts(sentences: list[str], paragraphs: list[int], words: list[int], min_words: int) -> list[int]:
    """Indices of the sentences that open a topic (0 always), given each sentence's paragraph and word count."""
    n = len(sentences)
    if n < 2:
        return [0]
    similarity = similarity_matrix(sentences)
    background = BACKGROUND_SCALE * similarity.sum() / (n * (n - 1)) if BACKGROUND_FIXED is None else BACKGROUND_FIXED
    gain = similarity - background
    np.fill_diagonal(gain, 0.0)
    prefix = np.zeros((n + 1, n + 1))
    prefix[1:, 1:] = gain.cumsum(0).cumsum(1)
    boundary_gain = np.array(
        [0.0] + [PARAGRAPH_BONUS if paragraphs[i] != paragraphs[i - 1] else -INSIDE_PARAGRAPH_COST for i in range(1, n)]
    )
    word_prefix = np.concatenate([[0], np.cumsum(words)])
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        starts = np.arange(end)
        inside = prefix[end, end] - prefix[starts, end] - prefix[end, starts] + prefix[starts, starts]
        long_enough = (word_prefix[end] - word_prefix[starts] >= min_words) | (starts == 0) & (end == n)
        score = best[:end] + inside + np.where(starts > 0, boundary_gain[starts], 0.0)
        score[~long_enough] = -np.inf
        choice = int(np.argmax(score))
        best[end] = score[choice]
        back[end] = choice
    if not np.isfinite(best[n]):
        return [0]
    starts_found = []
    end = n
    while end > 0:
        end = back[end]
        starts_found.append(end)
    return sorted(starts_found)
