"""Benchmark the video compile against moviepy and two single ffmpeg filter graphs.

    .venv/bin/python bench/compile.py                 # everything (moviepy takes ~5 min)
    .venv/bin/python bench/compile.py --skip-moviepy
    .venv/bin/python bench/compile.py --ten-minutes   # also a 10-minute compile, to show memory stays flat

Our compile and re-compile run --trials times (3): the median wall time counts, and the highest
peak memory of the trials.

Each contender runs as its own process; its wall time, the CPU time of its whole process tree
and the peak RSS and PSS summed over that tree (sampled every 20 ms with psutil) are reported.
On a shared machine wall times move with other load; CPU times hardly do.
Needs psutil; moviepy only for its row.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.pipeline.ffmpeg import ffmpeg_exe  # noqa: E402

SCENES, SECONDS, FADE, FPS = 10, 6.0, 0.5, 30
W, H = 1920, 1080
FONT = ROOT / "app" / "static" / "fonts" / "DejaVuSans-Bold.ttf"


def make_still(path: Path, n: int, rng: np.random.Generator) -> None:
    """A detailed frame (gradients, film-grain noise, shapes, text) that doesn't compress trivially."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    phase = n * 0.7
    base = np.stack([127 + 120 * np.sin(x / 230 + phase), 127 + 120 * np.sin(y / 170 - phase),
                     127 + 120 * np.sin((x + y) / 310 + 2 * phase)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 18, (H, W, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, W - 200)), int(rng.integers(0, H - 200))
        size = int(rng.integers(40, 300))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x0 + size, y0 + size), outline=colour, width=6)
    draw.text((120, 120), f"Scene {n + 1}", font=ImageFont.truetype(str(FONT), 160), fill=(255, 255, 255))
    small = ImageFont.truetype(str(FONT), 28)
    for row in range(8):
        draw.text((120, 420 + row * 60), f"Line {row}: the quick brown fox jumps over the lazy dog {n * 8 + row}",
                  font=small, fill=(20, 20, 20))
    if path.suffix == ".png":
        image.save(path, compress_level=1)
    else:
        image.save(path, quality=92)


