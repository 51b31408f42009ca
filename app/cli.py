"""Command-line tools: `flask --app wsgi <group> <command>`."""
import json

import click
from flask import Flask, current_app

from . import ledger
from .extensions import db
from .models import Workspace
from .pipeline.script_import import ScriptImportError, decode_script
from .pipeline.segmentation import segment, to_json


def _workspace(workspace_id: int) -> Workspace:
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise click.ClickException(f"No workspace with id {workspace_id}. "
                                   "`flask --app wsgi workspaces list` shows them.")
    return workspace


def register_cli(app: Flask) -> None:
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
