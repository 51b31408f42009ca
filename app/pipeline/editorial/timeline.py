"""A compile's layout as an OpenTimelineIO timeline: one still per scene, dissolves, narration, music, chapters.

Every time comes from the compile's own frame grid (its SceneSlots), never re-derived from seconds, so the
exported cut lines up with the compiled MP4 frame for frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from ..video.timeline import Scene, Timeline

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
MEDIA_DIR = "media"
EDITABLE_AUDIO = (".wav", ".m4a", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class Shot:
    """One scene where the compile put it (frames on the output grid) and its media."""

    name: str
    image: Path
    audio: Path | None
    start: int  # first frame, its incoming transition included
    frames: int
    in_frames: int  # frames shared with the previous scene
    out_frames: int  # frames shared with the next scene
    transition: str = "cut"  # kind of the outgoing transition (any blend is a dissolve to an editor)
    text: str = ""
    audio_onset: float = 0.0  # where the speech starts in the narration file (the compile skips what's before)
    audio_seconds: float | None = None  # the narration file's length (filled in when packing)


@dataclass(frozen=True)
class Cut:
    """Everything the editing apps get: the shots, the music under them and the chapters."""

    title: str
    fps: int
    width: int
    height: int
    shots: list[Shot]
    chapters: list[tuple[int, str]] = field(default_factory=list)  # (first frame, title)
    music: Path | None = None
    music_seconds: float | None = None
    narration_gain_db: float = 0.0
    music_gain_db: float = 0.0

    @property
    def total_frames(self) -> int:
        return self.shots[-1].start + self.shots[-1].frames if self.shots else 0


def chapter_marks(scenes: list[Scene], timeline: Timeline) -> list[tuple[int, str]]:
    """(frame, title) where each topic starts; the first at frame 0, as the compile's chapters file has it."""
    marks = [(slot.start, scene.topic.strip()) for scene, slot in zip(scenes, timeline.slots)
             if scene.topic and scene.topic.strip()]
    return [(0, marks[0][1]), *marks[1:]] if marks else []


def audio_suffix(path: Path) -> str:
    """The package's audio format: kept when every editing app reads it, else WAV (e.g. for FLAC)."""
    return path.suffix.lower() if path.suffix.lower() in EDITABLE_AUDIO else ".wav"


def media_name(kind: str, number: int | None, path: Path) -> str:
    """Where a file goes inside the package, e.g. media/scene-003.png or media/music.m4a."""
    suffix = path.suffix.lower() if kind == "scene" else audio_suffix(path)
    return f"{MEDIA_DIR}/{kind}{f'-{number:03d}' if number else ''}{suffix}"


def split(frames: int) -> tuple[int, int]:
    """A dissolve of n frames as (before the cut, after it); the cut sits in its middle."""
    return frames // 2, frames - frames // 2


def _frames(seconds: float, fps: int) -> int:
    return max(1, math.ceil(round(seconds * fps, 6)))


def _reference(url: str, frames: int, fps: int) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(target_url=url, available_range=TR(RT(0, fps), RT(frames, fps)))


def _video_track(cut: Cut) -> otio.schema.Track:
    """Clips laid end to end from cut to cut; a dissolve shows the neighbours' frames beyond the cut as
    handles. Frame k of a scene's still is output frame start + k, so the handles are the scene's own frames."""
    fps, track = cut.fps, otio.schema.Track(name="Scenes", kind=otio.schema.TrackKind.Video)
    for number, shot in enumerate(cut.shots, start=1):
        before_in, after_in = split(shot.in_frames)
        before_out = split(shot.out_frames)[0]
        if shot.in_frames:
            track.append(otio.schema.Transition(
                name="Cross Dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=RT(before_in, fps), out_offset=RT(after_in, fps),
                metadata={"scriptreel": {"kind": cut.shots[number - 2].transition}}))
        track.append(otio.schema.Clip(
            name=shot.name,
            media_reference=_reference(media_name("scene", number, shot.image), shot.frames, fps),
            source_range=TR(RT(before_in, fps), RT(shot.frames - shot.out_frames + before_out - before_in, fps)),
            metadata={"scriptreel": {"scene": number, "narration": shot.text}}))
    return track


def _place(track: otio.schema.Track, start: int, clip: otio.schema.Clip, fps: int) -> None:
    """Append a clip at a frame, filling the time before it with a gap."""
    at = track.duration().to_frames() if len(track) else 0
    if start > at:
        track.append(otio.schema.Gap(source_range=TR(RT(0, fps), RT(start - at, fps))))
    track.append(clip)


