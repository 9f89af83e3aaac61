# syntax=docker/dockerfile:1
# NeonChat: one image for the three processes (api, gateway, notifier) and the
# one-shot `migrate`. Build: docker build -t neonchat .
#   api      (default) python manage.py serve --host 0.0.0.0 --port 8080 --role api
#   gateway  python manage.py serve --host 0.0.0.0 --port 8082 --role gateway
#   notifier python manage.py run_notifier            (gRPC :8081, metrics :9081)
#   migrate  python manage.py migrate --noinput
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- builder ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers only here, for any dependency without a wheel for this platform.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip wheel --wheel-dir /tmp/wheels -r /tmp/requirements.txt \
    && pip install --no-index --find-links /tmp/wheels -r /tmp/requirements.txt \
    && rm -rf /tmp/wheels

# ------------------------------------------------------------------ final ----
FROM ${PYTHON_IMAGE} AS final
LABEL org.opencontainers.image.title="neonchat" \
      org.opencontainers.image.description="NeonChat messenger backend: api, gateway, notifier"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=neonchat.settings \
    PORT=8080
RUN groupadd --system --gid 10001 neonchat \
    && useradd --system --uid 10001 --gid neonchat --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin neonchat
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code stays owned by root (read-only for the app user).
COPY . /app
# Static files are collected at build time (APP_ENV unset: no production
# checks, no database or Redis needed). var/ itself is writable by the app
# user (embedded-mode SQLite); var/static stays root-owned and read-only.
RUN mkdir -p /app/var/static \
    && python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q /app \
    && chown neonchat:neonchat /app/var
# Numeric, so that runAsNonRoot-style checks can verify it.
USER 10001:10001
EXPOSE 8080 8081 8082 9081
STOPSIGNAL SIGTERM
# HTTP /health/live on $PORT by default; compose overrides it per service
# (`healthcheck.py http 8082` for the gateway, `healthcheck.py grpc 8081` for
# the notifier, which has gRPC health checking and no HTTP endpoint).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8080", "--role", "api"]
