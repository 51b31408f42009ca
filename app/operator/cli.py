"""The operator's commands, `flask --app wsgi <group> <command>`: operators, workspaces (plans),
credits, storage (move media to S3) and backup (create, restore)."""
from __future__ import annotations

from itertools import islice
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, current_app

from .. import ledger
from ..extensions import db
from ..models import User, Workspace
from ..platform.media import get_storage
from ..platform.storage import Storage, migrate_storage, storage_from_settings
from .backup import BackupError, create_backup, restore_backup

# A bucket or disk that can't be reached or written: reported as a message, not a traceback.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


def _print_progress(done: int, total: int, what: str) -> None:
    click.echo(f"  [{done}/{total}] {what}")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _storage(backend: str) -> Storage:
    """The app's storage settings with the backend forced (the source and target of a move)."""
    try:
        return storage_from_settings({**current_app.config, "STORAGE_BACKEND": backend})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _migrate(target: str) -> None:
    root = Path(current_app.config["MEDIA_ROOT"])
    if not root.is_dir():
        raise click.ClickException(f"MEDIA_ROOT ({root}) is not a folder on this machine: there "
                                   "is nothing to copy. Run this where the media folder lives.")
    source, destination = _storage("local"), _storage(target)
    click.echo(f"Copying every object from {source!r} to {destination!r}")
    try:
        list(islice(destination.list_keys(), 1))  # wrong bucket or key: say so before copying
        report = migrate_storage(source, destination, on_progress=_print_progress)
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(
            f"The bucket could not be used: {exc}. Check S3_BUCKET, S3_ENDPOINT_URL, S3_REGION, "
            "S3_PATH_STYLE and the access key. Objects already copied stay; running the command "
            "again resumes.") from None
    click.echo(f"Copied {report.copied} object(s) ({_megabytes(report.bytes_copied)}), "
               f"{report.skipped} already identical, {len(report.repaired)} repaired.")
    for key in report.repaired:
        click.echo(f"  repaired (the bucket held different bytes): {key}")
    if not report.ok:
        listing = "\n".join(f"  {key}" for key in report.mismatches)
        raise click.ClickException(
            f"{len(report.mismatches)} object(s) read back from the bucket with a different "
            f"SHA-256 than the original:\n{listing}\nKeep STORAGE_BACKEND=local and run the "
            "command again; if the same objects keep failing, check the bucket and its provider.")
    click.echo(f"Every object is in the bucket and verified. You can now set STORAGE_BACKEND={target}.")


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


def register_operator_cli(app: Flask) -> None:
    """Add the operator's command groups to `flask --app wsgi`."""
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

    @app.cli.group("storage")
    def storage_group():
        """Move media between storage backends."""

    @storage_group.command("migrate")
    @click.option("--to", "target", type=click.Choice(["s3"]), required=True,
                  help="Copy the local media folder (MEDIA_ROOT) into the bucket set by S3_*.")
    def migrate(target: str):
        """Copy every media file to S3 and verify it by SHA-256; safe to interrupt and re-run."""
        _migrate(target)

    @app.cli.group("backup")
    def backup_group():
        """Back up the database and media to one archive, and restore it."""

    @backup_group.command("create")
    @click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
    def create(out: Path):
        """Write a consistent .tar.gz of every table and every media object."""
        if out.exists():
            raise click.ClickException(f"{out} already exists; choose a new name.")
        try:
            report = create_backup(db.engine, get_storage(), out, on_progress=_print_progress)
        except STORAGE_ERRORS as exc:
            raise click.ClickException(f"The backup failed ({exc}); no archive was written.") from None
        click.echo(f"Wrote {out}: {sum(report.rows.values())} rows in {len(report.rows)} tables "
                   f"(database revision {report.revision}), {report.objects} media objects "
                   f"({_megabytes(report.bytes)}).")
        if report.missing:
            click.echo(f"Note: {len(report.missing)} object(s) were deleted while the backup ran "
                       "and are not in it (for example after a project was deleted).")

    @backup_group.command("restore")
    @click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--force", is_flag=True,
                  help="Replace every row the database already holds instead of refusing.")
    def restore(archive: Path, force: bool):
        """Restore an archive into an empty database (after `db upgrade`) and the configured storage."""
        try:
            report = restore_backup(db.engine, get_storage(), archive, force=force,
                                    on_progress=_print_progress)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        except STORAGE_ERRORS as exc:
            raise click.ClickException(f"The restore failed ({exc}). Nothing was restored.") from None
        if report.replaced_rows:
            click.echo(f"Replaced {report.replaced_rows} rows that were in the database before.")
        click.echo(f"Restored {sum(report.rows.values())} rows in {len(report.rows)} tables and "
                   f"{report.objects} media objects ({_megabytes(report.bytes)}); every checksum "
                   "matches.")
