"""Operator commands: `flask storage migrate --to s3` and `flask backup create|restore`."""
from __future__ import annotations

from itertools import islice
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, current_app

from .backup import BackupError, create_backup, restore_backup
from .extensions import db
from .media import get_storage
from .storage import Storage, migrate_storage, storage_from_settings

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


def register_ops_cli(app: Flask) -> None:
    """Add the `storage` and `backup` command groups to `flask --app wsgi`."""

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
