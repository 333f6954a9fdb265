#!/usr/bin/env bash
# Builds the test cluster's components from their Go modules into a cache outside the
# checkout, and prints the folder holding each one's binaries.
#
# Why a cache: a cold build of Kubernetes takes tens of minutes on two cores; keyed by
# the wrapper module's files (go.mod, go.sum, *.go) and the Go version, a second
# `make cluster` finds the binaries and starts in seconds, and a version bump in a
# go.mod rebuilds exactly that component.
#
# Usage: build.sh COMPONENT...   (kubernetes etcd coredns pause metrics-server); prints COMPONENT=DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=cluster/lib/common.sh
source "$here/lib/common.sh"

# One component's binaries: built once per content key, atomically (a build that fails or
# is interrupted leaves no half-filled folder that the next run would trust).
build_component() {
    local component="$1" module="$here/components/$1"
    [ -f "$module/go.mod" ] || die "no wrapper module for $component in $module"
    local key
    key="$( (go env GOVERSION; cd "$module" && cat go.mod $(ls go.sum ./*.go 2>/dev/null)) \
            | sha256sum | cut -c1-16)"
    local out="$CACHE_DIR/bin/$component-$key"
    if [ -f "$out/.complete" ]; then
        echo "$component=$out"
        return
    fi
    mkdir -p "$CACHE_DIR/bin"
    local tmp
    tmp="$(mktemp -d "$CACHE_DIR/bin/.$component.XXXXXX")"
    local started=$SECONDS
    log "build: $component (cold; cached as $out)"
    (
        cd "$module"
        export CGO_ENABLED=0
        case "$component" in
            kubernetes)
                # The binaries report the release they were built from, not v0.0.0-master.
                local version major minor ldflags="-s -w" package
                version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
                [ -n "$version" ] || die "go.mod of $module does not require k8s.io/kubernetes"
                major="${version#v}"; major="${major%%.*}"
                minor="${version#v*.}"; minor="${minor%%.*}"
                for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
                    ldflags+=" -X $package.gitVersion=$version -X $package.gitMajor=$major"
                    ldflags+=" -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
                    ldflags+=" -X $package.buildDate=1970-01-01T00:00:00Z"
                done
                # One `go build` for all six: packages they share compile once.
                # shellcheck disable=SC2046
                go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
                    $(awk '/^tool \($/ {t=1; next} t && /^\)/ {t=0} t {print $1}' go.mod)
                ;;
            etcd)
                go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 ;;
            metrics-server)
                go build -trimpath -ldflags "-s -w" -o "$tmp/metrics-server" \
                    sigs.k8s.io/metrics-server/cmd/metrics-server ;;
            coredns|pause)
                go build -trimpath -ldflags "-s -w" -o "$tmp/$component" . ;;
            *) die "unknown component $component" ;;
        esac
    ) >&2 || { rm -rf "$tmp"; die "build of $component failed (output above)"; }
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
    log "build: $component done in $((SECONDS - started)) s"
    echo "$component=$out"
}

command -v go >/dev/null || die "Go is not installed: the cluster is built from its Go modules (Go >= 1.26)"
for component in "$@"; do
    build_component "$component"
done
