"""scripts/with_services.sh: the command sees a live PostgreSQL at LSTMLAB_TEST_POSTGRES_URL, its exit code is the
script's, and the cluster is gone afterwards, also when the script is stopped by a signal."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "with_services.sh"
PROBE = """
import os, sys, time
import sqlalchemy as sa
url = os.environ["LSTMLAB_TEST_POSTGRES_URL"]
with sa.create_engine(url).connect() as conn:
    print(url, conn.exec_driver_sql("SHOW server_version").scalar(), flush=True)
time.sleep(float(sys.argv[1]))
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture(autouse=True)
def postgres_installed():
    if not os.access("/usr/lib/postgresql/15/bin/initdb", os.X_OK):
        message = "Debian's PostgreSQL 15 is not installed: run `bash scripts/setup.sh`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def server_is_up(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def test_command_runs_against_the_server_and_its_exit_code_passes_through():
    done = subprocess.run(["bash", str(SCRIPT), sys.executable, "-c", PROBE, "0", "3"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    url, version = done.stdout.split(maxsplit=1)
    assert url.startswith("postgresql+psycopg://") and "127.0.0.1" in url
    assert version.startswith("15.")
    assert not server_is_up(url)


def test_signal_stops_the_command_and_the_server():
    proc = subprocess.Popen(["bash", str(SCRIPT), sys.executable, "-c", PROBE, "60", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[0]
        assert server_is_up(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not server_is_up(url)
