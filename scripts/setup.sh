#!/usr/bin/env bash
# Set up a test environment from this repository's files alone: a fresh .venv with the runtime the Docker
# image has (scripts/install.sh), the test requirements, PyTorch's CPU build (the reference the gradient
# tests compare against), Debian's Chromium for the browser test and Debian's PostgreSQL server for the
# store tests (scripts/with_services.sh starts a throwaway cluster of it).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
bash scripts/install.sh .venv/bin/python  # what the Docker image installs
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
.venv/bin/python -m pip install --quiet torch==2.13.0

PACKAGES=()
command -v chromium >/dev/null 2>&1 || PACKAGES+=(chromium)
# Debian keeps the server binaries (initdb, pg_ctl, postgres) off PATH, in a versioned directory.
[ -x /usr/lib/postgresql/15/bin/initdb ] || PACKAGES+=(postgresql)
if [ "${#PACKAGES[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
fi
