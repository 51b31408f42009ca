"""Gunicorn settings for the web process, sized by the platform's environment variables."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let each worker keep answering htmx status polls while another request waits on the database.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Slow work runs on RQ workers, so a request that takes longer than this is a bug;
# 30 s also matches the request limit of Heroku-style routers.
timeout = 30
# Platforms send SIGTERM and kill about 30 s later; finish in-flight requests before that.
graceful_timeout = 25
keepalive = 5
# Recycle workers now and then so a slow leak never grows into a memory-quota crash.
max_requests = 1000
max_requests_jitter = 100

# The heartbeat file lives in memory: a container's overlay disk can stall it into false timeouts.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The runtime control socket (gunicornc) is of no use on a platform and would write under $HOME.
control_socket_disable = True

# Platform routers terminate TLS and send X-Forwarded-*; trust them unless told otherwise.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# One line per request on stdout, with the router's request id to match the app's own log lines.
accesslog = "-"
errorlog = "-"
access_log_format = (
    'method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s duration_ms=%(M)s '
    'request_id=%({x-request-id}i)s remote=%({x-forwarded-for}i)s agent="%(a)s"'
)
