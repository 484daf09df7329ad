"""The Reproductions page's view model on a real SQLite run store holding the quick runs of two recipes, trained in
this process: a card per recipe, the lab's result beside the paper's figures, the differences stated with both
numbers (checked against the runs' own tables), the charts' table, the representative run and the cache key."""
from __future__ import annotations

import math
import statistics

import pytest

from lstmlab.reproduce import recipes, report
from lstmlab.reproduce.submit import sweep_spec
from lstmlab.store import RunStore
from lstmlab.training.train import train
from lstmlab.views import reproductions as R
from tests.support.recipes import BOUND, ORDER, SEEDS, fill, representative, succeeded, train_quick


@pytest.fixture(scope="module")
def trained():
    """{recipe id: [(model, setting, Run)]}: the quick scale of the two recipes trained here."""
    return train_quick()


@pytest.fixture
def store(tmp_path, trained):
    """A SQLite store holding the two recipes' sweeps and runs, as `python -m lstmlab reproduce` leaves them."""
    with RunStore(str(tmp_path / "runs.db")) as s:
        fill(s, trained)
        yield s


def test_every_recipe_has_a_card_and_those_never_run_say_so(store):
    cards = {c.id: c for c in R.cards(store)}
    assert list(cards) == list(recipes.RECIPES)
    for rid, card in cards.items():
        recipe = recipes.RECIPES[rid]
        assert card.claim == recipe.claim
        assert card.figures == tuple(f"{m} at {s}: {p.text}" for (m, s), p in recipe.numbers)
        assert card.models == report.models_text(report.recipe_models(recipe, card.scale or "paper"))
        assert ("lstm97 (cell lstm97fc): " in card.models) == (rid in {"hs97-reber", "hs97-distractor-lags",
                                                                      "hs97-adding", "hs97-multiplication", ORDER})
        if rid in SEEDS:
            assert card.has_runs and card.scale == "quick" and card.verdict in recipes.VERDICTS
            assert (card.seeds, card.runs, card.ended, card.in_flight) == (
                SEEDS[rid], len(recipe.rows("quick")) * SEEDS[rid], len(recipe.rows("quick")) * SEEDS[rid], 0)
            assert card.wall == ""  # trained in this process and saved: no job attempt ran them
        else:
            assert not card.has_runs and card.verdict == R.NOT_RUN and card.representative is None
            assert set(card.rows["source"]) <= {f"paper ({recipe.paper})"}  # only the paper's points


def test_a_row_that_differs_from_the_paper_is_stated_with_both_numbers(store, trained):
    """The quick scale (batches of 16 with Adam, 2 seeds) differs from HS97's 20 online trials at 6a: in the
    seeds that succeeded (2 seeds with k < 2 successes have a 95 % Wilson interval whose top is below 1) or, where
    seeds succeeded, in the sequences they needed (far fewer than HS97's online 31,390; measured)."""
    card = R.card(store, ORDER)
    runs = [run for m, _, run in trained[ORDER] if m == "lstm97"]
    won = [run for run in runs if succeeded(run)]
    expected = []
    if len(won) < 2:
        expected.append(f"lstm97 at 6a: {len(won)} of 2 seeds succeeded in the lab ({len(won) / 2:.0%}); the paper "
                        "reports 100% (20 trials, 31,390 sequences, 1 of 2,560 wrong [P]).")
    if won:
        median = statistics.median(int(r.eval["sequences"].iloc[-1]) for r in won)
        assert not 31_390 / 3 <= median <= 31_390 * 3
        expected.append(f"lstm97 at 6a: the lab's successful seeds needed {median:,.0f} sequences (median) until the "
                        f"criterion; the paper reports 31,390 ({median / 31_390:.2g} x).")
    assert [d for d in card.differences if "test sequences wrong" not in d] == expected
    lab = card.rows[card.rows["source"] == "lab (quick scale)"].set_index("model")
    assert lab.loc["lstm97", "success"] == len(won) / 2 and lab.loc["lstm97", "seeds"] == 2
    paper = card.rows[card.rows["source"] == "paper (HS97)"]
    assert paper[["model", "setting", "success", "sequences"]].values.tolist() == [["lstm97", "6a", 1.0, 31390.0]]
    assert card.x_title == "" and card.rows["x"].isna().all()  # "6a" has no number: placed by name


