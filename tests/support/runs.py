"""Runs to store and compare: trained tiny runs, exact comparisons, a store of the first release."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.runs.records import Run, flow_columns, model_spec, steps_columns
from lstmlab.store import (
    RunStore,
    metadata,
    to_sqlalchemy_url,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def make_run(seed: int, steps: int = 40, seq_len: int = 12, cell: str = "lstm", layers: int = 1,
             record_every: int = 10, with_params: bool = True, **config) -> Run:
    """A Run with hand-made tables of the contract's schemas (random values, NaN and inf included) and random
    parameters of the config's shapes (None if not ``with_params``)."""
    cfg = RunConfig(cell=cell, layers=layers, seq_len=seq_len, steps=steps, record_every=record_every,
                    seed=seed, **config)
    rng = np.random.default_rng(seed)
    s = pd.DataFrame({c: rng.standard_normal(steps) for c in steps_columns(cfg)})
    s["step"] = np.arange(1, steps + 1, dtype=np.int64)
    s["clipped"] = rng.random(steps) > 0.5
    if cell != "lstm":
        s["forget_mean"] = np.nan
    if steps > 3:
        s.loc[3, "loss"] = np.inf
        s.loc[2, "grad_norm"] = -np.inf
        s.loc[1, f"gnorm:{steps_columns(cfg)[7][6:]}"] = np.nan
    rec = np.unique(np.r_[0:steps:record_every, steps]).astype(np.int64)
    grid = [(st, layer, t) for st in rec for layer in range(layers) for t in range(1, seq_len + 1)]
    f = pd.DataFrame(grid, columns=["step", "layer", "t"], dtype=np.int64)
    f["lag"] = seq_len - f["t"]
    for c in flow_columns(cfg)[4:]:
        f[c] = rng.random(len(f)) * 10.0 ** rng.integers(-300, 300, len(f))
    if cell != "lstm":
        f["dc_norm"] = np.nan
    f = f[flow_columns(cfg)]
    e = pd.DataFrame({"step": rec, "loss": rng.random(len(rec)), "metric": rng.random(len(rec))})
    params = None
    if with_params:
        params = {k: rng.standard_normal(shape).astype(cfg.dtype)
                  for k, shape in sorted(model_spec(cfg).param_shapes().items())}
    return Run(run_id=hashlib.md5(str(seed).encode()).hexdigest(), config=cfg, status="finished",
               message=f"finished {steps} steps", created_at=1.7e9 + seed, wall_time=0.5 + seed,
               name=f"run {seed}", tags=("t", f"s{seed}"), steps=s, flow=f, eval=e, params=params)


def assert_same_params(a: dict | None, b: dict | None) -> None:
    """Same names in the same order, and every array equal bit for bit with the same dtype and shape."""
    assert (a is None) == (b is None)
    if a is None:
        return
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc"), k
        assert np.ascontiguousarray(a[k]).tobytes() == np.ascontiguousarray(b[k]).tobytes(), k


def assert_same_run(a: Run, b: Run) -> None:
    for name in ("run_id", "config", "status", "message", "created_at", "wall_time", "name", "tags"):
        assert getattr(a, name) == getattr(b, name), name
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert_same_params(a.params, b.params)


def first_release_store(url: str, runs: list, tmp_path: Path, with_params_table: bool = True) -> None:
    """Create the first release's tables in ``url`` from the shipped DDL and fill them with ``runs``: their rows
    as today's code writes them (saved into a scratch SQLite store), minus the columns that release lacked."""
    engine = sa.create_engine(to_sqlalchemy_url(url))
    ddl = (DATA / f"store_0001.{engine.dialect.name}.sql").read_text()
    ddl = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in ddl.split(";") if s.strip()]
    if not with_params_table:
        statements = [s for s in statements if "lstmlab_params" not in s]
    scratch = RunStore(tmp_path / "scratch.db")
    for run in runs:
        scratch.save(run)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        tables = sa.MetaData()
        tables.reflect(conn)
        with scratch.engine.connect() as source:
            for name in FIRST_TABLES:
                if name not in tables.tables:
                    continue
                target = tables.tables[name]
                rows = [{c: r[c] for c in target.c.keys()} for r in
                        source.execute(sa.select(metadata.tables[name])).mappings()]
                if rows:
                    conn.execute(target.insert(), rows)
    scratch.close()
    engine.dispose()


TABLES = ("steps", "flow", "eval")

FIRST_TABLES = ["lstmlab_runs", "lstmlab_steps", "lstmlab_flow", "lstmlab_eval", "lstmlab_values",
                "lstmlab_params"]
