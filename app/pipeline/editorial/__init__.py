"""Editable timelines for Premiere, Resolve and Final Cut: a compile's cut through OpenTimelineIO's adapters.

``write_package(Cut(...), srt, "out.zip")`` writes the zip; ``shots_from_plan`` reads a compile plan's layout.
"""
from .package import TIMELINE_FILES, timeline_texts, write_package
from .timeline import Cut, Shot, build_timeline, chapter_marks, shots_from_plan

__all__ = ["TIMELINE_FILES", "Cut", "Shot", "build_timeline", "chapter_marks", "shots_from_plan",
           "timeline_texts", "write_package"]
