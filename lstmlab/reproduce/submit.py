"""Submitting a recipe's runs as a named sweep (lstmlab.jobs.sweeps): one point per model and setting, seeds
0 .. N - 1, so that submitting again attaches to the runs already there and resubmits the lost ones."""
from __future__ import annotations

from typing import Any

from lstmlab.jobs import sweeps
from lstmlab.jobs.limits import MAX_SWEEP_RUNS
from lstmlab.reproduce.recipes import check_request, check_settings, sweep_name
from lstmlab.store import Actor


def sweep_spec(recipe_id: Any, scale: Any = "quick", seeds: Any = None, settings: Any = None) -> sweeps.SweepSpec:
    """The sweep of a recipe at a scale (named ``repro:ID:SCALE``), every config checked; ValueError naming the
    field on bad input, before anything is submitted. ``settings`` (names, or a text of names separated by commas):
    only those settings' rows, for a machine that affords part of a scale; None: every row."""
    recipe, scale, n = check_request(recipe_id, scale, seeds)
    rows = recipe.rows(scale)
    if settings is not None:
        picked = check_settings(recipe, scale, settings)
        rows = [(m, s) for m, s in rows if s.name in picked]
    if len(rows) * n > MAX_SWEEP_RUNS:
        raise ValueError(f"seeds={n}: {len(rows)} rows x {n} seeds = {len(rows) * n} runs; expected at most "
                         f"{MAX_SWEEP_RUNS} runs in a sweep")
    points = tuple(tuple(sorted(recipe.fields(m, s, scale).items())) for m, s in rows)
    spec = sweeps.SweepSpec(name=sweep_name(recipe.id, scale), grid=(), seeds=tuple(range(n)), points=points)
    spec.configs()
    return spec


def submit(recipe_id: Any, scale: Any = "quick", seeds: Any = None, *, store_url: str, actor: Actor | None = None,
           scheduler: str | None = None, settings: Any = None) -> tuple[sweeps.SweepSpec, dict[str, list[str]]]:
    """Submit the runs of a recipe at a scale that are missing (``sweeps.submit_sweep``), of ``settings`` only if
    given (:func:`sweep_spec`); returns the spec and the run ids by what happened to them. The recipe's sweep is
    recorded as submitted, replacing an older definition under its name: runs are found by their configs, so those
    the recipe still plans are reused, the others stay in the store unreported, and a report reads every row of
    the scale (rows left out are incomplete)."""
    spec = sweep_spec(recipe_id, scale, seeds, settings)
    return spec, sweeps.submit_sweep(spec, store_url=store_url, actor=actor, scheduler=scheduler, replace=True)
