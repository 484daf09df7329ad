"""AppTest: the Runs page (store table, overlay, rename/tag/delete, CSV and zip downloads)."""

import io
import zipfile

import pandas as pd
import pytest

TINY = dict(T="12", H="6", steps="6", batch="8")


@pytest.fixture
def downloads(monkeypatch):
    """Bytes a click on a download button would download: files handed to Streamlit's media storage by file id,
    and the callables of deferred buttons (called here, as a click would)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files, deferred = {}, {}
    original = MemoryMediaFileStorage.load_and_get_id
    original_deferred = MediaFileManager.add_deferred

    def capture(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    def capture_deferred(self, data_callable, *args, **kwargs):
        file_id = original_deferred(self, data_callable, *args, **kwargs)
        deferred[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    monkeypatch.setattr(MediaFileManager, "add_deferred", capture_deferred)

    def content(button) -> bytes:
        if button.proto.deferred_file_id:
            data = deferred[button.proto.deferred_file_id]()
        else:
            data = files[button.proto.url.rsplit("/", 1)[-1].split(".")[0]]
        return data if isinstance(data, bytes) else data.encode()

    return content


def _with_runs(app, cells="rnn,lstm"):
    at = app("error_flow.py", cells=cells, **TINY).run()
    assert not at.exception
    at.query_params.clear()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    return at


def test_empty_store_says_so(app):
    at = app("runs.py").run()
    assert not at.exception
    assert "No runs yet" in at.info[0].value


def test_table_lists_runs_and_filter_narrows_it(app):
    at = _with_runs(app)
    assert sorted(at.dataframe[0].value["cell"]) == ["lstm", "rnn"]
    at.text_input(key="runs.q").set_value("lstm").run()
    assert not at.exception
    assert list(at.dataframe[0].value["cell"]) == ["lstm"]
    assert at.query_params["q"] == "lstm"


def test_selection_overlays_and_downloads_read_back(app, downloads):
    at = _with_runs(app)
    ids = list(at.dataframe[0].value["id"])
    at.multiselect(key="runs_selected").set_value(ids).run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 3
    buttons = {b.proto.label: b for b in at.get("download_button")}
    for table, n_min in (("steps", 12), ("flow", 24), ("eval", 4)):
        df = pd.read_csv(io.BytesIO(downloads(buttons[f"{table}.csv"])))
        assert set(df["run_id"]) == set(ids)
        assert len(df) >= n_min
    with zipfile.ZipFile(io.BytesIO(downloads(buttons["All tables (zip)"]))) as z:
        assert sorted(z.namelist()) == ["eval.csv", "flow.csv", "runs.csv", "steps.csv"]
        runs_csv = pd.read_csv(z.open("runs.csv"))
    assert sorted(runs_csv["cell"]) == ["lstm", "rnn"]


def test_exports_are_built_only_when_downloaded(app, downloads, monkeypatch):
    from lstmlab.views import export

    calls = []
    for name in ("table_csv", "zip_bundle"):
        original = getattr(export, name)
        monkeypatch.setattr(export, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    at = _with_runs(app)
    ids = list(at.dataframe[0].value["id"])
    at.multiselect(key="runs_selected").set_value(ids).run()
    at.text_input(key="runs.q").set_value("rnn").run()
    at.text_input(key="runs.q").set_value("").run()
    assert not at.exception
    assert calls == []  # three reruns with runs selected: nothing exported
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert all(b.proto.deferred_file_id and not b.proto.url for b in buttons.values())
    df = pd.read_csv(io.BytesIO(downloads(buttons["flow.csv"])))
    assert set(df["run_id"]) == set(at.multiselect(key="runs_selected").value) and len(df)
    assert calls == ["table_csv"]


def test_rename_tag_delete(app, tmp_path):
    at = _with_runs(app)
    ids = list(at.dataframe[0].value["id"])
    at.multiselect(key="runs_selected").set_value(ids[:1]).run()
    at.text_input(key="runs.new_name").set_value("baseline lstm")
    at.button(key="FormSubmitter:runs.rename_form-Rename").click().run()
    assert not at.exception
    assert "baseline lstm" in list(at.dataframe[0].value["name"])

    at.text_input(key="runs.new_tags").set_value("paper, fig1")
    at.get("button")[1].click().run()  # the tag form's submit button
    assert not at.exception
    assert "paper,fig1" in list(at.dataframe[0].value["tags"])

    at.get("button")[2].click().run()  # delete without confirming
    assert not at.exception
    assert "confirmation" in at.error[0].value
    assert len(at.dataframe[0].value) == 2

    at.checkbox(key="runs.confirm_delete").check()
    at.get("button")[2].click().run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == ids[1:]


def test_created_column_says_it_is_utc(app):
    import json
    import time

    at = _with_runs(app)
    table = at.dataframe[0]
    config = json.loads(table.proto.columns)
    assert config["created"]["label"] == "created (UTC)"
    created = table.value["created"].max()
    assert abs(created.timestamp() - time.time()) < 120  # naive timestamps that are UTC, not local time


def test_unknown_query_param_warns(app):
    at = _with_runs(app)
    at.query_params["sort"] = "x"
    at.run()
    assert not at.exception
    assert "`sort`" in at.warning[0].value


def test_unreadable_store_shows_a_message(app, tmp_path, monkeypatch):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    monkeypatch.setenv("LSTMLAB_DB", str(bad))
    at = app("runs.py").run()
    assert not at.exception
    assert "cannot be read" in at.error[0].value


def test_a_stored_run_name_is_escaped_where_it_reaches_markdown(app):
    at = _with_runs(app)
    ids = list(at.dataframe[0].value["id"])
    at.multiselect(key="runs_selected").set_value(ids[:1]).run()
    at.text_input(key="runs.new_name").set_value("![px](http://evil.example/p.png) [click](http://evil.example)")
    at.button(key="FormSubmitter:runs.rename_form-Rename").click().run()
    at.multiselect(key="runs_selected").set_value(ids[:1]).run()
    assert not at.exception
    reading = at.info[0].value.replace("\u2060", "")  # the word joiners that keep a URL from being linked
    assert r"\!\[px\]\(http\:" in reading and "![px](" not in reading and "[click](" not in reading


def test_a_password_in_the_store_url_reaches_no_page(app, monkeypatch):
    monkeypatch.setenv("LSTMLAB_DB", "postgresql+psycopg://alice:s3cret@127.0.0.1:9/runs")
    at = app("runs.py").run()
    assert not at.exception
    shown = " ".join(e.value for e in list(at.caption) + list(at.sidebar.caption) + list(at.error) + list(at.markdown))
    assert "s3cret" not in shown
    assert "postgresql+psycopg://alice:***@127.0.0.1:9/runs" in shown  # the sidebar and the error say which store
    assert "cannot be read" in at.error[0].value
