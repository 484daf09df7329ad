"""Reproductions as recipes: their expansion into the papers' settings (numbers of the reproduction sheet written
here), the report read off a store of known runs, bad input on the command line, a recipe submitted and resumed as
a sweep, and each recipe's quick scale trained in this process with the direction of its claim asserted."""
from __future__ import annotations

import dataclasses
import io
import json
import statistics
import time

import pytest

from lstmlab.cli import main
from lstmlab.jobs import sweeps
from lstmlab.reproduce import doc, recipes, report
from lstmlab.reproduce.submit import sweep_spec
from lstmlab.store import Attempt, RunStore
from lstmlab.training.train import train
from lstmlab.views import reproductions as views

IDS = ("hs97-reber", "hs97-noise-free-lags", "hs97-distractor-lags", "hs97-adding", "hs97-multiplication",
       "hs97-temporal-order", "bsf94-latch", "pmb13-bound", "pmb13-clipping", "ljh15-irnn-adding", "asb16-copy",
       "gsc00-forget-gate")


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ---- the recipes and their configs -------------------------------------------------------------------------------

def test_every_named_recipe_exists_with_both_scales_and_a_verdict_rule():
    assert set(IDS) <= set(recipes.RECIPES)
    for rid in IDS:
        r = recipes.RECIPES[rid]
        assert r.claim and r.expect and r.paper in r.section + r.paper
        for scale in ("quick", "paper"):
            assert r.expand(scale, 1), (rid, scale)
        assert r.scale("quick").leaves_out, rid  # a quick scale always says what it leaves out


def _by_model(rid, scale, seeds=None):
    out: dict[tuple[str, str], list] = {}
    for model, setting, config in recipes.RECIPES[rid].expand(scale, seeds):
        out.setdefault((model, setting), []).append(config)
    return out


def test_hs97_adding_at_paper_scale_has_the_papers_settings():
    """HS97 section 5.4 (sheet 2.4): online, 4 cells in a fully connected hidden layer, weights in [-0.1, 0.1], input
    gate biases -3 and -6, ST3(0.01) over the 2,000 most recent sequences, 2,560 test sequences, T = 100, 10 trials;
    lr 0.5 on HS97's summed error is 0.25 on the lab's mean over 1 output at 1 step."""
    rows = _by_model("hs97-adding", "paper")
    lstm = rows[("lstm97", "T=100")]
    assert len(lstm) == 10 and [c.seed for c in lstm] == list(range(10))
    c = lstm[0]
    assert (c.task, c.cell, c.gradient, c.hidden_size, c.seq_len) == ("hs97-adding", "lstm97fc", "truncated", 4, 100)
    assert (c.batch_size, c.optimizer, c.lr, c.clip) == (1, "sgd", 0.25, 0.0)
    assert (c.init, c.weight_scale, c.gate_bias) == ("uniform", 0.1, "i=-3,-6")
    assert (c.stop, c.stop_window, c.stop_wrong, c.stop_error, c.test_size) == ("train", 2000, 0, 0.01, 2560)
    assert rows[("rnn", "T=100")][0].cell == "rnn"
    figure = recipes.RECIPES["hs97-adding"].paper_figure("lstm97", "T=100")
    assert (figure.sequences, figure.test_wrong) == (74_000, 1)


def test_a_report_names_the_cell_of_each_model():
    """HS97's fully connected nets train lstm97fc, Experiment 2a's single cell with an input gate only lstm97ig: each
    report says which, in its text, its JSON and its section of docs/reproductions.md."""
    for rid, cell in (("hs97-adding", "lstm97fc"), ("hs97-temporal-order", "lstm97fc"),
                      ("hs97-noise-free-lags", "lstm97ig")):
        recipe = recipes.RECIPES[rid]
        rep = report.build_report(recipe, "paper", [])
        other = recipe.models[1]
        assert [(name, c) for name, c, _ in rep.models] == [("lstm97", cell), (other.name, dict(other.fields)["cell"])]
        said = f"lstm97 (cell {cell}): {recipe.models[0].text}"
        assert f"models: {said}" in rep.text() and f"Models: {said}" in doc.report_markdown(rep)
        assert rep.to_dict()["models"][0] == {"name": "lstm97", "cell": cell, "text": recipe.models[0].text}


