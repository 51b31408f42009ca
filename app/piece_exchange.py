"""Pieces of one compile shared between worker machines: storage holds them, Redis holds claims."""
from __future__ import annotations

import threading
from pathlib import Path

from redis import Redis

from .pipeline.video import PIECE_SUFFIX
from .platform.storage import Storage

CLAIM_SECONDS = 30      # a crashed renderer's claim lapses this soon
REFRESH_SECONDS = 10


class SharedPieces:
    """The PieceExchange of app.pipeline.video, over the app's storage and Redis.

    Safe to use from the pipeline's threads: it holds its own storage and Redis handles.
    """

    def __init__(self, storage: Storage, redis: Redis, prefix: str):
        self.storage, self.redis, self.prefix = storage, redis, prefix
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._keep_claims, daemon=True).start()

    def remote(self, key: str) -> str:
        return f"{self.prefix}pieces/{key}{PIECE_SUFFIX}"

    def _claim_key(self, key: str) -> str:
        return f"scriptreel:piece-claim:{self.prefix}{key}"

    def available(self, key: str) -> bool:
        return self.storage.exists(self.remote(key))

    def fetch(self, key: str, path: Path) -> bool:
        if not self.available(key):
            return False
        self.storage.download_to(self.remote(key), path)
        return True

    def claim(self, key: str) -> bool:
        if not self.redis.set(self._claim_key(key), 1, nx=True, ex=CLAIM_SECONDS):
            return False
        with self.lock:
            self.held.add(key)
        return True

    def publish(self, key: str, path: Path) -> None:
        self.storage.put_file(self.remote(key), path, "video/h264")
        self.release(key)

    def release(self, key: str) -> None:
        """Give up a claim without publishing (the renderer failed), so others needn't wait for it to lapse."""
        with self.lock:
            self.held.discard(key)
        self.redis.delete(self._claim_key(key))

    def keep_only(self, keys: set[str]) -> int:
        """Delete the project's stored pieces not in keys (those of its latest compile); return how many."""
        folder = f"{self.prefix}pieces/"
        stale = [k for k in self.storage.list_keys(folder) if k[len(folder):].removesuffix(PIECE_SUFFIX) not in keys]
        for key in stale:
            self.storage.delete(key)
        return len(stale)

    def close(self) -> None:
        """Stop refreshing; claims of pieces not published lapse by themselves."""
        self.stop.set()

    def _keep_claims(self) -> None:
        while not self.stop.wait(REFRESH_SECONDS):
            with self.lock:
                keys = list(self.held)
            for key in keys:
                self.redis.expire(self._claim_key(key), CLAIM_SECONDS)
