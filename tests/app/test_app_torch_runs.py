"""AppTest: a run recorded from PyTorch (lstmlab.torch.watch) on the Runs page, opened in Error flow and Training
by id (?run=...), in the live view while it records and after its process went away; a lab run opened the same way."""

from __future__ import annotations

import os
import re
import time
import urllib.parse

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from lstmlab.core.config import RunConfig
from lstmlab.store import RunStore
from lstmlab.torch import watch
from lstmlab.training.train import train
from tests.support.torch_runs import recording_that_died

NAME = "my *lstm* [x](http://example.com)"


def record(name: str = NAME, steps: int = 6, close: bool = True, layers: int = 2):
    """A 2-layer PyTorch LSTM trained a few steps with the recorder on the app's store ($LSTMLAB_DB)."""
    torch.manual_seed(0)
    module = torch.nn.LSTM(2, 4, num_layers=layers, batch_first=True)
    head = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam([*module.parameters(), *head.parameters()], lr=0.01)
    rec = watch(module, store=os.environ["LSTMLAB_DB"], name=name, every=2)
    for _ in range(steps):
        out, _ = module(torch.randn(3, 5, 2))
        loss = (head(out[:, -1]) ** 2).mean()
        loss.backward()
        rec.step(loss)
        opt.step()
        opt.zero_grad()
    rec.flush()
    if close:
        rec.close()
    return rec


def lab_run() -> str:
    """A tiny run the lab trained, saved in the app's store."""
    run = train(RunConfig(cell="gru", seq_len=6, hidden_size=3, steps=4, record_every=2, batch_size=4, eval_size=4))
    return RunStore(os.environ["LSTMLAB_DB"]).save(run)


def texts(at) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "warning", "error") for e in getattr(at, kind))


def unescaped(markdown: str) -> str:
    """Markdown as it reads: escape_markdown's backslashes and word joiners taken out."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("\u2060", ""))


def test_the_runs_page_shows_where_each_run_comes_from_and_opens_it(app):
    at = app("runs.py")
    rec, lab = record(), lab_run()
    at.run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[rec.run_id, "source"].startswith("PyTorch ") and "torch.nn.LSTM(2, 4, num_layers=2" in \
        table.loc[rec.run_id, "source"]
    assert table.loc[lab, "source"] == "lstmlab"
    assert pd.isna(table.loc[rec.run_id, "task"]) and pd.isna(table.loc[rec.run_id, "lr"])
    assert table.loc[lab, "task"] == "adding"
    assert table.loc[rec.run_id, "layers"] == 2 and table.loc[rec.run_id, "seq_len"] == 5
    at.multiselect(key="runs_selected").set_value([rec.run_id]).run()
    assert not at.exception
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    flow = links["Open the 1 selected run(s) in Error flow"]
    assert flow.page.endswith("error_flow") or "error_flow" in flow.page_script_hash + flow.page
    assert urllib.parse.parse_qs(flow.query_string) == {"run": [rec.run_id]}
    assert urllib.parse.parse_qs(links["Open the 1 selected run(s) in Training"].query_string) == {"run": [rec.run_id]}


@pytest.mark.parametrize("page", ["error_flow.py", "training.py"])
def test_a_recorded_run_opens_by_id(app, page):
    at = app(page)
    rec = record()
    at.query_params["run"] = rec.run_id[:8]  # a unique prefix does
    at.run()
    assert not at.exception
    shown = texts(at)
    assert f"PyTorch {torch.__version__}: torch.nn.LSTM(2, 4, num_layers=2, batch_first=True), float32, cpu" in \
        unescaped(shown)
    assert f"{NAME} · {rec.run_id[:6]}" in unescaped(shown) and "[x](http" not in shown  # the name, escaped
    assert "no lab task" in shown
    assert len(at.get("vega_lite_chart")) >= 3
    if page == "error_flow.py":
        assert any("cell state carries the error" in h.value for h in at.subheader)
        assert "Error at the first time step" in at.info[0].value
    else:
        assert [unescaped(m.label) for m in at.metric] == [f"{NAME} · {rec.run_id[:6]}: recorded loss"]
    assert not at.get("form"), "an opened run shows no study form"


def test_a_lab_run_opens_by_id_too(app):
    at = app("training.py")
    run_id = lab_run()
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    assert "trained by the lab" in texts(at)
    assert at.metric[0].label.endswith(": held-out loss") and "vs baseline" in at.metric[0].proto.body + str(
        at.metric[0].delta)


@pytest.mark.parametrize("value,message", [
    ("0123456789abcdef", "no run with id or id prefix '0123456789abcdef'"),
    ("<script>", "is not a run id"),
    (",".join(f"{i:x}" * 8 for i in range(1, 9)), "a page shows at most 6"),
])
def test_an_address_that_opens_no_run_says_why(app, value, message):
    at = app("error_flow.py")
    lab_run()
    at.query_params["run"] = value
    at.run()
    assert not at.exception
    assert at.error and message in unescaped(at.error[0].value) and "<script>" not in at.error[0].value


def test_a_run_being_recorded_shows_its_progress_and_stops_recording_not_training(app):
    at = app("error_flow.py", settle=False)
    rec = record(close=False)
    try:
        at.query_params["run"] = rec.run_id
        at.run()
        assert not at.exception
        progress = at.get("progress")[0].proto.text
        assert "recorded from PyTorch: step 4, running" in progress  # the rows up to its last recording
        stop = next(b for b in at.button if b.label == "Stop recording")
        stop.click().run()
        assert not at.exception
        deadline = time.monotonic() + 30
        while not rec.stopped and time.monotonic() < deadline:  # the recorder reads the request at its next beat
            time.sleep(0.1)
        assert rec.stopped and not rec.recording()
    finally:
        rec.close()
    run = RunStore(os.environ["LSTMLAB_DB"]).load(rec.run_id)
    assert run.status == "stopped" and run.message.startswith("recording stopped on request")


def test_a_run_whose_process_went_away_cannot_be_resubmitted(app, monkeypatch):
    at = app("training.py", settle=False)
    run_id = recording_that_died(os.environ["LSTMLAB_DB"], "torch.nn.GRU(3, 4)")
    monkeypatch.setenv("LSTMLAB_LOST_AFTER_S", "0.001")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    warning = at.warning[0].value
    assert "is lost: its recording process went away" in warning and "cannot resubmit it" in warning
    assert not [b for b in at.button if b.label == "Resubmit"]
