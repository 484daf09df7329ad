"""Deployment: Dockerfile, compose.yaml and scripts/install.sh. No Docker engine runs on the test machines, so the
image is not built here; these tests check what it would run by running it: the image's install script (run by
scripts/setup.sh), its command and environment against PostgreSQL with the password in PGPASSWORD only, and the
compose health check against that server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
import yaml
from distributed import Client

from lstmlab.store import RunStore
from lstmlab.store.location import DEFAULT_DB
from tests.support.stclient import Session
from tests.support.stserver import free_port

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("scheduler", "worker", "dashboard")


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile line, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_env() -> dict[str, str]:
    """The environment the Dockerfile's ENV lines set."""
    env = {}
    for op, args in dockerfile():
        if op == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_the_dashboard_postgres_and_dask_with_health_checks():
    services = compose()["services"]
    assert set(services) == {"db", "scheduler", "worker", "dashboard"}
    assert "/_stcore/health" in " ".join(services["dashboard"]["healthcheck"]["test"])
    assert services["db"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["scheduler"]["command"][:2] == ["dask", "scheduler"]
    assert services["worker"]["command"][:3] == ["dask", "worker", "tcp://scheduler:8786"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert sa.make_url(env["LSTMLAB_DB"]).password is None  # the password comes from PGPASSWORD only
        assert env["PGPASSWORD"].startswith("${PGPASSWORD:?") and env["LSTMLAB_SCHEDULER"] == "tcp://scheduler:8786"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${PGPASSWORD:?")
    mount = services["dashboard"]["volumes"][0]
    assert mount.split(":")[:2] == ["./.streamlit/secrets.toml", "/app/.streamlit/secrets.toml"]


def test_dockerfile_installs_with_the_install_script_and_copies_what_exists():
    steps = dockerfile()
    assert ("RUN", "bash scripts/install.sh /usr/local/bin/python") in steps
    for op, args in steps:
        if op == "COPY":
            *sources, _ = args.split()
            assert all((ROOT / s).exists() for s in sources), args
    assert "scripts/install.sh" in (ROOT / "scripts" / "setup.sh").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".streamlit/secrets.toml" in ignored and ".env" in ignored
    for secret in (".env", ".streamlit/secrets.toml"):  # kept out of git too
        assert subprocess.run(["git", "check-ignore", "-q", secret], cwd=ROOT).returncode == 0, secret


def test_image_user_may_write_the_default_store_folder():
    """Without LSTMLAB_DB the store is ./lstmlab-data/runs.db under WORKDIR: the image creates that folder, gives it to
    the user it runs as, and keeps it in a volume."""
    steps = dockerfile()
    workdir = Path(next(args for op, args in steps if op == "WORKDIR"))
    user = next(args for op, args in steps if op == "USER")
    folder = str(workdir / Path(DEFAULT_DB).parent)
    runs = " && ".join(args for op, args in steps if op == "RUN")
    assert f"mkdir -p {folder}" in runs
    chown = re.search(rf"chown -R {user}:{user} ([^&]*)", runs)
    assert chown and folder in chown.group(1).split(), runs
    assert ("VOLUME", json.dumps([folder])) in steps


def test_install_script_needs_a_python():
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], capture_output=True, text=True)
    assert done.returncode != 0 and "usage: bash scripts/install.sh PYTHON" in done.stderr


def test_image_command_serves_the_dashboard_on_postgres_with_pgpassword(password_role, tmp_path, monkeypatch):
    """The Dockerfile's CMD with its ENV and compose's environment (the password only in PGPASSWORD), on a free port
    instead of 8501: compose's health check passes, and a view trains a run that lands in PostgreSQL."""
    role, password, url = password_role
    port = free_port()
    cmd = json.loads(next(args for op, args in dockerfile() if op == "CMD"))
    env = {**os.environ, **image_env(), "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
           "LSTMLAB_DB": url.render_as_string(hide_password=False), "PGPASSWORD": password,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    health = [sys.executable if a == "python" else a.replace("8501", str(port))
              for a in compose()["services"]["dashboard"]["healthcheck"]["test"][1:]]
    listed = subprocess.run([sys.executable, "-m", "lstmlab", "ls"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and password not in listed.stdout + listed.stderr, listed.stderr
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 90
            while subprocess.run(health, capture_output=True).returncode != 0:
                assert proc.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
            view = asyncio.run(_follow(f"http://127.0.0.1:{port}", "error_flow", "cells=lstm&T=8&H=4&steps=2&batch=4"))
            assert view.first_chart is not None and not view.problems, view.problems  # its job trained and recorded
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert password not in (tmp_path / "server.log").read_text()
    monkeypatch.setenv("PGPASSWORD", password)
    with RunStore(url) as store:
        assert list(store.list()["seq_len"]) == [8]


async def _follow(url: str, page: str, query: str):
    """Open ``page`` as a browser tab does and stay until its first chart (the page trains its runs as jobs)."""
    async with Session(url, timeout=120) as s:
        return await s.follow(page, query)


def test_compose_dask_commands_start_a_scheduler_and_workers(tmp_path):
    """compose's scheduler and worker commands with the image's ``dask`` (from requirements.txt), on a free port:
    two single-threaded workers join and run a task."""
    services = compose()["services"]
    port = free_port()
    env = {**os.environ, **image_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    scheduler = [a.replace("8786", str(port)).replace("0.0.0.0", "127.0.0.1") for a in services["scheduler"]["command"]]
    worker = [a.replace("scheduler:8786", f"127.0.0.1:{port}") for a in services["worker"]["command"]]
    procs = []
    try:
        for name, cmd in (("scheduler", scheduler), ("worker", worker + ["--local-directory", str(tmp_path)])):
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(tmp_path / f"{name}.log", "w"),
                                          stderr=subprocess.STDOUT))
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            threads = client.nthreads()
            assert len(threads) == 2 and set(threads.values()) == {1}
            assert client.submit(sum, [1, 2, 3], pure=False).result(timeout=60) == 6
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