def _gain(db: float) -> dict:
    """The clip's volume: for OpenTimelineIO readers, and as FCP 7 XML's Audio Levels filter."""
    return {"scriptreel": {"gain_db": round(db, 2)},
            "fcp_xml": {"filter": {"effect": {
                "name": "Audio Levels", "effectid": "audiolevels", "effectcategory": "audiolevels",
                "effecttype": "audiolevels", "mediatype": "audio",
                "parameter": {"parameterid": "level", "name": "Level", "valuemin": "0", "valuemax": "3.98109",
                              "value": f"{10 ** (db / 20):.5f}"}}}}}


def _narration_track(cut: Cut) -> otio.schema.Track:
    """Each voiceover where the compile put it: from its first sound at its scene's first frame, cut where the
    next scene begins (so voices never overlap)."""
    fps, shots = cut.fps, cut.shots
    track = otio.schema.Track(name="Narration", kind=otio.schema.TrackKind.Audio)
    for number, shot in enumerate(shots, start=1):
        if not shot.audio:
            continue
        until = shots[number].start if number < len(shots) else shot.start + shot.frames
        onset = round(shot.audio_onset * fps)
        length = min(_frames(shot.audio_seconds, fps) - onset, until - shot.start)
        clip = otio.schema.Clip(
            name=f"Narration {number}",
            media_reference=_reference(media_name("narration", number, shot.audio),
                                       _frames(shot.audio_seconds, fps), fps),
            source_range=TR(RT(onset, fps), RT(max(1, length), fps)), metadata=_gain(cut.narration_gain_db))
        _place(track, shot.start, clip, fps)
    return track


def _music_track(cut: Cut) -> otio.schema.Track:
    """The music from the first frame to the last, repeated as the compile loops it."""
    fps, track = cut.fps, otio.schema.Track(name="Music", kind=otio.schema.TrackKind.Audio)
    length = max(1, math.floor(round(cut.music_seconds * fps, 6)))
    url = media_name("music", None, cut.music)
    at, loop = 0, 1
    while at < cut.total_frames:
        take = min(length, cut.total_frames - at)
        # Numbered: FCP 7 XML writes clips that look alike as references to the first one.
        track.append(otio.schema.Clip(name=f"Music {loop}", media_reference=_reference(url, length, fps),
                                      source_range=TR(RT(0, fps), RT(take, fps)),
                                      metadata=_gain(cut.music_gain_db)))
        at, loop = at + take, loop + 1
    return track


def build_timeline(cut: Cut) -> otio.schema.Timeline:
    """The cut as an OpenTimelineIO timeline; chapters are markers on the whole timeline."""
    frame = {"width": cut.width, "height": cut.height}
    # FCP 7 XML's sequence format (frame size and rate), through the adapter's metadata pass-through.
    sequence_format = {"media": {"video": {"format": {"samplecharacteristics": {
        **frame, "rate": {"timebase": cut.fps, "ntsc": "FALSE"}, "pixelaspectratio": "square"}}}}}
    timeline = otio.schema.Timeline(name=cut.title, global_start_time=RT(0, cut.fps),
                                    metadata={"scriptreel": frame, "fcp_xml": sequence_format})
    timeline.tracks.append(_video_track(cut))
    timeline.tracks.append(_narration_track(cut))
    if cut.music:
        timeline.tracks.append(_music_track(cut))
    for frame, title in cut.chapters:
        timeline.tracks.markers.append(otio.schema.Marker(
            name=title, marked_range=TR(RT(frame, cut.fps), RT(0, cut.fps)), color=otio.schema.MarkerColor.BLUE))
    return timeline


def markers_on_clips(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose timeline markers sit on the video clip under them: Final Cut Pro and EDLs only
    know clip markers."""
    copy = timeline.deepcopy()
    video = copy.video_tracks()[0]
    for marker in list(copy.tracks.markers):
        at = marker.marked_range.start_time
        clip = video.child_at_time(at)
        placed = video.range_of_child(clip)
        marker.marked_range = TR(clip.source_range.start_time + (at - placed.start_time), marker.marked_range.duration)
        clip.markers.append(marker.clone())
    copy.tracks.markers.clear()
    return copy


def shots_from_plan(plan) -> list[Shot]:
    """The shots of a compile plan: each scene's files where its slot put them."""
    return [Shot(name=f"Scene {slot.index + 1}", image=Path(scene.image),
                 audio=Path(scene.audio) if scene.audio else None, start=slot.start, frames=slot.frames,
                 in_frames=slot.in_frames, out_frames=slot.out_frames, transition=scene.transition.kind,
                 text=scene.text, audio_onset=speech.onset if speech else 0.0)
            for scene, slot, speech in zip(plan.scenes, plan.timeline.slots, plan.narration)]