def test_hs97_noise_free_lags_run_at_the_lags_asked_for():
    """HS97 Table 2 has p = 4, 10 and 100 (18 trials each); p = 50 is the lab's own point between them."""
    rows = _by_model("hs97-noise-free-lags", "paper")
    assert {s for _, s in rows} == {"p=4", "p=10", "p=50", "p=100"}
    assert all(len(v) == 18 for v in rows.values())
    c = rows[("lstm97", "p=50")][0]
    assert (c.task, c.seq_len, c.stop_window, c.stop_wrong, c.weight_scale) == ("hs97-lag-2a", 50, 10_000, 0, 0.2)
    # HS97's RTRL/BPTT net: one logistic unit, inputs wired to the outputs, HS97's lr 1.0 on its summed error of
    # p (p + 1) terms (p / 2 (p + 1) on the lab's mean), at most 1,000
    for p, lr in ((4, 10.0), (10, 55.0), (50, 1000.0), (100, 1000.0)):
        r = rows[("rnn_logistic", f"p={p}")][0]
        assert (r.cell, r.hidden_size, r.direct, r.gradient, r.optimizer, r.lr) == ("rnn_logistic", 1, "yes", "full",
                                                                                      "sgd", lr)
    # HS97's LSTM net (Table 10): one cell with an input gate only, inputs wired to the outputs, no biases, the cell
    # added once the error stops decreasing (here after 2,000 sequences), lr 1.0 on the summed error (uncapped)
    for p, lr in ((4, 10.0), (10, 55.0), (50, 1275.0), (100, 5050.0)):
        c = rows[("lstm97", f"p={p}")][0]
        assert (c.cell, c.hidden_size, c.direct, c.biases, c.recurrent, c.join_after, c.gradient, c.batch_size,
                c.lr) == ("lstm97ig", 1, "yes", "none", "none", 2000, "truncated", 1, lr)
    assert recipes.RECIPES["hs97-noise-free-lags"].paper_figure("lstm97", "p=50") is None


def test_hs97_temporal_order_and_multiplication_stop_as_the_paper_did():
    c = _by_model("hs97-temporal-order", "paper")[("lstm97", "6a")][0]
    assert (c.stop_error, c.stop_window, c.gate_bias, c.weight_scale, c.test_size) == (0.1, 2000, "i=-2,-4", 0.1, 2560)
    m = _by_model("hs97-multiplication", "paper")[("lstm97", "T=100")][0]
    assert (m.stop_wrong, m.stop_window, m.stop_error, m.seq_len) == (139, 2000, 0.0, 100)  # fewer than 140 of 2,000
    assert recipes.RECIPES["hs97-multiplication"].paper_figure("lstm97", "T=100").sequences == 482_000


def test_the_other_papers_recipes_have_their_settings():
    copy = _by_model("asb16-copy", "paper")
    assert {s for _, s in copy} == {"T=50", "T=100", "T=200", "T=300", "T=500"}
    c = copy[("lstm", "T=500")][0]
    assert (c.optimizer, c.lr, c.batch_size, c.clip_value, c.seq_len) == ("rmsprop", 1e-3, 20, 1.0, 500)
    latch = _by_model("bsf94-latch", "paper")
    assert all(len(v) == 50 for v in latch.values())  # many initialisations per T
    # T from the shortest the latch admits (T > L = 3) to 100
    assert sorted(c.seq_len for c, *_ in latch.values()) == [4, 5, 10, 15, 20, 30, 50, 100]
    c = latch[("rnn", "T=100")][0]
    assert (c.cell, c.hidden_size, c.weight_scale, c.latch_steps, c.latch_noise) == ("rnn", 1, 1.25, 3, 0.2)
    clip = _by_model("pmb13-clipping", "paper")
    assert {c.seq_len for v in clip.values() for c in v} == {20, 50, 100}
    a, b = clip[("MSGD", "L=50")][0], clip[("MSGD-C", "L=50")][0]
    assert (a.clip, b.clip, a.lr, a.batch_size, a.hidden_size, a.test_size) == (0.0, 1.0, 0.01, 20, 50, 10_000)
    assert {s for _, s in _by_model("ljh15-irnn-adding", "paper")} == {"T=100", "T=150"}
    irnn = _by_model("ljh15-irnn-adding", "paper")[("irnn", "T=150")][0]
    assert (irnn.cell, irnn.init, irnn.weight_scale, irnn.batch_size, irnn.hidden_size) == (
        "rnn_relu", "irnn", 1.0, 16, 100)
    bound = _by_model("pmb13-bound", "quick")
    assert bound[("rnn", "gamma*sigma=0.9")][0].weight_scale == 0.9
    assert bound[("rnn_logistic", "gamma*sigma=0.9")][0].weight_scale == 3.6  # 0.9 / (1/4)
    assert all(c.steps == 0 for v in bound.values() for c in v)
    forget = _by_model("gsc00-forget-gate", "paper")
    assert {m for m, _ in forget} == {"lstm", "lstm97"}


