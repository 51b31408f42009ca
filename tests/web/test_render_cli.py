"""`flask render`: steps 1-4 offline from a script file, with captions and chapters beside the MP4."""
import pytest

from app.pipeline.probe import probe

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
