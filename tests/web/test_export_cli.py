"""`flask render --timeline`: the editing package beside the MP4, frame for frame the same cut."""
import zipfile

import av
import pytest

from app.pipeline.probe import probe

from ..export.timelines import read_package, visible_ranges
from .test_render_cli import SCRIPT


@pytest.mark.sqlite_only
def test_render_writes_the_editing_package_of_the_same_cut(app, tmp_path):
    script = tmp_path / "harbour.md"
    script.write_text(SCRIPT)
    out, package = tmp_path / "out" / "harbour.mp4", tmp_path / "out" / "harbour-edit.zip"
    result = app.test_cli_runner().invoke(args=["render", str(script), "-o", str(out), "--preset", "720p",
                                                "--timeline", str(package)])
    assert result.exit_code == 0, result.output
    assert "harbour-edit.zip (editing package)" in result.output
    with av.open(str(out)) as mp4:
        frames = sum(1 for p in mp4.demux(video=0) if p.size)
    timelines, names = read_package(package, 30)
    reference = visible_ranges(timelines["timeline.otio"].video_tracks()[0])
    assert reference[0][1] == 0 and reference[-1][2] == frames  # from the first frame of the MP4 to its last
    for name, timeline in timelines.items():
        assert round(timeline.duration().to_frames()) == frames, name
        if name != "timeline.fcpxml":  # written without dissolves: cuts only
            assert visible_ranges(timeline.video_tracks()[0]) == reference, name
    assert [m.name for m in timelines["timeline.otio"].tracks.markers] == ["Morning", "Noon", "Evening"]
    with zipfile.ZipFile(package) as z:
        z.extractall(tmp_path / "unzipped")
    for clip in timelines["timeline.xml"].find_clips():
        assert clip.media_reference.target_url in names
        info = probe(tmp_path / "unzipped" / clip.media_reference.target_url)
        assert info.video or info.audio
    first_scene = probe(tmp_path / "unzipped" / "media" / "scene-001.png").video
    assert (first_scene.width, first_scene.height) == (1280, 720)
