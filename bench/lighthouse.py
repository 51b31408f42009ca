"""Lighthouse (desktop preset) on the projects page and each of a project's four steps.

Starts Scriptreel the README way on a throwaway instance (scripts/start.sh: embedded Redis, SQLite,
one worker), signs up through the browser and builds a project with scenes, descriptions, images,
voiceovers and a compiled video on the offline defaults (the browser tests' helpers), then runs the
pinned npm `lighthouse` (bench/lighthouse/package.json, installed with `npm ci` on first use) against
/usr/bin/chromium with the session cookie. Prints performance, accessibility and best practices per
page and exits 1 if any is under its target (issue 16: 90, 95, 95). JSON reports go to
bench/out/lighthouse/.

    .venv/bin/python bench/lighthouse.py [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.e2e.server import live_app  # noqa: E402
from tests.e2e.ui import make_finished_project, open_page, sign_up  # noqa: E402

LIGHTHOUSE_DIR = ROOT / "bench" / "lighthouse"
LIGHTHOUSE = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
OUT = ROOT / "bench" / "out" / "lighthouse"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
TARGETS = {"performance": 90, "accessibility": 95, "best-practices": 95}
SCRIPT = ("# The lighthouse\n\nThe keeper climbs the tower at dusk. He trims the wick and winds the "
          "clockwork that turns the lens.\n\n# The storm\n\nBy midnight the wind is up. Ships far out "
          "at sea look for the beam and steer away from the rocks.")
STEPS = ("script", "scenes", "assets", "video")


def ensure_lighthouse() -> None:
    if LIGHTHOUSE.exists():
        return
    print("Installing lighthouse (npm ci)…", flush=True)
    subprocess.run(["npm", "ci", "--prefix", str(LIGHTHOUSE_DIR), "--no-audit", "--no-fund"],
                   check=True, timeout=600)


def build_project(base: str) -> tuple[int, str]:
    """Sign up and make a finished project; returns its id and the signed-in Cookie header."""
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = open_page(browser, base)
            sign_up(page, "Lighthouse Keeper")
            pid = make_finished_project(page, "The lighthouse", SCRIPT)
            cookies = page.context.cookies(base)
        finally:
            browser.close()
    return pid, "; ".join(f"{c['name']}={c['value']}" for c in cookies)


def lighthouse(url: str, headers_file: Path, report: Path) -> dict[str, int]:
    """Scores (0-100) of one Lighthouse run on ``url``."""
    subprocess.run(
        [str(LIGHTHOUSE), url, "--preset=desktop", "--quiet", "--output=json",
         f"--output-path={report}", f"--extra-headers={headers_file}",
         "--only-categories=performance,accessibility,best-practices",
         "--chrome-flags=--headless=new --no-sandbox"],
        check=True, timeout=240, env=dict(os.environ, CHROME_PATH=CHROMIUM))
    categories = json.loads(report.read_text())["categories"]
    return {name: round(categories[name]["score"] * 100) for name in TARGETS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per page; the median is shown")
    args = parser.parse_args()
    ensure_lighthouse()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scriptreel-lighthouse-") as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        with live_app(instance) as base:
            pid, cookie = build_project(base)
            headers_file = Path(tmp) / "headers.json"
            headers_file.write_text(json.dumps({"Cookie": cookie}))
            pages = {"projects": f"{base}/"}
            pages.update({step: f"{base}/projects/{pid}/{step}" for step in STEPS})
            rows = {}
            for name, url in pages.items():
                runs = [lighthouse(url, headers_file, OUT / f"{name}-{i + 1}.json")
                        for i in range(args.runs)]
                rows[name] = {k: int(statistics.median(r[k] for r in runs)) for k in TARGETS}
                print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in rows[name].items()),
                      flush=True)
    print(f"\n{'page':<10} " + " ".join(f"{k:>14}" for k in TARGETS))
    failed = []
    for name, scores in rows.items():
        print(f"{name:<10} " + " ".join(f"{scores[k]:>14}" for k in TARGETS))
        failed += [f"{name} {k} {scores[k]} < {TARGETS[k]}" for k in TARGETS if scores[k] < TARGETS[k]]
    print("\ntargets: " + ", ".join(f"{k} ≥ {v}" for k, v in TARGETS.items()))
    if failed:
        print("under target: " + "; ".join(failed) + f" (reports in {OUT.relative_to(ROOT)})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
