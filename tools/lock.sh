#!/usr/bin/env bash
# Refreshes the image's lock files with uv (pinned below, installed into a cache venv):
#   requirements.lock       runtime dependencies of pyproject.toml, pinned with hashes
#   requirements-build.lock pip + setuptools that build the project wheel in the image
# for CPython 3.11 on linux/x86_64 (manylinux_2_28; Debian bookworm has glibc 2.36).
# Run it after changing [project].dependencies, or to take newer versions; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
venv="${XDG_CACHE_HOME:-$HOME/.cache}/logistica/uv-$UV_VERSION"
if [ ! -x "$venv/bin/uv" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "uv==$UV_VERSION"
fi
compile() {
  "$venv/bin/uv" pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --generate-hashes --native-tls --no-header --custom-compile-command 'tools/lock.sh' "$@"
}
compile pyproject.toml -o requirements.lock
printf 'pip>=24\nsetuptools>=69\n' | compile - -o requirements-build.lock
echo "lock: wrote requirements.lock ($(grep -c '==' requirements.lock) pins) and requirements-build.lock" >&2
