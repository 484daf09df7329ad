"""Named sweeps (``lstmlab_sweeps``): a name and the spec it was first recorded with, which later runs of the same
name reuse (or, for a sweep the lab defines, such as a reproduction's, the spec it was last recorded with). The spec is
the jobs layer's JSON; the store keeps it as text."""
from __future__ import annotations

import time

import pandas as pd
import sqlalchemy as sa

from lstmlab.store.base import StoreBase
from lstmlab.store.permissions import Actor
from lstmlab.store.schema import sweeps_table


class SweepsMixin(StoreBase):
    """Recording and reading named sweeps."""

    def record_sweep(self, name: str, spec: str, actor: Actor | None = None, replace: bool = False) -> str:
        """Record sweep ``name`` with its ``spec`` (JSON) unless a sweep of that name exists; returns the spec
        stored under the name (the existing one if there was one). ``replace``: a different recorded spec is
        replaced by ``spec`` (a sweep whose spec the lab defines, such as a recipe's, which a newer version of the
        lab may change); its owner and creation time stay."""
        sw = sweeps_table.c
        with self._writing() as conn:
            self._lock(conn, f"lstmlab sweep {name}")
            found = conn.execute(sa.select(sw.spec).where(sw.name == name)).scalar()
            if found is not None and replace and found != spec:
                conn.execute(sweeps_table.update().where(sw.name == name).values(spec=spec))
                return spec
            if found is not None:
                return found
            conn.execute(sweeps_table.insert().values(name=name, spec=spec, owner=actor.email if actor else "",
                                                      created_at=time.time()))
        return spec

    def sweep_spec(self, name: str) -> str:
        """The spec (JSON) of sweep ``name``; ``KeyError`` if there is none."""
        with self._reading() as conn:
            found = conn.execute(sa.select(sweeps_table.c.spec).where(sweeps_table.c.name == name)).scalar()
        if found is None:
            raise KeyError(f"no sweep named {name!r} in {self!r}")
        return found

    def sweeps(self) -> pd.DataFrame:
        """The recorded sweeps, newest first: name, owner, created_at, spec (JSON)."""
        sw = sweeps_table.c
        with self._reading() as conn:
            rows = conn.execute(sa.select(sw.name, sw.owner, sw.created_at, sw.spec)
                                .order_by(sw.created_at.desc(), sw.name)).all()
        return pd.DataFrame(rows, columns=["name", "owner", "created_at", "spec"])
