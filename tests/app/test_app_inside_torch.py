"""Inside the LSTM with an uploaded PyTorch state dict (.pt): its gates from the file's own weights; anything but an
LSTM's tensor dict refused with a message, never run."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstmlab.core.config import RunConfig
from lstmlab.core.torch_interop import module_layers
from lstmlab.views import probes

H = 6


class Model(torch.nn.Module):
    def __init__(self, inputs: int = 2, layers: int = 1, head: int | None = 1) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(inputs, H, num_layers=layers)
        if head:
            self.head = torch.nn.Linear(H, head)


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def upload(at, data: bytes, name: str = "model.pt"):
    at.run()
    at.radio(key="inside.net").set_value("torch").run()
    assert not at.exception
    at.file_uploader(key="inside.pt").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    return at


def test_an_uploaded_lstm_shows_its_own_gates(app):
    torch.manual_seed(3)
    model = Model(layers=2)
    at = upload(app("inside_lstm.py", T="15", seed="4"), saved(model.state_dict()))
    assert not at.error, [e.value for e in at.error]
    text = at.info[0].value
    assert "Uploaded model" in text and "2-layer LSTM, H=6, float32, with its own head" in text and "T=15" in text
    assert len(at.get("vega_lite_chart")) >= 5
    params = {**module_layers(model.lstm, "lstm"), "head.W": model.head.weight.detach().numpy().T,
              "head.b": model.head.bias.detach().numpy()}
    config = RunConfig(cell="lstm", seq_len=15, hidden_size=H, layers=2, dtype="float32")
    want = probes.lstm_inside(config, params, 4, layer=0, batch=64)
    shown = float(at.metric[0].value)
    assert shown == pytest.approx(want["loss"], rel=1e-3)  # the file's network, on the page's batch
    assert at.radio(key="inside.net").value == "torch" and at.query_params["net"] == "torch"


def test_a_file_without_a_fitting_head_gets_a_fresh_one(app):
    at = upload(app("inside_lstm.py", T="12"), saved(Model(head=3).state_dict()))
    assert not at.error
    assert "a fresh head (its file has 3 fitting 1 output(s)" in at.info[0].value


class Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('/tmp/lstmlab-should-not-exist').write_text('ran')",))


@pytest.mark.parametrize("data,message", [
    (b"not a torch file", "torch.load(weights_only=True) cannot read it"),
    (pickle.dumps({"lstm.weight_ih_l0": Payload()}), "torch.load(weights_only=True) cannot read it"),
    (saved({"a": 1.5}), "its entry 'a' is a float; expected a state dict"),
    (saved([torch.zeros(2)]), "it holds a list; expected a state dict"),
    (saved(torch.nn.GRU(2, H).state_dict()), "a GRU, not an LSTM"),
    (saved(torch.nn.LSTM(2, H, bidirectional=True).state_dict()), "a bidirectional module"),
    (saved(torch.nn.LSTM(2, H, proj_size=2).state_dict()), "proj_size"),
    (saved({"head.weight": torch.zeros(1, H)}), "it holds no recurrent module's weights"),
    (saved(Model(inputs=3).state_dict()), "its LSTM reads 3 input(s) per step; Adding problem feeds 2"),
    (saved({**{f"a.{k}": v for k, v in torch.nn.LSTM(2, H).state_dict().items()},
            **{f"b.{k}": v for k, v in torch.nn.LSTM(2, H).state_dict().items()}}), "it holds 2 recurrent modules"),
])
def test_anything_else_is_refused_with_a_message(app, data, message):
    at = upload(app("inside_lstm.py", T="12"), data, name="bad [x](y).pt")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0].replace("\\", "").replace("\u2060", ""), errors
    assert "[x](y)" not in errors[0]  # the file's name, escaped
    assert not at.get("vega_lite_chart")
    assert not __import__("pathlib").Path("/tmp/lstmlab-should-not-exist").exists()


def test_before_an_upload_the_page_says_what_to_upload(app):
    at = app("inside_lstm.py", net="torch").run()
    assert not at.exception and not at.error
    assert "Upload the state dict of a PyTorch model" in at.info[0].value
    assert np.isfinite(len(at.get("vega_lite_chart"))) and not at.get("vega_lite_chart")
