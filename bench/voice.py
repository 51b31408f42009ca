"""Benchmark the offline voices on this machine: realtime factor and first-audio latency per engine.

    .venv/bin/python bench/voice.py              # eSpeak NG and Piper, 3 trials each
    .venv/bin/python bench/voice.py --trials 5

The script is a ~300-word Factbook background (bench/data). Each engine runs in a fresh process, so
the cold first-audio figure includes loading the engine (Piper: its 63 MB model) as a voice job's
forked process does. First audio is the time to the first sentence's audio, cold and then warm.
Every figure includes the conversion to 48 kHz stereo that a voiceover goes through.
CPU seconds count the process (all its threads) and its ffmpeg children; on a shared machine wall
times move with other load, CPU times hardly do. Goal: Piper at least 5x realtime on two cores.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = {"eSpeak NG": ("espeak", "gmw/en-US"), "Piper": ("piper", "en_US-joe-medium")}
RATE = 160  # words a minute: the projects' default speaking rate


def script_of_about(words: int) -> str:
    """The Factbook background nearest to ``words`` words long."""
    documents = json.loads((ROOT / "bench/data/factbook_backgrounds.json").read_text())["documents"]
    return min(documents, key=lambda d: abs(len(d["text"].split()) - words))["text"]


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(speak):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = speak()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def measure(engine: str, voice: str, text: str, trials: int, out) -> None:
    """In a fresh process: first-sentence latency cold and warm, then the whole script ``trials`` times."""
    from app.pipeline.voice import voice_provider
    from app.pipeline.voice.base import word_spans

    first_sentence = text.split(". ")[0] + "."
    provider = voice_provider(engine)
    _, cold, cold_cpu = timed(lambda: provider.synthesize(first_sentence, voice, RATE))
    _, warm, _ = timed(lambda: provider.synthesize(first_sentence, voice, RATE))
    runs = [timed(lambda: provider.synthesize(text, voice, RATE)) for _ in range(trials)]
    natural, _, _ = timed(lambda: provider.synthesize(text, voice))
    audio = statistics.median(r.duration for r, _, _ in runs)
    out.put({"words": len(word_spans(text)), "audio": audio, "wall": statistics.median(w for _, w, _ in runs),
             "cpu": statistics.median(c for _, _, c in runs), "cold": cold, "cold_cpu": cold_cpu, "warm": warm,
             "natural_wpm": len(word_spans(text)) / natural.duration * 60})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    text = script_of_about(300)
    context = multiprocessing.get_context("spawn")  # nothing loaded before the cold start
    print(f"{os.cpu_count()} cores; script: {len(text.split())} words, speaking rate {RATE} words/min; "
          f"median of {args.trials} trials\n")
    print(f"{'engine':10} {'audio s':>8} {'wall s':>7} {'CPU s':>6} {'realtime':>9} {'per core':>9} "
          f"{'1st audio cold':>15} {'(CPU)':>6} {'warm':>6} {'natural pace':>13}")
    for label, (engine, voice) in ENGINES.items():
        results = context.Queue()
        worker = context.Process(target=measure, args=(engine, voice, text, args.trials, results))
        worker.start()
        r = results.get()
        worker.join()
        print(f"{label:10} {r['audio']:8.1f} {r['wall']:7.2f} {r['cpu']:6.2f} {r['audio'] / r['wall']:8.1f}x "
              f"{r['audio'] / r['cpu']:8.1f}x {r['cold']:14.2f}s {r['cold_cpu']:6.2f} {r['warm']:5.2f}s "
              f"{r['natural_wpm']:7.0f} wpm")
    print("\nrealtime: seconds of speech per second of wall time; per core: per CPU second.")


if __name__ == "__main__":
    main()
