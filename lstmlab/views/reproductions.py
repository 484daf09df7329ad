"""The Reproductions page's view model (no streamlit): one card per recipe (lstmlab.reproduce.recipes) with the
paper's claim and figures, the lab's latest result read from the run store, the differences between the two stated
with both numbers, the table its charts draw, and a representative run to open on Error flow and Training.

Which result a card shows: the paper scale once one of its runs has ended (the published settings are the evidence; a
quick run since is a demonstration), else the scale whose sweep holds the newest run; a recipe whose sweep exists at
no scale is "not run yet". The verdict is the report's (lstmlab.reproduce.report), "incomplete" while a row has fewer
ended runs than seeds.

The representative run: the recipe's first model (the one its claim is about) at the last setting of the scale (the
longest lag or the hardest case), and of that row's ended runs the one whose final loss is the row's median (the
lower median for an even count; ties by seed). If that row has no ended run yet, the first row, in the recipe's order
from the last setting back, that has one. None while no run has ended.

A difference is stated where the paper has a figure for the same model and setting as a row of the lab's with ended
runs:

- success: the paper's success fraction lies outside the 95 % Wilson score interval of the lab's k successes of n
  seeds (scipy.stats.binomtest), so two seeds that both fail differ from a paper's 97 %, one of two does not;
- sequences until the criterion: the lab's median over its successful seeds is more than ``SEQUENCES_FACTOR`` times
  the paper's or less than 1 / ``SEQUENCES_FACTOR`` of it (optimisers and batch sizes differ: the reproduction sheet
  counts a factor of about 3 as agreement);
- wrong test sequences: the lab's median fraction differs from the paper's by more than ``WRONG_POINTS`` (the
  recipes' usual tolerance of wrong sequences);
- final loss over the chance baseline: the lab's median is more than ``LOSS_FACTOR`` times the paper's or less than
  1 / ``LOSS_FACTOR`` of it (the tolerance the recipes' loss expectations allow, 0.8 to 1.25 of the baseline).

A card charts the final loss over the baseline where its recipe's claim is about loss: its success rule is a loss
criterion or one of its expectations is on the median loss / baseline. Its reference lines (``Card.loss_levels``)
are the baseline (1) and the success rule's level.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from lstmlab.jobs import sweeps
from lstmlab.reproduce import report as rep
from lstmlab.reproduce.recipes import RECIPES, SCALES, Recipe, sweep_name
from lstmlab.runs.status import ACTIVE_STATUSES, TRAINED_STATUSES
from lstmlab.store import RunStore

NOT_RUN = "not run yet"
INCOMPLETE = rep.INCOMPLETE
SEQUENCES_FACTOR = 3.0
WRONG_POINTS = 0.01
LOSS_FACTOR = 1.25
BASELINE_LEVEL = "chance baseline"
CONFIDENCE = 0.95
CHART_COLUMNS = ["source", "model", "setting", "x", "success", "seeds", "succeeded", "sequences", "sequences_min",
                 "sequences_max", "loss_ratio", "loss_ratio_min", "loss_ratio_max", "figure"]
_SETTING = re.compile(r"^(?P<name>.*?)\s*(?:=|\bof)\s*(?P<value>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")


@dataclass(frozen=True)
class Card:
    """What the page shows of one recipe.

    ``rows``: the charts' table, one row per model and setting of the lab (``source`` "lab (SCALE scale)") and of
    the paper (``source`` "paper (PAPER)"): ``x`` the setting's number (NaN when ``x_title`` is ""; the charts then
    place rows by ``setting``), ``success`` the fraction of seeds (or trials) that succeeded (NaN where the paper
    gives none), ``sequences`` the median training sequences until the criterion over the successful seeds (the
    paper's figure; NaN where there is none), ``sequences_min`` / ``sequences_max`` their range (the lab's),
    ``loss_ratio`` the median final loss over the task's chance baseline (the paper's, where it states one),
    ``loss_ratio_min`` / ``loss_ratio_max`` its range over the lab's seeds, and ``figure`` the paper's figure in
    words.

    ``loss_levels``: (name, level of loss / baseline) of the loss chart's reference lines; empty when the card has no
    loss chart (its claim is not about loss).
    """

    id: str
    paper: str
    section: str
    claim: str
    success_rule: str
    success_kind: str
    figures: tuple[str, ...]
    verdict: str
    scale: str | None = None
    other_scales: tuple[str, ...] = ()
    seeds: int = 0
    runs: int = 0
    ended: int = 0
    in_flight: int = 0
    result: str = ""
    checks: tuple[tuple[str, bool | None], ...] = ()
    differences: tuple[str, ...] = ()
    compared: str = ""
    leaves_out: str = ""
    notes: str = ""
    models: str = ""  # each model's name, cell and what it is
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHART_COLUMNS))
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    x_title: str = ""
    representative: str | None = None
    representative_text: str = ""
    recorded_seeds: tuple[tuple[str, int], ...] = ()
    wall: str = ""  # the wall time per executor while the runs of its scale ran (report.spans_text)
    loss_levels: tuple[tuple[str, float], ...] = ()

    @property
    def has_runs(self) -> bool:
        return self.verdict != NOT_RUN


def setting_value(name: str) -> tuple[str, float] | None:
    """(quantity, number) of a setting named like "T=20", "q=p=10", "gamma*sigma=0.5" or "stream of 60"; None for
    a name without a trailing number ("embedded Reber", "6a")."""
    m = _SETTING.match(name.strip())
    if m is None:
        return None
    quantity = m["name"].strip().replace("=", " = ")
    return (f"{quantity} length" if " of" in name else quantity), float(m["value"])


def loss_levels(recipe: Recipe) -> tuple[tuple[str, float], ...]:
    """The loss chart's reference lines for ``recipe``: the chance baseline and, for a loss criterion, its level;
    () when the recipe's claim is not about loss (module docstring)."""
    crit = recipe.success
    if crit.kind != "loss" and not any(e.measure == "loss_ratio" for e in recipe.expect):
        return ()
    return ((BASELINE_LEVEL, 1.0),) + (((f"success: at most {crit.loss:g} x baseline", crit.loss),)
                                       if crit.kind == "loss" else ())


