"""Peak memory of the web process under the worst uploads, against the 300 MB target.

    .venv/bin/python bench/uploads.py            # each input 8 times at once
    .venv/bin/python bench/uploads.py --at-once 4

Starts Scriptreel as in production (gunicorn with its threads, a `python worker.py`, an embedded
Redis, SQLite) on 127.0.0.1, signs in, and uploads, 8 at once each:
  - a 116 KB 7740×7740 16-bit greyscale PNG (decoding it naively takes over 1 GB),
  - the largest kind of picture the decoder accepts (5000×4000 RGB PNG, 24 bytes a pixel at peak),
  - a 30-minute Opus recording of under 1 MB, as a scene's voiceover (10 min is the limit),
  - the same as background music (accepted; converted by the worker to AAC, not to a 345 MB WAV).
Every gunicorn worker's resident memory is sampled every 10 ms, and its kernel high-water mark
(VmHWM) read at the end; the baseline is the same processes after warming up, in the same run.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.security import generate_password_hash  # noqa: E402

from app import create_app  # noqa: E402
from app.platform.embedded_redis import EmbeddedRedis  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Asset, Job, Membership, User, Workspace  # noqa: E402
from app.pipeline.ffmpeg import ffmpeg_exe  # noqa: E402

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "uploads bench passphrase"
TARGET_MB = 300


def worst_png() -> bytes:
    """7740×7740, 16-bit grey, almost flat: tiny on disk, enormous decoded."""
    out = io.BytesIO()
    Image.fromarray(np.full((7740, 7740), 30000, np.uint16)).save(out, "PNG", optimize=True)
    return out.getvalue()


def largest_accepted_png() -> bytes:
    """A 5000×4000 RGB photo-sized picture (smooth, so it stays under the 25 MB upload limit)."""
    y, x = np.mgrid[0:4000, 0:5000]
    pixels = np.stack([(x // 20) % 256, (y // 16) % 256, ((x + y) // 36) % 256], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=6)
    return out.getvalue()


def long_opus(folder: Path) -> bytes:
    path = folder / "thirty-minutes.opus"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=1800:c=pink:a=0.05",
                    "-ac", "1", "-c:a", "libopus", "-b:a", "4k", str(path)], check=True)
    return path.read_bytes()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def web_workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


class Sampler:
    """The highest resident size of any web worker, every 10 ms."""

    def __init__(self, pids: list[int]):
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max([self.peak] + [rss_mb(p) for p in self.pids])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at-once", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uploads-bench-") as tmp:
        folder = Path(tmp)
        redis = EmbeddedRedis(folder / "redis", persist=False).start()
        port = 20000 + secrets.randbelow(20000)
        env = dict(os.environ, SCRIPTREEL_ENV="production", SECRET_KEY=secrets.token_urlsafe(48),
                   SESSION_COOKIE_SECURE="0", REDIS_URL=redis.url, RATELIMIT_ENABLED="0",
                   SCRIPTREEL_INSTANCE_PATH=str(folder / "instance"), MEDIA_ROOT=str(folder / "media"),
                   DATABASE_URL=f"sqlite:///{folder / 'bench.db'}", MAX_UPLOAD_MB="60")
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                                f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "REDIS_URL": redis.url})
            with app.app_context():
                workspace = Workspace(name="Uploads", plan="agency")
                user = User(email="up@example.com", name="Up", password_hash=generate_password_hash(PASSWORD))
                db.session.add_all([workspace, user])
                db.session.flush()
                db.session.add(Membership(user=user, workspace=workspace, role="owner"))
                user.current_workspace_id = workspace.id
                db.session.commit()
            http = httpx.Client(base_url=base, timeout=300)
            page = http.get("/login").text
            http.post("/login", data={"csrf_token": TOKEN.search(page).group(1), "email": "up@example.com",
                                      "password": PASSWORD})
            token = TOKEN.search(http.get("/").text).group(1)
            headers = {"HX-Request": "true", "X-CSRFToken": token}
            project = int(re.search(r"/projects/(\d+)/", http.post(
                "/projects", data={"csrf_token": token, "title": "Uploads"}).headers["location"]).group(1))
            script = " ".join(f"Scene {n} of the upload test shows the harbour." for n in range(args.at_once))
            http.post(f"/projects/{project}/script/segment", data={"csrf_token": token, "script": script,
                                                                  "wpm": 160, "min_seconds": 1, "max_seconds": 3})
            scenes = re.findall(r'id="asset-(\d+)"', http.get(f"/projects/{project}/assets").text)
            if len(scenes) < args.at_once:
                raise SystemExit(f"the test project has {len(scenes)} scenes; signing in or cutting failed")
            pids = web_workers(web.pid)
            for _ in range(20):  # warm up every worker's imports and templates
                http.get(f"/projects/{project}/assets")
            baseline = max(rss_mb(p) for p in pids)

            inputs = [("7740×7740 16-bit PNG", "image", "image", worst_png(), "huge.png"),
                      ("5000×4000 RGB PNG", "image", "image", largest_accepted_png(), "big.png")]
            opus = long_opus(folder)
            inputs += [("30-min Opus as a voiceover", "audio", "audio", opus, "long.opus"),
                       ("30-min Opus as music", "music", "music", opus, "long.opus")]
            rows = []
            for label, kind, field, data, name in inputs:
                def send(scene: str) -> int:
                    url = (f"/projects/{project}/video/music" if kind == "music" else
                           f"/projects/{project}/assets/scenes/{scene}/{'image' if kind == 'image' else 'audio'}/upload")
                    client = httpx.Client(base_url=base, cookies=http.cookies, timeout=300)
                    return client.post(url, files={field: (name, data)}, headers=headers).status_code
                statuses: list[int] = []
                started = time.perf_counter()
                with Sampler(pids) as sampler:
                    threads = [threading.Thread(target=lambda s=s: statuses.append(send(s)))
                               for s in (scenes if kind != "music" else scenes[:1])]
                    [t.start() for t in threads]
                    [t.join() for t in threads]
                rows.append((label, len(data), sampler.peak, time.perf_counter() - started, statuses))
            messages = [re.sub(r"\s+", " ", m) for m in re.findall(
                r'notice-error" role="alert">([^<]+)<', httpx.Client(base_url=base, cookies=http.cookies).post(
                    f"/projects/{project}/assets/scenes/{scenes[0]}/image/upload",
                    files={"image": ("huge.png", inputs[0][3])}, headers=headers).text)]
            with app.app_context():  # the music's conversion in the worker
                deadline = time.monotonic() + 600
                while db.session.scalar(db.select(Job).filter(Job.kind == "music", Job.state.in_(Job.ACTIVE))):
                    db.session.remove()
                    if time.monotonic() > deadline:
                        raise SystemExit("the music conversion did not finish")
                    time.sleep(1)
                music = db.session.scalar(db.select(Asset).filter_by(kind="music").order_by(Asset.id.desc()))
                stored = (music.mime, music.size) if music else None
            high_water = max(rss_mb(p, "VmHWM") for p in pids)
            worker_peak = rss_mb(worker.pid, "VmHWM")
        finally:
            web.terminate()
            worker.terminate()
            web.wait(30)
            worker.wait(30)
            redis.stop()
    print(f"\nWeb process memory under the worst uploads ({args.at_once} at once each; gunicorn "
          f"{os.environ.get('WEB_CONCURRENCY', '2')} workers × {os.environ.get('GUNICORN_THREADS', '4')} threads)\n")
    print(f"{'input':32} {'size':>9} {'peak RSS':>10} {'time':>7}  answers")
    print(f"{'(baseline: warmed-up web worker)':32} {'':>9} {baseline:8.0f} MB")
    for label, size, peak, seconds, statuses in rows:
        counts = ", ".join(f"{statuses.count(c)}×{c}" for c in sorted(set(statuses)))
        print(f"{label:32} {size / 1024:7.0f} KB {peak:8.0f} MB {seconds:6.1f} s  {counts}")
    print(f"\nHighest web worker high-water mark (VmHWM): {high_water:.0f} MB (target < {TARGET_MB} MB)")
    print(f"The 7740×7740 PNG is answered: {messages[0] if messages else '(no message)'}")
    if stored:
        print(f"The 30-minute music is stored as {stored[0]}, {stored[1] / 2**20:.1f} MB "
              f"(as 48 kHz WAV it was 345 MB); the worker peaked at {worker_peak:.0f} MB converting it.")
    ok = high_water < TARGET_MB
    print("\nTarget met." if ok else "\nTARGET MISSED.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
