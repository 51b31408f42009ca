"""Time segment() on a 20,000-word script built from the bench documents (target: under 1 s).

Prints the first call (loads the word-frequency list), the best of three warm calls for the
script with its paragraph breaks and as one unbroken paragraph (the worst case for topic
detection), and, as a baseline in the same run, plain pysbd sentence splitting with its own
character spans, one paragraph at a time.

    .venv/bin/python bench/segment_speed.py [--words 20000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pysbd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pipeline.segmentation import segment, word_count  # noqa: E402

DATA = Path(__file__).parent / "data" / "factbook_backgrounds.json"


def build_script(words: int) -> str:
    """Whole paragraphs of the bench documents, in order and repeated if needed, up to `words` words."""
    documents = json.loads(DATA.read_text(encoding="utf-8"))["documents"]
    paragraphs = [p for d in documents for p in d["text"].split("\n\n")]
    chosen: list[str] = []
    total = 0
    while total < words:
        paragraph = paragraphs[len(chosen) % len(paragraphs)]
        chosen.append(paragraph)
        total += word_count(paragraph)
    return "\n\n".join(chosen)


def best_of(runs: int, action) -> float:
    """Fastest wall-clock time of several runs, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20000)
    args = parser.parse_args()
    script = build_script(args.words)
    flat = " ".join(script.split())
    print(f"script: {word_count(script)} words, {len(script)} characters")

    started = time.perf_counter()
    result = segment(script)
    print(f"segment(), first call in this process:     {time.perf_counter() - started:6.3f} s "
          f"({len(result.topics)} topics, {len(result.segments)} scenes)")
    print(f"segment(), warm, with paragraph breaks:    {best_of(3, lambda: segment(script)):6.3f} s")
    print(f"segment(), warm, one unbroken paragraph:   {best_of(3, lambda: segment(flat)):6.3f} s")

    splitter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    baseline = best_of(1, lambda: [splitter.segment(p) for p in script.split("\n\n")])
    print(f"baseline: pysbd char_span sentence splitting alone, per paragraph: {baseline:6.3f} s")


if __name__ == "__main__":
    main()