def default_seeds(recipe: Recipe) -> dict[str, int]:
    """The seeds per row each scale runs with by default."""
    return {name: recipe.scale(name).seeds for name in SCALES}


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a success fraction k / n (scipy.stats.binomtest)."""
    from scipy.stats import binomtest  # here: scipy's import is paid by the page that compares, not by every view

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _pct(x: float) -> str:
    return f"{x:.0%}" if x in (0.0, 1.0) or x >= 0.01 else f"{x:.2%}"


def _paper_test_size(recipe: Recipe, model: str, setting: str) -> int:
    """The paper's test set size for a row: the paper scale's ``test_size`` for that row, else the recipe's."""
    models = {m.name: m for m in recipe.models}
    settings = {s.name: s for s in recipe.scale("paper").settings}
    if model in models and setting in settings:
        return int(recipe.fields(models[model], settings[setting], "paper").get("test_size", 0))
    return int(dict(recipe.common).get("test_size", 0))


def differences(recipe: Recipe, report: rep.Report) -> list[str]:
    """The lab's rows that differ from the paper's figure for the same model and setting, each a sentence with both
    numbers (the module docstring says when a number differs)."""
    out = []
    for row in report.rows:
        paper = recipe.paper_figure(row.model, row.setting)
        if paper is None or row.seeds == 0:
            continue
        d = row.to_dict()
        where = f"{row.model} at {row.setting}"
        if paper.success is not None:
            lo, hi = wilson_interval(row.succeeded, row.seeds)
            if not lo <= paper.success <= hi:
                out.append(f"{where}: {row.succeeded} of {row.seeds} seeds succeeded in the lab "
                           f"({_pct(row.success_fraction)}); the paper reports {_pct(paper.success)} "
                           f"({paper.text}).")
        if paper.sequences is not None and d["sequences_median"] is not None:
            ratio = d["sequences_median"] / paper.sequences
            if not 1 / SEQUENCES_FACTOR <= ratio <= SEQUENCES_FACTOR:
                out.append(f"{where}: the lab's successful seeds needed {d['sequences_median']:,.0f} sequences "
                           f"(median) until the criterion; the paper reports {paper.sequences:,.0f} "
                           f"({ratio:.2g} x).")
        size = _paper_test_size(recipe, row.model, row.setting)
        if paper.test_wrong is not None and d["test_wrong_median"] is not None and d["test_size"] and size:
            lab, theirs = d["test_wrong_median"] / d["test_size"], paper.test_wrong / size
            if abs(lab - theirs) > WRONG_POINTS:
                out.append(f"{where}: {d['test_wrong_median']:g} of {d['test_size']:,} test sequences wrong in the "
                           f"lab (median, {_pct(lab)}); the paper reports {paper.test_wrong:g} of {size:,} "
                           f"({_pct(theirs)}).")
        if paper.loss_ratio is not None and d["loss_ratio"] is not None:
            ratio = d["loss_ratio"] / paper.loss_ratio
            if not 1 / LOSS_FACTOR <= ratio <= LOSS_FACTOR:
                out.append(f"{where}: the lab's final loss is {d['loss_ratio']:.3g} x the chance baseline (median); "
                           f"the paper reports {paper.loss_ratio:.3g} x ({paper.text}).")
    return out


