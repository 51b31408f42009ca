"""`flask render`: steps 1-4 offline from a script file, with captions and chapters beside the MP4."""
import pytest

from app.pipeline.probe import probe
from tests.pipeline.test_video_caption_timing import SCRIPT as SHORT_SENTENCES
from tests.pipeline.test_video_caption_timing import assert_cues_start_with_their_words

SCRIPT = """# Morning

The harbour wakes before dawn. Fishermen load nets onto their boats and head out past the lighthouse. The engines cough and the water turns from black to grey as the first light reaches the bay.

# Noon

By noon the market is full of traders. Crates of silver fish change hands in minutes under the striped awnings. Children weave between the stalls while cooks bargain loudly for the best of the morning catch.

# Evening

At dusk the boats return. Gulls follow them home while the lamps of the town come on one by one. The nets are hung to dry along the quay and the harbour falls quiet until the next morning.
"""


@pytest.mark.sqlite_only
def test_render_writes_video_captions_and_chapters(app, tmp_path):
    script = tmp_path / "harbour.md"
    script.write_text(SCRIPT)
    out = tmp_path / "out" / "harbour.mp4"
    result = app.test_cli_runner().invoke(args=["render", str(script), "-o", str(out),
                                                "--preset", "720p", "--transition", "fadeblack"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.video.width, info.video.height) == (1280, 720)
    assert info.video.profile == "High" and info.audio.sample_rate == 48000
    assert info.duration > 15
    srt = out.with_suffix(".srt").read_text()
    assert "harbour" in srt.lower() and "-->" in srt
    assert out.with_suffix(".vtt").read_text().startswith("WEBVTT")
    chapters = out.with_suffix(".chapters.txt").read_text().splitlines()
    assert chapters[0].startswith("00:00 ") and [c.split(" ", 1)[1] for c in chapters] == [
        "Morning", "Noon", "Evening"]
    assert out.with_suffix(".jpg").stat().st_size < 2 * 1024 * 1024


@pytest.mark.sqlite_only
def test_render_with_the_default_voice_times_captions_to_the_words(app, tmp_path):
    """The command line's default offline voice (Piper): every caption starts with its first word, ±100 ms."""
    script = tmp_path / "short.txt"
    script.write_text("\n\n".join(SHORT_SENTENCES))
    out = tmp_path / "short.mp4"
    result = app.test_cli_runner().invoke(args=["render", str(script), "-o", str(out), "--preset", "720p"])
    assert result.exit_code == 0, result.output
    assert_cues_start_with_their_words(out, out.with_suffix(".srt").read_text(), at_least=5)
