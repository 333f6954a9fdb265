#!/usr/bin/env bash
# Builds mlkube's default base image, mlkube-base:bookworm, from Debian packages.
#
# Why: no container registry is reachable here (nor from CI), so nothing can be pulled;
# the image every mlkube Dockerfile starts FROM is made locally with debootstrap and
# `docker import`. It holds just what a model environment needs at run time: python3
# with venv (the environment's virtualenv is created on top of it), the CA store, and
# libgomp1 (OpenMP runtime that LightGBM, XGBoost and scikit-learn wheels load).
#
# Idempotent: does nothing when the image exists. Needs root, debootstrap and a running
# Docker engine. Environment: MLKUBE_BASE_IMAGE (tag), DEBIAN_MIRROR, DEBIAN_SUITE.
set -euo pipefail

IMAGE="${MLKUBE_BASE_IMAGE:-mlkube-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,python3-venv,ca-certificates,libgomp1"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image: $IMAGE already present"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "base image: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

started=$(date +%s)
rootfs="$(mktemp -d /var/tmp/mlkube-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

echo "base image: debootstrap $SUITE ($PACKAGES) from $MIRROR"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
        >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    echo "base image: debootstrap failed (full log: $rootfs.log)" >&2
    exit 1
fi
rm -f "$rootfs.log"

# Slim it down: the package cache, lists, docs and locales are never used at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/tmp/* 2>/dev/null || true

tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null

echo "base image: built $IMAGE in $(( $(date +%s) - started )) s"
