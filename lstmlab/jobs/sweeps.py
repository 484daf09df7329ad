"""Sweeps: a named grid of ``RunConfig`` fields x seeds, submitted as jobs, resumable.

A ``SweepSpec`` holds the grid ({field: values}, any scalar RunConfig field), the seeds and the fields every
run shares, and optionally a list of points (each a set of fields, e.g. one model of a comparison and its setting).
Its runs are the product of the points, the grid's values, in the order the fields were given, and the seeds.
Everything is validated before anything is submitted: an unknown field, an empty list, a value the field rejects,
a combination RunConfig rejects, more than ``MAX_SWEEP_RUNS`` runs -> one ``SweepError`` naming the field.
The spec is stored under its name; submitting it again submits only the runs that are missing or lost, so a sweep
is resumed by re-running its command. A sweep's runs are those of its configs' keys (a run of the
same config trained before is reused, not trained again); the runs it submits carry the tag ``sweep:<name>``.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pandas as pd

from lstmlab.core.config import FIELD_INFO, RECORDER_FIELDS, RunConfig, check_field, value_from_text
from lstmlab.jobs.errors import JobError
from lstmlab.jobs.limits import MAX_SWEEP_RUNS
from lstmlab.runs.status import STATUSES
from lstmlab.store import Actor, RunStore

MAX_NAME = 100
SEED_FIELD = "seed"
# series is a whole sequence and series_name only its label: neither is a sweep axis or a shared sweep value; nor is
# a field only a recorder of runs trained elsewhere sets
SWEEP_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig)
                     if f.name not in ("series", "series_name", *RECORDER_FIELDS))


class SweepError(JobError, ValueError):
    """A sweep that cannot be submitted as given; the message names the field and the value."""


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``grid`` {field: values} (two or more values, or one), ``seeds`` and the ``fixed`` fields of every
    run (fields neither in the grid nor fixed take RunConfig's defaults); ``points``, if any, are sets of fields
    that vary together (each point's fields over the fixed ones, under the grid's)."""

    name: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    seeds: tuple[int, ...] = (0,)
    fixed: tuple[tuple[str, Any], ...] = ()
    points: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def configs(self) -> list[RunConfig]:
        """The sweep's configs: every point (in order), every combination of the grid's values, for every seed (the
        fastest axis)."""
        names = [f for f, _ in self.grid]
        out = []
        for point in self.points or ((),):
            for values in itertools.product(*(v for _, v in self.grid), self.seeds):
                fields = {**dict(self.fixed), **dict(point), **dict(zip(names, values[:-1])), SEED_FIELD: values[-1]}
                try:
                    out.append(RunConfig(**fields))
                except ValueError as e:
                    shown = ", ".join(f"{k}={v!r}" for k, v in [*point, *zip(names, values[:-1])])
                    raise SweepError(f"sweep {self.name}: the combination {shown or 'of the fixed fields'} is "
                                     f"invalid: {e}") from None
        return out

    def to_json(self) -> str:
        data = {"grid": [[f, list(v)] for f, v in self.grid], "seeds": list(self.seeds),
                "fixed": [[f, v] for f, v in self.fixed]}
        if self.points:  # absent otherwise, so a sweep recorded before points existed reads the same
            data["points"] = [[[f, v] for f, v in point] for point in self.points]
        return json.dumps(data, sort_keys=True)


def make_spec(name: str, grid: Mapping[str, Iterable[Any] | str], seeds: int | None = None,
              fixed: Mapping[str, Any] | None = None) -> SweepSpec:
    """Validate a sweep: ``grid`` maps RunConfig fields to values (a list, or text with comma-separated values
    as the command line gives them); ``seeds`` N runs every grid point with seeds 0..N-1 (a ``seed`` list in
    the grid does the same with chosen seeds); ``fixed`` sets fields shared by all runs."""
    name = _check_name(name)
    fixed = dict(fixed or {})
    axes: list[tuple[str, tuple[Any, ...]]] = []
    for field, raw in grid.items():
        _check_field_name(field)
        values = _split(raw)
        if not values:
            raise SweepError(f"sweep {name}: {_flag(field)} has no values: expected one or more, comma-separated")
        checked = []
        for value in values:
            try:
                checked.append(check_field(field, _typed(field, value)))
            except ValueError as e:
                raise SweepError(f"sweep {name}: {_flag(field)} {value}: {str(e).split(': ', 1)[-1]}") from None
        if len(set(checked)) != len(checked):
            raise SweepError(f"sweep {name}: {_flag(field)} lists a value twice ({', '.join(map(str, values))})")
        axes.append((field, tuple(checked)))
    for field, value in fixed.items():
        _check_field_name(field)
        if field in grid:
            raise SweepError(f"sweep {name}: {_flag(field)} is both a sweep axis and a fixed value")
    grid_seeds = dict(axes).pop(SEED_FIELD, None)
    if grid_seeds is not None and seeds is not None:
        raise SweepError(f"sweep {name}: give either --seeds N or a --seed list, not both")
    if grid_seeds is not None:
        axes = [(f, v) for f, v in axes if f != SEED_FIELD]
        seed_values = grid_seeds
    else:
        n = 1 if seeds is None else seeds
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SWEEP_RUNS:
            raise SweepError(f"sweep {name}: --seeds {n!r}: expected a whole number from 1 to {MAX_SWEEP_RUNS}")
        seed_values = tuple(range(n))
    total = math.prod(len(v) for _, v in axes) * len(seed_values)
    if total > MAX_SWEEP_RUNS:
        sizes = " x ".join(f"{len(v)} {f}" for f, v in axes)
        raise SweepError(f"sweep {name}: {sizes} x {len(seed_values)} seeds = {total} runs; expected at most "
                         f"{MAX_SWEEP_RUNS} (split it into several sweeps)")
    spec = SweepSpec(name=name, grid=tuple(axes), seeds=tuple(seed_values), fixed=tuple(sorted(fixed.items())))
    spec.configs()  # every combination must be a valid RunConfig before anything is submitted
    return spec


