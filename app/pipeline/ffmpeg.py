"""Running the ffmpeg binary shipped in the imageio-ffmpeg wheel, with real progress and cancel."""
from __future__ import annotations

import fcntl
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable, Sequence

import imageio_ffmpeg

ProgressCallback = Callable[[float], None]  # seconds of output written so far
# A raw 1080p frame is 3 MB: through the default 64 KB pipe that is 48 wake-ups of ffmpeg per frame,
# which cost more CPU than resampling the frame. 1 MB is the most an unprivileged process may ask for.
FEED_PIPE_BYTES = 1 << 20


class FFmpegError(RuntimeError):
    """ffmpeg exited non-zero; ``stderr_tail`` holds its last lines for the user-facing message."""

    def __init__(self, message: str, stderr_tail: str = ""):
        super().__init__(message)
        self.stderr_tail = stderr_tail


class Cancelled(RuntimeError):
    """The caller asked to stop; the partial output has been removed."""


def ffmpeg_exe() -> str:
    return os.environ.get("FFMPEG_BINARY") or imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class RunResult:
    stderr: str


def run(
    args: Sequence[str],
    *,
    on_time: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    feed: Callable[[BinaryIO], None] | None = None,
) -> RunResult:
    """Run ``ffmpeg <args>``; report ``out_time`` from ``-progress pipe:1`` as it comes.

    ``should_cancel`` is polled with every progress line (about twice a second); when it
    returns True ffmpeg is terminated and ``Cancelled`` is raised.
    ``feed`` writes the input named ``pipe:0`` from a thread; if it raises, ffmpeg is stopped
    and its exception re-raised.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
           "-progress", "pipe:1", "-nostats", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if feed else None, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stderr_chunks: list[str] = []
    # stderr is drained on a thread so a chatty ffmpeg can never block on a full pipe.
    drain = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    drain.start()
    feed_errors: list[BaseException] = []
    if feed:
        threading.Thread(target=_feed, args=(proc, feed, feed_errors), daemon=True).start()
    cancelled = False
    try:
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and on_time and value.lstrip("-").isdigit():
                on_time(max(0, int(value)) / 1_000_000)
            if should_cancel and should_cancel():
                cancelled = True
                proc.terminate()
                break
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise FFmpegError(f"ffmpeg took longer than {timeout:.0f} s and was stopped")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    drain.join(timeout=5)
    stderr = "".join(stderr_chunks)
    if feed_errors:
        raise feed_errors[0]
    if cancelled:
        raise Cancelled("cancelled")
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise FFmpegError(f"ffmpeg failed (exit {proc.returncode}): {tail}", tail)
    return RunResult(stderr=stderr)


def _feed(proc: subprocess.Popen, feed: Callable[[BinaryIO], None], errors: list[BaseException]) -> None:
    """Write ffmpeg's stdin; on failure stop ffmpeg, so it can't finish a file from half its input."""
    stdin = proc.stdin.buffer if hasattr(proc.stdin, "buffer") else proc.stdin
    try:
        fcntl.fcntl(stdin.fileno(), fcntl.F_SETPIPE_SZ, FEED_PIPE_BYTES)
    except OSError:
        pass  # a lower pipe-max-size: the default pipe works, only slower
    try:
        feed(stdin)
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its exit status and stderr say why
    except BaseException as exc:
        errors.append(exc)
        proc.kill()
    finally:
        try:
            stdin.close()
        except BrokenPipeError:
            pass
