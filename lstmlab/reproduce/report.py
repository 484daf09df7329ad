"""A recipe's runs read against its paper: per model and setting, the paper's figure, the lab's result over seeds and
the verdict (lstmlab.reproduce.recipes says how a run succeeds and how the verdict is decided).

``build_report(recipe, scale, runs)`` judges runs given in hand (``train`` in this process, or loaded), ``report_of``
takes runs judged already (``judge``), ``report(store, recipe_id, scale)`` reads the runs of the recipe's sweep
from a run store. Each returns a ``Report``,
whose ``to_dict()`` is what ``--json`` prints and ``text()`` what the command prints.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from lstmlab.core.analysis import summary
from lstmlab.jobs import sweeps
from lstmlab.reproduce.recipes import OPS, Expect, Recipe, bound_of, check_request, sweep_name
from lstmlab.runs.status import TRAINED_STATUSES
from lstmlab.store import Attempt, RunStore

INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class Outcome:
    """One run judged by its recipe: whether it succeeded, the training sequences it saw (until its criterion,
    if met; for a loss criterion, until its held-out loss first came to it), its test set's wrong sequences and
    size, its final loss (test set, else held-out batch) and the task's chance baseline, its first-step error ratio
    ||dL/dh_1|| / ||dL/dh_T|| at step 0, its wall time."""

    success: bool
    sequences: int
    test_wrong: float
    test_size: int
    loss: float
    baseline: float
    flow_ratio: float
    wall_time: float
    status: str


def judge(recipe: Recipe, run: Any) -> Outcome:
    """``run`` (a ``Run``) judged by ``recipe.success``."""
    s = summary(run)
    config = run.config
    test_loss = s.get("test_loss", math.nan)
    loss = test_loss if math.isfinite(test_loss) else s["eval_loss"]
    wrong = s.get("test_wrong", math.nan)
    size = int(s.get("test_size", 0))
    ratio = s["flow_ratio"][0][1] if 0 in s["flow_ratio"] else math.nan
    crit = recipe.success
    sequences = int(s.get("sequences", s["steps_done"] * config.batch_size))
    within = (math.isfinite(wrong) and size > 0 and wrong <= crit.wrong * size) if crit.wrong is not None else True
    if run.status != "finished":
        ok = False
    elif crit.kind == "met":
        ok = bool(s.get("criterion_met", False)) and within
    elif crit.kind == "test":
        ok = within
    elif crit.kind == "loss":
        ok = math.isfinite(loss) and loss <= crit.loss * s["baseline"]
        if ok:
            sequences = _first_reached(run.eval, crit.loss * s["baseline"], sequences)
    else:
        bound = bound_of(config)
        ok = bound < 1.0 and math.isfinite(ratio) and ratio <= bound * (1 + 1e-9)
    return Outcome(success=ok, sequences=sequences,
                   test_wrong=wrong, test_size=size, loss=loss, baseline=s["baseline"], flow_ratio=ratio,
                   wall_time=float(run.wall_time), status=run.status)


def _first_reached(evals: Any, level: float, otherwise: int) -> int:
    """The training sequences seen when the held-out loss first came to ``level`` or below (``otherwise``: never,
    or the run records no sequences)."""
    if "sequences" not in evals.columns:
        return otherwise
    reached = evals.loc[evals["loss"] <= level, "sequences"]
    return int(reached.iloc[0]) if len(reached) else otherwise


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(statistics.median(values)) if values else math.nan


@dataclass
class Row:
    """One model at one setting over its seeds."""

    model: str
    setting: str
    expected: int
    outcomes: list[Outcome] = field(default_factory=list)
    paper: dict[str, Any] | None = None

    @property
    def seeds(self) -> int:
        return len(self.outcomes)

    @property
    def succeeded(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def success_fraction(self) -> float:
        return self.succeeded / self.seeds if self.seeds else math.nan

    @property
    def loss_ratios(self) -> list[float]:
        """Each seed's final loss over the task's chance baseline (NaN where either is not a positive number)."""
        return [o.loss / o.baseline if o.baseline > 0 else math.nan for o in self.outcomes]

    @property
    def loss_ratio(self) -> float:
        return _median(self.loss_ratios)

    def measure(self, name: str) -> float:
        return self.success_fraction if name == "success" else self.loss_ratio

    def to_dict(self) -> dict[str, Any]:
        won = [o.sequences for o in self.outcomes if o.success]
        wrong = [o.test_wrong for o in self.outcomes]
        ratios = [r for r in self.loss_ratios if math.isfinite(r)]
        return {
            "model": self.model, "setting": self.setting, "seeds": self.seeds, "expected_seeds": self.expected,
            "succeeded": self.succeeded, "success_fraction": _num(self.success_fraction),
            "sequences_median": _num(_median([float(v) for v in won])),
            "sequences_min": min(won) if won else None, "sequences_max": max(won) if won else None,
            "test_wrong_median": _num(_median(wrong)), "test_wrong_max": _num(max(wrong, default=math.nan)),
            "test_size": self.outcomes[0].test_size if self.outcomes else 0,
            "loss_median": _num(_median([o.loss for o in self.outcomes])),
            "baseline": _num(self.outcomes[0].baseline if self.outcomes else math.nan),
            "loss_ratio": _num(self.loss_ratio),
            "loss_ratio_min": _num(min(ratios, default=math.nan)),
            "loss_ratio_max": _num(max(ratios, default=math.nan)),
            "flow_ratio_median": _num(_median([o.flow_ratio for o in self.outcomes])),
            "diverged": sum(o.status == "diverged" for o in self.outcomes),
            "wall_time": sum(o.wall_time for o in self.outcomes),
            "paper": self.paper,
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Span:
    """How long one executor worked on a recipe's runs: ``executor`` "pool" (the local pool), "dask" or "here"
    (trained in the submitting process), the most attempts that ran at once, the runs, and ``seconds`` of wall time
    while at least one of its attempts ran (the union of the attempts' intervals: gaps with none running, between
    two submissions say, are not counted); ``unended`` attempts (running, or lost without an end) count up to
    their start only."""

    executor: str
    at_once: int
    runs: int
    seconds: float
    unended: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        """'1,290 s on the local pool (40 runs, at most 2 at once)'."""
        parts = [f"{self.runs} run{'s' * (self.runs != 1)}"]
        if self.at_once:
            parts.append(f"at most {self.at_once} at once")
        if self.unended:
            parts.append(f"{self.unended} attempt{'s' * (self.unended != 1)} without an end")
        return f"{self.seconds:,.0f} s {EXECUTOR_NAMES.get(self.executor, self.executor)} ({', '.join(parts)})"


def spans_text(spans: Iterable[Span]) -> str:
    """'Wall time while its runs ran: ...; ....' ("" for none)."""
    spans = list(spans)
    return "Wall time while its runs ran: " + "; ".join(s.text() for s in spans) + "." if spans else ""


def spans(attempts: Iterable[Attempt]) -> list[Span]:
    """The :class:`Span` of each executor in ``attempts`` (``RunStore.attempts_of``), in the order pool, dask,
    here."""
    by_kind: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_kind.setdefault(a.queued_on.split(" ")[0] if a.queued_on else "here", []).append(a)
    out = []
    for kind in sorted(by_kind, key=lambda k: (EXECUTORS.index(k) if k in EXECUTORS else len(EXECUTORS), k)):
        done = sorted((a.started_at, a.ended_at) for a in by_kind[kind] if a.ended_at is not None)
        seconds, reach = 0.0, -math.inf
        for start, end in done:  # the union of the intervals, left to right
            seconds += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        running = at_once = 0
        for _, change in sorted([(s, 1) for s, _ in done] + [(e, -1) for _, e in done]):
            running += change  # an end sorts before a start at the same moment
            at_once = max(at_once, running)
        group = by_kind[kind]
        out.append(Span(kind, at_once, len({a.run_id for a in group}), seconds, sum(a.ended_at is None for a in group)))
    return out


EXECUTORS = ("pool", "dask", "here")
EXECUTOR_NAMES = {"pool": "on the local pool", "dask": "on Dask", "here": "in the submitting process"}


@dataclass
class Report:
    id: str
    scale: str
    claim: str
    paper: str
    section: str
    success: str
    verdict: str
    rows: list[Row]
    checks: list[tuple[str, bool | None]]
    leaves_out: str
    notes: str
    spans: list[Span] = field(default_factory=list)
    models: list[tuple[str, str, str]] = field(default_factory=list)  # (name, cell, what it is) of each model

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scale": self.scale, "paper": self.paper, "section": self.section,
                "claim": self.claim, "success": self.success, "verdict": self.verdict,
                "models": [{"name": n, "cell": c, "text": t} for n, c, t in self.models],
                "rows": [r.to_dict() for r in self.rows],
                "checks": [{"expect": t, "holds": h} for t, h in self.checks],
                "leaves_out": self.leaves_out, "notes": self.notes, "spans": [s.to_dict() for s in self.spans]}

    def text(self) -> str:
        lines = [f"{self.id} ({self.scale}): {self.paper} {self.section}", f"claim: {self.claim}",
                 f"success: {self.success}"]
        if self.leaves_out:
            lines.append(f"leaves out: {self.leaves_out}")
        if self.models:
            lines.append(f"models: {models_text(self.models)}")
        flow = self.success.startswith("||dL/dh_1||")
        header = (f"{'model':<13} {'setting':<17} {'ok/seeds':>8} "
                  f"{'|dL/dh_1|/|dL/dh_T| at init' if flow else 'sequences med [min..max]':>27} "
                  f"{'test wrong':>12} {'loss/base':>9}  paper")
        lines += ["", header]
        for r in self.rows:
            d = r.to_dict()
            if flow:
                seqs = "-" if d["flow_ratio_median"] is None else f"{d['flow_ratio_median']:.3g}"
            else:
                seqs = ("-" if d["sequences_median"] is None else
                        f"{d['sequences_median']:,.0f} [{d['sequences_min']:,}..{d['sequences_max']:,}]")
            wrong = "-" if d["test_wrong_median"] is None else f"{d['test_wrong_median']:g}/{d['test_size']:,}"
            ratio = "-" if d["loss_ratio"] is None else f"{d['loss_ratio']:.3g}"
            paper = r.paper["text"] if r.paper else "-"
            lines.append(f"{r.model:<13} {r.setting:<17} {f'{r.succeeded}/{r.seeds}':>8} {seqs:>27} {wrong:>12} "
                         f"{ratio:>9}  {paper}")
        lines.append("")
        for t, holds in self.checks:
            lines.append(f"{'holds' if holds else 'n/a' if holds is None else 'fails'}: {t}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


def recipe_models(recipe: Recipe, scale: str) -> list[tuple[str, str, str]]:
    """(name, cell, what it is) of each of the recipe's models at ``scale``."""
    first = recipe.scale(scale).settings[0]
    return [(m.name, recipe.config(m, first, scale, 0).cell, m.text) for m in recipe.models]


