"""The local cache of pieces, prepared stills, soundtracks and thumbnails: reuse, clean-up, size limit.

Files are reused by content key, so nothing in it is ever stale; it only grows. ``in_cache`` marks a
file as used (its mtime) so ``prune`` can drop the least recently used ones once the cache is over
its size limit, never touching anything used recently enough that a running compile may still read it.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def in_cache(path: Path) -> bool:
    """Whether a cached file exists; if it does, mark it as just used."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def write_atomically(path: Path, data: bytes) -> None:
    """Write a cache file under a dot-name first (sweep_partials' to clean), so readers never see half of it."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}"
    tmp.write_bytes(data)
    tmp.replace(path)


def sweep_partials(cache: Path, older_than_s: float = 3600) -> None:
    """Remove half-written files a killed worker left in the cache (old enough not to be another compile's)."""
    if not cache.is_dir():
        return
    cutoff = time.time() - older_than_s
    for leftover in cache.glob(".*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        except FileNotFoundError:
            pass  # another compile cleaned it first


@dataclass(frozen=True)
class Pruned:
    """What a prune removed and what the cache holds afterwards."""

    removed_files: int
    removed_bytes: int
    kept_bytes: int


def prune(cache: Path, max_bytes: int, keep_used_within_s: float) -> Pruned:
    """Delete the least recently used files until the cache fits max_bytes; files used within
    keep_used_within_s stay whatever the size (a compile that planned with them may still read them)."""
    files = []
    for path in cache.glob("[!.]*") if cache.is_dir() else []:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file():
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    cutoff = time.time() - keep_used_within_s
    removed = removed_bytes = 0
    for mtime, size, path in sorted(files):
        if total <= max_bytes or mtime >= cutoff:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed, removed_bytes = removed + 1, removed_bytes + size
    return Pruned(removed, removed_bytes, total)