def make_tone(path: Path, seconds: float, freq: float) -> None:
    """Narration stand-in: a tone with a syllable-like envelope and short pauses, 24 kHz mono."""
    rate = 24_000
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, 1) ** 0.5 * (t < seconds - 0.3)
    pcm = (0.3 * np.sin(2 * np.pi * freq * t) * envelope * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make_inputs(folder: Path, count: int, ext: str) -> tuple[list[Path], list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    stills, tones = [], []
    for n in range(count):
        still, tone = folder / f"still{n:03d}{ext}", folder / f"tone{n:03d}.wav"
        if not still.exists():
            make_still(still, n, rng)
        if not tone.exists():
            make_tone(tone, SECONDS, 220 + 35 * (n % 12))
        stills.append(still)
        tones.append(tone)
    return stills, tones


@dataclass
class Run:
    """One contender's run: wall and CPU time, peak memory of its process tree, its stdout."""

    wall: float
    cpu: float  # user + system seconds of the whole tree: barely moved by other load on the machine
    rss_mb: float
    pss_mb: float
    stdout: str


def measure(cmd: list[str]) -> Run:
    """Run cmd, sampling its process tree's memory every 20 ms.

    RSS counts pages shared between processes (the ffmpeg binary, libraries) once per process;
    PSS splits them between the sharers, so its sum is what the tree really occupies.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=out, stderr=err, text=True)
        peak_rss = peak_pss = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = pss = 0
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    info = p.memory_full_info()
                    rss, pss = rss + info.rss, pss + info.pss
                except psutil.Error:
                    pass  # exited between listing and reading
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{cmd[:3]} failed:\n{err.read()[-2000:]}")
        # wait4's usage covers the process and every descendant it waited for.
        return Run(wall, usage.ru_utime + usage.ru_stime, peak_rss / 2**20, peak_pss / 2**20, out.read())


def naive_graph(stills: list[Path], tones: list[Path], out: Path) -> list[str]:
    """-loop 1 still inputs, chained xfade and acrossfade (re-decodes and re-scales every frame)."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for still in stills:
        args += ["-loop", "1", "-framerate", str(FPS), "-t", str(SECONDS), "-i", str(still)]
    for tone in tones:
        args += ["-i", str(tone)]
    n = len(stills)
    parts = [f"[{i}:v]scale={W}:{H},format=yuv420p,settb=1/{FPS}[v{i}]" for i in range(n)]
    last = "v0"
    for i in range(1, n):
        parts.append(f"[{last}][v{i}]xfade=transition=fade:duration={FADE}:offset={i * (SECONDS - FADE)}[x{i}]")
        last = f"x{i}"
    alast = f"{n}:a"
    for i in range(1, n):
        parts.append(f"[{alast}][{n + i}:a]acrossfade=d={FADE}[a{i}]")
        alast = f"a{i}"
    return args + ["-filter_complex", ";".join(parts), "-map", f"[{last}]", "-map", f"[{alast}]",
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-ar", "48000", "-movflags", "+faststart", str(out)]


def tuned_graph(stills: list[Path], tones: list[Path], out: Path) -> list[str]:
    """Each still decoded and scaled once, held with loop, and only the 0.5 s tails blended."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for still in stills:
        args += ["-i", str(still)]
    for tone in tones:
        args += ["-i", str(tone)]
    n, fade, total = len(stills), round(FADE * FPS), round(SECONDS * FPS)
    parts, order = [], []
    for i in range(n):
        head = fade if i else 0
        tail = fade if i < n - 1 else 0
        hold = f"loop=loop={{}}:size=1,settb=1/{FPS},setpts=N"
        parts.append(f"[{i}:v]scale={W}:{H},format=yuv420p,split=3[h{i}][m{i}][t{i}]")
        parts.append(f"[m{i}]{hold.format(total - head - tail - 1)}[body{i}]")
        if head:
            parts.append(f"[h{i}]{hold.format(head - 1)}[head{i}]")
        else:
            parts.append(f"[h{i}]nullsink")
        if tail:
            parts.append(f"[t{i}]{hold.format(tail - 1)}[tail{i}]")
        else:
            parts.append(f"[t{i}]nullsink")
    for i in range(n):
        if i:
            parts.append(f"[tail{i - 1}][head{i}]xfade=transition=fade:duration={FADE}:offset=0,format=yuv420p[x{i}]")
            order.append(f"[x{i}]")
        order.append(f"[body{i}]")
    parts.append(f"{''.join(order)}concat=n={len(order)}:v=1:a=0[v]")
    alast = f"{n}:a"
    for i in range(1, n):
        parts.append(f"[{alast}][{n + i}:a]acrossfade=d={FADE}[a{i}]")
        alast = f"a{i}"
    return args + ["-filter_complex", ";".join(parts), "-map", "[v]", "-map", f"[{alast}]", "-r", str(FPS),
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-ar", "48000", "-movflags", "+faststart", str(out)]


def run_moviepy(stills: list[str], tones: list[str], out: str) -> None:
    """ImageClip per scene, crossfades through CompositeVideoClip, write_videofile veryfast, 2 threads."""
    from moviepy import AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, vfx

    clips, audio = [], []
    for i, (still, tone) in enumerate(zip(stills, tones)):
        start = i * (SECONDS - FADE)
        clip = ImageClip(still).with_duration(SECONDS).with_start(start)
        if i:
            clip = clip.with_effects([vfx.CrossFadeIn(FADE)])
        clips.append(clip)
        audio.append(AudioFileClip(tone).with_start(start))
    video = CompositeVideoClip(clips, size=(W, H)).with_audio(CompositeAudioClip(audio))
    video.write_videofile(out, fps=FPS, codec="libx264", audio_codec="aac", preset="veryfast", threads=2,
                          logger=None)


def run_ours(stills: list[str], tones: list[str], out: str, cache: str) -> None:
    """Our compile_video, printing its own wall time as JSON."""
    from app.pipeline.video.compile import compile_video
    from app.pipeline.video.timeline import CompileSettings, Scene, Transition

    scenes = [Scene(image=s, duration=SECONDS, audio=t, text=f"Scene {n + 1} narration text for captions.",
                    transition=Transition("crossfade", FADE))
              for n, (s, t) in enumerate(zip(stills, tones))]
    ffmpeg_exe()  # worker.py finds and checks ffmpeg once at startup, before any job
    start = time.perf_counter()
    result = compile_video(scenes, CompileSettings(), out, cache)
    print(json.dumps({"seconds": time.perf_counter() - start, "duration": result.duration,
                      "rendered": len(result.rendered_pieces), "reused": len(result.reused_pieces)}))


def child(mode: str, stills: list[Path], tones: list[Path], out: Path, cache: Path | None = None) -> list[str]:
    payload = json.dumps({"mode": mode, "stills": [str(s) for s in stills], "tones": [str(t) for t in tones],
                          "out": str(out), "cache": str(cache) if cache else None})
    return [sys.executable, __file__, "--child", payload]


def _median_trial(runs: list[Run]) -> Run:
    """The run of median wall time, carrying the highest peak memory of all of them."""
    middle = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
    return Run(middle.wall, middle.cpu, max(r.rss_mb for r in runs), max(r.pss_mb for r in runs), middle.stdout)


def video_seconds(path: Path) -> float:
    from app.pipeline.probe import probe
    return probe(path).duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-moviepy", action="store_true", help="leave out the slow moviepy reference")
    parser.add_argument("--ten-minutes", action="store_true", help="also compile 100 scenes (~10 min of video)")
    parser.add_argument("--ours-only", action="store_true", help="run no reference (quick check while tuning)")
    parser.add_argument("--trials", type=int, default=3, help="runs of our compile and re-compile (median counts)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out", help="scratch folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        if job["mode"] == "ours":
            run_ours(job["stills"], job["tones"], job["out"], job["cache"])
        else:
            run_moviepy(job["stills"], job["tones"], job["out"])
        return

    work = args.work
    print(f"Preparing {SCENES} stills ({W}x{H}) and {SCENES} x {SECONDS:.0f} s of audio in {work} ...", flush=True)
    stills, tones = make_inputs(work / "inputs", SCENES, ".png")
    edited = work / "inputs" / "still_edited.png"
    make_still(edited, 99, np.random.default_rng(99))
    changed = [*stills[:4], edited, *stills[5:]]
    cache = work / "cache"
    rows: list[tuple[str, Run, float]] = []

    # Ours is quick, so it runs several times and the median counts: one noisy moment on a shared
    # machine shouldn't decide the figures. Each trial starts from an empty cache, then changes one
    # scene's image and compiles again against that cache.
    trials = []
    for trial in range(args.trials):
        shutil.rmtree(cache, ignore_errors=True)
        full = measure(child("ours", stills, tones, work / "ours.mp4", cache))
        again = measure(child("ours", changed, tones, work / "ours-edited.mp4", cache))
        trials.append((full, again))
        print(f"Our trial {trial + 1}: compile {full.wall:.1f} s, re-compile {again.wall:.1f} s", flush=True)
    ours, again = _median_trial([f for f, _ in trials]), _median_trial([a for _, a in trials])
    duration = video_seconds(work / "ours.mp4")
    inner, reinner = (json.loads(run.stdout.strip().splitlines()[-1]) for run in (ours, again))
    rows.append((f"Scriptreel compile (cold cache), median of {args.trials}", ours, duration))
    rows.append(("Scriptreel re-compile, 1 scene changed", again, duration))

    references = [("naive filter graph (-loop 1, xfade chain)", naive_graph(stills, tones, work / "naive.mp4")),
                  ("hand-tuned filter graph (loop, tails only)", tuned_graph(stills, tones, work / "tuned.mp4"))]
    if args.ours_only:
        references = []
    elif not args.skip_moviepy:
        references.append(("moviepy 2 (CompositeVideoClip, veryfast, 2 threads)",
                           child("moviepy", stills, tones, work / "moviepy.mp4")))
    for name, cmd in references:
        print(f"Running {name} ...", flush=True)
        try:
            rows.append((name, measure(cmd), duration))
        except RuntimeError as exc:
            print(f"  {name} failed, left out of the table: {exc}")

    if args.ten_minutes:
        count = 100
        print(f"Preparing {count} stills for the 10-minute compile ...", flush=True)
        long_stills, long_tones = make_inputs(work / "inputs-long", count, ".jpg")
        long_cache = work / "cache-long"
        shutil.rmtree(long_cache, ignore_errors=True)
        long_run = measure(child("ours", long_stills, long_tones, work / "ours-long.mp4", long_cache))
        long_seconds = video_seconds(work / "ours-long.mp4")
        rows.append((f"Scriptreel compile, {count} scenes", long_run, long_seconds))
        long_changed = [*long_stills[:50], edited, *long_stills[51:]]
        long_again = measure(child("ours", long_changed, long_tones, work / "ours-long-edited.mp4", long_cache))
        rows.append((f"Scriptreel re-compile, {count} scenes, 1 changed", long_again, long_seconds))

    print(f"\nVideo: {SCENES} scenes x {SECONDS:.0f} s, {FADE} s crossfades, {W}x{H} @ {FPS} fps "
          f"= {duration:.1f} s; {psutil.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.1f}\n")
    print(f"{'contender':<54} {'wall s':>7} {'x realtime':>10} {'CPU s':>7} {'peak RSS MB':>12} {'peak PSS MB':>12}")
    for name, run, seconds in rows:
        print(f"{name:<54} {run.wall:>7.1f} {seconds / run.wall:>9.2f}x {run.cpu:>7.1f} {run.rss_mb:>12.0f} "
              f"{run.pss_mb:>12.0f}")
    # A worker has the app imported already; the process wall time above also pays for that import.
    print(f"\nOur compile inside the worker: {inner['seconds']:.1f} s = {duration / inner['seconds']:.2f}x realtime, "
          f"{inner['rendered']} pieces rendered.")
    print(f"Re-compile after changing one scene: {reinner['seconds']:.1f} s = "
          f"{100 * reinner['seconds'] / inner['seconds']:.0f}% of the full compile inside the worker "
          f"({100 * again.wall / ours.wall:.0f}% by process wall time); {reinner['rendered']} pieces rendered, "
          f"{reinner['reused']} reused.")
    for name, run, _ in rows[2:2 + len(references)]:
        print(f"Speed-up over {name}: {run.wall / ours.wall:.1f}x by wall time, {run.cpu / ours.cpu:.1f}x by CPU time")
    if args.ten_minutes:
        print(f"Peak memory (RSS / PSS), 1-minute vs 10-minute video: {ours.rss_mb:.0f} / {ours.pss_mb:.0f} MB vs "
              f"{long_run.rss_mb:.0f} / {long_run.pss_mb:.0f} MB")
        print(f"10-minute video, re-compile after changing one scene: {long_again.wall:.1f} s = "
              f"{100 * long_again.wall / long_run.wall:.0f}% of its full compile by process wall time.")

if __name__ == "__main__":
    main()
