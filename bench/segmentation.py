"""Topic segmentation quality on a Choi-style test set built from public-domain prose.

Each sample concatenates 10 segments, each the first 3-11 sentences of a different
document from bench/data/factbook_backgrounds.json (CIA World Factbook country
backgrounds, public domain; see bench/data/README.md). Every sample is scored twice:
segments joined with paragraph breaks, and all in one unbroken paragraph. Prints Pk and
WindowDiff (lower is better) for segment()'s topics, for a TextTiling-like baseline and a
C99 re-implementation run on the same samples (both see sentences only, so one row each), and
the published figures on Choi's own 3-11 set for reference. Also checks over-segmentation: topics found in whole,
single-subject documents.

    .venv/bin/python bench/segmentation.py [--samples 200] [--seed 2024]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pipeline.segmentation import segment, sentence_spans  # noqa: E402
from app.pipeline.segmentation.words import letter_words, stem, word_weight  # noqa: E402

DATA = Path(__file__).parent / "data" / "factbook_backgrounds.json"
SEGMENTS_PER_SAMPLE = 10
SHORTEST, LONGEST = 3, 11
PUBLISHED = {"C99 (Choi 2000, 3-11 set)": 0.12, "TextTiling (as reported by Choi 2000)": 0.44}


def load_documents() -> list[list[str]]:
    """Each document as its list of sentences."""
    documents = json.loads(DATA.read_text(encoding="utf-8"))["documents"]
    return [[d["text"][s:e] for s, e in sentence_spans(d["text"])] for d in documents]


def build_samples(documents: list[list[str]], count: int, seed: int) -> list[list[list[str]]]:
    """count samples of 10 segments: the first 3-11 sentences of 10 distinct random documents."""
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        chosen = rng.sample(range(len(documents)), SEGMENTS_PER_SAMPLE)
        samples.append([documents[i][: rng.randint(SHORTEST, LONGEST)] for i in chosen])
    return samples


def render(sample: list[list[str]], paragraphs: bool) -> tuple[str, list[int]]:
    """The sample's text and the character offset where each sentence starts."""
    text, starts = "", []
    for number, segment_sentences in enumerate(sample):
        if number:
            text += "\n\n" if paragraphs else " "
        for i, sentence in enumerate(segment_sentences):
            if i:
                text += " "
            starts.append(len(text))
            text += sentence
    return text, starts


def labels_from_offsets(sentence_starts: list[int], boundaries: list[int]) -> list[int]:
    """Topic number of each sentence, given the character offsets where topics start."""
    return [sum(1 for b in boundaries if b <= start) for start in sentence_starts]


def pk(reference: list[int], hypothesis: list[int], k: int) -> float:
    """Beeferman et al.'s Pk: how often a window of width k disagrees on 'same segment'."""
    windows = len(reference) - k
    errors = sum(
        (reference[i] == reference[i + k]) != (hypothesis[i] == hypothesis[i + k]) for i in range(windows)
    )
    return errors / windows


def window_diff(reference: list[int], hypothesis: list[int], k: int) -> float:
    """Pevzner and Hearst's WindowDiff: how often a window holds a different number of boundaries."""
    windows = len(reference) - k
    errors = sum(
        (reference[i + k] - reference[i]) != (hypothesis[i + k] - hypothesis[i]) for i in range(windows)
    )
    return errors / windows


def window_size(reference: list[int]) -> int:
    """Half the mean reference segment length, as usual."""
    return max(2, round(len(reference) / (reference[-1] + 1) / 2))


def content_terms(sentence: str) -> list[str]:
    """Stems of the sentence's words, stop words (zero weight) removed."""
    return [stem(m.group().lower()) for m in letter_words(sentence) if word_weight(m.group().lower()) > 0]


def texttiling(sentences: list[str], w: int = 20, k: int = 6) -> list[int]:
    """Hearst's TextTiling (block comparison, depth scores, cutoff mean - sd/2); topic labels per sentence."""
    tokens, owner = [], []
    for index, sentence in enumerate(sentences):
        terms = content_terms(sentence)
        tokens += terms
        owner += [index] * len(terms)
    sequences = [tokens[i : i + w] for i in range(0, len(tokens), w)]
    gaps = []
    for gap in range(1, len(sequences)):
        left = _counts(sequences[max(0, gap - k) : gap])
        right = _counts(sequences[gap : gap + k])
        gaps.append(_cosine(left, right))
    depths = []
    for i, score in enumerate(gaps):
        left_peak = max(gaps[: i + 1])
        right_peak = max(gaps[i:])
        depths.append(left_peak + right_peak - 2 * score)
    if not depths:
        return [0] * len(sentences)
    cutoff = statistics.mean(depths) - statistics.pstdev(depths) / 2
    boundary_sentences = set()
    for i, depth in enumerate(depths):
        neighbours = depths[max(0, i - 1) : i + 2]
        if depth > cutoff and depth == max(neighbours):
            boundary_sentences.add(owner[min((i + 1) * w, len(owner) - 1)])
    labels, topic = [], 0
    for index in range(len(sentences)):
        if index in boundary_sentences and index:
            topic += 1
        labels.append(topic)
    return labels


