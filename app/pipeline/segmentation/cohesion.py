"""Lexical cohesion between sentences: weighted term vectors and their cosine similarities."""
from __future__ import annotations

import numpy as np

from .words import term_vector


def similarity_matrix(texts: list[str]) -> np.ndarray:
    """Cosine similarity of every pair of texts (zero diagonal), weighting terms by rarity."""
    vectors = [term_vector(text) for text in texts]
    postings: dict[str, tuple[list[int], list[float]]] = {}
    norms = np.zeros(len(texts))
    for row, vector in enumerate(vectors):
        norms[row] = np.sqrt(sum(weight * weight for weight in vector.values()))
        for term, weight in vector.items():
            rows, weights = postings.setdefault(term, ([], []))
            rows.append(row)
            weights.append(weight)
    similarity = np.zeros((len(texts), len(texts)))
    # Going term by term touches only the pairs that share a term: the matrix is sparse.
    for rows, weights in postings.values():
        if len(rows) > 1:
            index = np.array(rows)
            w = np.array(weights)
            similarity[np.ix_(index, index)] += np.outer(w, w)
    norms[norms == 0] = 1.0
    similarity /= np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    return similarity