def chart_rows(recipe: Recipe, report: rep.Report | None) -> tuple[pd.DataFrame, str]:
    """(the charts' table, the x axis's title: "" when some setting has no number): the lab's rows with ended runs
    and every figure of the paper (both scales' settings)."""
    records = []
    if report is not None:
        for row in report.rows:
            if row.seeds == 0:
                continue
            d = row.to_dict()
            records.append({"source": f"lab ({report.scale} scale)", "model": row.model, "setting": row.setting,
                            "success": row.success_fraction, "seeds": row.seeds, "succeeded": row.succeeded,
                            "sequences": d["sequences_median"], "sequences_min": d["sequences_min"],
                            "sequences_max": d["sequences_max"], "loss_ratio": d["loss_ratio"],
                            "loss_ratio_min": d["loss_ratio_min"], "loss_ratio_max": d["loss_ratio_max"],
                            "figure": ""})
    for (model, setting), paper in recipe.numbers:
        records.append({"source": f"paper ({recipe.paper})", "model": model, "setting": setting,
                        "success": paper.success, "seeds": None, "succeeded": None, "sequences": paper.sequences,
                        "sequences_min": None, "sequences_max": None, "loss_ratio": paper.loss_ratio,
                        "loss_ratio_min": None, "loss_ratio_max": None, "figure": paper.text})
    df = pd.DataFrame.from_records(records, columns=[c for c in CHART_COLUMNS if c != "x"])
    values = [setting_value(s) for s in df["setting"]]
    quantities = {v[0] for v in values if v is not None}
    numeric = bool(values) and all(v is not None for v in values) and len(quantities) == 1
    df.insert(3, "x", [v[1] for v in values] if numeric else math.nan)
    for col in ("x", "success", "sequences", "sequences_min", "sequences_max", "loss_ratio", "loss_ratio_min",
                "loss_ratio_max"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    if recipe.success.kind == "bound":  # judged at initialisation: no training, no sequences until a criterion
        df[["sequences", "sequences_min", "sequences_max"]] = math.nan
    return df, (quantities.pop() if numeric else "")


def representative(recipe: Recipe, scale: str, planned: list[tuple[str, str, int, dict | None]],
                   outcomes: dict[str, rep.Outcome]) -> tuple[str | None, str]:
    """(run id, why it was chosen) of the run a card links to (the module docstring says which); (None, "") while
    no run has ended."""
    models = [m.name for m in recipe.models]
    settings = [s.name for s in recipe.scale(scale).settings]
    order = [(models[0], s) for s in reversed(settings)] + [(m, s) for m in models[1:] for s in reversed(settings)]
    for model, setting in order:
        ids = [(seed, row["id"]) for m, s, seed, row in planned if (m, s) == (model, setting) and row is not None]
        ended = sorted((outcomes[i].loss if math.isfinite(outcomes[i].loss) else math.inf, seed, i)
                       for seed, i in ids if i in outcomes)
        if ended:
            _, seed, run_id = ended[(len(ended) - 1) // 2]
            return run_id, (f"{model} at {setting}, seed {seed}: the median final loss of its {len(ended)} ended "
                            f"run{'s' if len(ended) != 1 else ''}")
    return None, ""


def _table(report: rep.Report) -> pd.DataFrame:
    """The report's rows as the page's table (numbers as numbers, the paper's figure in words)."""
    return pd.DataFrame([{
        "model": r.model, "setting": r.setting, "succeeded": r.succeeded, "seeds": r.seeds,
        "sequences (median)": d["sequences_median"], "test wrong (median)": d["test_wrong_median"],
        "test size": d["test_size"], "loss / baseline": d["loss_ratio"], "run time (s)": d["wall_time"],
        "paper": (d["paper"] or {}).get("text", "")} for r in report.rows for d in [r.to_dict()]])


def compared_text(recipe: Recipe, scale: str, report: rep.Report) -> str:
    """Why no row is compared with a paper's figure, when none is: the paper has no number, this scale has none of
    the figures' rows, or none of those rows has an ended run yet; "" when a row is compared."""
    if not recipe.numbers:
        return "The paper gives no number to compare with (its result is graphical or in words)."
    figured = [r for r in report.rows if recipe.paper_figure(r.model, r.setting) is not None]
    if any(r.seeds for r in figured):
        return ""
    if figured:
        return (f"The rows with a paper figure ({', '.join(f'{r.model} at {r.setting}' for r in figured)}) have no "
                "ended run yet.")
    ran = [s.name for s in recipe.scale(scale).settings]
    theirs = list(dict.fromkeys(s for (_, s), _ in recipe.numbers))
    return (f"The paper's figures are for {', '.join(theirs)}; this scale ran {', '.join(ran)}, so no row is compared "
            "number by number" + (" (run the paper scale for that)." if scale == "quick" else "."))


def card(store: RunStore, recipe_id: str, outcome: Callable[[Recipe, dict], rep.Outcome] | None = None) -> Card:
    """The card of recipe ``recipe_id`` as the run store holds it now. ``outcome(recipe, row)`` judges an ended run
    given its row of ``RunStore.list`` (default: load and ``judge`` it; a page passes one that keeps the outcomes of
    runs that have not changed)."""
    recipe = RECIPES[recipe_id]
    figures = tuple(f"{model} at {setting}: {paper.text}" for (model, setting), paper in recipe.numbers)
    base = {"id": recipe.id, "paper": recipe.paper, "section": recipe.section, "claim": recipe.claim,
            "success_rule": recipe.success.text(), "success_kind": recipe.success.kind, "figures": figures,
            "notes": recipe.notes, "loss_levels": loss_levels(recipe)}
    recorded = set(store.sweeps()["name"])
    scales = [s for s in SCALES if sweep_name(recipe.id, s) in recorded]
    seeds = default_seeds(recipe)
    if not scales:
        rows, x_title = chart_rows(recipe, None)
        return Card(**base, verdict=NOT_RUN, rows=rows, x_title=x_title, recorded_seeds=tuple(seeds.items()),
                    models=rep.models_text(rep.recipe_models(recipe, "paper")))
    planned_by_scale = {s: rep.planned_runs(store, recipe.id, s) for s in scales}
    seeds.update({s: n for s, (n, _) in planned_by_scale.items()})
    paper_ended = "paper" in scales and any(row is not None and row["status"] in TRAINED_STATUSES
                                            for *_, row in planned_by_scale["paper"][1])
    newest = {s: max((row["created_at"] for *_, row in planned if row is not None), default=-math.inf)
              for s, (_, planned) in planned_by_scale.items()}
    scale = "paper" if paper_ended else max(scales, key=lambda s: (newest[s], SCALES.index(s)))
    n, planned = planned_by_scale[scale]
    stored = [row for *_, row in planned if row is not None]
    judged = outcome or (lambda recipe, row: rep.judge(recipe, store.load(row["id"])))
    outcomes = {row["id"]: judged(recipe, row) for row in stored if row["status"] in TRAINED_STATUSES}
    outcomes = {run_id: o for run_id, o in outcomes.items() if o.status in TRAINED_STATUSES}
    report = rep.report_of(recipe, scale, [(m, s, outcomes.get(row["id"]) if row is not None else None)
                                           for m, s, _, row in planned], n)
    ended = sum(r.seeds for r in report.rows)
    in_flight = sum(row["status"] in ACTIVE_STATUSES for row in stored)
    total = len(planned)
    result = (f"{scale.capitalize()} scale, {n} seed{'s' if n != 1 else ''} per row: {ended} of {total} runs "
              f"ended" + (f", {in_flight} in flight" if in_flight else "")
              + (f"; {report.verdict}." if report.verdict != INCOMPLETE else "; no verdict until every run has "
                 "ended."))
    rows, x_title = chart_rows(recipe, report)
    diffs = differences(recipe, report)
    compared = compared_text(recipe, scale, report)
    run_id, why = representative(recipe, scale, planned, outcomes)
    return Card(**base, verdict=report.verdict, scale=scale, other_scales=tuple(s for s in scales if s != scale),
                seeds=n, runs=total, ended=ended, in_flight=in_flight, result=result, checks=tuple(report.checks),
                differences=tuple(diffs), compared=compared, leaves_out=report.leaves_out,
                models=rep.models_text(report.models), rows=rows,
                table=_table(report), x_title=x_title, representative=run_id, representative_text=why,
                recorded_seeds=tuple(seeds.items()),
                wall=rep.spans_text(rep.spans(store.attempts_of([row["id"] for row in stored]))))


def planned_stored(store: RunStore, recipe_id: str, scale: str) -> list[str]:
    """Ids of the stored runs of a recipe's sweep at ``scale`` (KeyError if it was never submitted)."""
    return [row["id"] for *_, row in rep.planned_runs(store, recipe_id, scale)[1] if row is not None]


def cards(store: RunStore) -> list[Card]:
    """Every recipe's card, in the recipes' order."""
    return [card(store, rid) for rid in RECIPES]


def sweeps_state(store: RunStore) -> dict[str, tuple]:
    """{recipe id: what its card is built from}: its recorded sweeps with their seeds, and the id, status and step
    of every stored run of their configs, as a cache key (a card changes only when one of them does)."""
    recorded = set(store.sweeps()["name"])
    keys: dict[str, list[str]] = {}
    state: dict[str, list] = {}
    for rid, recipe in RECIPES.items():
        state[rid] = []
        for scale in SCALES:
            name = sweep_name(rid, scale)
            if name in recorded:
                n = len(sweeps.load_spec(store, name).seeds)
                state[rid].append((scale, n))
                for _, _, c in recipe.expand(scale, n):
                    keys.setdefault(c.key, []).append(rid)
    listed = store.list(config_key=list(keys)) if keys else None
    runs: dict[str, list] = {rid: [] for rid in RECIPES}
    if listed is not None:
        for key, run_id, status, step in zip(listed["config_key"], listed["id"], listed["status"], listed["step"]):
            for rid in keys[key]:
                runs[rid].append((run_id, status, int(step)))
    return {rid: (tuple(state[rid]), tuple(sorted(runs[rid]))) for rid in RECIPES}