def test_the_representative_run_is_the_first_models_median_seed_at_the_last_setting(store, trained):
    card = R.card(store, ORDER)
    run_id, seed = representative(trained[ORDER])
    assert card.representative == run_id
    assert card.representative_text.startswith(f"lstm97 at 6a, seed {seed}: the median final loss of its 2 ")
    bound = R.card(store, BOUND)  # the first model (rnn) at the last setting, gamma*sigma = 2
    [(_, _, expected)] = [(m, s, run) for m, s, run in trained[BOUND] if (m, s) == ("rnn", "gamma*sigma=2")]
    assert bound.representative == expected.run_id


def test_settings_with_numbers_are_placed_by_them_and_bound_rows_have_no_sequences(store, trained):
    card = R.card(store, BOUND)
    assert card.x_title == "gamma*sigma"
    lab = card.rows[card.rows["source"] == "lab (quick scale)"]
    assert sorted(set(lab["x"])) == [0.5, 0.9, 1.1, 2.0]
    for (model, setting, run) in trained[BOUND]:
        g = float(setting.split("=")[1])
        ratio = run.flow  # the recipe's own rule, from the run's flow table at step 0
        row = lab[(lab["model"] == model) & (lab["setting"] == setting)].iloc[0]
        assert row["success"] in (0.0, 1.0) and (row["success"] == 1.0) == (g < 1)
        assert math.isnan(row["sequences"])  # judged at initialisation: nothing to count
        assert not ratio.empty
    assert card.verdict == "reproduced" and not card.differences
    assert R.setting_value("T=20") == ("T", 20.0) and R.setting_value("q=p=10") == ("q = p", 10.0)
    assert R.setting_value("stream of 60") == ("stream length", 60.0)
    assert R.setting_value("6a") is None and R.setting_value("embedded Reber") is None


def test_the_wilson_interval_is_the_textbook_one():
    z = 1.959963984540054  # the 97.5 % point of the standard normal
    for k, n in ((0, 2), (1, 2), (2, 2), (7, 10)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert R.wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-9)


def test_the_cache_key_changes_with_the_runs_and_the_card_follows(store, trained):
    before = R.sweeps_state(store)
    assert before[BOUND][0] == (("quick", 1),) and len(before[BOUND][1]) == 8
    assert before["asb16-copy"] == ((), ())
    gone = trained[ORDER][-1][2].run_id
    store.delete(gone)
    after = R.sweeps_state(store)
    assert after[ORDER] != before[ORDER] and after[BOUND] == before[BOUND]
    card = R.card(store, ORDER)
    assert card.verdict == R.INCOMPLETE and card.ended == 3 and "no verdict until every run has ended" in card.result


def test_a_card_says_why_no_row_is_compared_with_the_paper():
    """No figure in the paper, no figure at this scale's settings, or figures whose rows have no ended run yet:
    each is said as it is (the last is not a difference of settings)."""
    lags = recipes.RECIPES["hs97-noise-free-lags"]
    assert R.compared_text(lags, "paper", report.build_report(lags, "paper", [])) == (
        "The rows with a paper figure (lstm97 at p=100, rnn_logistic at p=4, rnn_logistic at p=10, rnn_logistic at "
        "p=100) have no ended run yet.")
    adding = recipes.RECIPES["hs97-adding"]
    assert R.compared_text(adding, "quick", report.build_report(adding, "quick", [])) == (
        "The paper's figures are for T=100; this scale ran T=20, so no row is compared number by number (run the "
        "paper scale for that).")
    clipping = recipes.RECIPES["pmb13-clipping"]
    assert R.compared_text(clipping, "paper", report.build_report(clipping, "paper", [])).startswith(
        "The paper gives no number")


