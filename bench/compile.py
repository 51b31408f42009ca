"""Benchmark the video compile against moviepy and two single ffmpeg filter graphs, for three kinds of video.

    .venv/bin/python bench/compile.py                       # every kind, every contender (moviepy takes long)
    .venv/bin/python bench/compile.py --kinds crossfade     # one kind: crossfade, motion or captions
    .venv/bin/python bench/compile.py --skip-moviepy
    .venv/bin/python bench/compile.py --ten-minutes         # also a 10-minute compile, to show memory stays flat

The same ten detailed 1080p30 stills with 6 s of narration each, joined by 0.5 s crossfades, three ways:
  crossfade  the stills held;
  motion     every still with a subtle Ken Burns zoom/pan;
  captions   the stills held, captions burned in (our plain and word-by-word styles; the references
             burn in our SRT with libass).
Our compile and re-compile run --trials times (3): the median wall time counts, and the highest
peak memory of the trials. Each re-compile changes one of the ten images against the warm cache.

Each contender runs as its own process; its wall time, the CPU time of its whole process tree
and the peak RSS and PSS summed over that tree (sampled every 20 ms with psutil) are reported,
with CPU seconds per minute of video: on a shared machine wall times move with other load, CPU
times hardly do. Needs psutil; moviepy only for its rows.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
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
ZOOM = 0.06  # the subtle motion: 6 % zoom over a scene
FONT = ROOT / "app" / "static" / "fonts" / "DejaVuSans-Bold.ttf"
KINDS = ("crossfade", "motion", "captions")
NARRATION = (
    "Every harbour town wakes before the sun does, and the fishermen are always the first to go.",
    "They load their nets in the dark, check the engines twice, and wave to the keeper on the pier.",
    "By six the boats are past the lighthouse, and the water slowly turns from black to grey.",
    "Gulls follow the wake for miles, hoping that somebody will throw them the smallest fish.",
    "At noon the market fills with traders, cooks and children weaving between the stalls.",
    "Crates of silver fish change hands in minutes under the striped awnings by the quay.",
    "The best of the catch goes to the restaurants, the rest to families along the coast.",
    "In the afternoon the nets are mended, the decks are scrubbed and the engines rest.",
    "When the lamps come on, the harbour falls quiet and the boats rock gently at anchor.",
    "Tomorrow it all begins again, as it has every single morning for a hundred years.",
)


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


def _zoompan(frames: int) -> str:
    """ffmpeg's usual Ken Burns: zoompan, one output frame per input frame, zooming in by ZOOM over the scene."""
    return (f"zoompan=z='1+{ZOOM}*on/{frames - 1}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={W}x{H}:fps={FPS}")


def _captions_filter(srt: Path | None) -> str:
    return f",subtitles=filename={srt}:fontsdir={FONT.parent}:force_style='Fontname=DejaVu Sans,Bold=1'" if srt else ""


