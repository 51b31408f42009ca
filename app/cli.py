"""Command-line tools: `flask --app wsgi <group> <command>`."""
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
from flask import Flask, current_app

from . import ledger
from .extensions import db
from .models import User, Workspace
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


def _workspace(workspace_id: int) -> Workspace:
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise click.ClickException(f"No workspace with id {workspace_id}. "
                                   "`flask --app wsgi workspaces list` shows them.")
    return workspace


def _user(email: str) -> User:
    user = db.session.scalar(db.select(User).filter_by(email=email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No account with the email {email}. They sign up first "
                                   "(an operator invite works in any sign-up mode).")
    return user


def register_cli(app: Flask) -> None:
    @app.cli.group()
    def operators():
        """Who runs this Scriptreel: operators set plans, credits, quotas and sign-up."""

    @operators.command("add")
    @click.argument("email")
    def add_operator(email: str):
        user = _user(email)
        user.is_operator = True
        db.session.commit()
        click.echo(f"{user.name} <{user.email}> is an operator: the Operator page is in their top bar.")

    @operators.command("remove")
    @click.argument("email")
    def remove_operator(email: str):
        user = _user(email)
        user.is_operator = False
        db.session.commit()
        left = db.session.scalar(db.select(db.func.count()).select_from(User)
                                 .filter_by(is_operator=True))
        click.echo(f"{user.name} <{user.email}> is no longer an operator; {left} left."
                   + ("" if left else " Nobody can open the operator area until you add one."))

    @operators.command("list")
    def list_operators():
        for user in db.session.scalars(db.select(User).filter_by(is_operator=True).order_by(User.email)):
            click.echo(f"{user.email}\t{user.name}")

    @app.cli.group()
    def workspaces():
        """List workspaces and change their plan."""

    @workspaces.command("list")
    def list_workspaces():
        for ws in db.session.scalars(db.select(Workspace).order_by(Workspace.id)):
            click.echo(f"{ws.id}\t{ws.name}\tplan={ws.plan}\tvideo={'on' if ws.video_enabled else 'off'}"
                       f"\tcredits={ledger.balance(ws.id)}")

    @workspaces.command("set-plan")
    @click.argument("workspace_id", type=int)
    @click.argument("plan")
    def set_plan(workspace_id: int, plan: str):
        """Change a workspace's plan (there is no payment integration)."""
        plans = current_app.config["PLANS"]
        if plan not in plans:
            raise click.ClickException(f"Unknown plan {plan!r}; choose one of {', '.join(plans)}.")
        workspace = _workspace(workspace_id)
        workspace.plan = plan
        db.session.commit()
        ledger.ensure_monthly_grant(workspace)
        click.echo(f"{workspace.name} is now on the {plans[plan]['label']} plan.")

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
    @click.option("--voice", default="espeak", show_default=True, type=click.Choice(["espeak", "azure"]))
    @click.option("--transition", default="crossfade", show_default=True,
                  type=click.Choice(["cut", "crossfade", "fadeblack", "slide", "wipe"]))
    @click.option("--preset", default="1080p", show_default=True,
                  type=click.Choice(sorted(RENDER_PRESETS)))
    @click.option("--motion", default="off", show_default=True,
                  type=click.Choice(["off", "subtle", "strong"]))
    @click.option("--burn-captions", is_flag=True, help="Draw the captions into the picture.")
    def render(script: str, output: str, image_tier: str, voice: str, transition: str,
               preset: str, motion: str, burn_captions: bool):
        """Turn a script file into a narrated MP4 in one go (offline with the defaults)."""
        with open(script, "rb") as handle:
            try:
                text = decode_script(handle.read(), script)
            except ScriptImportError as exc:
                raise click.ClickException(str(exc))
        config = current_app.config
        options = RenderOptions(
            image_model=image_tier, voice_provider=voice, transition=transition,
            preset=RENDER_PRESETS[preset], motion=motion, burn_captions=burn_captions,
            stability_api_key=config["STABILITY_API_KEY"], azure_key=config["AZURE_SPEECH_KEY"],
            azure_region=config["AZURE_SPEECH_REGION"])
        out = Path(output).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        bar = TerminalProgress()
        with tempfile.TemporaryDirectory() as work:
            try:
                result = render_script(text, out, Path(work), Path(work) / "pieces", options, bar)
            except (ProviderError, ValueError) as exc:
                raise click.ClickException(getattr(exc, "user_message", str(exc)))
        bar.done()
        click.echo(f"Wrote {result.video} ({result.duration:.1f} s)")
        for extra in (result.srt, result.vtt, result.chapters, result.thumbnail):
            if extra:
                click.echo(f"      {extra}")
        if result.chapters_problem:
            click.echo(f"No chapters: {result.chapters_problem}")

    @app.cli.group()
    def credits():
        """Grant credits and show balances."""

    @credits.command("grant")
    @click.argument("workspace_id", type=int)
    @click.argument("amount", type=click.IntRange(1, 1_000_000))
    @click.option("--reason", default="Granted from the command line")
    def grant(workspace_id: int, amount: int, reason: str):
        workspace = _workspace(workspace_id)
        ledger.grant(workspace.id, amount, reason)
        click.echo(f"Granted {amount} credits to {workspace.name}; "
                   f"balance {ledger.balance(workspace.id)}.")
