"""Project commands: `flask --app wsgi segment|render` (offline, no database) and `export` (from the database).

The operator's commands (operators, workspaces, credits, storage, backup) are in app/operator/cli.py."""
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
from flask import Flask, current_app

from .assets import selfhosted
from .pipeline.images import MODELS, ProviderError
from .pipeline.render import RenderOptions, render_script
from .pipeline.script_import import ScriptImportError, decode_script
from .pipeline.segmentation import segment, to_json

RENDER_PRESETS = {"1080p": "1080p30", "720p": "720p30", "vertical": "vertical1080x1920"}


class TerminalProgress:
    """A one-line progress bar with stage and time left, redrawn in place."""

    def __init__(self):
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        self.last = max(self.last, min(fraction, 1.0))
        width = 30
        filled = int(self.last * width)
        elapsed = time.monotonic() - self.started
        left = f"{elapsed / self.last * (1 - self.last):4.0f} s left" if self.last > 0.02 else "           "
        columns = shutil.get_terminal_size((100, 20)).columns
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.last * 100:5.1f}% {left}  {stage}"
        sys.stderr.write("\r" + line[:columns - 1].ljust(columns - 1))
        sys.stderr.flush()

    def done(self) -> None:
        self(1.0, f"done in {time.monotonic() - self.started:.1f} s")
        sys.stderr.write("\n")


def register_cli(app: Flask) -> None:
    @app.cli.command("segment")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--wpm", default=150.0, show_default=True, help="Speaking rate, words per minute.")
    @click.option("--min-seconds", default=4.0, show_default=True)
    @click.option("--max-seconds", default=15.0, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the segmentation as JSON.")
    def segment_file(file: str, wpm: float, min_seconds: float, max_seconds: float,
                     as_json: bool):
        """Cut a script file into topics and timed scenes (offline)."""
        with open(file, "rb") as handle:
            data = handle.read()
        try:
            text = decode_script(data, file, max_bytes=current_app.config["MAX_SCRIPT_FILE_BYTES"],
                                 max_chars=current_app.config["MAX_SCRIPT_CHARS"])
        except ScriptImportError as exc:
            raise click.ClickException(str(exc))
        cut = segment(text, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)
        if as_json:
            click.echo(json.dumps(to_json(cut), ensure_ascii=False, indent=2))
            return
        for number, topic in enumerate(cut.topics):
            click.echo(f"\n## {topic.title}")
            for scene in (s for s in cut.segments if s.topic == number):
                click.echo(f"  [{scene.seconds:5.1f} s] {' '.join(scene.text.split())[:100]}")

    @app.cli.command("render")
    @click.argument("script", type=click.Path(exists=True, dir_okay=False))
    @click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
                  help="Where to write the MP4; captions, chapters and thumbnail go beside it.")
    @click.option("--image-tier", default="draft", show_default=True,
                  type=click.Choice(sorted(MODELS)), help="Image model (draft works offline).")
    @click.option("--voice", default="piper", show_default=True, type=click.Choice(["piper", "espeak", "azure"]),
                  help="Voice engine, with its default voice.")
    @click.option("--transition", default="crossfade", show_default=True,
                  type=click.Choice(["cut", "crossfade", "fadeblack", "slide", "wipe"]))
    @click.option("--preset", default="1080p", show_default=True,
                  type=click.Choice(sorted(RENDER_PRESETS)))
    @click.option("--motion", default="off", show_default=True,
                  type=click.Choice(["off", "subtle", "strong"]))
    @click.option("--burn-captions", is_flag=True, help="Draw the captions into the picture.")
    @click.option("--caption-style", default="plain", show_default=True, type=click.Choice(["plain", "words"]),
                  help="Burned-in captions: plain, or with the spoken word lit.")
    @click.option("--timeline", type=click.Path(dir_okay=False),
                  help="Also write the editing package (timelines for Premiere, Resolve, Final Cut + media) here.")
    def render(script: str, output: str, image_tier: str, voice: str, transition: str,
               preset: str, motion: str, burn_captions: bool, caption_style: str, timeline: str | None):
        """Turn a script file into a narrated MP4 in one go (offline with the defaults)."""
        with open(script, "rb") as handle:
            try:
                text = decode_script(handle.read(), script)
            except ScriptImportError as exc:
                raise click.ClickException(str(exc))
        config = current_app.config
        options = RenderOptions(
            image_model=image_tier, voice_provider=voice, transition=transition,
            preset=RENDER_PRESETS[preset], motion=motion, burn_captions=burn_captions, caption_style=caption_style,
            stability_api_key=config["STABILITY_API_KEY"], selfhosted=selfhosted.server(),
            azure_key=config["AZURE_SPEECH_KEY"],
            azure_region=config["AZURE_SPEECH_REGION"])
        out = Path(output).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        bar = TerminalProgress()
        with tempfile.TemporaryDirectory() as work:
            try:
                result = render_script(text, out, Path(work), Path(work) / "pieces", options, bar,
                                       timeline=Path(timeline).resolve() if timeline else None)
            except (ProviderError, ValueError) as exc:
                raise click.ClickException(getattr(exc, "user_message", str(exc)))
        bar.done()
        click.echo(f"Wrote {result.video} ({result.duration:.1f} s)")
        for extra in (result.srt, result.vtt, result.chapters, result.thumbnail):
            if extra:
                click.echo(f"      {extra}")
        if timeline:
            click.echo(f"      {Path(timeline).resolve()} (editing package)")
        if result.chapters_problem:
            click.echo(f"No chapters: {result.chapters_problem}")

    @app.cli.command("export")
    @click.argument("project_id", type=int)
    @click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
                  help="Where to write the zip.")
    @click.option("--version", "version", type=int, help="Which compiled version (default: the latest).")
    def export(project_id: int, output: str, version: int | None):
        """Write a project's editing package (timelines + media) from the database, for its latest compile."""
        from .editing.service import PackageUnavailable, write_editing_package
        from .extensions import db
        from .models import Project
        from .video.service import finished_compiles
        project = db.session.get(Project, project_id)
        if project is None:
            raise click.ClickException(f"There is no project {project_id}.")
        compiles = [j for j in finished_compiles(project) if version is None or j.result.get("version") == version]
        if not compiles:
            raise click.ClickException("That project has no such compiled video: compile it first.")
        bar = TerminalProgress()
        with tempfile.TemporaryDirectory() as work:
            try:
                out = write_editing_package(compiles[0], project, Path(work), Path(output).resolve(), bar)
            except PackageUnavailable as exc:
                raise click.ClickException(str(exc))
        bar.done()
        click.echo(f"Wrote {out} (version {compiles[0].result.get('version')} of “{project.title}”)")
