# One image for every component: `logistica operator | ingest | route | solve | migrate`.
# Build: `tools/build-images.sh --push REGISTRY/logistica:TAG` (buildah, no daemon), or
# `docker build -t REGISTRY/logistica:TAG .`. BASE may be any Debian bookworm image with
# python3.11 + venv: python's slim image (the default, python in /usr/local/bin) or the
# Debian-packaged base tools/build-images.sh makes (python in /usr/bin, tini included).
ARG BASE=python:3.11-slim-bookworm

# --- build: a venv in /opt/venv from the pinned lock files + the project wheel -----------
FROM ${BASE} AS build
# Path of a CA bundle mounted read-only into the build for pip (never copied into a layer).
ARG PIP_CERT=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# binutils' strip: the wheels' shared libraries carry ~60 MB of symbols nothing here uses
RUN if ! command -v strip >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends binutils \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY requirements.lock requirements-build.lock ./
# /opt/build holds the pinned pip + setuptools; /opt/venv gets no pip at all.
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary :all: -r requirements-build.lock \
 && python3 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install \
      --require-hashes --no-deps --only-binary :all: --no-compile -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY workers ./workers
# Dead weight at runtime goes: packages' own test suites, C/Cython sources, the asyncio twin
# of the Kubernetes client (kubernetes.aio, 68 MB; logistica uses the sync client), symbols
# (not from libraries auditwheel patched: strip breaks those).
# Then byte-compile once (a read-only root cannot cache bytecode; pandas is skipped: only
# OR-Tools' unused modelling layers import it) and prove every heavy import still loads.
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi \
 && /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps --no-compile /tmp/dist/*.whl \
 && find /opt/venv -type d -name tests -prune -exec rm -rf {} + \
 && find /opt/venv -type f \( -name '*.c' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete \
 && rm -rf /opt/venv/lib/python3*/site-packages/kubernetes/aio \
 && find /opt/venv -type f -name '*.so*' ! -path '*.libs/*' -exec sh -c \
      'for f; do readelf -d "$f" | grep -q "R\(UN\)\?PATH" || strip --strip-unneeded "$f"; done' sh {} + \
 && /opt/venv/bin/python -m compileall -q -j 0 -x '/site-packages/pandas/' /opt/venv/lib \
 && /opt/venv/bin/python -c 'import asyncpg, matplotlib.pyplot, numpy, ortools.constraint_solver.pywrapcp, pandas, PIL.Image, pyvrp, uvloop, logistica_operator.main, logistica_workers.ingest.server, logistica_workers.routing.engines, logistica_workers.routing.plot, logistica_workers.routing.service'


# --- runtime: the base, tini, an unprivileged user and the venv -------------------------
FROM ${BASE} AS runtime
# tini as PID 1 forwards SIGTERM to logistica and reaps the solver's engine processes;
# installed only when the base lacks it. The base's own pip/setuptools (and the Debian
# base's venv wheels) are removed: nothing installs packages at runtime.
RUN set -eu; \
    if [ ! -x /usr/bin/tini ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends tini; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    if python3 -m pip --version >/dev/null 2>&1; then \
      python3 -m pip uninstall -y -q pip setuptools wheel; \
    fi; \
    if dpkg -s python3-pip-whl >/dev/null 2>&1; then \
      apt-get purge -y -q python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl; \
    fi; \
    groupadd --gid 10001 logistica; \
    useradd --uid 10001 --gid logistica --home-dir /nonexistent --no-create-home --no-log-init \
      --shell /usr/sbin/nologin logistica
COPY --from=build /opt/venv /opt/venv
# Everything that writes goes to /tmp (an emptyDir in the chart): the root stays read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache \
    HOME=/tmp
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["/usr/bin/tini", "--", "logistica"]
CMD ["--help"]
