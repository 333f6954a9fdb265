#!/usr/bin/env bash
# Brings up everything the test suite uses, on a fresh Debian machine as root, and prints
# the two lines that point the tests at the cluster (for `eval`):
#   export KUBECONFIG=...            export MLKUBE_TEST_K8S_REGISTRY=...
# Idempotent: what runs already is left as it is, so a second `make test` starts at once.
#
# 1. Debian packages the tests and the cluster need (installed only when missing;
#    Chromium is the browser the studio's Playwright tests drive, never downloaded).
# 2. The cluster's Go components build in the background (the long pole on a cold
#    machine: ~20 min on 2 cores; cached outside the checkout after that) while
# 3. the Docker engine (with the debootstrapped base image) and PostgreSQL start,
# 4. then the single-node Kubernetes cluster starts (cluster/up.sh).
# Progress goes to stderr; a service that cannot start fails the run with its log.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(docker.io docker-registry debootstrap postgresql make ca-certificates iproute2
          containerd runc containernetworking-plugins iptables conntrack openssl curl
          chromium fonts-dejavu-core)

say() { echo "test-services: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "run as root: the tests start dockerd, PostgreSQL and a kubelet"; exit 1; }
command -v go >/dev/null || {
    say "Go is missing: the test cluster is built from its Go modules (Go >= 1.26 on PATH)"; exit 1; }

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

build_log="$(mktemp /tmp/mlkube-cluster-build.XXXXXX.log)"
bash cluster/lib/build.sh pause etcd coredns kubernetes metrics-server >/dev/null 2>"$build_log" &
build=$!

bash .ci/start-docker.sh >&2
bash .ci/start-postgres.sh >&2

if ! wait "$build"; then
    cat "$build_log" >&2
    say "building the cluster's components failed (log above)"
    exit 1
fi
grep -E "^cluster: build: .* done" "$build_log" >&2 || true
rm -f "$build_log"
bash cluster/up.sh
