# nvr: one image for every service of docker-compose.yml (migrate, web, worker).
# The commands are the project's own, the same `make run` uses: scripts/setup.sh,
# scripts/serve-web.sh, `python manage.py capture`. Those scripts use .venv/bin/python when
# it exists and `python` otherwise; here `python` is the virtualenv in /opt/venv (on PATH).
ARG PYTHON_VERSION=3.11

# Build stage: requirements into a virtualenv. Compilers live here only, for any
# dependency without a wheel for the target platform; the runtime stage copies the venv.
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt requirements-nodeps.txt /tmp/
RUN /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-nodeps.txt

# Runtime stage. opencv-python-headless bundles its FFmpeg and needs no system libraries
# beyond what the slim image has (no libGL, no GLib: it has no GUI backend).
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=nvr.settings \
    HOST=0.0.0.0 \
    PORT=8000
# A system user without a shell; "video" lets it open USB cameras passed in with `devices:`.
RUN groupadd --system --gid 10001 nvr \
    && useradd --system --uid 10001 --gid nvr --groups video --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin nvr \
    && mkdir -p /var/lib/nvr /var/lib/nvr-recordings /var/lib/nvr-exports /var/lib/nvr-export-key \
    && chown nvr:nvr /var/lib/nvr /var/lib/nvr-recordings /var/lib/nvr-exports /var/lib/nvr-export-key \
    && chmod 0700 /var/lib/nvr-export-key
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code stays root-owned (read-only for the service); only collected static files are nvr's.
COPY . /app
# Static files with hashed names, baked into the image so every web container serves the
# files of its own code version (whitenoise). The migrate service's collectstatic refreshes
# them in its own container only. The key below exists for this build step alone.
RUN SECRET_KEY=collectstatic-build-only DEBUG=0 python manage.py collectstatic --noinput -v0 \
    && python -m compileall -q /app \
    && chown -R nvr:nvr /app/staticfiles
USER nvr
EXPOSE 8000
CMD ["scripts/serve-web.sh"]
