#!/usr/bin/env bash
# Builds the test cluster from Go modules (no prebuilt downloads):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl
#   from k8s.io/kubernetes, etcd from go.etcd.io/etcd, helm from helm.sh/helm/v3.
# Binaries are cached outside git in $LOGISTICA_BIN_DIR
# (default ~/.cache/logistica/bin/k8s-<ver>_etcd-<ver>_helm-<ver>); a warm run is a no-op.
# Prints the directory holding the binaries on its last line.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
HELM_VERSION=${HELM_VERSION:-v3.19.0}
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
tag="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
out=${LOGISTICA_BIN_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/logistica/bin/$tag"}

have_all() {
  for b in "${K8S_BINARIES[@]}" etcd helm; do [ -x "$out/$b" ] || return 1; done
}
if have_all; then echo "$out"; exit 0; fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

build_kubernetes() {
  local dir="$work/k8s" staging_ver="v0.${K8S_VERSION#v1.}"
  mkdir -p "$dir" && cd "$dir"
  # k8s.io/kubernetes points every staging module at ./staging; repeat each as a
  # replace to the published v0.x of the same release.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module logistica.dev/testbin/k8s"
    echo "go 1.24"
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
      | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for b in "${K8S_BINARIES[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
    printf ')\n'
  } > tools.go
  go mod tidy >/dev/null 2>&1 || true
  local b
  for b in "${K8S_BINARIES[@]}"; do
    [ -x "$out/$b" ] && continue
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}" \
      -o "$out/$b" "k8s.io/kubernetes/cmd/$b"
  done
}

build_simple() {  # name module package version
  local dir="$work/$1"
  mkdir -p "$dir" && cd "$dir"
  printf 'module logistica.dev/testbin/%s\ngo 1.24\nrequire %s %s\n' "$1" "$2" "$4" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$3" > tools.go
  go mod tidy >/dev/null 2>&1 || true
  go build -trimpath -ldflags "-s -w ${5:-}" -o "$out/$1" "$3"
}

[ -x "$out/etcd" ] || build_simple etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
[ -x "$out/helm" ] || build_simple helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
have_all || build_kubernetes
have_all
echo "$out"
