"""The command-line render of a two-minute script, timed: how fast the compile runs for the videos creators make.

    .venv/bin/python bench/render.py                  # the four videos below (~10 min)
    .venv/bin/python bench/render.py --only motion

A ~300-word script (the opening of a World Factbook background from bench/data, cut into topics and
scenes by the offline segmenter) goes through `flask render`'s pipeline (app.pipeline.render): draft
images, the default offline voice, then the compile. Each video renders in its own process from a
cold piece cache. Reported per video: the compile's wall time, its CPU time (this process and every
ffmpeg it ran) and its realtime factor, next to the whole render's wall time (images and voices too).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIDEOS = {  # name: (preset, transition, motion, burned captions)
    "crossfade": ("1080p30", "crossfade", "off", None),
    "motion": ("1080p30", "crossfade", "subtle", None),
    "captions": ("1080p30", "cut", "off", "plain"),
    "vertical": ("vertical1080x1920", "crossfade", "subtle", "words"),
}
WORDS = 300


def script() -> str:
    """The first Factbook background with 300 words or more, cut at the first sentence end after that."""
    documents = json.loads((ROOT / "bench/data/factbook_backgrounds.json").read_text())["documents"]
    for document in documents:
        sentences = re.split(r"(?<=[.!?])\s+", document["text"].replace("\n\n", " "))
        chosen, words = [], 0
        for sentence in sentences:
            chosen.append(sentence)
            words += len(sentence.split())
            if words >= WORDS:
                return " ".join(chosen)
    raise SystemExit("no background is long enough")


def usage() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(name: str) -> dict:
    """One render in this process; the compile is timed from inside."""
    from app.pipeline import render
    from app.pipeline.ffmpeg import ffmpeg_exe

    preset, transition, motion, captions = VIDEOS[name]
    timed = {}
    # Older code compiled with compile_video and had one caption style: the bench runs on both.
    entry = "compile_planned" if hasattr(render, "compile_planned") else "compile_video"
    compile_call = getattr(render, entry)

    def timed_compile(*args, **kwargs):
        wall, cpu = time.perf_counter(), usage()
        result = compile_call(*args, **kwargs)
        timed.update(wall=time.perf_counter() - wall, cpu=usage() - cpu, duration=result.duration)
        return result
    setattr(render, entry, timed_compile)
    ffmpeg_exe()
    style = {"caption_style": captions or "plain"} if "caption_style" in render.RenderOptions.__dataclass_fields__ else {}
    options = render.RenderOptions(preset=preset, transition=transition, motion=motion,
                                   burn_captions=captions is not None, **style)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        render.render_script(script(), Path(work) / "out.mp4", Path(work), Path(work) / "pieces", options)
    return {**timed, "total": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(VIDEOS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child)))
        return
    import subprocess
    names = args.only.split(",") if args.only else list(VIDEOS)
    print(f"Script: {len(script().split())} words; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print(f"{'video':<10} {'length s':>8} {'compile wall s':>14} {'x realtime':>10} {'compile CPU s':>13} "
          f"{'CPU s/min':>9} {'whole render s':>14}")
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<10} {r['duration']:>8.1f} {r['wall']:>14.1f} {r['duration'] / r['wall']:>9.2f}x "
              f"{r['cpu']:>13.1f} {60 * r['cpu'] / r['duration']:>9.1f} {r['total']:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
