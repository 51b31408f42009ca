"""Backups: one .tar.gz with every table's rows (portable JSON lines) and every media object.

Archive members, in the order restore reads them in a single streaming pass:
  scriptreel-backup.json   format, alembic revision, tables parents-first with columns, counts, SHA-256
  db/<table>.jsonl         one JSON array per row, values in the header's column order
  media/<key>              every object of the storage, byte for byte
  manifest.json            size and SHA-256 of every media object (known only once they are streamed)

Rows are read and written through reflected tables, not the models, so the format does not depend
on this version's schema: a SQLite install can move to PostgreSQL, and an old backup restores
into a database brought to the backup's own revision.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Integer,
    MetaData,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import sort_tables_and_constraints
from sqlalchemy.sql import sqltypes

from ..platform.storage import HashingReader, MissingObject, Storage, guess_content_type

FORMAT = "scriptreel-backup"
FORMAT_VERSION = 1
HEADER_NAME = "scriptreel-backup.json"
MANIFEST_NAME = "manifest.json"
DB_DIR = "db/"
MEDIA_DIR = "media/"
ALEMBIC_TABLE = "alembic_version"
INSERT_BATCH = 500
# Media is mostly PNG, WAV and H.264 already; gzip's default level 9 would spend minutes for ~nothing.
COMPRESS_LEVEL = 1

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]  # (done, total, what was just handled)


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass
class BackupReport:
    """What create_backup wrote."""

    path: Path
    revision: str | None
    rows: dict[str, int]
    objects: int
    bytes: int
    missing: list[str]  # listed, then deleted before they could be copied


@dataclass
class RestoreReport:
    """What restore_backup brought back."""

    revision: str | None
    rows: dict[str, int]
    objects: int
    bytes: int
    replaced_rows: int = 0  # rows that were in the target before and were deleted (--force)


# --- tables: order, snapshot, values ------------------------------------------------------------

@dataclass
class _Schema:
    """Reflected tables, parents first, with cycles broken only at nullable foreign keys."""

    tables: list[Table]
    cycle_columns: dict[str, list[str]]  # table name -> nullable columns that close a cycle

    @classmethod
    def reflect(cls, conn: Connection) -> _Schema:
        metadata = MetaData()
        metadata.reflect(bind=conn, only=lambda name, _meta: name != ALEMBIC_TABLE)
        # segment -> asset -> segment: the cycle may only be cut where NULL is allowed, so
        # those rows can go in first and get the value once the other side exists.
        nullable_only = lambda fk: None if all(c.nullable for c in fk.columns) else False
        tables, cycle_columns = [], {}
        for table, constraints in sort_tables_and_constraints(metadata.tables.values(),
                                                             filter_fn=nullable_only):
            if table is not None:
                tables.append(table)
                continue
            for fk in constraints:
                cycle_columns.setdefault(fk.table.name, []).extend(c.name for c in fk.columns)
        return cls(tables, cycle_columns)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def row_counts(self, conn: Connection) -> dict[str, int]:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in self.tables}

    def delete_all(self, conn: Connection) -> None:
        """Empty every table, children first, after cutting the cycles."""
        for table in self.tables:
            if columns := self.cycle_columns.get(table.name):
                conn.execute(update(table).values({name: None for name in columns}))
        for table in reversed(self.tables):
            conn.execute(delete(table))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the database at one moment, while the app keeps running."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if conn.dialect.name == "sqlite":
                # pysqlite only opens a transaction before a write; without BEGIN each table
                # would be read at a different moment.
                conn.exec_driver_sql("BEGIN")
            yield conn


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _encode(value):
    """JSON for the values json can't write itself; _decoder reverses it by column type."""
    if isinstance(value, (datetime, date, time_of_day)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def _decoder(column_type) -> Callable | None:
    """How to turn a JSON value back into what the column holds (None: use it as it is)."""
    if isinstance(column_type, sqltypes.DateTime):
        return datetime.fromisoformat
    if isinstance(column_type, sqltypes.Date):
        return date.fromisoformat
    if isinstance(column_type, sqltypes.Time):
        return time_of_day.fromisoformat
    if isinstance(column_type, sqltypes._Binary):
        return base64.b64decode
    if isinstance(column_type, sqltypes.Numeric) and not isinstance(column_type, sqltypes.Float):
        return Decimal
    return None


def _dump_table(conn: Connection, table: Table, path: Path) -> dict:
    """Write the table's rows to path as JSON lines; return its header entry."""
    digest, count = hashlib.sha256(), 0
    query = select(table).order_by(*table.primary_key.columns)
    with path.open("wb") as out:
        for row in conn.execute(query.execution_options(yield_per=1000)):
            line = json.dumps(list(row), default=_encode, ensure_ascii=False,
                              separators=(",", ":")).encode() + b"\n"
            out.write(line)
            digest.update(line)
            count += 1
    return {"name": table.name, "columns": [c.name for c in table.columns], "rows": count,
            "sha256": digest.hexdigest()}


# --- archive helpers ----------------------------------------------------------------------------

def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info


def _add_json(tar: tarfile.TarFile, name: str, document: dict) -> None:
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    tar.addfile(_member(name, len(data)), io.BytesIO(data))


def _add_object(tar: tarfile.TarFile, storage: Storage, key: str) -> dict | None:
    """Stream one stored object into the archive; None if it was deleted meanwhile."""
    try:
        size = storage.size(key)
        stream = storage.open_read(key)
    except MissingObject:
        return None
    with stream:
        reader = HashingReader(stream)
        tar.addfile(_member(MEDIA_DIR + key, size), reader)
    return {"key": key, "size": size, "sha256": reader.digest.hexdigest()}


# --- create -------------------------------------------------------------------------------------

def create_backup(engine: Engine, storage: Storage, out: str | os.PathLike,
                  on_progress: Progress | None = None) -> BackupReport:
    """Write the database (one consistent snapshot) and every media object to out (.tar.gz)."""
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    with tempfile.TemporaryDirectory(prefix="scriptreel-backup-") as work:
        with _snapshot(engine) as conn:
            revision = _revision(conn)
            schema = _Schema.reflect(conn)
            tables = [_dump_table(conn, t, Path(work) / f"{t.name}.jsonl") for t in schema.tables]
        # Listed after the snapshot, so every object its rows refer to already exists.
        keys = sorted(storage.list_keys())
        header = {"format": FORMAT, "version": FORMAT_VERSION,
                  "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "alembic_revision": revision, "dialect": engine.dialect.name,
                  "tables": tables, "media_objects": len(keys)}
        total = len(tables) + len(keys)
        objects, missing = [], []
        try:
            with tarfile.open(partial, "w:gz", compresslevel=COMPRESS_LEVEL) as tar:
                _add_json(tar, HEADER_NAME, header)
                for done, table in enumerate(tables, start=1):
                    path = Path(work) / f"{table['name']}.jsonl"
                    with path.open("rb") as rows:
                        tar.addfile(_member(DB_DIR + path.name, path.stat().st_size), rows)
                    _report(on_progress, done, total, f"table {table['name']}: {table['rows']} rows")
                for done, key in enumerate(keys, start=len(tables) + 1):
                    if entry := _add_object(tar, storage, key):
                        objects.append(entry)
                    else:
                        missing.append(key)
                    _report(on_progress, done, total, key if entry else f"{key} (deleted meanwhile)")
                _add_json(tar, MANIFEST_NAME, {"objects": objects, "missing": missing})
            os.replace(partial, out)  # a failed backup never leaves a plausible-looking archive
        finally:
            partial.unlink(missing_ok=True)
    return BackupReport(out, revision, {t["name"]: t["rows"] for t in tables}, len(objects),
                        sum(o["size"] for o in objects), missing)


def _report(on_progress: Progress | None, done: int, total: int, what: str) -> None:
    if on_progress:
        on_progress(done, total, what)


# --- restore ------------------------------------------------------------------------------------

class _TableLoader:
    """Inserts one table's rows in batches; foreign keys to rows not there yet are set afterwards."""

    def __init__(self, conn: Connection, table: Table, columns: list[str], loaded: set[str]):
        self.conn, self.table, self.columns = conn, table, columns
        self.decoders = [_decoder(table.c[name].type) for name in columns]
        # The archive lists parents first; what points at a later table (or at this one) waits.
        self.deferred = [c.name for fk in table.foreign_key_constraints
                         if fk.referred_table.name not in loaded for c in fk.columns]
        self.keys = [c.name for c in table.primary_key.columns]
        self.later: dict[str, list[dict]] = {name: [] for name in self.deferred}
        self.count = 0

    def load(self, lines: Iterator[bytes]) -> None:
        batch = []
        for line in lines:
            row = {name: decode(value) if decode and value is not None else value
                   for name, decode, value in zip(self.columns, self.decoders, json.loads(line),
                                                  strict=True)}
            for name in self.deferred:
                if row.get(name) is not None:
                    self.later[name].append({**{f"key_{k}": row[k] for k in self.keys},
                                             "value": row[name]})
                    row[name] = None
            batch.append(row)
            if len(batch) == INSERT_BATCH:
                self._insert(batch)
                batch = []
        if batch:
            self._insert(batch)

    def _insert(self, rows: list[dict]) -> None:
        self.conn.execute(self.table.insert(), rows)
        self.count += len(rows)

    def set_deferred(self) -> None:
        where = [self.table.c[k] == bindparam(f"key_{k}") for k in self.keys]
        for name, params in self.later.items():
            if params:
                self.conn.execute(update(self.table).where(*where)
                                  .values({name: bindparam("value")}), params)


class _HashingLines:
    """A member's lines, hashing exactly the bytes read."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.digest = stream, hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.digest.update(line)
            yield line


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """After explicit ids, PostgreSQL's sequences must continue past the highest one."""
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer
    for table in tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer):
                name, col = quote.format_table(table), quote.quote(column.name)
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                                  f"coalesce(max({col}), 1), max({col}) IS NOT NULL) FROM {name}"),
                             {"table": name, "column": column.name})


