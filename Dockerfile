# syntax=docker/dockerfile:1
# One image for every component: `logistica operator | ingest | route | solve | migrate`.

# --- build: wheels for the project and its runtime dependencies --------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY workers ./workers
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/logistica-*.whl

# --- runtime: slim, non-root, only what runs ----------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
# tini as PID 1: forwards SIGTERM to logistica and reaps the solver's engine processes
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 logistica \
 && useradd --system --uid 10001 --gid logistica --home-dir /nonexistent --no-create-home logistica
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels logistica \
 && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["/usr/bin/tini", "--", "logistica"]
CMD ["--help"]
