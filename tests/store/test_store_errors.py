"""Opening a store that cannot be used gives one clear StoreError each, never a password: a database that does not
exist, a server that is down, a wrong or missing password, no driver, an unreadable, foreign or corrupt SQLite file.
A read-only SQLite file lists and loads (and refuses writes clearly). PostgreSQL cases run on the real test server."""
from __future__ import annotations

import base64
import logging
import os
import pickle
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import traceback
import uuid
from pathlib import Path

import pytest

from lstmlab.store import RunStore, StoreError, display_location, migrations
from tests.support.runs import assert_same_run, first_release_store, make_run

REPO = Path(__file__).resolve().parents[2]
CHILD_PRELUDE = f"""
import sys
sys.path[:0] = [{str(REPO)!r}]
"""


def run_python(code: str, unprivileged: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python; ``unprivileged``: as root, without the capabilities that let root ignore
    file permissions (so a read-only file is read-only to it too)."""
    argv = [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code)]
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file-permission override"
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def everything_said(error: BaseException) -> str:
    """The message, repr and full formatted traceback of an exception (with any chained cause)."""
    return "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])


# ---- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.fixture
def no_pgpass(monkeypatch, tmp_path):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


def test_database_that_does_not_exist(postgres_server):
    url = postgres_server.url.set(database="lstmlab_no_such_db").render_as_string(hide_password=False)
    with pytest.raises(StoreError) as caught:
        RunStore(url)
    assert str(caught.value).startswith("database 'lstmlab_no_such_db' does not exist on the database server at")
    assert caught.value.__cause__ is None


def test_server_that_is_down():
    port, secret = free_port(), uuid.uuid4().hex
    url = f"postgresql+psycopg://lab:{secret}@127.0.0.1:{port}/lab"
    with pytest.raises(StoreError) as caught:
        RunStore(url)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the database server at 127.0.0.1:{port}: is it running")
    assert secret not in everything_said(caught.value)


def test_wrong_password_is_refused_and_never_shown(password_role, no_pgpass, caplog):
    role, password, url = password_role
    wrong = f"wrong-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as caught:
        RunStore(url.set(password=wrong).render_as_string(hide_password=False))
    message = str(caught.value)
    assert message.startswith(f"the database server at {url.host}:{url.port} refused the password of user "
                              f"{role!r}")
    assert wrong not in everything_said(caught.value) and wrong not in caplog.text
    with pytest.raises(StoreError, match=f"wants a password for user '{role}': set PGPASSWORD"):
        RunStore(url.render_as_string(hide_password=False))


def test_password_in_the_url_reaches_no_string_the_store_makes(password_role, no_pgpass, caplog):
    role, password, url = password_role
    text = url.set(password=password).render_as_string(hide_password=False)
    caplog.set_level(logging.DEBUG)  # SQLAlchemy's and Alembic's loggers included
    with RunStore(text) as store:
        store.save(make_run(600))
        store.load(make_run(600).run_id)
        with pytest.raises(KeyError) as missing:
            store.load("nope")
        shown = [repr(store), store.location, display_location(text), str(missing.value), str(store.engine.url)]
    assert store.location == f"postgresql+psycopg://{role}:***@{url.host}:{url.port}/{url.database}"
    assert "Running upgrade" in caplog.text  # the logs were captured
    for said in [*shown, caplog.text]:
        assert password not in said


def test_url_without_password_takes_it_from_pgpassword_or_pgpass(password_role, no_pgpass, monkeypatch, tmp_path):
    role, password, url = password_role
    text = url.render_as_string(hide_password=False)
    monkeypatch.setenv("PGPASSWORD", password)
    with RunStore(text) as store:
        store.save(make_run(601))
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{url.host}:{url.port}:{url.database}:{role}:{password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with RunStore(text) as store:
        assert list(store.list()["id"]) == [make_run(601).run_id]


def test_driver_not_installed():
    child = run_python("""
        sys.modules["psycopg"] = None  # as if psycopg were not installed
        from lstmlab.store import RunStore, StoreError
        try:
            RunStore("postgresql+psycopg://lab:s3cret-driver@127.0.0.1:5432/lab")
        except StoreError as e:
            print(e)
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == ("postgresql+psycopg://lab:***@127.0.0.1:5432/lab: its database driver psycopg is "
                                    "not installed (for PostgreSQL: pip install 'psycopg[binary]')")


def test_display_location_hides_every_password():
    assert display_location("postgresql+psycopg://lab:p%40ss@db.example:5432/runs?sslmode=require") == (
        "postgresql+psycopg://lab:***@db.example:5432/runs?sslmode=require")
    assert display_location("postgresql+psycopg://lab@db/runs?password=hunter2") == (
        "postgresql+psycopg://lab@db/runs?password=***")
    assert display_location("postgresql+psycopg://lab@db/runs") == "postgresql+psycopg://lab@db/runs"
    assert display_location("/srv/lab/runs.db") == "sqlite:////srv/lab/runs.db"
    secret = uuid.uuid4().hex
    url = f"postgresql+psycopg://lab:{secret}@db:notaport/runs"
    with pytest.raises(StoreError) as caught:
        display_location(url)
    assert secret not in everything_said(caught.value)


# ---- SQLite files -------------------------------------------------------------------------------------


def test_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a run store\n" * 100)
    with pytest.raises(StoreError, match=r"notes.db is not a SQLite database, or it is corrupt"):
        RunStore(path)
    assert path.read_text().startswith("these are my notes")


def test_corrupt_store(tmp_path):
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for seed in range(610, 614):
            store.save(make_run(seed, steps=400))
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)  # keep the header page, scramble every other page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"runs.db is not a SQLite database, or it is corrupt"):
        with RunStore(path) as store:
            store.list()
            store.load(make_run(610).run_id)


