"""Schema revisions: a store of the first release (tests/data/store_0001.*.sql, its DDL as shipped) opens, is
upgraded and keeps its runs bit for bit; a store newer than the code is refused untouched; processes opening a
new database at once all succeed. Each on a SQLite file and a PostgreSQL database."""
from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lstmlab.store import RunStore, StoreError, metadata, migrations, to_sqlalchemy_url
from tests.support.runs import FIRST_TABLES, assert_same_run, first_release_store, make_run

DATA = Path(__file__).resolve().parents[1] / "data"


def schema_of(conn: sa.Connection) -> dict:
    """Tables of the first release as reflected: columns (name, type, nullable), primary key, foreign keys,
    indexes."""
    inspector = sa.inspect(conn)
    out = {}
    for name in FIRST_TABLES:
        if not inspector.has_table(name):
            continue
        out[name] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)],
            "pk": inspector.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                          for f in inspector.get_foreign_keys(name)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(name)),
        }
    return out


def recorded_revision(url: str) -> str | None:
    engine = sa.create_engine(to_sqlalchemy_url(url))
    with engine.connect() as conn:
        found = migrations.current_revision(conn)
    engine.dispose()
    return found


def test_revision_0001_is_the_first_release_schema(store_url, tmp_path):
    first_release_store(store_url, [], tmp_path)
    engine = sa.create_engine(to_sqlalchemy_url(store_url))
    with engine.connect() as conn:
        shipped = schema_of(conn)
    with engine.begin() as conn:
        for name in reversed(FIRST_TABLES):
            conn.exec_driver_sql(f"DROP TABLE {name}")
    with engine.begin() as conn:
        migrations.upgrade(conn, "0001")
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == "0001"
        assert schema_of(conn) == shipped
    engine.dispose()
    assert sorted(shipped) == sorted(FIRST_TABLES)


def test_newest_revision_is_the_store_metadata(store_url):
    """Revisions 0001..HEAD build exactly the tables lstmlab.store describes (Alembic's autogenerate diff is
    empty)."""
    RunStore(store_url).close()
    engine = sa.create_engine(to_sqlalchemy_url(store_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, parent: not (kind == "table" and name == migrations.VERSION_TABLE),
        })
        assert compare_metadata(context, metadata) == []
        assert migrations.current_revision(conn) == migrations.HEAD
    engine.dispose()


@pytest.mark.parametrize("with_params_table", [True, False], ids=["first-release", "before-params"])
def test_first_release_store_is_upgraded_and_keeps_its_runs(store_url, tmp_path, with_params_table):
    runs = [make_run(500, with_params=with_params_table), make_run(501, cell="gru", layers=2, with_params=False),
            make_run(502, cell="rnn", task="recall", with_params=with_params_table)]
    first_release_store(store_url, runs, tmp_path, with_params_table)
    assert recorded_revision(store_url) is None
    store = RunStore(store_url)
    assert recorded_revision(store_url) == migrations.HEAD
    assert list(store.list()["id"]) == [r.run_id for r in reversed(runs)]
    for run in runs:
        back = store.load(run.run_id)
        assert_same_run(back, run)
        assert (back.engine, back.engine_version, back.owner) == ("", "", "")
    new = make_run(503)
    new.engine, new.engine_version = "reference", "1.2"
    store.save(new)
    back = store.load(new.run_id)
    assert_same_run(back, new)
    assert (back.engine, back.engine_version) == ("reference", "1.2")
    store.close()
    with RunStore(store_url) as again:  # a second open finds the newest revision and changes nothing
        assert len(again.list()) == 4


def _dump(url: str) -> dict:
    """Every row of every table, for comparing a database before and after."""
    engine = sa.create_engine(to_sqlalchemy_url(url))
    tables = sa.MetaData()
    with engine.connect() as conn:
        tables.reflect(conn)
        out = {name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
               for name, t in tables.tables.items()}
    engine.dispose()
    return out


def test_store_newer_than_the_code_is_refused_untouched(store_url):
    with RunStore(store_url) as store:
        store.save(make_run(510))
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '0099'")
    before = _dump(store_url)
    digest = hashlib.sha256(Path(store_url).read_bytes()).hexdigest() if "://" not in store_url else None
    with pytest.raises(StoreError) as caught:
        RunStore(store_url)
    message = str(caught.value)
    assert "0099" in message and migrations.HEAD in message and "newer" in message
    assert _dump(store_url) == before
    if digest is not None:
        assert hashlib.sha256(Path(store_url).read_bytes()).hexdigest() == digest
    assert recorded_revision(store_url) == "0099"


def _open_and_save(url: str, seed: int, start) -> None:
    start.wait(60)
    with RunStore(url) as store:
        store.save(make_run(seed))


def test_processes_opening_a_new_database_at_once_all_succeed(store_url):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_open_and_save, args=(store_url, 520 + k, start)) for k in range(6)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 6
    assert recorded_revision(store_url) == migrations.HEAD
    with RunStore(store_url) as store:
        assert sorted(store.list()["id"]) == sorted(make_run(520 + k).run_id for k in range(6))
