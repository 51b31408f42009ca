"""One compile, spread over 1 and then 2 worker processes that each may use a single CPU.

    .venv/bin/python bench/compile_workers.py            # a ~2-minute video, 1 then 2 workers (~4 min)
    .venv/bin/python bench/compile_workers.py --workers 1,2 --words 200

Each worker is pinned to its own CPU with taskset and renders one piece at a time
(COMPILE_THREADS=1), standing in for several one-core machines: the compile job renders pieces
from the start of the video while the other workers take helper jobs from its end, and they
share the pieces through storage. The project (a script from bench/data, draft images, eSpeak NG
voices, fitted, 1080p30 with crossfades) is prepared untimed on a fresh instance each time; the
figure is the compile job's own time, from start to finished MP4. 1 worker is the baseline.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import (  # noqa: E402
    make_members,
    project_jobs,
    scripts,
    sign_in,
    start_instance,
    start_workers,
    stop_workers,
    wait_for_workers,
    wait_until,
)


def compile_seconds(workers: int, text: str) -> tuple[float, dict]:
    """Prepare the project with these workers, then time its compile; (seconds, the job's result)."""
    folder = Path(tempfile.mkdtemp(prefix=f"scriptreel-compile-{workers}w-"))
    app, env, redis = start_instance(folder)
    processes = start_workers(workers, dict(env, COMPILE_THREADS="1"), folder, pin=True)
    try:
        wait_for_workers(app, workers)
        client = sign_in(app, make_members(app, 1)[0])
        response = client.post("/projects", data={"title": "Compile benchmark"})
        project = int(re.search(r"/projects/(\d+)/", response.location).group(1))
        base = f"/projects/{project}"
        client.post(f"{base}/script/segment", data={"script": text, "wpm": 150})
        client.post(f"{base}/assets/images/missing")
        client.post(f"{base}/assets/voice/all")
        idle = lambda: not any(job.active for job in project_jobs(app, project))  # noqa: E731
        wait_until(idle, "images and voices")
        client.post(f"{base}/assets/fit/all")
        client.post(f"{base}/video/compile")
        wait_until(idle, "the compile")
        job = next(job for job in project_jobs(app, project) if job.kind == "compile")
        if job.state != "done":
            raise SystemExit(f"the compile {job.state}: {job.message}")
        started: datetime = job.started_at
        return (job.finished_at - started).total_seconds(), job.result
    finally:
        stop_workers(processes)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (one CPU each)")
    parser.add_argument("--scripts", type=int, default=2, help="Factbook openings joined into the script")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    counts = [int(n) for n in args.workers.split(",")]
    if max(counts) > os.cpu_count():
        raise SystemExit(f"this machine has {os.cpu_count()} CPUs: at most that many pinned workers")
    if counts[0] != 1:
        counts.insert(0, 1)  # the baseline belongs to the same run
    text = " ".join(scripts(args.scripts))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; a {len(text.split())}-word script",
          flush=True)
    rows = []
    for count in counts:
        seconds, result = compile_seconds(count, text)
        rows.append((count, seconds, result))
        print(f"  {count} worker(s): {seconds:.1f} s", flush=True)
    baseline = rows[0][1]
    print(f"\n{'workers':>7} {'video s':>7} {'compile s':>9} {'x realtime':>10} {'speed-up':>8} "
          f"{'pieces by the compile job':>25} {'by helpers':>10}")
    for count, seconds, result in rows:
        total = result["rendered"] + result["reused"]
        print(f"{count:>7} {result['duration']:>7.1f} {seconds:>9.1f} {result['duration'] / seconds:>9.2f}x "
              f"{baseline / seconds:>7.2f}x {result['rendered']:>25} {total - result['rendered']:>10}")


if __name__ == "__main__":
    main()