def _read_header(tar: tarfile.TarFile, member: tarfile.TarInfo | None, archive: Path) -> dict:
    if member is None or member.name != HEADER_NAME:
        raise BackupError(f"{archive} is not a Scriptreel backup (it has no {HEADER_NAME}).")
    header = json.load(tar.extractfile(member))
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise BackupError(f"{archive} is in a backup format this version of Scriptreel can't "
                          f"read ({header.get('format')} v{header.get('version')}).")
    return header


def _check_target(conn: Connection, schema: _Schema, header: dict) -> None:
    """The database must be at the backup's revision and have every table and column it holds."""
    wanted, current = header["alembic_revision"], _revision(conn)
    if current is None and not schema.tables:
        raise BackupError("The database has no tables yet. Run `flask --app wsgi db upgrade` "
                          "first, then restore.")
    if current != wanted:
        raise BackupError(
            f"The backup was made at database revision {wanted}, but this database is at "
            f"{current}. Restore into an empty database at the backup's revision (`flask --app "
            f"wsgi db upgrade {wanted}`; if this version of Scriptreel doesn't know that revision, "
            "the backup comes from a newer one: upgrade Scriptreel first), then run "
            "`flask --app wsgi db upgrade`.")
    for entry in header["tables"]:
        table = schema.table(entry["name"])
        missing = set(entry["columns"]) - set(table.columns.keys()) if table is not None else {"*"}
        if missing:
            raise BackupError(f"Table {entry['name']} in the backup doesn't match this database "
                              f"({', '.join(sorted(missing))} missing) although both are at "
                              f"revision {wanted}.")


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name} rows" for name, n in counts.items() if n)