def test_a_recipes_sweep_holds_one_point_per_row_and_reads_back_the_same():
    spec = sweep_spec("asb16-copy", "paper", 2)
    assert spec.name == "repro:asb16-copy:paper" and spec.seeds == (0, 1) and len(spec.points) == 10
    assert [c.key for c in spec.configs()] == [c.key for _, _, c in recipes.RECIPES["asb16-copy"].expand("paper", 2)]
    plain = sweeps.make_spec("plain", {"seq_len": "5,10"})
    assert "points" not in json.loads(plain.to_json())  # sweeps recorded before points existed read the same
    part = sweep_spec("asb16-copy", "paper", 2, settings="T=100, T=50")
    planned = [(m, s, c.key) for m, s, c in recipes.RECIPES["asb16-copy"].expand("paper", 2)]
    assert [c.key for c in part.configs()] == [k for _, s, k in planned if s in ("T=50", "T=100")]
    assert len(part.points) == 4 and part.name == spec.name


def test_submitting_some_settings_runs_only_theirs_and_the_report_reads_the_rest_as_missing(tmp_path):
    db = str(tmp_path / "runs.db")
    code, out, err = _cli("reproduce", "pmb13-bound", "--settings", "gamma*sigma=0.9", "--db", db, "-q")
    assert code == 0, err
    rows = {(r["model"], r["setting"]): r["seeds"] for r in json.loads(
        _cli("reproduce", "pmb13-bound", "--report", "--json", "--db", db)[1])["rows"]}
    ran = {k for k, n in rows.items() if n}
    assert ran == {(m, "gamma*sigma=0.9") for m, _ in rows} and len(rows) > len(ran)


# ---- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["nope"], "recipe='nope': expected one of hs97-reber, "),
    (["hs97-adding", "--scale", "huge"], "scale='huge': expected one of 'quick', 'paper'"),
    (["hs97-adding", "--seeds", "0"], "seeds=0: expected a whole number from 1 to 200"),
    (["hs97-adding", "--seeds", "201"], "seeds=201: expected a whole number from 1 to 200"),
    (["hs97-adding", "--seeds", "two"], "seeds='two': expected a whole number from 1 to 200"),
    (["asb16-copy", "--scale", "paper", "--settings", "T=50,T=60"],
     "settings='T=50,T=60': 'T=60' is no setting of asb16-copy at scale 'paper'; expected some of 'T=50', 'T=100'"),
    (["asb16-copy", "--settings", ","], "settings=',': '' is no setting of asb16-copy at scale 'quick'; expected"),
    (["asb16-copy", "--report", "--settings", "T=30"], "reproduce --report: --seeds and --settings are the "),
    (["nope", "--report"], "recipe='nope': expected one of"),
    (["hs97-adding", "--report", "--scale", "x"], "scale='x': expected one of 'quick', 'paper'"),
    ([], "reproduce: expected a recipe ID"),
])
def test_bad_input_is_one_line_naming_the_field_and_nothing_is_submitted(tmp_path, argv, message):
    db = str(tmp_path / "runs.db")
    code, out, err = _cli("reproduce", *argv, "--db", db)
    assert code == 2, (out, err)
    assert err.startswith("lstmlab: error: ") and message in err and err.count("\n") == 1
    with RunStore(db) as store:
        assert store.sweeps().empty and store.list().empty


def test_the_list_names_every_recipe(tmp_path):
    code, out, _ = _cli("reproduce", "--list", "--db", str(tmp_path / "runs.db"))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(recipes.RECIPES)


