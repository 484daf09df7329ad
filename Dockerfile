# lstmlab for a team: one image for the dashboard and the Dask scheduler and workers (compose.yaml starts them).
# Its install steps are scripts/install.sh, which scripts/setup.sh (and so every test run) also runs.
FROM python:3.11-slim

# NUMBA_CACHE_DIR: the compiled kernels, built by install.sh and handed to the user the lab runs as (numba loads a
# cache only from a directory its user may write)
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/app/numba-cache \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
WORKDIR /app

COPY requirements.txt pyproject.toml README.md ./
COPY scripts/install.sh scripts/
COPY lstmlab/ lstmlab/
RUN bash scripts/install.sh /usr/local/bin/python

COPY streamlit_app.py ./
COPY pages/ pages/
COPY .streamlit/config.toml .streamlit/
# lstmlab-data: the default SQLite store (when LSTMLAB_DB is not set), a volume the lab's user may write
RUN useradd --create-home --uid 1000 lstmlab && mkdir -p /app/lstmlab-data \
 && chown -R lstmlab:lstmlab /app/numba-cache /app/lstmlab-data
VOLUME ["/app/lstmlab-data"]
USER lstmlab

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]
CMD ["streamlit", "run", "streamlit_app.py"]