def models_text(models: Iterable[tuple[str, str, str]]) -> str:
    """'lstm97 (cell lstm97fc): 4 cells, ...; rnn (cell rnn): tanh RNN, 8 units'."""
    return "; ".join(f"{name} (cell {cell}){': ' + text if text else ''}" for name, cell, text in models)


def _resolve(recipe: Recipe, scale: str, which: str) -> list[str]:
    names = [s.name for s in recipe.scale(scale).settings]
    if which == "each":
        return names
    if which in ("first", "last"):
        return [names[0] if which == "first" else names[-1]]
    return [which] if which in names else []


def check(recipe: Recipe, scale: str, rows: Mapping[tuple[str, str], Row], expect: Expect) -> bool | None:
    """Whether one expectation holds on the rows (None: its setting is not part of this scale)."""
    settings = _resolve(recipe, scale, expect.setting)
    if not settings:
        return None
    results = []
    for name in settings:
        mine = rows[(expect.model, name)].measure(expect.measure)
        if expect.value is not None:
            against = expect.value
        else:
            other = expect.other_setting or name
            other = _resolve(recipe, scale, other)[0] if _resolve(recipe, scale, other) else other
            against = rows[(expect.other_model, other)].measure(expect.measure)
        results.append(not math.isnan(mine) and not math.isnan(against) and OPS[expect.op](mine, against))
    return all(results)


