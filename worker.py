"""RQ worker on all of Scriptreel's queues: `python worker.py`."""
import os

from rq import Queue
from rq.worker import HerokuWorker, Worker

from app import create_app
from app.pipeline.ffmpeg import ffmpeg_exe
from app.queue import QUEUES, redis_connection


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
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
