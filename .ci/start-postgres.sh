#!/usr/bin/env bash
# Starts PostgreSQL for the shared-workspace tests.
set -euo pipefail
echo "postgres: not set up yet"
