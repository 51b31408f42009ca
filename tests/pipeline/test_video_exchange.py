"""Pieces shared between machines: fetched instead of rendered, waited for while another renders."""
import shutil
import threading
from pathlib import Path

from app.pipeline.video import CompileSettings, Scene, Transition, compile_video
from tests.pipeline.test_video_compile import SMALL, still, tone


class DictExchange:
    """An in-memory PieceExchange standing in for shared storage plus claims."""

    def __init__(self):
        self.published: dict[str, bytes] = {}
        self.claimed: set[str] = set()
        self.lock = threading.Lock()

    def fetch(self, key, path):
        with self.lock:
            data = self.published.get(key)
        if data is None:
            return False
        Path(path).write_bytes(data)
        return True

    def claim(self, key):
        with self.lock:
            if key in self.claimed:
                return False
            self.claimed.add(key)
            return True

    def publish(self, key, path):
        with self.lock:
            self.published[key] = Path(path).read_bytes()
            self.claimed.discard(key)


def scenes(tmp_path):
    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200)]
    return [Scene(image=still(tmp_path / f"s{i}.png", c), duration=2.0,
                  audio=tone(tmp_path / f"s{i}.wav", 1.5, 300 + 100 * i),
                  transition=Transition("crossfade", 0.5)) for i, c in enumerate(colours)]


def test_a_second_machine_fetches_every_piece(tmp_path):
    exchange, settings = DictExchange(), CompileSettings(preset=SMALL)
    first = compile_video(scenes(tmp_path), settings, tmp_path / "a.mp4", tmp_path / "cache-a",
                          exchange=exchange)
    assert first.rendered_pieces and set(first.rendered_pieces) <= set(exchange.published)
    second = compile_video(scenes(tmp_path), settings, tmp_path / "b.mp4", tmp_path / "cache-b",
                           exchange=exchange)
    assert second.rendered_pieces == [] and set(second.reused_pieces) == set(first.rendered_pieces)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_a_piece_claimed_elsewhere_is_waited_for_not_rendered_twice(tmp_path):
    settings = CompileSettings(preset=SMALL)
    reference = DictExchange()
    compile_video(scenes(tmp_path), settings, tmp_path / "ref.mp4", tmp_path / "cache-ref",
                  exchange=reference)
    busy = DictExchange()
    taken = sorted(reference.published)[0]
    busy.claimed.add(taken)  # another machine is rendering this one

    def other_machine_finishes():
        with busy.lock:
            busy.published[taken] = reference.published[taken]
            busy.claimed.discard(taken)
    timer = threading.Timer(1.0, other_machine_finishes)
    timer.start()
    result = compile_video(scenes(tmp_path), settings, tmp_path / "out.mp4", tmp_path / "cache",
                           exchange=busy)
    timer.join()
    assert taken not in result.rendered_pieces and taken in result.reused_pieces
    assert (tmp_path / "out.mp4").read_bytes() == (tmp_path / "ref.mp4").read_bytes()
    shutil.rmtree(tmp_path / "cache")