def restore_backup(engine: Engine, storage: Storage, archive: str | os.PathLike, force: bool = False,
                   on_progress: Progress | None = None) -> RestoreReport:
    """Bring a backup back into an empty database (at its revision) and the configured storage.

    Rows go in one transaction that commits only after every table's checksum and count and
    every uploaded object's checksum (read back from the storage) match; on any failure nothing
    is committed and the objects uploaded so far are removed again.
    """
    archive = Path(archive)
    uploaded: list[str] = []
    try:
        with tarfile.open(archive, "r|gz") as tar, engine.begin() as conn:
            members = iter(tar)
            header = _read_header(tar, next(members, None), archive)
            schema = _Schema.reflect(conn)
            _check_target(conn, schema, header)
            existing = schema.row_counts(conn)
            if any(existing.values()):
                if not force:
                    raise BackupError(
                        f"The database is not empty ({_describe(existing)}). Restore into a fresh "
                        "database (an empty one after `flask --app wsgi db upgrade`), or pass "
                        "--force to replace everything in this one.")
                schema.delete_all(conn)
            report = _restore_members(conn, schema, header, tar, members, storage, uploaded,
                                      on_progress)
            report.replaced_rows = sum(existing.values())
        return report
    except (tarfile.TarError, EOFError, zlib.error, ValueError) as exc:  # bad gzip, JSON, text, key
        _remove(storage, uploaded)
        raise BackupError(f"{archive} is damaged or incomplete ({exc}). Nothing was restored.") from exc
    except BaseException:
        _remove(storage, uploaded)
        raise


