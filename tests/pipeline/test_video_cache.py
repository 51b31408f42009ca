"""The local piece cache stays under its size limit, dropping what was used longest ago, never what a
compile may still read."""
import os
import time

from app.pipeline.video.cache import prune
from app.pipeline.video.compile import compile_video
from app.pipeline.video.timeline import CompileSettings, Scene, Transition

from .test_video_compile import SMALL, still, tone

HOUR = 3600


def two_scenes(folder, colour):
    folder.mkdir()
    return [Scene(still(folder / f"{n}.png", (colour, 60 * n, 90)), 1.0, tone(folder / f"{n}.wav", 0.8, 300 + colour),
                  transition=Transition("crossfade", 0.3)) for n in range(2)]


def age_everything(cache, hours):
    past = time.time() - hours * HOUR
    for path in cache.iterdir():
        os.utime(path, (past, past))


def cache_bytes(cache):
    return sum(p.stat().st_size for p in cache.iterdir())


def test_over_the_limit_the_least_recently_used_project_goes_first(tmp_path):
    cache, settings = tmp_path / "cache", CompileSettings(preset=SMALL)
    a, b = two_scenes(tmp_path / "a", 200), two_scenes(tmp_path / "b", 40)
    compile_video(a, settings, tmp_path / "a.mp4", cache)
    size_of_a = cache_bytes(cache)
    compile_video(b, settings, tmp_path / "b.mp4", cache)
    age_everything(cache, hours=5)
    assert compile_video(a, settings, tmp_path / "a2.mp4", cache).rendered_pieces == []  # uses a's files

    pruned = prune(cache, max_bytes=size_of_a, keep_used_within_s=HOUR)

    assert pruned.removed_files > 0 and pruned.kept_bytes == cache_bytes(cache) <= size_of_a
    assert compile_video(a, settings, tmp_path / "a3.mp4", cache).rendered_pieces == [], "a's pieces were kept"
    again = compile_video(b, settings, tmp_path / "b2.mp4", cache)
    assert again.reused_pieces == [], "b's pieces were the ones dropped"


def test_files_used_recently_stay_whatever_the_limit(tmp_path):
    cache = tmp_path / "cache"
    compile_video(two_scenes(tmp_path / "a", 200), CompileSettings(preset=SMALL), tmp_path / "a.mp4", cache)
    before = sorted(p.name for p in cache.iterdir())

    pruned = prune(cache, max_bytes=0, keep_used_within_s=HOUR)

    assert pruned.removed_files == 0 and sorted(p.name for p in cache.iterdir()) == before
    age_everything(cache, hours=2)
    assert prune(cache, max_bytes=0, keep_used_within_s=HOUR).removed_files == len(before)
    assert list(cache.iterdir()) == []
