"""The Flask application factory: config, extensions, blueprints, CLI, error pages."""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

from flask import Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm.exc import StaleDataError

from . import access
from .config import load_config
from .extensions import csrf, db, htmx, login, migrate
from .platform.media import remove_uncommitted_files
from .pipeline.images.bounded_decode import release_freed_pictures_to_the_os
from .partials import CONFLICT_MESSAGE, notice_fragment


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the web server read while a worker writes; the busy timeout queues writers.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_app(overrides: dict | None = None) -> Flask:
    # SCRIPTREEL_INSTANCE_PATH lets tests and launchers keep local data elsewhere.
    app = Flask(__package__, instance_relative_config=True,
                instance_path=os.environ.get("SCRIPTREEL_INSTANCE_PATH") or None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_config(Path(app.instance_path), overrides))
    release_freed_pictures_to_the_os()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    login.init_app(app)
    login.login_view = "auth.login"
    login.login_message = "Please log in to continue."
    login.login_message_category = "info"

    from .auth.sessions import load_user
    login.user_loader(load_user)

    from .platform.security import init_security
    init_security(app)
    app.before_request(access.load_workspace)
    app.before_request(access.enforce_access)
    app.before_request(_monthly_credits)

    from .assets.look import bp as look_bp
    from .assets.routes import bp as assets_bp
    from .auth.routes import bp as auth_bp
    from .credits.routes import bp as credits_bp
    from .editing.routes import bp as editing_bp
    from .platform.health import bp as health_bp
    from .platform.media import bp as media_bp
    from .operator.routes import bp as operator_bp
    from .projects.routes import bp as projects_bp
    from .review.public import bp as review_bp
    from .review.routes import bp as feedback_bp
    from .scenes.routes import bp as scenes_bp
    from .script.routes import bp as script_bp
    from .video.routes import bp as video_bp
    from .workspaces.routes import bp as workspaces_bp

    for blueprint in (auth_bp, workspaces_bp, credits_bp, projects_bp, script_bp, scenes_bp,
                      assets_bp, look_bp, video_bp, media_bp, health_bp, operator_bp, editing_bp, feedback_bp,
                      review_bp):
        app.register_blueprint(blueprint)

    from .cli import register_cli
    from .operator.cli import register_operator_cli
    register_cli(app)
    register_operator_cli(app)
    _register_template_helpers(app)
    _register_error_pages(app)
    return app


def _monthly_credits() -> None:
    """Grant the plan's monthly credits on the first request of a month (memoised per process)."""
    from . import ledger
    from .models import utcnow

    workspace = g.get("workspace")
    if workspace is None:
        return
    seen = current_app.extensions.setdefault("scriptreel_monthly", set())
    marker = (workspace.id, f"{utcnow():%Y-%m}")
    if marker not in seen:
        ledger.ensure_monthly_grant(workspace)
        seen.add(marker)


def _register_template_helpers(app: Flask) -> None:
    from . import ledger
    from .auth.sessions import device
    from .models import STEPS
    from .workspaces.usage import human_size

    app.add_template_filter(human_size, "filesize")
    app.add_template_filter(device, "device")

    @app.context_processor
    def navigation():
        workspace = g.get("workspace")
        return {
            "can": access.can,
            "self_service_allowed": access.self_service_allowed,
            "STEPS": STEPS,
            "current_workspace": workspace,
            "current_role": g.get("role"),
            "credit_balance": ledger.balance(workspace.id) if workspace else None,
            "plans": app.config["PLANS"],
            "CONFLICT_MESSAGE": CONFLICT_MESSAGE,
        }


def _register_error_pages(app: Flask) -> None:
    def page(status: int, title: str, message: str):
        if request.headers.get("HX-Request"):
            return notice_fragment("_error.html", status, status=status, message=message)
        return render_template("error.html", status=status, title=title, message=message), status

    app.register_error_handler(404, lambda e: page(
        404, "Not found", "There is nothing here, or it belongs to another workspace."))
    app.register_error_handler(405, lambda e: page(405, "Not allowed", "That action isn't possible here."))
    app.register_error_handler(413, lambda e: page(
        413, "File too large",
        f"Uploads are limited to {app.config['MAX_CONTENT_LENGTH'] // (1024 * 1024)} MB. "
        "Nothing was changed."))
    def os_error(error: OSError):
        if error.errno != errno.ENOSPC:
            raise error
        db.session.rollback()
        return page(507, "Storage is full", "The media storage is full, so your file was not "
                    "saved; nothing else changed. Ask whoever runs Scriptreel to free some space.")

    app.register_error_handler(OSError, os_error)

    def edited_at_the_same_time(_error: StaleDataError):
        # Two saves of the same scene crossed (another tab, a colleague): the later one is
        # refused whole, and what its sender typed is handed back to re-apply.
        db.session.rollback()
        typed = {name: value for name, value in request.form.items()
                 if name not in ("csrf_token", "version") and len(value) > 2 and not value.isdigit()}
        if request.headers.get("HX-Request"):
            return notice_fragment("_conflict.html", 409, typed=typed)
        return render_template("error.html", status=409, title="Changed at the same moment",
                               message=CONFLICT_MESSAGE), 409

    app.register_error_handler(StaleDataError, edited_at_the_same_time)
    app.teardown_request(remove_uncommitted_files)
    app.register_error_handler(CSRFError, lambda e: page(
        400, "Form expired", "Your session's security token was missing or out of date. "
        "Reload the page and try again; nothing was changed."))