# ---- the report on a store of known runs ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def latch_runs():
    """bsf94-latch quick trained in this process: (model, setting, Run)."""
    return [(m, s, train(c)) for m, s, c in recipes.RECIPES["bsf94-latch"].expand("quick")]


def _expected_rows(runs):
    """Per setting, from the runs' own tables: [succeeded, seeds, median final test loss, sequences of the
    succeeded] with success = finished and at most 1 % of the 200 test sequences wrong (the recipe's rule)."""
    rows: dict[str, list] = {}
    for _, setting, run in runs:
        end = run.eval.iloc[-1]
        row = rows.setdefault(setting, [0, 0, [], []])
        ok = run.status == "finished" and end["test_wrong"] <= 2
        row[0] += ok
        row[1] += 1
        row[2].append(end["test_loss"])
        if ok:
            row[3].append(int(end["sequences"]))
    return rows


def test_the_report_of_known_runs_in_a_store(tmp_path, latch_runs):
    db = str(tmp_path / "runs.db")
    spec = sweep_spec("bsf94-latch", "quick")
    with RunStore(db) as store:
        store.record_sweep(spec.name, spec.to_json())
        for _, _, run in latch_runs:
            store.save(run)
    expected = _expected_rows(latch_runs)
    code, out, err = _cli("reproduce", "bsf94-latch", "--report", "--json", "--db", db)
    assert code == 0, err
    data = json.loads(out)
    assert data["id"] == "bsf94-latch" and data["scale"] == "quick"
    assert [(r["model"], r["setting"]) for r in data["rows"]] == [("rnn", "T=5"), ("rnn", "T=50")]
    for row in data["rows"]:
        ok, seeds, losses, seqs = expected[row["setting"]]
        assert (row["succeeded"], row["seeds"], row["paper"]) == (ok, seeds, None)
        assert row["loss_median"] == pytest.approx(statistics.median(losses))
        assert row["baseline"] == 0.64
        assert row["sequences_median"] == (statistics.median(seqs) if seqs else None)
    short, long_ = (expected[s][0] / expected[s][1] for s in ("T=5", "T=50"))
    want = ("reproduced" if long_ < short and long_ <= 0.2 else
            "partly reproduced" if long_ < short or long_ <= 0.2 else "not reproduced")
    assert data["verdict"] == want
    code, text, _ = _cli("reproduce", "bsf94-latch", "--report", "--db", db)
    assert code == 0 and f"verdict: {want}" in text and "T=50" in text
    page = tmp_path / "reproductions.md"
    code, out, _ = _cli("reproduce", "--doc", str(page), "--db", db)
    assert code == 0 and out == f"wrote {page} (1 reports)\n"
    md = page.read_text()
    assert f"## bsf94-latch (quick): {want}" in md and "## asb16-copy" not in md
    for setting, (ok, seeds, _, _) in expected.items():
        seconds = sum(run.wall_time for _, s, run in latch_runs if s == setting)
        assert f"| rnn | {setting} | {ok} / {seeds} |" in md and f"| {seconds:.1f} s |" in md

    with RunStore(db) as store:  # a run gone: the row lacks a seed and no verdict is given
        store.delete(latch_runs[-1][2].run_id)
        partial = report.report(store, "bsf94-latch", "quick")
    assert partial.verdict == "incomplete"
    assert [r.seeds for r in partial.rows] == [expected["T=5"][1], expected["T=50"][1] - 1]


