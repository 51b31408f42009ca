"""Escaping for values placed inside ffmpeg filtergraphs."""
from __future__ import annotations

import re


def filter_arg(value: str) -> str:
    """Escape a filter option value (a path, say) for use inside a filtergraph: two levels of ffmpeg escaping."""
    value = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)
