"""Reading an editing package back with OpenTimelineIO and checking it against a compile's frame grid."""
from __future__ import annotations

import posixpath
import zipfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from lxml import etree

from app.pipeline.editorial import TIMELINE_FILES

DTD = Path(__file__).parent / "FCPXMLv1_8.dtd"


def _exact_rational_time(rational_number: str | None, fps: int) -> otio.opentime.RationalTime:
    """FCPXML's "41/10s" as frames, exactly. The adapter's reader goes through floats and truncates
    (41 / 10 * 30 = 122.99999 -> 122 frames, then a one-frame gap), which is its bug, not the file's:
    Final Cut reads the rational number as written."""
    if rational_number in (None, "0s"):
        return otio.opentime.RationalTime(0, int(fps))
    return otio.opentime.RationalTime(round(Fraction(rational_number.removesuffix("s")) * int(fps)), int(fps))


otio.adapters.from_name("fcpx_xml").module().to_rational_time = _exact_rational_time  # the module the plugin runs


def read_package(path: Path, fps: int) -> tuple[dict[str, otio.schema.Timeline], set[str]]:
    """Each timeline in the zip, read by the adapter that wrote it, and the zip's file names."""
    with zipfile.ZipFile(path) as package:
        names = set(package.namelist())
        texts = {name: package.read(name).decode() for name in TIMELINE_FILES}
    timelines = {name: otio.adapters.read_from_string(text, adapter, **({"rate": fps} if adapter == "cmx_3600" else {}))
                 for (name, adapter), text in zip(TIMELINE_FILES.items(), texts.values())}
    return timelines, names


def fcpxml_is_valid(text: str) -> list[str]:
    """Errors of FCPXML against Apple's published DTD for version 1.8 (shipped beside this file)."""
    dtd = etree.DTD(str(DTD))
    valid = dtd.validate(etree.fromstring(text.encode()))
    return [] if valid else [str(e) for e in dtd.error_log.filter_from_errors()]


def _frames(t: otio.opentime.RationalTime) -> int:
    return round(t.to_frames())


def visible_ranges(track: otio.schema.Track) -> list[tuple[str, int, int]]:
    """(clip name, first frame, end frame) of each clip with the frames its dissolves show of it."""
    children, spans = list(track), []
    for i, child in enumerate(children):
        if not isinstance(child, otio.schema.Clip):
            continue
        placed = track.range_of_child_at_index(i)
        before = children[i - 1] if i else None
        after = children[i + 1] if i + 1 < len(children) else None
        start = _frames(placed.start_time) - (
            _frames(before.in_offset) if isinstance(before, otio.schema.Transition) else 0)
        end = _frames(placed.end_time_exclusive()) + (
            _frames(after.out_offset) if isinstance(after, otio.schema.Transition) else 0)
        spans.append((child.name, start, end))
    return spans


def marker_frames(timeline: otio.schema.Timeline) -> set[tuple[int, str]]:
    """Chapter markers as (timeline frame, name), wherever the format keeps them (timeline or clips)."""
    found = {(_frames(m.marked_range.start_time), m.name.lower()) for m in timeline.tracks.markers}
    video = timeline.video_tracks()[0]
    for i, child in enumerate(video):
        if isinstance(child, otio.schema.Clip):
            placed = video.range_of_child_at_index(i)
            found |= {(_frames(placed.start_time + (m.marked_range.start_time - child.source_range.start_time)),
                       m.name.lower()) for m in child.markers}
    return found


def check_against_board(path: Path, board: dict) -> dict[str, otio.schema.Timeline]:
    """Clip count, order, in/out points, total length and chapter markers equal the compile's, to the frame,
    and every media reference resolves inside the zip."""
    fps, scenes = board["fps"], board["scenes"]
    timelines, names = read_package(path, fps)
    expected = [(f"Scene {n}", s["start"], s["start"] + s["frames"]) for n, s in enumerate(scenes, start=1)]
    # Where the cuts fall when a format keeps no dissolve (FCPXML through its adapter): mid-transition.
    cuts = [(f"Scene {n}", s["start"] + s["in"] // 2, s["start"] + s["frames"] - s["out"] + s["out"] // 2)
            for n, s in enumerate(scenes, start=1)]
    chapters = {(frame, title.lower()) for frame, title in board["chapters"]}
    for name, timeline in timelines.items():
        assert _frames(timeline.duration()) == board["frames"], name
        video = timeline.video_tracks()[0]
        assert visible_ranges(video) == (cuts if name == "timeline.fcpxml" else expected), name
        if name != "timeline.edl":  # an EDL reads each scene from its first visible frame
            starts = [_frames(c.source_range.start_time) for c in video if isinstance(c, otio.schema.Clip)]
            assert starts == [s["in"] // 2 for s in scenes], name
        if name == "timeline.edl":  # its reader also files the A side's LOC lines under each dissolve's B side
            assert chapters <= marker_frames(timeline), name
        else:
            assert marker_frames(timeline) == chapters, name
        for clip in timeline.find_clips():
            url = clip.media_reference.target_url
            assert not url.startswith(("/", "file:")), (name, url)
            assert posixpath.normpath(url) in names, (name, url)
    voiced = [s["start"] for s in scenes if s["audio"]]
    narration = timelines["timeline.otio"].audio_tracks()
    starts = sorted(_frames(t.range_of_child(c).start_time) for t in narration if t.name.startswith("Narration")
                    for c in t if isinstance(c, otio.schema.Clip))
    assert starts == voiced
    return timelines
