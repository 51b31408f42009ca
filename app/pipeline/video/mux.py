"""The finished MP4: the pieces' frames joined into one H.264 track and muxed beside the soundtrack.

The join decodes nothing: each keyframe interval copies a piece's frames, a frame held for more than one
output frame is followed by skipped frames that copy it, and frames encoded after it move later in their
keyframe interval and are renumbered (h264.py). The frames go to libavformat's MP4 muxer through PyAV, in
this process, as packets whose bounds the join already knows: piping the stream to an ffmpeg process made
its H.264 parser scan every byte again, which cost more than the join itself.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from ..ffmpeg import Cancelled
from .h264 import renumbered
from .pieces import DELIMITER_BYTES, flat_keyframe, frame_offsets, skip_frame
from .plan import CompilePlan
from .presets import track_timescale

Frames = Iterator[tuple[bytes | memoryview, bool]]  # each output frame's access unit, and whether it is a keyframe


def joined_frames(plan: CompilePlan, piece_paths: dict[str, Path], wait_for: Callable[[str], None]) -> Frames:
    """Every output frame in order, flat memory: one piece is read at a time, and waited for only when the
    join reaches it (so joining overlaps rendering; wait_for raises if the compile is cancelled meanwhile)."""
    skip = skip_frame(plan.settings.preset, plan.settings.encoder)
    fed = {p.key: len(p.frames) for p in plan.pieces}
    loaded_key, data, offsets = None, b"", []
    for entry in plan.joins:
        if entry.key != loaded_key:  # a held still repeats the same piece: read it once
            wait_for(entry.key)
            data = Path(piece_paths[entry.key]).read_bytes()
            offsets, loaded_key = frame_offsets(data) + [len(data)], entry.key
            if len(offsets) - 1 != fed[entry.key]:
                raise ValueError(f"piece {entry.key} has {len(offsets) - 1} frames, expected {fed[entry.key]}")
        shown = 0  # frame_num within the keyframe interval
        for n, hold in enumerate(entry.layout):
            # The access unit delimiter has done its job (an MP4 sample needs none); the zero byte that
            # opens the next one's start code is not part of this frame.
            start, end = offsets[n] + DELIMITER_BYTES, offsets[n + 1]
            while data[end - 1] == 0:
                end -= 1
            unit = memoryview(data)[start:end]
            yield (unit if shown == n else renumbered(bytes(unit), skip.sps, shown)), n == 0
            for k in range(1, hold):
                yield skip.access_unit(shown + k), False
            shown += hold


def write_mp4(plan: CompilePlan, frames: Frames, soundtrack: Path, out: Path,
              on_second: Callable[[float], None] | None = None,
              should_cancel: Callable[[], bool] | None = None) -> None:
    """Mux the frames (stamped n / fps: constant frame rate) and the soundtrack's AAC into out, moov first
    (faststart), audio interleaved a second at a time. Once per second of video, on_second(fraction done) is
    called and should_cancel asked; it is asked again before the file is finished."""
    fps = plan.settings.preset.fps
    frame_time, total = Fraction(1, fps), plan.timeline.total_frames
    options = {"movflags": "+faststart", "video_track_timescale": str(track_timescale(fps))}
    template = io.BytesIO(flat_keyframe(plan.settings.preset, plan.settings.encoder))
    with av.open(template, format="h264") as video_in, av.open(str(soundtrack)) as sound_in, \
            av.open(str(out), "w", format="mp4", options=options) as mp4:
        video = mp4.add_stream_from_template(video_in.streams.video[0])
        video.time_base = frame_time
        audio = mp4.add_stream_from_template(sound_in.streams.audio[0])
        sound = (p for p in sound_in.demux(audio=0) if p.size)  # the demuxer ends with an empty packet
        pending = next(sound, None)

        def audio_until(seconds: float) -> None:
            nonlocal pending
            while pending is not None and pending.pts * pending.time_base < seconds:
                pending.stream = audio
                mp4.mux(pending)
                pending = next(sound, None)

        for n, (unit, keyframe) in enumerate(frames):
            packet = av.Packet(unit)
            packet.stream, packet.time_base = video, frame_time
            packet.pts = packet.dts = n
            packet.duration, packet.is_keyframe = 1, keyframe
            mp4.mux(packet)
            if n % fps == 0:
                audio_until(n / fps + 1)
                if on_second:
                    on_second(n / total)
            if n % fps == fps - 1 and should_cancel and should_cancel():
                raise Cancelled("cancelled")
        audio_until(float("inf"))
        if should_cancel and should_cancel():
            raise Cancelled("cancelled")
