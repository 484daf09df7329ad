#!/usr/bin/env bash
# Install lstmlab's runtime into a Python environment: the pinned requirements and lstmlab itself (editable, so the
# dashboard's pages/ and streamlit_app.py beside it are the code that runs). The Docker image runs exactly this;
# scripts/setup.sh runs it too, so every test run checks it.
#
#   bash scripts/install.sh PYTHON        e.g. .venv/bin/python, or /usr/local/bin/python in the image
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:?usage: bash scripts/install.sh PYTHON}"
"$PYTHON" -m pip install --quiet --no-cache-dir --upgrade pip
"$PYTHON" -m pip install --quiet --no-cache-dir -r requirements.txt
"$PYTHON" -m pip install --quiet --no-cache-dir --no-deps -e .
# Fail here, not at the first visit, if a runtime module (sign-in's Authlib, PostgreSQL's driver, ...) is missing.
"$PYTHON" -c "import authlib, psycopg, streamlit, lstmlab.store, lstmlab.cli"
# Compile the compiled engine's kernels into numba's cache now rather than at the first study (seconds per cell and
# dtype): into $NUMBA_CACHE_DIR if set, else lstmlab/core/engines/__pycache__ (numba uses a cache only where the user
# running lstmlab may write, so an install for another user sets NUMBA_CACHE_DIR to a directory that user owns).
"$PYTHON" -c "from lstmlab.core import engines; engines.warm()"
