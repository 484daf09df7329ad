"""Recipes' quick runs trained in this process and stored as `python -m lstmlab reproduce` leaves them (the sweep
recorded under its name), for the Reproductions page's tests."""
from __future__ import annotations

from lstmlab.reproduce import recipes
from lstmlab.reproduce.submit import sweep_spec
from lstmlab.store import RunStore
from lstmlab.training.train import train

ORDER = "hs97-temporal-order"  # the paper's figure is for the quick scale's own setting, 6a
BOUND = "pmb13-bound"  # no training: judged at initialisation, over four settings with a number each
SEEDS = {ORDER: 2, BOUND: 1}


def train_quick(seeds: dict[str, int] = SEEDS) -> dict[str, list]:
    """{recipe id: [(model, setting, Run)]}: the quick scale of each recipe with ``seeds[id]`` seeds per row."""
    return {rid: [(m, s, train(c)) for m, s, c in recipes.RECIPES[rid].expand("quick", n)]
            for rid, n in seeds.items()}


def fill(store: RunStore, trained: dict[str, list], seeds: dict[str, int] = SEEDS) -> None:
    """Record each recipe's quick sweep in ``store`` and save its runs."""
    for rid, runs in trained.items():
        spec = sweep_spec(rid, "quick", seeds[rid])
        store.record_sweep(spec.name, spec.to_json())
        for _, _, run in runs:
            store.save(run)


def succeeded(run) -> bool:
    """hs97-temporal-order's rule from the run's own last eval row: it met its stopping criterion and got at most 1 %
    of its test set wrong."""
    end = run.eval.iloc[-1]
    return (run.status == "finished" and end["stop_met"] == 1.0
            and end["test_wrong"] <= 0.01 * run.config.test_size)


def representative(runs: list) -> tuple[str, int]:
    """(run id, seed) of the lstm97 run whose final test loss is the lower median among ``runs`` (model, setting,
    Run) of hs97-temporal-order."""
    ranked = sorted((run.eval["test_loss"].iloc[-1], run.config.seed, run.run_id) for m, _, run in runs
                    if m == "lstm97")
    _, seed, run_id = ranked[(len(ranked) - 1) // 2]
    return run_id, seed
