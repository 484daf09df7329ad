#!/usr/bin/env bash
# Set up a test environment from this repository's files alone: a fresh .venv with the pinned
# requirements, PyTorch's CPU build (the reference the gradient tests compare against) and
# Debian's Chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
.venv/bin/python -m pip install --quiet torch==2.13.0
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