def c99(sentences: list[str], radius: int = 5, c: float = 1.2) -> list[int]:
    """Choi's C99: rank-transformed cosine matrix, divisive clustering, gradient stop; labels per sentence."""
    vocabulary: dict[str, int] = {}
    rows = [content_terms(s) for s in sentences]
    for row in rows:
        for term in row:
            vocabulary.setdefault(term, len(vocabulary))
    n = len(sentences)
    counts = np.zeros((n, max(1, len(vocabulary))))
    for i, row in enumerate(rows):
        for term in row:
            counts[i, vocabulary[term]] += 1
    norms = np.linalg.norm(counts, axis=1)
    norms[norms == 0] = 1
    unit = counts / norms[:, None]
    similarity = unit @ unit.T
    rank = _rank_transform(similarity, radius)
    prefix = np.zeros((n + 1, n + 1))
    prefix[1:, 1:] = rank.cumsum(0).cumsum(1)

    def block(a: int, b: int) -> float:
        return prefix[b, b] - prefix[a, b] - prefix[b, a] + prefix[a, a]

    bounds, order, densities = [0, n], [], [block(0, n) / (n * n)]
    while len(bounds) - 1 < n // 2:
        pairs = list(zip(bounds, bounds[1:]))
        inside = sum(block(a, b) for a, b in pairs)
        area = sum((b - a) ** 2 for a, b in pairs)
        best = None
        for a, b in pairs:
            for cut in range(a + 1, b):
                s = inside - block(a, b) + block(a, cut) + block(cut, b)
                r = area - (b - a) ** 2 + (cut - a) ** 2 + (b - cut) ** 2
                if best is None or s / r > best[0]:
                    best = (s / r, cut)
        if best is None:
            break
        densities.append(best[0])
        order.append(best[1])
        bounds = sorted(bounds + [best[1]])
    gradient = np.diff(densities)
    keep = 0
    if len(gradient) >= 3:
        smooth = np.convolve(gradient, np.array([1, 2, 4, 8, 4, 2, 1]) / 22, mode="same")
        threshold = smooth.mean() + c * smooth.std()
        keep = max((i + 1 for i, g in enumerate(smooth) if g > threshold), default=0)
    chosen = set(order[:keep])
    labels, topic = [], 0
    for index in range(n):
        topic += index in chosen
        labels.append(topic)
    return labels


def _rank_transform(similarity: np.ndarray, radius: int) -> np.ndarray:
    """Each cell's share of cells in its (2r+1)^2 neighbourhood with a lower value."""
    n = len(similarity)
    padded = np.full((n + 2 * radius, n + 2 * radius), np.nan)
    padded[radius : radius + n, radius : radius + n] = similarity
    lower = np.zeros((n, n))
    valid = np.zeros((n, n))
    for di in range(2 * radius + 1):
        for dj in range(2 * radius + 1):
            window = padded[di : di + n, dj : dj + n]
            lower += window < similarity
            valid += ~np.isnan(window)
    return lower / valid


def _counts(sequences: list[list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sequence in sequences:
        for term in sequence:
            counts[term] = counts.get(term, 0) + 1
    return counts


def _cosine(a: dict[str, int], b: dict[str, int]) -> float:
    dot = sum(value * b.get(term, 0) for term, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def score_samples(samples: list[list[list[str]]]) -> dict[str, tuple[float, float]]:
    """Mean Pk and WindowDiff per method and text layout over the samples."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        reference = [number for number, seg in enumerate(sample) for _ in seg]
        sentences = [s for seg in sample for s in seg]
        k = window_size(reference)
        hypotheses = {}
        for paragraphs, layout in ((False, "one paragraph"), (True, "paragraph breaks")):
            text, starts = render(sample, paragraphs)
            boundaries = [topic.start for topic in segment(text).topics[1:]]
            hypotheses[f"Scriptreel offline, {layout}"] = labels_from_offsets(starts, boundaries)
        hypotheses["TextTiling-like (sentences only)"] = texttiling(sentences)
        hypotheses["C99 re-implementation (sentences only)"] = c99(sentences)
        for name, hypothesis in hypotheses.items():
            rows.setdefault(name, []).append((pk(reference, hypothesis, k), window_diff(reference, hypothesis, k)))
    return {name: tuple(float(np.mean(column)) for column in zip(*scores)) for name, scores in rows.items()}


def topics_per_document(paragraphs: bool) -> float:
    """Mean number of topics segment() finds in one whole document (one subject, ~17 sentences)."""
    documents = json.loads(DATA.read_text(encoding="utf-8"))["documents"]
    counts = []
    for document in documents:
        text = document["text"] if paragraphs else " ".join(document["text"].split())
        counts.append(len(segment(text).topics))
    return float(np.mean(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    documents = load_documents()
    samples = build_samples(documents, args.samples, args.seed)
    print(f"{len(documents)} documents, {args.samples} samples of {SEGMENTS_PER_SAMPLE} segments "
          f"({SHORTEST}-{LONGEST} sentences each), seed {args.seed}")
    started = time.perf_counter()
    print(f"\n  {'method':48} {'Pk':>6} {'WindowDiff':>11}")
    for name, (p, w) in score_samples(samples).items():
        print(f"  {name:48} {p:6.3f} {w:11.3f}")
    print("\npublished reference points (Choi's Brown-corpus 3-11 set, Pk):")
    for name, value in PUBLISHED.items():
        print(f"  {name:48} {value:6.2f}")
    print("\nover-segmentation check, mean topics found in one whole document:")
    print(f"  with its paragraph breaks {topics_per_document(True):.2f}, as one paragraph {topics_per_document(False):.2f}")
    print(f"\n({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
