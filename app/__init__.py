"""Scriptreel: turn a written script into a narrated, scene-based video."""
from __future__ import annotations


def create_app(overrides: dict | None = None):
    """Build the Flask app (see factory.py); imported lazily so app.pipeline loads without Flask."""
    from .factory import create_app as build
    return build(overrides)
