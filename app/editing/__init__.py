"""Editing packages: a compile's cut as a zip of timelines and media for Premiere, Resolve and Final Cut."""
