"""Topic boundaries inside prose, found by lexical cohesion.

In the spirit of C99: sentences of one topic share rarer words, so their similarity
matrix shows dense blocks along the diagonal. We pick the cut that maximises, over all
topics, the similarity of sentence pairs inside a topic above a background level (an
additive, contiguous form of modularity), minus a cost per boundary, solved exactly by
dynamic programming over sentence boundaries. The constants were tuned on random
Choi-style samples of the bench documents other than those bench/segmentation.py scores.
"""
from __future__ import annotations

import numpy as np

# Cosine similarity expected between sentences on unrelated subjects.
BACKGROUND = 0.04
BOUNDARY_COST = 1.0
# When paragraphs are short enough to be units of thought, cut at them rather than inside.
PARAGRAPH_BREAK_COST = 0.5
INSIDE_PARAGRAPH_COST = 3.0
MAX_SENTENCES_PER_PARAGRAPH = 12


def topic_starts(similarity: np.ndarray, paragraphs: list[int], words: list[int], min_words: float) -> list[int]:
    """Indices of the sentences that open a topic (0 first), from their similarity matrix, paragraphs and word counts."""
    n = len(similarity)
    if n < 2:
        return [0]
    gain = similarity - BACKGROUND
    np.fill_diagonal(gain, 0.0)
    prefix = np.zeros((n + 1, n + 1))
    prefix[1:, 1:] = gain.cumsum(0).cumsum(1)
    cost = _boundary_costs(paragraphs)
    word_prefix = np.concatenate([[0], np.cumsum(words)])
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        starts = np.arange(end)
        inside = prefix[end, end] - prefix[starts, end] - prefix[end, starts] + prefix[starts, starts]
        score = best[:end] + inside - cost[:end]
        score[word_prefix[end] - word_prefix[:end] < min_words] = -np.inf
        choice = int(np.argmax(score))
        best[end] = score[choice]
        back[end] = choice
    if not np.isfinite(best[n]):
        return [0]  # too short for two topics of the minimum length
    found = []
    end = n
    while end > 0:
        end = back[end]
        found.append(end)
    return sorted(found)


def _boundary_costs(paragraphs: list[int]) -> np.ndarray:
    """Cost of a topic starting at each sentence; none for the first."""
    breaks = [paragraphs[i] != paragraphs[i - 1] for i in range(1, len(paragraphs))]
    informative = len(paragraphs) <= MAX_SENTENCES_PER_PARAGRAPH * (1 + sum(breaks))
    inside = INSIDE_PARAGRAPH_COST if informative else BOUNDARY_COST
    return np.array([0.0] + [PARAGRAPH_BREAK_COST if is_break else inside for is_break in breaks])