def verdict_of(checks: list[tuple[str, bool | None]]) -> str:
    """"reproduced" when every applicable expectation holds, "partly reproduced" when some do, else "not
    reproduced"."""
    held = [h for _, h in checks if h is not None]
    if held and all(held):
        return "reproduced"
    return "partly reproduced" if any(held) else "not reproduced"


def build_report(recipe: Recipe, scale: str, runs: Iterable[tuple[str, str, Any]], seeds: int | None = None) -> Report:
    """The report of ``runs``, (model, setting, Run or None) triples, at ``scale`` with ``seeds`` seeds per row
    (default: the scale's): each ended run judged (:func:`judge`), then :func:`report_of`."""
    return report_of(recipe, scale, [(m, s, judge(recipe, run) if run is not None and run.status in TRAINED_STATUSES
                                      else None) for m, s, run in runs], seeds)


def report_of(recipe: Recipe, scale: str, outcomes: Iterable[tuple[str, str, Outcome | None]],
              seeds: int | None = None) -> Report:
    """The report of judged runs, (model, setting, Outcome or None) triples, at ``scale`` with ``seeds`` seeds per
    row (default: the scale's). The verdict is "incomplete" while a row has fewer ended runs than seeds."""
    recipe, scale, n = check_request(recipe.id, scale, seeds)
    rows = {(m.name, s.name): Row(m.name, s.name, n, paper=(p.to_dict() if (p := recipe.paper_figure(m.name, s.name))
                                                              else None))
            for m, s in recipe.rows(scale)}
    for model, setting, outcome in outcomes:
        if outcome is not None and outcome.status in TRAINED_STATUSES and (model, setting) in rows:
            rows[(model, setting)].outcomes.append(outcome)
    checks = [(e.text(), check(recipe, scale, rows, e)) for e in recipe.expect]
    done = all(r.seeds >= r.expected for r in rows.values())
    verdict = verdict_of(checks) if done else INCOMPLETE
    return Report(recipe.id, scale, recipe.claim, recipe.paper, recipe.section, recipe.success.text(), verdict,
                  list(rows.values()), checks, recipe.scale(scale).leaves_out, recipe.notes,
                  models=recipe_models(recipe, scale))