def test_the_page_adds_the_executors_wall_times_from_a_benchmarks_results(tmp_path):
    """--timings: bench/bench_reproduce_paper.py's rows (written here by its Results class, as the benchmark does)
    become a table of wall times per executor; a file without them is one error naming it."""
    from bench.bench_reproduce_paper import LEAD
    from bench.common import Results

    res = Results("reproduce_paper", "t", argv=["bench/bench_reproduce_paper.py"])
    table = res.table("t", ["recipe", *LEAD, "runs", "pool s", "Dask s", "Dask / pool", "pool, runs running s",
                            "Dask, runs running s", "verdict (pool)", "verdict (Dask)"])
    table.add("bsf94-latch", "all", "2026-12-07 10:00 UTC", "2.6, 3.5, 3.8", 400, 130.4, 127.2, 127.2 / 130.4, 128.0,
              127.0, "reproduced", "reproduced")
    table.add("ljh15-irnn-adding", "T=150", "2026-12-08 09:00 UTC", "0.1, 0.4, 0.9", 9, None, 6100.0, None, None,
              6050.0, None, "reproduced")
    timings = res.save(tmp_path / "reproduce_paper.json")
    db, page = str(tmp_path / "runs.db"), tmp_path / "reproductions.md"
    code, out, err = _cli("reproduce", "--doc", str(page), "--timings", str(timings), "--db", db)
    assert code == 0, err
    assert ("| bsf94-latch | all | 400 | 130 s | 127 s | 0.98 | reproduced, reproduced | 2026-12-07 10:00 UTC "
            "(2.6, 3.5, 3.8) |") in page.read_text()
    assert ("| ljh15-irnn-adding | T=150 | 9 | not yet measured | 6,100 s | – | –, reproduced | 2026-12-08 09:00 UTC "
            "(0.1, 0.4, 0.9) |") in page.read_text()
    (tmp_path / "other.json").write_text('{"tables": [{"columns": ["recipe"], "rows": []}]}')
    for argv, message in ((["--timings", str(tmp_path / "other.json")], "its table lacks the columns 'settings'"),
                          (["--timings", str(tmp_path / "none.json")], "expected a results file of bench/"),
                          ([], None)):
        if not argv:
            code, _, err = _cli("reproduce", "--timings", str(timings), "--db", db)
            assert code == 2 and "reproduce --timings: expected --doc with it" in err
            continue
        code, _, err = _cli("reproduce", "--doc", str(tmp_path / "x.md"), *argv, "--db", db)
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "x.md").exists()


def _store_of(path, rid, runs):
    """A store holding the sweep of ``rid``'s quick scale and these runs."""
    spec = sweep_spec(rid, "quick")
    with RunStore(path) as store:
        store.record_sweep(spec.name, spec.to_json())
        for run in runs:
            store.save(run)
    return str(path)


def _sections(md):
    """The page's sections by their heading up to the verdict ("bsf94-latch (quick)"), each as the page has it."""
    parts = md.split("\n## ")[1:]
    return {part.split("\n", 1)[0].split(":")[0]: "## " + part.rstrip() for part in parts}


def test_an_updated_page_keeps_the_sections_of_recipes_the_store_lacks(tmp_path, latch_runs):
    """--update: the recipes of another store join the page, each recipe the store holds replaces its section, the
    rest (and the wall times, without --timings) stay as they were; the page is renewed whole or not at all."""
    latch = _store_of(tmp_path / "latch.db", "bsf94-latch", [run for _, _, run in latch_runs])
    bound_runs = [train(c) for _, _, c in recipes.RECIPES["pmb13-bound"].expand("quick")]
    bound = _store_of(tmp_path / "bound.db", "pmb13-bound", bound_runs)
    fewer = _store_of(tmp_path / "fewer.db", "bsf94-latch", [run for _, _, run in latch_runs[:-1]])
    from bench.bench_reproduce_paper import LEAD
    from bench.common import Results

    res = Results("reproduce_paper", "t", argv=["bench/bench_reproduce_paper.py"])
    res.table("t", ["recipe", *LEAD, "runs", "pool s", "Dask s", "Dask / pool", "pool, runs running s",
                    "Dask, runs running s", "verdict (pool)", "verdict (Dask)"]).add(
        "bsf94-latch", "all", "2026-12-07 10:00 UTC", "2.6, 3.5, 3.8", 400, 130.4, 127.2, 127.2 / 130.4, 128.0, 127.0,
        "reproduced", "reproduced")
    timings = res.save(tmp_path / "reproduce_paper.json")
    page = tmp_path / "reproductions.md"

    assert _cli("reproduce", "--doc", str(page), "--timings", str(timings), "--db", latch)[0] == 0
    first = _sections(page.read_text())
    assert list(first) == ["bsf94-latch (quick)", "Paper scale on the two executors"]
    code, out, err = _cli("reproduce", "--doc", str(page), "--update", "--db", bound)
    assert code == 0 and out == f"wrote {page} (1 reports, 2 sections kept)\n", err
    second = _sections(page.read_text())
    assert list(second) == ["bsf94-latch (quick)", "pmb13-bound (quick)", "Paper scale on the two executors"]
    for heading, section in first.items():
        assert second[heading] == section  # kept as they were
    with RunStore(bound) as store:
        rep = report.report(store, "pmb13-bound", "quick")
    assert rep.verdict != "incomplete" and second["pmb13-bound (quick)"] == doc.report_markdown(rep)

    code, out, _ = _cli("reproduce", "--doc", str(page), "--update", "--db", fewer)  # a recipe run again replaces
    third = _sections(page.read_text())
    assert code == 0 and out == f"wrote {page} (1 reports, 2 sections kept)\n"
    assert third["bsf94-latch (quick)"].startswith("## bsf94-latch (quick): incomplete\n")
    assert first["bsf94-latch (quick)"] != third["bsf94-latch (quick)"]
    assert third["pmb13-bound (quick)"] == second["pmb13-bound (quick)"]
    code, _, _ = _cli("reproduce", "--doc", str(page), "--db", bound)  # without --update: this store's recipes only
    assert code == 0 and list(_sections(page.read_text())) == ["pmb13-bound (quick)"]

    before = page.read_text()
    other = tmp_path / "other.md"
    other.write_text("# Notes\n\n## bsf94-latch (quick): reproduced\n")
    for argv, message in ((["--update"], "reproduce --update: expected --doc with it"),
                          (["--doc", str(tmp_path / "none.md"), "--update"],
                           f"reproduce --update: --doc {str(tmp_path / 'none.md')!r} cannot be read"),
                          (["--doc", str(other), "--update"],
                           f"--update {str(other)!r}: expected a page written by `python -m lstmlab reproduce --doc`")):
        code, _, err = _cli("reproduce", *argv, "--db", bound)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert page.read_text() == before and other.read_text().startswith("# Notes")
    assert not (tmp_path / "none.md").exists() and not list(tmp_path.glob("*.tmp"))


