"""Start the dashboard as ``streamlit run streamlit_app.py`` on a free loopback port, and probe its health
endpoint, for the load benchmark and its test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_seconds(url: str, timeout: float = 5.0) -> float:
    """Seconds one GET of ``url``/_stcore/health took; raises OSError unless it answered "ok"."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url + "/_stcore/health", timeout=timeout) as r:
        body = r.read().decode().strip()
    if body != "ok":
        raise OSError(f"/_stcore/health answered {body!r}, expected 'ok'")
    return time.perf_counter() - t0


@contextlib.contextmanager
def serve(log_path: Path, env: dict[str, str], start_timeout: float = 60.0, options: tuple[str, ...] = (),
          app: str = "streamlit_app.py", root: Path = ROOT, without: tuple[str, ...] = ()):
    """Run the dashboard (or another ``app``, a path from ``root``, the repository whose lstmlab it imports) with
    ``env`` added to this process's environment less the variables ``without``, and extra command-line ``options``
    (e.g. ``("--secrets.files", path)`` or ``("--runner.postScriptGC=false",)``), its output in ``log_path``;
    yields (base URL, server process id) once /_stcore/health answers, and stops the server on exit with the
    processes it started (its job workers, which would otherwise train on)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in without}
    full_env.update(PYTHONPATH=str(root), **env)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", app, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             *options],
            cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    health_seconds(url, timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("streamlit did not start:\n" + log_path.read_text()) from None
                    time.sleep(0.05)
            yield url, proc.pid
        finally:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.terminate()
            for child in psutil.wait_procs(children, timeout=10)[1]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