def _restore_members(conn: Connection, schema: _Schema, header: dict, tar: tarfile.TarFile,
                     members: Iterator[tarfile.TarInfo], storage: Storage, uploaded: list[str],
                     on_progress: Progress | None) -> RestoreReport:
    """Load the tables and upload the media as they stream past, then verify everything."""
    tables = {entry["name"]: entry for entry in header["tables"]}
    total = len(tables) + header["media_objects"]
    loaders: dict[str, _TableLoader] = {}
    received: dict[str, tuple[int, str]] = {}
    manifest = None
    for done, member in enumerate(members, start=1):
        name = member.name
        if name == MANIFEST_NAME and member.isfile():
            manifest = json.load(tar.extractfile(member))
            break
        table_name = name[len(DB_DIR):].removesuffix(".jsonl") if name.startswith(DB_DIR) else None
        if member.isfile() and table_name in tables and table_name not in loaders and not received:
            entry = tables[table_name]
            loader = _TableLoader(conn, schema.table(table_name), entry["columns"], set(loaders))
            lines = _HashingLines(tar.extractfile(member))
            loader.load(iter(lines))
            if lines.digest.hexdigest() != entry["sha256"] or loader.count != entry["rows"]:
                raise BackupError(f"The rows of table {table_name} don't match their checksum: "
                                  "the archive is damaged. Nothing was restored.")
            loaders[table_name] = loader
            _report(on_progress, done, total, f"table {table_name}: {loader.count} rows")
        elif member.isfile() and name.startswith(MEDIA_DIR):
            key = name[len(MEDIA_DIR):]
            reader = HashingReader(tar.extractfile(member))
            uploaded.append(key)
            storage.put_stream(key, reader, guess_content_type(key))
            received[key] = (reader.size, reader.digest.hexdigest())
            _report(on_progress, done, total, key)
        else:
            raise BackupError(f"Unexpected entry {name!r} in the archive; nothing was restored.")
    if manifest is None or len(loaders) != len(tables):
        raise BackupError("The archive ends early (tables or its manifest are missing): it is "
                          "incomplete. Nothing was restored.")
    _verify_media(storage, manifest["objects"], received)
    for loader in loaders.values():
        loader.set_deferred()
    _reset_sequences(conn, schema.tables)
    counts = {name: loader.count for name, loader in loaders.items()}
    if schema.row_counts(conn) != {**{t.name: 0 for t in schema.tables}, **counts}:
        raise BackupError("The restored row counts differ from the backup's; nothing was restored.")
    return RestoreReport(header["alembic_revision"], counts, len(received),
                         sum(size for size, _ in received.values()))


def _verify_media(storage: Storage, expected: list[dict], received: dict[str, tuple[int, str]]) -> None:
    """Every object in the manifest arrived intact, and reads back identically from the storage."""
    listed = {o["key"]: (o["size"], o["sha256"]) for o in expected}
    if listed.keys() != received.keys():
        odd = sorted(listed.keys() ^ received.keys())
        raise BackupError(f"The archive's media doesn't match its manifest (e.g. {odd[0]}): it is "
                          "damaged. Nothing was restored.")
    damaged = [key for key, value in listed.items() if received[key] != value]
    if damaged:
        raise BackupError(f"{len(damaged)} media file(s) in the archive don't match their checksum "
                          f"(e.g. {damaged[0]}): the archive is damaged. Nothing was restored.")
    unreadable = [key for key, (_size, sha) in listed.items() if storage.checksum(key) != sha]
    if unreadable:
        raise BackupError(f"{len(unreadable)} media file(s) read back differently from the storage "
                          f"(e.g. {unreadable[0]}). Nothing was restored; check the storage and retry.")


def _remove(storage: Storage, keys: list[str]) -> None:
    """Undo a failed restore's uploads; best effort, since the original error matters more."""
    for key in keys:
        try:
            storage.delete(key)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not remove %s after a failed restore: %s", key, exc)