def test_a_paper_benchmark_row_measured_one_executor_at_a_time_joins_the_other_half():
    """bench_reproduce_paper --executor: a half joins the earlier row's other half (its times, verdict, when and
    the load, each named); measured again, a half replaces only its own part; with no other half to join, it stays."""
    from bench.bench_reproduce_paper import LEAD, joined

    columns = ["recipe", *LEAD, "runs", "pool s", "Dask s", "Dask / pool", "pool, runs running s",
               "Dask, runs running s", "verdict (pool)", "verdict (Dask)"]
    dask = ["r", "T=150", "2026-12-07 12:00 UTC", "1.0, 1.1, 1.2", 9, None, 100.0, None, None, 99.0, None, "reproduced"]
    pool = ["r", "T=150", "2026-12-08 13:00 UTC", "0.5, 0.6, 0.7", 9, 110.0, None, None, 108.0, None, "partly", None]
    both = joined(dask, pool, columns, "pool")
    assert both == ["r", "T=150", "2026-12-08 13:00 UTC (pool); 2026-12-07 12:00 UTC (Dask)",
                    "0.5, 0.6, 0.7 (pool); 1.0, 1.1, 1.2 (Dask)", 9, 110.0, 100.0, 100.0 / 110.0, 108.0, 99.0,
                    "partly", "reproduced"]
    again = ["r", "T=150", "2026-12-09 08:00 UTC", "0.2, 0.3, 0.4", 9, None, 90.0, None, None, 89.0, None, "partly"]
    assert joined(both, again, columns, "dask") == [
        "r", "T=150", "2026-12-08 13:00 UTC (pool); 2026-12-09 08:00 UTC (Dask)",
        "0.5, 0.6, 0.7 (pool); 0.2, 0.3, 0.4 (Dask)", 9, 110.0, 90.0, 90.0 / 110.0, 108.0, 89.0, "partly", "partly"]
    assert joined(None, pool, columns, "pool") == pool
    assert joined(dask, again, columns, "dask") == again  # the earlier row has no pool half to join


def test_a_report_of_a_recipe_never_submitted_says_how_to_submit_it(tmp_path):
    code, _, err = _cli("reproduce", "asb16-copy", "--report", "--db", str(tmp_path / "runs.db"))
    assert code == 1 and "no runs of recipe 'asb16-copy' at scale 'quick'" in err
    assert "python -m lstmlab reproduce asb16-copy --scale quick" in err