def report(store: RunStore, recipe_id: Any, scale: Any = "quick") -> Report:
    """The report of a recipe's sweep at ``scale`` from the runs in ``store`` (KeyError if it was never
    submitted): the newest run of each of its configs."""
    recipe, scale, _ = check_request(recipe_id, scale)
    n, planned = planned_runs(store, recipe.id, scale)
    runs = [(m, s, store.load(row["id"]) if row is not None else None) for m, s, _, row in planned]
    rep = build_report(recipe, scale, runs, n)
    rep.spans = spans(store.attempts_of([row["id"] for *_, row in planned if row is not None]))
    return rep


def planned_runs(store: RunStore, recipe_id: Any,
                 scale: Any = "quick") -> tuple[int, list[tuple[str, str, int, dict[str, Any] | None]]]:
    """(seeds per row, (model, setting, seed, stored run or None) of every run the recipe's sweep at ``scale``
    plans): the newest stored run of each config as ``RunStore.list`` lists it (id, status, created_at, ...), None
    where it has none. KeyError if the sweep was never submitted."""
    recipe, scale, _ = check_request(recipe_id, scale)
    name = sweep_name(recipe.id, scale)
    try:
        spec = sweeps.load_spec(store, name)
    except KeyError:
        raise KeyError(f"no runs of recipe {recipe.id!r} at scale {scale!r}: submit them first "
                       f"(python -m lstmlab reproduce {recipe.id} --scale {scale})") from None
    n = len(spec.seeds)
    planned = recipe.expand(scale, n)
    listed = store.list(config_key=[c.key for _, _, c in planned])
    newest = {r["config_key"]: r for r in listed.drop_duplicates("config_key", keep="first").to_dict("records")}
    return n, [(m, s, c.seed, newest.get(c.key)) for m, s, c in planned]