def read_only_store(tmp_path: Path, journal_mode: str) -> tuple[Path, list]:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "runs.db"
    runs = [make_run(620), make_run(621, cell="gru")]
    with RunStore(path) as store:
        for run in runs:
            store.save(run)
    with sqlite3.connect(path) as conn:  # e.g. a copy made by another tool keeps the rollback journal
        assert conn.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0] == journal_mode
    conn.close()
    path.chmod(0o444)
    folder.chmod(0o555)
    return path, runs


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_read_only_file_lists_and_loads(tmp_path, journal_mode):
    path, runs = read_only_store(tmp_path, journal_mode)
    try:
        ls = run_python(f"""
            from lstmlab.cli import main
            sys.exit(main(["ls", "--db", {str(path)!r}]))
        """, unprivileged=True)
        assert ls.returncode == 0, ls.stdout + ls.stderr
        assert runs[0].run_id[:8] in ls.stdout and runs[1].run_id[:8] in ls.stdout
        child = run_python(f"""
            import base64, pickle
            from lstmlab.store import RunStore, StoreError
            from tests.support.runs import make_run
            store = RunStore({str(path)!r})
            loaded = [store.load(r) for r in {[r.run_id for r in runs]!r}]
            try:
                store.save(make_run(622))
                said = "saved"
            except StoreError as e:
                said = str(e)
            print(base64.b64encode(pickle.dumps((store.read_only, said, loaded))).decode())
        """, unprivileged=True)
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)
    assert child.returncode == 0, child.stderr
    read_only, said, loaded = pickle.loads(base64.b64decode(child.stdout))
    assert read_only
    assert said == f"sqlite:///{path} is read-only: runs can be listed and loaded, not saved or changed"
    for back, run in zip(loaded, runs):
        assert_same_run(back, run)


def test_read_only_store_at_an_older_revision_says_why(tmp_path):
    path = tmp_path / "old.db"
    first_release_store(str(path), [make_run(630)], tmp_path)
    path.chmod(0o444)
    try:
        child = run_python(f"""
            from lstmlab.store import RunStore, StoreError
            try:
                RunStore({str(path)!r})
            except StoreError as e:
                print(e)
        """, unprivileged=True)
    finally:
        path.chmod(0o644)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == (f"sqlite:///{path} is read-only and at schema revision 0001, older than this "
                                    f"lstmlab's {migrations.HEAD}: open it once with write access to upgrade it")


def test_unreadable_file(tmp_path):
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        store.save(make_run(640))
    path.chmod(0o000)
    try:
        child = run_python(f"""
            from lstmlab.store import RunStore, StoreError
            try:
                RunStore({str(path)!r}).list()
            except StoreError as e:
                print(e)
        """, unprivileged=True)
    finally:
        path.chmod(0o644)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == f"cannot open sqlite:///{path}: the file or its folder is missing or not readable"