def test_a_recipe_submitted_as_jobs_resumes_and_reports(tmp_path):
    """pmb13-bound needs no training (steps 0): submitted on the local pool, followed, reported; submitted again it
    attaches to the runs already there."""
    db = str(tmp_path / "runs.db")
    began = time.time()
    code, out, err = _cli("reproduce", "pmb13-bound", "--seeds", "1", "-q", "--db", db)
    took = time.time() - began
    assert code == 0, err
    assert out.startswith("sweep repro:pmb13-bound:quick: 8 runs: 8 submitted, 0 resubmitted (lost), 0 already")
    assert "verdict: reproduced" in out
    code, out, _ = _cli("reproduce", "pmb13-bound", "--seeds", "1", "-q", "--db", db)
    assert code == 0 and "8 runs: 0 submitted, 0 resubmitted (lost), 8 already there" in out
    older = json.loads(sweep_spec("pmb13-bound", "quick", 1).to_json())
    older["points"] = older["points"][:3]  # as an older version of the lab may have defined the recipe
    with RunStore(db) as store:
        store.record_sweep("repro:pmb13-bound:quick", json.dumps(older), replace=True)
    code, out, _ = _cli("reproduce", "pmb13-bound", "--seeds", "1", "-q", "--db", db)
    assert code == 0 and "8 runs: 0 submitted, 0 resubmitted (lost), 8 already there" in out  # this version's
    with RunStore(db) as store:
        assert store.sweep_spec("repro:pmb13-bound:quick") == sweep_spec("pmb13-bound", "quick", 1).to_json()
    with RunStore(db) as store:
        rep = report.report(store, "pmb13-bound", "quick")
        assert len(store.list()) == 8 and set(store.list()["sweep"]) == {"repro:pmb13-bound:quick"}
        progress = sweeps.sweep_progress(store, "repro:pmb13-bound:quick")  # the sweep machinery reads it back
        assert (progress["total"], progress["finished"], progress["missing"]) == (8, 8, 0)
    assert [r.seeds for r in rep.rows] == [1] * 8
    [span] = rep.spans  # every run on the local pool's workers, within the time the command took
    assert (span.executor, span.runs, span.unended) == ("pool", 8, 0) and 1 <= span.at_once <= 2
    assert 0 < span.seconds <= took
    wall = f"Wall time while its runs ran: {span.seconds:,.0f} s on the local pool (8 runs, at most {span.at_once} " \
           "at once)."
    assert wall in doc.report_markdown(rep)
    with RunStore(db) as store:
        assert views.card(store, "pmb13-bound").wall == wall  # the Reproductions page's card says it too
    for row in rep.rows:  # contracting rows vanish within the bound; expansive ones have none (bound >= 1)
        g = float(row.setting.split("=")[1])
        ratio = row.outcomes[0].flow_ratio
        assert (row.succeeded == 1) == (g < 1)
        if g < 1:
            assert ratio <= g ** 49


def test_a_recipes_wall_time_per_executor_counts_the_time_while_a_run_ran():
    """Attempts on the pool at [0, 10] and [5, 20], then none until [100, 101]: 21 s, two at once; Dask's [0, 4]
    and one without an end; a run trained in the submitting process: its own."""
    A = Attempt
    attempts = [A("a", "dask tcp://x:1", "h:1", 0.0, 4.0), A("b", "pool h:9", "h:2", 0.0, 10.0),
                A("c", "pool h:9", "h:3", 5.0, 20.0), A("d", "pool h:9", "h:2", 100.0, 101.0),
                A("e", "dask tcp://x:1", "", 2.0, None), A("f", "", "h:4", 7.0, 9.5),
                A("c", "pool h:9", "h:3", 10.0, 15.0)]
    pool, dask, here = report.spans(attempts)
    assert pool == report.Span("pool", 2, 3, 21.0, 0)
    assert dask == report.Span("dask", 1, 2, 4.0, 1)
    assert here == report.Span("here", 1, 1, 2.5, 0)
    assert report.spans([]) == []


# ---- the quick scales: the direction of each claim ------------------------------------------------------------------

def _quick(rid):
    r = recipes.RECIPES[rid]
    runs = [(m, s, train(c)) for m, s, c in r.expand("quick")]
    return report.build_report(r, "quick", runs)


def _row(rep, model, setting=None):
    return next(r for r in rep.rows if r.model == model and (setting is None or r.setting == setting))


