# syntax=docker/dockerfile:1
# One image for the web, worker and release (migration) processes.
# Every compiled dependency ships as a manylinux wheel (ffmpeg inside imageio-ffmpeg, eSpeak NG
# inside espeakng-loader, libpq inside psycopg-binary), so the image needs no compiler, no apt
# packages and no multi-stage build. The wheels are x86_64 builds; see docs/deployment.md for ARM hosts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    SCRIPTREEL_ENV=production \
    MEDIA_ROOT=/data/media \
    PORT=5000

# The app runs unprivileged; it may write only to the media folder (local storage) and /tmp.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin scriptreel \
 && mkdir -p /data/media \
 && chown scriptreel:scriptreel /data/media

WORKDIR /app

# Dependencies first, so a code change rebuilds only the layers below.
COPY requirements.txt .
RUN pip install -r requirements.txt

# Code stays owned by root: the app user can read it but not change it.
COPY . .
RUN python -m compileall -q app

USER scriptreel
EXPOSE 5000

# slim has no curl; the worker and release containers turn this check off (see docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '5000'), timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
