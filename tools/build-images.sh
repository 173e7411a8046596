#!/usr/bin/env bash
# Builds the container images without a Docker daemon (buildah, chroot isolation).
#
#   tools/build-images.sh
#       The test images, cached under ~/.cache/logistica/images (or $LOGISTICA_IMAGES_CACHE).
#       Prints on its LAST line a directory holding
#         logistica.oci.tar  image localhost/logistica:test, built from the Dockerfile on a
#                            Debian base made here with mmdebstrap (localhost/logistica-base)
#         pause.oci.tar      image localhost/logistica-pause:1, tools/pause FROM scratch
#         postgres.oci.tar   image localhost/logistica-postgres:test, the chart's bundled
#                            trial database (tools/postgres/Dockerfile on the same base)
#       all importable with `ctr -n k8s.io images import FILE`. Each image is rebuilt only
#       when its inputs change; a warm run takes about a second.
#
#   tools/build-images.sh --push REGISTRY/logistica:TAG [--local-base]
#       Builds the image from the Dockerfile as users get it (FROM python:3.11-slim-bookworm,
#       pulled from Docker Hub; with --local-base on the Debian base made here instead) and
#       pushes it. REF may name a transport (oci-archive:FILE:NAME, oci:DIR, docker://...);
#       a bare reference means docker://. Uses buildah, or docker when buildah is missing.
#
#   tools/build-images.sh --push-postgres REGISTRY/postgres:15 [--local-base]
#       The same for the bundled trial database's image (tools/postgres/Dockerfile, FROM
#       debian:bookworm-slim, or the local Debian base). --push and --push-postgres may be
#       given together.
#
# On a shared machine, LOGISTICA_HEAVY_LOCK=FILE makes cold builds wait for that lock file (flock)
# unless a parent process already holds it, so they do not run beside other heavy jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

push_ref=""
push_pg_ref=""
local_base=0
while [ $# -gt 0 ]; do
  case "$1" in
    --push)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "build-images: --push needs an image reference, e.g. --push registry.example.com/logistica:0.1.0" >&2; exit 2; }
      push_ref=$2; shift 2 ;;
    --push-postgres)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "build-images: --push-postgres needs an image reference, e.g. --push-postgres registry.example.com/postgres:15" >&2; exit 2; }
      push_pg_ref=$2; shift 2 ;;
    --local-base) local_base=1; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$local_base" = 0 ] || [ -n "$push_ref$push_pg_ref" ] || { echo "build-images: --local-base only goes with --push or --push-postgres" >&2; exit 2; }

log() { echo "build-images: $*" >&2; }

