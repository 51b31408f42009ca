"""RQ worker on all of Scriptreel's queues: `python worker.py`."""
import logging
import os
import threading

from rq import Queue
from rq.worker import HerokuWorker, Worker

from app import create_app
from app.pipeline.ffmpeg import ffmpeg_exe
from app.platform.queue import QUEUES, redis_connection


MAINTENANCE_SECONDS = 20


def keep_queues_moving(app, stop: threading.Event) -> None:
    """Every little while: end jobs whose worker vanished and let waiting ones in (see app.jobs)."""
    from app.extensions import db
    from app.jobs import reconcile_everywhere
    while not stop.wait(MAINTENANCE_SECONDS):
        with app.app_context():
            try:
                reconcile_everywhere()
            except Exception:  # noqa: BLE001 - the next round tries again
                logging.getLogger("scriptreel.worker").warning("maintenance round failed", exc_info=True)
            finally:
                db.session.remove()


def main() -> None:
    app = create_app()
    ffmpeg_exe()  # finds and checks the bundled ffmpeg once, here: every job's forked process inherits it
    with app.app_context():
        connection = redis_connection()
        # HerokuWorker turns SIGTERM into a clean shutdown that re-queues the running job's
        # work via ShutDownImminentException; it behaves like Worker everywhere else.
        worker_class = HerokuWorker if os.environ.get("SCRIPTREEL_ENV") == "production" else Worker
        queues = [Queue(name, connection=connection) for name in QUEUES]
        worker = worker_class(queues, connection=connection)
        stop = threading.Event()
        threading.Thread(target=keep_queues_moving, args=(app, stop), daemon=True).start()
        try:
            worker.work(with_scheduler=True)
        finally:
            stop.set()


if __name__ == "__main__":
    main()
