"""Pure-Python production pipeline: no Flask imports anywhere in this package.

Functions take plain data (text, bytes, paths, dataclasses) and, where work is slow,
an ``on_progress(fraction, message)`` callback, so tasks, the CLI and tests share them.
"""