def naive_graph(kind: str, stills: list[Path], tones: list[Path], out: Path, srt: Path | None) -> list[str]:
    """-loop 1 still inputs, chained xfade and acrossfade (re-decodes and re-scales every frame)."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for still in stills:
        args += ["-loop", "1", "-framerate", str(FPS), "-t", str(SECONDS), "-i", str(still)]
    for tone in tones:
        args += ["-i", str(tone)]
    n, frames = len(stills), round(SECONDS * FPS)
    move = f",{_zoompan(frames)}" if kind == "motion" else ""
    parts = [f"[{i}:v]scale={W}:{H}{move},format=yuv420p,settb=1/{FPS}[v{i}]" for i in range(n)]
    last = "v0"
    for i in range(1, n):
        parts.append(f"[{last}][v{i}]xfade=transition=fade:duration={FADE}:offset={i * (SECONDS - FADE)}[x{i}]")
        last = f"x{i}"
    parts.append(f"[{last}]null{_captions_filter(srt)}[v]")
    alast = f"{n}:a"
    for i in range(1, n):
        parts.append(f"[{alast}][{n + i}:a]acrossfade=d={FADE}[a{i}]")
        alast = f"a{i}"
    return args + ["-filter_complex", ";".join(parts), "-map", "[v]", "-map", f"[{alast}]",
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-ar", "48000", "-movflags", "+faststart", str(out)]


def tuned_graph(kind: str, stills: list[Path], tones: list[Path], out: Path, srt: Path | None) -> list[str]:
    """Each still decoded and scaled once, held with loop (moved by zoompan from a 2x copy), tails only blended."""
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
        if kind == "motion":  # the whole scene moves: render it once, then cut head, body and tail from it
            parts.append(f"[{i}:v]scale={2 * W}:{2 * H},loop=loop={total - 1}:size=1,setpts=N,{_zoompan(total)},"
                         f"format=yuv420p,split=3[h{i}][m{i}][t{i}]")
            cut = "trim=start_frame={}:end_frame={},setpts=PTS-STARTPTS"
            parts.append(f"[m{i}]{cut.format(head, total - tail)}[body{i}]")
            parts.append(f"[h{i}]{cut.format(0, head)}[head{i}]" if head else f"[h{i}]nullsink")
            parts.append(f"[t{i}]{cut.format(total - tail, total)}[tail{i}]" if tail else f"[t{i}]nullsink")
            continue
        hold = f"loop=loop={{}}:size=1,settb=1/{FPS},setpts=N"
        parts.append(f"[{i}:v]scale={W}:{H},format=yuv420p,split=3[h{i}][m{i}][t{i}]")
        parts.append(f"[m{i}]{hold.format(total - head - tail - 1)}[body{i}]")
        parts.append(f"[h{i}]{hold.format(head - 1)}[head{i}]" if head else f"[h{i}]nullsink")
        parts.append(f"[t{i}]{hold.format(tail - 1)}[tail{i}]" if tail else f"[t{i}]nullsink")
    for i in range(n):
        if i:
            parts.append(f"[tail{i - 1}][head{i}]xfade=transition=fade:duration={FADE}:offset=0,format=yuv420p[x{i}]")
            order.append(f"[x{i}]")
        order.append(f"[body{i}]")
    parts.append(f"{''.join(order)}concat=n={len(order)}:v=1:a=0{_captions_filter(srt)}[v]")
    alast = f"{n}:a"
    for i in range(1, n):
        parts.append(f"[{alast}][{n + i}:a]acrossfade=d={FADE}[a{i}]")
        alast = f"a{i}"
    return args + ["-filter_complex", ";".join(parts), "-map", "[v]", "-map", f"[{alast}]", "-r", str(FPS),
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-ar", "48000", "-movflags", "+faststart", str(out)]


def srt_cues(srt: str) -> list[tuple[float, float, str]]:
    clock = r"(\d+):(\d\d):(\d\d),(\d\d\d)"
    cues = []
    for block in srt.strip().split("\n\n"):
        _, times, *lines = block.splitlines()
        a, b = (int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
                for h, m, s, ms in re.findall(clock, times))
        cues.append((a, b, "\n".join(lines)))
    return cues


def run_moviepy(kind: str, stills: list[str], tones: list[str], out: str, srt: str | None) -> None:
    """ImageClip per scene (resized every frame for motion), crossfades through CompositeVideoClip, TextClip
    captions, write_videofile veryfast, 2 threads."""
    from moviepy import AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, TextClip, vfx

    clips, audio = [], []
    for i, (still, tone) in enumerate(zip(stills, tones)):
        start = i * (SECONDS - FADE)
        clip = ImageClip(still).with_duration(SECONDS).with_start(start)
        if kind == "motion":
            clip = clip.resized(lambda t: 1 + ZOOM * t / SECONDS).with_position("center")
        if i:
            clip = clip.with_effects([vfx.CrossFadeIn(FADE)])
        clips.append(clip)
        audio.append(AudioFileClip(tone).with_start(start))
    for start, end, text in srt_cues(Path(srt).read_text()) if srt else []:
        caption = TextClip(font=str(FONT), text=text, font_size=59, color="white", bg_color="black",
                           text_align="center", margin=(12, 8))
        clips.append(caption.with_start(start).with_end(end).with_position(("center", H - 86 - caption.h)))
    video = CompositeVideoClip(clips, size=(W, H)).with_audio(CompositeAudioClip(audio))
    video.write_videofile(out, fps=FPS, codec="libx264", audio_codec="aac", preset="veryfast", threads=2,
                          logger=None)


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (each ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_ours(kind: str, style: str, stills: list[str], tones: list[str], out: str, cache: str) -> None:
    """Our compile_video, printing its own wall time as JSON."""
    from app.pipeline.video.compile import compile_video
    from app.pipeline.video.timeline import CompileSettings, Scene, Transition

    scenes = [Scene(image=s, duration=SECONDS, audio=t, text=NARRATION[n % len(NARRATION)],
                    transition=Transition("crossfade", FADE), motion="subtle" if kind == "motion" else "off")
              for n, (s, t) in enumerate(zip(stills, tones))]
    settings = CompileSettings(burn_captions=kind == "captions")
    if style != "plain":  # the word-by-word style exists only once the caption settings do
        from app.pipeline.video.captions import CaptionStyle
        settings = CompileSettings(burn_captions=True, captions=CaptionStyle(style=style))
    ffmpeg_exe()  # worker.py finds and checks ffmpeg once at startup, before any job
    start, cpu = time.perf_counter(), _cpu_seconds()
    result = compile_video(scenes, settings, out, cache)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": _cpu_seconds() - cpu, "duration": result.duration,
                      "rendered": len(result.rendered_pieces), "reused": len(result.reused_pieces)}))


def child(mode: str, kind: str, stills: list[Path], tones: list[Path], out: Path, cache: Path | None = None,
          srt: Path | None = None, style: str = "plain") -> list[str]:
    payload = json.dumps({"mode": mode, "kind": kind, "style": style, "stills": [str(s) for s in stills],
                          "tones": [str(t) for t in tones], "out": str(out), "cache": str(cache) if cache else None,
                          "srt": str(srt) if srt else None})
    return [sys.executable, __file__, "--child", payload]


def _median_trial(runs: list[Run]) -> Run:
    """The run of median wall time, carrying the highest peak memory of all of them."""
    middle = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
    return Run(middle.wall, middle.cpu, max(r.rss_mb for r in runs), max(r.pss_mb for r in runs), middle.stdout)


def video_seconds(path: Path) -> float:
    from app.pipeline.probe import probe
    return probe(path).duration


@dataclass
class Row:
    kind: str
    name: str
    run: Run
    seconds: float  # length of the video made


def ours_rows(kind: str, style: str, stills, tones, changed, work: Path, trials: int) -> tuple[list[Row], dict, dict]:
    """Our compile from a cold cache, then a re-compile with one image changed; `trials` times each."""
    cache, tag = work / f"cache-{kind}-{style}", f"{kind}-{style}"
    results = []
    for trial in range(trials):
        shutil.rmtree(cache, ignore_errors=True)
        full = measure(child("ours", kind, stills, tones, work / f"ours-{tag}.mp4", cache, style=style))
        again = measure(child("ours", kind, changed, tones, work / f"ours-{tag}-edited.mp4", cache, style=style))
        results.append((full, again))
        print(f"  {tag} trial {trial + 1}: compile {full.wall:.1f} s, re-compile {again.wall:.1f} s", flush=True)
    ours, again = _median_trial([f for f, _ in results]), _median_trial([a for _, a in results])
    duration = video_seconds(work / f"ours-{tag}.mp4")
    label = "Scriptreel" + ("" if style == "plain" else f" ({style} captions)")
    rows = [Row(kind, f"{label} compile (cold cache), median of {trials}", ours, duration),
            Row(kind, f"{label} re-compile, 1 scene changed", again, duration)]
    return rows, *(json.loads(run.stdout.strip().splitlines()[-1]) for run in (ours, again))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--skip-moviepy", action="store_true", help="leave out the slow moviepy reference")
    parser.add_argument("--ten-minutes", action="store_true", help="also compile 100 scenes (~10 min of video)")
    parser.add_argument("--ours-only", action="store_true", help="run no reference (quick check while tuning)")
    parser.add_argument("--word-style", action="store_true", help="also our word-by-word burned captions")
    parser.add_argument("--trials", type=int, default=3, help="runs of our compile and re-compile (median counts)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out", help="scratch folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        if job["mode"] == "ours":
            run_ours(job["kind"], job["style"], job["stills"], job["tones"], job["out"], job["cache"])
        else:
            run_moviepy(job["kind"], job["stills"], job["tones"], job["out"], job["srt"])
        return

    work, kinds = args.work, [k for k in args.kinds.split(",") if k]
    print(f"Preparing {SCENES} stills ({W}x{H}) and {SCENES} x {SECONDS:.0f} s of audio in {work} ...", flush=True)
    stills, tones = make_inputs(work / "inputs", SCENES, ".png")
    edited = work / "inputs" / "still_edited.png"
    make_still(edited, 99, np.random.default_rng(99))
    changed = [*stills[:4], edited, *stills[5:]]
    rows: list[Row] = []
    notes: list[str] = []
    for kind in kinds:
        print(f"{kind}:", flush=True)
        styles = ["plain", "words"] if kind == "captions" and args.word_style else ["plain"]
        for style in styles:
            ours, inner, reinner = ours_rows(kind, style, stills, tones, changed, work, args.trials)
            rows += ours
            notes.append(f"{kind}{'' if style == 'plain' else f' ({style})'}: our compile inside the worker "
                         f"{inner['seconds']:.1f} s = {ours[0].seconds / inner['seconds']:.2f}x realtime, "
                         f"{inner['cpu']:.1f} CPU s = {60 * inner['cpu'] / inner['duration']:.1f} CPU s/min, "
                         f"{inner['rendered']} pieces; re-compile {reinner['seconds']:.2f} s = "
                         f"{100 * reinner['seconds'] / inner['seconds']:.0f}% of it, {reinner['cpu']:.2f} CPU s = "
                         f"{100 * reinner['cpu'] / inner['cpu']:.0f}% ({reinner['rendered']} pieces "
                         f"rendered, {reinner['reused']} reused)")
        duration = rows[-1].seconds
        srt = work / f"ours-{kind}-plain.srt" if kind == "captions" else None
        references = [("naive filter graph (-loop 1, xfade chain)",
                       naive_graph(kind, stills, tones, work / f"naive-{kind}.mp4", srt)),
                      ("hand-tuned filter graph (loop, tails only)",
                       tuned_graph(kind, stills, tones, work / f"tuned-{kind}.mp4", srt))]
        if args.ours_only:
            references = []
        elif not args.skip_moviepy:
            references.append(("moviepy 2 (CompositeVideoClip, veryfast, 2 threads)",
                               child("moviepy", kind, stills, tones, work / f"moviepy-{kind}.mp4", srt=srt)))
        for name, cmd in references:
            print(f"  running {name} ...", flush=True)
            try:
                rows.append(Row(kind, name, measure(cmd), duration))
            except RuntimeError as exc:
                print(f"  {name} failed, left out of the table: {exc}")

    if args.ten_minutes:
        count = 100
        print(f"Preparing {count} stills for the 10-minute compile ...", flush=True)
        long_stills, long_tones = make_inputs(work / "inputs-long", count, ".jpg")
        long_cache = work / "cache-long"
        shutil.rmtree(long_cache, ignore_errors=True)
        long_run = measure(child("ours", "crossfade", long_stills, long_tones, work / "ours-long.mp4", long_cache))
        long_seconds = video_seconds(work / "ours-long.mp4")
        rows.append(Row("crossfade", f"Scriptreel compile, {count} scenes", long_run, long_seconds))
        long_changed = [*long_stills[:50], edited, *long_stills[51:]]
        long_again = measure(child("ours", "crossfade", long_changed, long_tones, work / "ours-long-edited.mp4",
                                   long_cache))
        rows.append(Row("crossfade", f"Scriptreel re-compile, {count} scenes, 1 changed", long_again, long_seconds))

    print(f"\nVideo: {SCENES} scenes x {SECONDS:.0f} s, {FADE} s crossfades, {W}x{H} @ {FPS} fps; "
          f"{psutil.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.1f}\n")
    print(f"{'kind':<10} {'contender':<58} {'wall s':>7} {'x realtime':>10} {'CPU s':>7} {'CPU s/min':>9} "
          f"{'peak RSS MB':>11} {'peak PSS MB':>11}")
    for row in rows:
        run = row.run
        print(f"{row.kind:<10} {row.name:<58} {run.wall:>7.1f} {row.seconds / run.wall:>9.2f}x {run.cpu:>7.1f} "
              f"{60 * run.cpu / row.seconds:>9.1f} {run.rss_mb:>11.0f} {run.pss_mb:>11.0f}")
    print("\nA worker has the app imported already; the process times above also pay for that import.")
    for note in notes:
        print(note)
    for kind in kinds:
        of_kind = [r for r in rows if r.kind == kind]
        ours = of_kind[0].run
        for row in of_kind:
            if not row.name.startswith("Scriptreel"):
                print(f"{kind}: speed-up over {row.name}: {row.run.wall / ours.wall:.1f}x by wall time, "
                      f"{row.run.cpu / ours.cpu:.1f}x by CPU time")
    base = {r.kind: r.run for r in rows if r.name.startswith("Scriptreel compile (cold cache)")}
    if "crossfade" in base and "captions" in base:
        print(f"Burned captions cost {100 * (base['captions'].cpu / base['crossfade'].cpu - 1):+.0f}% CPU over the "
              f"same video without them.")
    if args.ten_minutes:
        long_run, long_again = rows[-2].run, rows[-1].run
        print(f"Peak memory (RSS / PSS), 1-minute vs 10-minute video: {base['crossfade'].rss_mb:.0f} / "
              f"{base['crossfade'].pss_mb:.0f} MB vs {long_run.rss_mb:.0f} / {long_run.pss_mb:.0f} MB")
        print(f"10-minute video, re-compile after changing one scene: {long_again.wall:.1f} s = "
              f"{100 * long_again.wall / long_run.wall:.0f}% of its full compile by process wall time.")


if __name__ == "__main__":
    main()
