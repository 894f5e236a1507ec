# syntax=docker/dockerfile:1
# trainctl service image. Build: docker build -t trainctl .   (or podman build --format docker)
# The base is a build argument so that machines without registry access can build on a local
# Debian bookworm image with Python 3.11 (see .ci/container-test); the default is the pinned
# public image. Its tag says which Python; the digest (the multi-arch index of that tag) fixes
# the bytes. Bump both together.
ARG BASE_IMAGE=python:3.11.17-slim-bookworm@sha256:0a310eeecf4e1f5a0743f9a6520c90c88d089c903ca5fd283f501e3a805f5f89

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH


FROM base AS build
WORKDIR /app
RUN python -m venv /opt/venv
# Dependencies first, from the pins alone: this layer is rebuilt when pyproject.toml or
# constraints.txt change, not on every source edit. The libraries' own test suites (~100 MB,
# never imported by the service) are dropped in the same layer; pip keeps no cache.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print(*deps, sep='\n')" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt -c constraints.txt \
    && rm /tmp/requirements.txt \
    && find /opt/venv/lib -type d -name tests -prune -exec rm -rf {} +
COPY README.md ./
COPY components ./components
COPY app ./app
# Editable on purpose: the local engine finds components/ beside app/ in the source tree, so
# the code stays in /app instead of being copied into site-packages.
RUN pip install --no-cache-dir --no-deps -e .


FROM base AS runtime
ENV MLFLOW_DISABLE_TELEMETRY=true \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/home/trainctl \
    TRAINCTL_DATA_DIR=/data \
    TRAINCTL_HOST=0.0.0.0 \
    TRAINCTL_PORT=8000 \
    TRAINCTL_AUTH_MODE=api-key
# A fixed numeric uid/gid, so volume permissions (Azure Files mount options) can name it.
RUN groupadd --system --gid 10001 trainctl \
    && useradd --system --uid 10001 --gid trainctl --home-dir /home/trainctl --create-home \
       --shell /usr/sbin/nologin trainctl \
    && mkdir /data \
    && chown trainctl:trainctl /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# The stdlib only: the slim image has no curl, and none is needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# SIGTERM drains: no new runs, running steps get TRAINCTL_SHUTDOWN_GRACE_SECONDS (30) to finish,
# the rest resumes at the next start. Allow the container longer than that to stop before it
# is killed (docker/podman run --stop-timeout 40, or the platform's termination grace period).
STOPSIGNAL SIGTERM
CMD ["trainctl", "serve", "--host", "0.0.0.0", "--port", "8000"]