def test_a_card_shows_the_paper_scale_once_a_paper_run_has_ended(tmp_path):
    """pmb13-bound trains nothing (judged at initialisation), so both scales are cheap: its paper runs stored first,
    a quick run after them, and the card still shows the paper scale; with the paper sweep recorded but no paper
    run ended, the newest (quick) one."""
    with RunStore(str(tmp_path / "runs.db")) as store:
        paper = sweep_spec(BOUND, "paper", 1)
        store.record_sweep(paper.name, paper.to_json())
        assert R.card(store, BOUND).scale == "paper" and R.card(store, BOUND).ended == 0  # the only scale recorded
        quick = sweep_spec(BOUND, "quick", 1)
        store.record_sweep(quick.name, quick.to_json())
        for _, _, config in recipes.RECIPES[BOUND].expand("quick", 1)[:1]:
            store.save(train(config))
        assert R.card(store, BOUND).scale == "quick"  # no paper run has ended: the newest
        for _, _, config in recipes.RECIPES[BOUND].expand("paper", 1):
            store.save(train(config))
        for _, _, config in recipes.RECIPES[BOUND].expand("quick", 1)[1:]:
            store.save(train(config))  # newer than every paper run
        card = R.card(store, BOUND)
        assert card.scale == "paper" and card.other_scales == ("quick",) and card.ended == card.runs


def test_a_card_charts_the_final_loss_over_the_baseline_where_its_claim_is_about_loss(store, trained):
    """hs97-temporal-order expects the LSTM below half the chance loss: its rows carry each model's median final
    test loss over the chance MSE of 4 one-hot outputs, p (1 - p) = 3/16 at p = 1/4, with their range over seeds;
    pmb13-bound's claim is about gradients at initialisation, so it has no loss chart."""
    card = R.card(store, ORDER)
    assert card.loss_levels == ((R.BASELINE_LEVEL, 1.0),)
    lab = card.rows[card.rows["source"] == "lab (quick scale)"].set_index("model")
    for model in ("lstm97", "rnn"):
        ratios = [run.eval["test_loss"].iloc[-1] / (3 / 16) for m, _, run in trained[ORDER] if m == model]
        assert lab.loc[model, "loss_ratio"] == pytest.approx(statistics.median(ratios), rel=1e-12)
        assert (lab.loc[model, "loss_ratio_min"], lab.loc[model, "loss_ratio_max"]) == pytest.approx(
            (min(ratios), max(ratios)), rel=1e-12)
    assert card.rows.loc[card.rows["source"] == "paper (HS97)", "loss_ratio"].isna().all()  # HS97 gives no loss
    assert R.card(store, BOUND).loss_levels == ()
    assert R.loss_levels(recipes.RECIPES["ljh15-irnn-adding"]) == (
        (R.BASELINE_LEVEL, 1.0), ("success: at most 0.1 x baseline", 0.1))


def _outcome(loss: float, baseline: float) -> report.Outcome:
    return report.Outcome(success=False, sequences=400_000, test_wrong=math.nan, test_size=0, loss=loss,
                          baseline=baseline, flow_ratio=math.nan, wall_time=1.0, status="finished")


def test_a_final_loss_off_the_papers_by_more_than_the_loss_factor_is_a_difference():
    """ASB16 puts both models at the memoryless baseline, 10 ln 8 / (T + 20), at T = 200: an LSTM at 0.6 of it
    (seeds 0.5, 0.6, 0.7) differs, a tanh RNN at 1.2 of it (within 1.25) does not; both rows are charted with the
    paper's points at 1."""
    asb = recipes.RECIPES["asb16-copy"]
    base = 10 * math.log(8) / 220
    judged = [("lstm", "T=200", _outcome(f * base, base)) for f in (0.5, 0.6, 0.7)]
    judged += [("rnn", "T=200", _outcome(f * base, base)) for f in (1.1, 1.2, 1.24)]
    rep = report.report_of(asb, "paper", judged, 3)
    assert R.differences(asb, rep) == [
        ("lstm at T=200: the lab's final loss is 0.6 x the chance baseline (median); the paper reports 1 x (at the "
         "baseline 0.0945 [P-draft]).")]
    rows, x_title = R.chart_rows(asb, rep)
    assert x_title == "T"
    lab = rows[rows["source"] == "lab (paper scale)"].set_index("model")
    ranged = ["loss_ratio", "loss_ratio_min", "loss_ratio_max"]
    assert lab.loc["lstm", ranged].tolist() == pytest.approx([0.6, 0.5, 0.7])
    paper = rows[rows["source"] == "paper (ASB16)"]
    assert sorted(set(paper["x"])) == [200.0, 300.0, 500.0] and (paper["loss_ratio"] == 1.0).all()