def _ratio(rep, model, setting=None):
    return _row(rep, model, setting).loss_ratio


def _fraction(rep, model, setting=None):
    return _row(rep, model, setting).success_fraction


# What each quick scale must show (measured on this machine; the verdicts themselves are in the docs). Each is part
# of its paper's claim and fails when training or the judging goes wrong.
QUICK_DIRECTION = {
    # the Elman-style RNN does not learn the embedded symbol: it stays at the memoryless loss
    "hs97-reber": lambda rep: _fraction(rep, "rnn") == 0 and _ratio(rep, "rnn") >= 0.9,
    # LSTM stores the first symbol at p = 4 in every seed; the logistic RNN never at p = 10
    "hs97-noise-free-lags": lambda rep: (_fraction(rep, "lstm97", "p=4") == 1
                                         and _fraction(rep, "rnn_logistic", "p=10") == 0),
    "hs97-distractor-lags": lambda rep: _fraction(rep, "lstm97") == 1 and _fraction(rep, "rnn") == 0,
    # the LSTM's test errors far below the RNN's, which stays at the baseline
    "hs97-adding": lambda rep: (_ratio(rep, "lstm97") < 0.25 * _ratio(rep, "rnn") and _ratio(rep, "rnn") >= 0.9
                                and _row(rep, "lstm97").to_dict()["test_wrong_median"]
                                < 0.5 * _row(rep, "rnn").to_dict()["test_wrong_median"]),
    "hs97-multiplication": lambda rep: _ratio(rep, "lstm97") < 0.25 * _ratio(rep, "rnn"),
    "hs97-temporal-order": lambda rep: _ratio(rep, "lstm97") < 0.2 and _ratio(rep, "rnn") >= 0.9,
    # the fraction of latches that converge falls with T
    "bsf94-latch": lambda rep: _fraction(rep, "rnn", "T=50") < _fraction(rep, "rnn", "T=5"),
    # contracting recurrences vanish within PMB13's bound in every seed
    "pmb13-bound": lambda rep: all(r.succeeded == r.seeds for r in rep.rows if "=0." in r.setting),
    # clipping turns the exploding runs into successes
    "pmb13-clipping": lambda rep: _fraction(rep, "MSGD-C") > _fraction(rep, "MSGD"),
    # the LSTM leaves the 1/6 baseline, the tanh RNN does not
    "ljh15-irnn-adding": lambda rep: _ratio(rep, "lstm") < 0.5 and _ratio(rep, "rnn") >= 0.8,
    # the LSTM near the memoryless baseline
    "asb16-copy": lambda rep: 0.8 <= _ratio(rep, "lstm") <= 1.25,
    # the LSTM without a forget gate stays at the memoryless loss
    "gsc00-forget-gate": lambda rep: _ratio(rep, "lstm97") >= 0.9,
}


@pytest.mark.parametrize("rid", IDS)
def test_the_quick_scale_shows_the_direction_of_the_claim(rid):
    rep = _quick(rid)
    assert rep.verdict in recipes.VERDICTS
    assert QUICK_DIRECTION[rid](rep), rep.text()


def test_a_loss_criterion_counts_the_sequences_until_the_held_out_loss_first_came_to_it():
    """ljh15's success is a final loss of at most 0.1 x the baseline 1/6 (predicting 1, the sum's mean: its MSE is
    the variance of the sum of two U(0, 1) values); a run that meets it took the sequences seen at the first eval
    whose held-out loss came to that; a run that does not, all it saw."""
    recipe = recipes.RECIPES["ljh15-irnn-adding"]
    quick = {m: c for m, _, c in recipe.expand("quick", 1)}
    learned = train(dataclasses.replace(quick["lstm"], steps=2500, record_every=250))
    ev = learned.eval
    below = ev[ev["loss"] <= 0.1 / 6]
    assert len(below) and ev["test_loss"].iloc[-1] <= 0.1 / 6  # it learned, within the budget
    outcome = report.judge(recipe, learned)
    assert outcome.success and outcome.sequences == below["sequences"].iloc[0] < 2500 * 16
    stuck = train(quick["rnn"])
    outcome = report.judge(recipe, stuck)
    assert not outcome.success and outcome.sequences == stuck.config.steps * 16
