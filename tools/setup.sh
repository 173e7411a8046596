#!/usr/bin/env bash
# Installs everything logistica needs on a fresh Debian machine, idempotently:
#   Debian packages (PostgreSQL server), a virtualenv in .venv with the package and its dev
#   extra, and (with --test-binaries) etcd, kube-apiserver, kubectl and helm built from Go
#   modules into ~/.cache/logistica/bin. With --images also the Debian packages that build
#   the images without a daemon and run the test node (buildah, mmdebstrap, containerd, runc,
#   CNI plugins, iptables, conntrack, uidmap ...).
set -euo pipefail
cd "$(dirname "$0")/.."

want_binaries=0
want_images=0
for arg in "$@"; do
  case "$arg" in
    --test-binaries) want_binaries=1 ;;
    --images) want_images=1 ;;  # what the image build and the test node need
    *) echo "setup: unknown argument '$arg' (--test-binaries, --images)" >&2; exit 2 ;;
  esac
done

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt with a lock timeout, retried: other processes on the machine may be running apt too
apt_() {
  local attempt
  for attempt in 1 2 3; do
    if sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -qq "$@"; then
      return 0
    fi
    echo "setup: apt-get $1 failed (attempt $attempt of 3), retrying" >&2
    sleep $((attempt * 5))
  done
  return 1
}

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$want_images" = 1 ]; then
  # package:command (or :path) pairs; installed only when the command is missing
  for pair in buildah:buildah mmdebstrap:mmdebstrap containerd:containerd runc:runc \
    containernetworking-plugins:/usr/lib/cni/bridge iptables:iptables conntrack:conntrack \
    uidmap:newuidmap openssl:openssl util-linux:nsenter iproute2:ip; do
    pkg=${pair%%:*} probe=${pair#*:}
    if [ "${probe#/}" != "$probe" ]; then [ -e "$probe" ] || missing+=("$pkg")
    else command -v "$probe" >/dev/null || missing+=("$pkg"); fi
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  apt_ update
  apt_ install -y --no-install-recommends "${missing[@]}" >/dev/null
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