# --- push mode with docker when there is no buildah -----------------------------------------
if [ -n "$push_ref$push_pg_ref" ] && ! command -v buildah >/dev/null && command -v docker >/dev/null; then
  [ "$local_base" = 0 ] || { echo "build-images: --local-base needs buildah and mmdebstrap" >&2; exit 2; }
  if [ -n "$push_ref" ]; then
    ref=${push_ref#docker://}
    docker build -t "$ref" .
    docker push "$ref"
    echo "$ref"
  fi
  if [ -n "$push_pg_ref" ]; then
    ref=${push_pg_ref#docker://}
    docker build -t "$ref" tools/postgres
    docker push "$ref"
    echo "$ref"
  fi
  exit 0
fi
for tool in buildah mmdebstrap go; do
  command -v "$tool" >/dev/null || { echo "build-images: $tool is missing (tools/setup.sh --images installs it)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build-images: needs root (buildah storage, mmdebstrap chroot)" >&2; exit 1; }

cache=${LOGISTICA_IMAGES_CACHE:-"${XDG_CACHE_HOME:-$HOME/.cache}/logistica/images"}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One private buildah store: never touches /var/lib/containers of the host.
bah() { buildah --root "$cache/storage" --runroot "$cache/runroot" --storage-driver overlay "$@"; }

# Serialise concurrent callers (parallel test sessions): one builds, the others wait.
exec 8>"$cache/.lock"
flock 8

heavy_lock=${LOGISTICA_HEAVY_LOCK-}
heavy_held=0
[ -n "$heavy_lock" ] || heavy_held=1
heavy() {  # run "$@" under the heavy lock unless an ancestor already holds it
  if [ "$heavy_held" = 1 ]; then "$@"; return; fi
  local holders p
  holders=$(lslocks -n -r -o PID,MODE,PATH 2>/dev/null | awk -v f="$heavy_lock" '$3 == f && $2 !~ /\*/ {print $1}')
  p=$$
  while [ "${p:-1}" -gt 1 ]; do
    if grep -qx "$p" <<<"$holders"; then heavy_held=1; "$@"; return; fi
    p=$(ps -o ppid= -p "$p" | tr -d ' ')
  done
  exec 9>"$heavy_lock"
  log "waiting for the heavy-work lock $heavy_lock"
  flock 9
  heavy_held=1
  "$@"
}

hash_files() { sha256sum "$@" | sha256sum | cut -c1-16; }

# --- the Debian base ------------------------------------------------------------------------
base_pkgs=python3,python3-venv,ca-certificates,tini,passwd
mmdebstrap_args=(--variant=minbase --mode=root --format=tar --include="$base_pkgs"
  # merged /usr by mmdebstrap's hook, not the usrmerge package (which drags in 48 MB of perl)
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # the archive mirror here serves Release files past their Valid-Until
  --aptopt='Acquire::Check-Valid-Until "false"'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  bookworm)
base_key=$(printf '%s\n' "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
base_image=localhost/logistica-base:$base_key

build_base() {
  local t0=$SECONDS tar="$cache/base-$base_key.tar"
  if [ ! -s "$tar" ]; then
    log "making the Debian base with mmdebstrap (~2-3 min)"
    mmdebstrap --quiet "${mmdebstrap_args[@]}" "$tar.part"
    mv "$tar.part" "$tar"
  fi
  local c
  c=$(bah from scratch)
  bah add --quiet "$c" "$tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash "$c"
  bah commit --quiet --rm "$c" "$base_image" >/dev/null
  rm -f "$tar"  # the image holds it now
  # bases made with other mmdebstrap arguments are superseded
  bah images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/logistica-base:' \
    | grep -v ":$base_key\$" | while read -r old; do bah rmi "$old" >/dev/null 2>&1 || true; done || true
  log "base $base_image ready in $((SECONDS - t0)) s"
}
ensure_base() {
  bah inspect --type image "$base_image" >/dev/null 2>&1 || heavy build_base
}

# CA bundle of the host for pip inside the build (mounted read-only, never in a layer)
ca_args=()
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -s "$ca" ]; then
    ca_args=(--volume "$ca:/run/logistica-build-ca.crt:ro" --build-arg PIP_CERT=/run/logistica-build-ca.crt)
    break
  fi
done

build_logistica() {  # $1 = base image or "" for the Dockerfile's default; $2 = tag
  local t0=$SECONDS base_args=()
  [ -z "$1" ] || base_args=(--build-arg "BASE=$1")
  log "building $2 from the Dockerfile${1:+ on $1}"
  bah bud --quiet --isolation chroot --layers --format oci "${base_args[@]}" "${ca_args[@]}" \
    --tag "$2" --file Dockerfile . >/dev/null
  log "$2 built in $((SECONDS - t0)) s"
}

build_postgres() {  # $1 = base image or "" for the Dockerfile's default; $2 = tag
  local t0=$SECONDS base_args=()
  [ -z "$1" ] || base_args=(--build-arg "BASE=$1")
  log "building $2 from tools/postgres/Dockerfile${1:+ on $1}"
  bah bud --quiet --isolation chroot --layers --format oci "${base_args[@]}" \
    --tag "$2" --file tools/postgres/Dockerfile tools/postgres >/dev/null
  log "$2 built in $((SECONDS - t0)) s"
}

push_to() {  # $1 = local image, $2 = reference as given
  local dest
  case "$2" in
    *://*|oci:*|oci-archive:*|dir:*|docker-archive:*) dest=$2 ;;
    *) dest=docker://$2 ;;
  esac
  bah push --quiet "$1" "$dest"
  log "pushed to $dest"
  echo "$dest"
}

if [ -n "$push_ref$push_pg_ref" ]; then
  base=""
  if [ "$local_base" = 1 ]; then ensure_base; base=$base_image; fi
  if [ -n "$push_ref" ]; then
    heavy build_logistica "$base" localhost/logistica:push
    push_to localhost/logistica:push "$push_ref"
  fi
  if [ -n "$push_pg_ref" ]; then
    heavy build_postgres "$base" localhost/logistica-postgres:push
    push_to localhost/logistica-postgres:push "$push_pg_ref"
  fi
  exit 0
fi

# --- the test images (cached) ---------------------------------------------------------------
inputs=$(find Dockerfile requirements.lock requirements-build.lock pyproject.toml README.md \
  .dockerignore operator workers -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort)
# shellcheck disable=SC2086 # file names in this repo have no spaces
app_key=$( (echo "$base_key"; hash_files $inputs) | sha256sum | cut -c1-16)
pause_key=$(hash_files tools/pause/go.mod tools/pause/main.go)
app_tar=$cache/logistica-$app_key.oci.tar
pause_tar=$cache/pause-$pause_key.oci.tar
pg_key=$( (echo "$base_key"; hash_files tools/postgres/Dockerfile tools/postgres/entrypoint.sh) | sha256sum | cut -c1-16)
pg_tar=$cache/postgres-$pg_key.oci.tar

if [ ! -s "$app_tar" ]; then
  ensure_base
  heavy build_logistica "$base_image" "localhost/logistica:$app_key"
  bah tag "localhost/logistica:$app_key" localhost/logistica:test
  rm -f "$app_tar.part"
  bah push --quiet "localhost/logistica:$app_key" "oci-archive:$app_tar.part:localhost/logistica:test"
  mv "$app_tar.part" "$app_tar"
  # older builds of the app image are superseded (their layers stay cached for --layers)
  find "$cache" -maxdepth 1 -name 'logistica-*.oci.tar' ! -name "logistica-$app_key.oci.tar" -delete
  bah images --format '{{.Name}}:{{.Tag}}' | grep -E '^localhost/logistica:[0-9a-f]{16}$' \
    | grep -v ":$app_key\$" | while read -r old; do bah rmi "$old" >/dev/null 2>&1 || true; done || true
fi

if [ ! -s "$pause_tar" ]; then
  t0=$SECONDS
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
  (cd tools/pause && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$workdir/pause" .)
  c=$(bah from scratch)
  bah copy --quiet --chmod 0755 "$c" "$workdir/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bah commit --quiet --rm "$c" localhost/logistica-pause:1 >/dev/null
  rm -f "$pause_tar.part"
  bah push --quiet localhost/logistica-pause:1 "oci-archive:$pause_tar.part:localhost/logistica-pause:1"
  mv "$pause_tar.part" "$pause_tar"
  find "$cache" -maxdepth 1 -name 'pause-*.oci.tar' ! -name "pause-$pause_key.oci.tar" -delete
  log "pause image built in $((SECONDS - t0)) s"
fi

if [ ! -s "$pg_tar" ]; then
  ensure_base
  heavy build_postgres "$base_image" "localhost/logistica-postgres:$pg_key"
  rm -f "$pg_tar.part"
  bah push --quiet "localhost/logistica-postgres:$pg_key" \
    "oci-archive:$pg_tar.part:localhost/logistica-postgres:test"
  mv "$pg_tar.part" "$pg_tar"
  find "$cache" -maxdepth 1 -name 'postgres-*.oci.tar' ! -name "postgres-$pg_key.oci.tar" -delete
  bah images --format '{{.Name}}:{{.Tag}}' | grep -E '^localhost/logistica-postgres:[0-9a-f]{16}$' \
    | grep -v ":$pg_key\$" | while read -r old; do bah rmi "$old" >/dev/null 2>&1 || true; done || true
fi

# The printed directory: one per (app, pause, postgres) set, hard links to the cached archives
# (in sets/: out/ was the layout of the two-image script, which removes it whole).
out=$cache/sets/$app_key-$pause_key-$pg_key
if [ ! -s "$out/logistica.oci.tar" ] || [ ! -s "$out/pause.oci.tar" ] || [ ! -s "$out/postgres.oci.tar" ]; then
  rm -rf "$cache/sets"  # older sets point at archives that are gone
  mkdir -p "$out"
  ln "$app_tar" "$out/logistica.oci.tar"
  ln "$pause_tar" "$out/pause.oci.tar"
  ln "$pg_tar" "$out/postgres.oci.tar"
fi
echo "$out"
