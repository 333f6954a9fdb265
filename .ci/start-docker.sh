#!/usr/bin/env bash
# Starts the Docker engine (if it is not running) and makes the base image the docker
# tests build on.
#
# Why: CI is a fresh Debian machine with the docker.io package installed but no daemon
# running and no registry to pull from. dockerd is started in the background (it must
# outlive this script: the tests run after it), logging to $DOCKERD_LOG, and the script
# waits for its socket with a deadline rather than sleeping a fixed time.
set -euo pipefail
cd "$(dirname "$0")"

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/mlkube-dockerd.log}"
DEADLINE_S="${DOCKERD_DEADLINE_S:-60}"

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_up; then
    echo "docker: engine already running ($(docker version --format '{{.Server.Version}}'))"
else
    command -v dockerd >/dev/null || {
        echo "docker: dockerd is missing: apt-get install docker.io" >&2; exit 1; }
    echo "docker: starting dockerd (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon must not die with this shell or its session.
    setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    waited=0
    until engine_up; do
        if (( waited >= DEADLINE_S )); then
            tail -n 30 "$DOCKERD_LOG" >&2
            echo "docker: dockerd did not answer within ${DEADLINE_S}s (log: $DOCKERD_LOG)" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "docker: engine up after ${waited}s ($(docker version --format '{{.Server.Version}}'))"
fi

bash ./base-image.sh
