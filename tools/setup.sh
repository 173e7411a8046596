#!/usr/bin/env bash
# Installs everything logistica needs on a fresh Debian machine, idempotently:
#   Debian packages (PostgreSQL server), a virtualenv in .venv with the package and its dev
#   extra, and (with --test-binaries) etcd, kube-apiserver, kubectl and helm built from Go
#   modules into ~/.cache/logistica/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

want_binaries=0
[ "${1:-}" = "--test-binaries" ] && want_binaries=1

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.logistica-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

if [ "$want_binaries" = 1 ]; then
  command -v go >/dev/null || { echo "setup: Go is required to build the test control plane" >&2; exit 1; }
  echo "setup: test binaries in $(bash tools/build-test-binaries.sh | tail -n1)" >&2
fi