def submit_sweep(spec: SweepSpec, *, store_url: str, actor: Actor | None = None,
                 scheduler: str | None = None, replace: bool = False) -> dict[str, list[str]]:
    """Submit the runs of ``spec`` that are missing; resubmit those that are lost. Returns the run ids by what
    happened to them: {"submitted": [...], "resubmitted": [...], "present": [...]} (present: queued, running or
    ended). The spec is recorded under its name first; a different spec under that name is a ``SweepError``, or
    with ``replace`` (a sweep the lab defines, such as a recipe's) replaced by this one."""
    from lstmlab.jobs import api as jobs  # here: a sweep's spec and progress are read without executors or training

    configs = spec.configs()
    jobs.release_forgotten(store_url, scheduler)  # an unreachable scheduler fails here, before anything is written
    store = RunStore(store_url)
    try:
        recorded = store.record_sweep(spec.name, spec.to_json(), actor=actor, replace=replace)
        if recorded != spec.to_json():
            raise SweepError(f"sweep {spec.name} exists with a different grid: choose another --name "
                             f"(recorded: {_describe(recorded)})")
        latest = _latest_by_key(store, [c.key for c in configs])
    finally:
        store.close()
    done: dict[str, list[str]] = {"submitted": [], "resubmitted": [], "present": []}
    for config in configs:
        row = latest.get(config.key)
        if row is None:
            done["submitted"].append(jobs.submit(config, store_url=store_url, actor=actor, scheduler=scheduler,
                                                 tags=(f"sweep:{spec.name}",), sweep=spec.name))
        elif row["status"] == "lost":
            done["resubmitted"].append(jobs.resubmit(row["id"], store_url=store_url, actor=actor,
                                                     scheduler=scheduler))
        else:
            done["present"].append(row["id"])
    return done


def load_spec(store: RunStore, name: str) -> SweepSpec:
    """The recorded spec of sweep ``name``; ``KeyError`` if there is none."""
    data = json.loads(store.sweep_spec(name))
    return SweepSpec(name=name, grid=tuple((f, tuple(v)) for f, v in data["grid"]), seeds=tuple(data["seeds"]),
                     fixed=tuple((f, v) for f, v in data["fixed"]),
                     points=tuple(tuple((f, v) for f, v in point) for point in data.get("points", ())))


def sweep_runs(store: RunStore, name: str) -> pd.DataFrame:
    """The runs of sweep ``name``, one per config (the newest run of its key; configs never submitted have
    none): ``RunStore.list()`` rows."""
    keys = [c.key for c in load_spec(store, name).configs()]
    listed = store.list(config_key=keys)
    return listed.drop_duplicates("config_key", keep="first").reset_index(drop=True)


def sweep_progress(store: RunStore, name: str) -> dict[str, int]:
    """How many of sweep ``name``'s runs are in each status, plus "missing" (never submitted), "total" and
    "steps_done" / "steps_total" (summed over its runs)."""
    spec = load_spec(store, name)
    configs = spec.configs()
    runs = sweep_runs(store, name)
    counts = {s: int((runs["status"] == s).sum()) for s in STATUSES}
    return {**counts, "missing": len(configs) - len(runs), "total": len(configs),
            "steps_done": int(runs["step"].sum()), "steps_total": sum(c.steps for c in configs)}


def _latest_by_key(store: RunStore, keys: list[str]) -> dict[str, Any]:
    listed = store.list(config_key=keys)
    return {r["config_key"]: r for r in listed.drop_duplicates("config_key", keep="first").to_dict("records")}


def _check_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise SweepError(f"sweep --name {name!r}: expected a name of 1 to {MAX_NAME} printable characters")
    return text


def _check_field_name(field: str) -> None:
    if field not in SWEEP_FIELDS:
        raise SweepError(f"sweep: unknown field {field!r}: expected RunConfig fields, some of {', '.join(SWEEP_FIELDS)}")


def _split(raw: Iterable[Any] | str) -> list[Any]:
    if isinstance(raw, str):
        return [v.strip() for v in raw.split(",") if v.strip()]
    return list(raw)


def _typed(field: str, value: Any) -> Any:
    """A value of the command line (text) as the field's kind reads it (lstmlab.core.config.value_from_text);
    non-text values pass unchanged."""
    return value_from_text(FIELD_INFO[field].kind, value) if isinstance(value, str) else value


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _describe(spec_json: str) -> str:
    data = json.loads(spec_json)
    axes = ", ".join(f"{_flag(f)} {','.join(map(str, v))}" for f, v in data["grid"])
    return f"{axes}; {len(data['seeds'])} seeds" if axes else f"{len(data['seeds'])} seeds"
