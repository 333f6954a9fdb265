#!/usr/bin/env bash
# Starts dockerd and builds the base image the docker tests use (no registry is reachable).
set -euo pipefail
echo "docker: not set up yet"
