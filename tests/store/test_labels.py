"""A run's name and tags: at most 200 characters each, at most 32 tags, and no control (Unicode Cc) or bidirectional
formatting character, refused with a message naming the field and the value (escaped) at every entry point: the
store (save, queue, rename, tag), the Python API (jobs.submit), the command line and the dashboard's Runs page;
and nothing changes when one is refused."""
from __future__ import annotations

import io
import os

import pytest

from lstmlab import cli
from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.store import MAX_TAGS, NAME_MAX_CHARS, TAG_MAX_CHARS, RunStore, check_labels
from lstmlab.training import train as training
from tests.support.runs import make_run

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
        "\u061c"]
CONTROL = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f"]
TINY = RunConfig(cell="rnn", seq_len=5, hidden_size=3, steps=2, batch_size=2, eval_size=2, seed=4343)


@pytest.mark.parametrize("char", BIDI + CONTROL)
def test_control_and_bidi_characters_are_refused_naming_field_and_value(char):
    value = f"report{char}fdp.exe"
    with pytest.raises(ValueError) as name_refused:
        check_labels(name=value)
    message = str(name_refused.value)
    assert message.startswith(f"name {value!r} contains U+{ord(char):04X}")
    assert char not in message and repr(char)[1:-1] in message  # shown escaped: \\t, \\x1b, \\u202e
    assert "may not contain control or bidirectional formatting characters" in message
    with pytest.raises(ValueError) as tag_refused:
        check_labels(tags=["fine", f"ok{char}"])
    assert str(tag_refused.value).startswith(f"tag {'ok' + char!r} contains U+{ord(char):04X}")


def test_bidi_override_is_named_in_the_message():
    with pytest.raises(ValueError, match=r"^name 'abc\\u202egnp\.exe' contains U\+202E RIGHT-TO-LEFT OVERRIDE, a "
                                         r"bidirectional formatting character"):
        check_labels("abc\u202egnp.exe")


def test_lengths_and_tag_count():
    name, tags = check_labels("n" * NAME_MAX_CHARS, ["t" * TAG_MAX_CHARS] * MAX_TAGS)
    assert len(name) == 200 and len(tags) == 32 == MAX_TAGS
    assert check_labels(None, "one") == ("", ("one",))
    assert check_labels("Ünïcode ✓ 名前", ["مرحبا", "a b"]) == ("Ünïcode ✓ 名前", ("مرحبا", "a b"))  # letters stay
    with pytest.raises(ValueError, match=r"^name 'nnn.*\.\.\. has 201 characters: expected at most 200$"):
        check_labels("n" * 201)
    with pytest.raises(ValueError, match=r"^tag 'ttt.*\.\.\. has 201 characters: expected at most 200$"):
        check_labels(tags=["ok", "t" * 201])
    with pytest.raises(ValueError, match=r"^tags: 33 given, expected at most 32$"):
        check_labels(tags=[f"t{i}" for i in range(33)])
    with pytest.raises(ValueError, match=r"^tag 7: expected text, got int$"):
        check_labels(tags=[7])


@pytest.fixture
def store(store_url):
    with RunStore(store_url) as s:
        yield s


def test_store_refuses_at_every_write_and_changes_nothing(store):
    run = make_run(860)
    store.save(run)
    for change in (lambda: store.rename(run.run_id, "x\u202ey"), lambda: store.tag(run.run_id, ["ok", "x\ny"]),
                   lambda: store.tag(run.run_id, ["t"] * 33), lambda: store.rename(run.run_id, "n" * 201)):
        with pytest.raises(ValueError, match=r"^(name|tag|tags)"):
            change()
    back = store.load(run.run_id)
    assert (back.name, back.tags) == (run.name, tuple(run.tags))

    bad = make_run(861)
    bad.name = "evil\u2066name"
    with pytest.raises(ValueError, match=r"^name 'evil\\u2066name' contains U\+2066"):
        store.save(bad)
    bad.name, bad.tags = "fine", ("\x1b[31mred",)
    with pytest.raises(ValueError, match=r"^tag '\\x1b\[31mred' contains U\+001B"):
        store.save(bad)
    with pytest.raises(ValueError, match=r"^name 'q\\u200fq'"):
        store.queue(TINY, name="q\u200fq")
    with pytest.raises(ValueError, match=r"^tags: 40 given"):
        store.queue(TINY, tags=[str(i) for i in range(40)])
    with pytest.raises(ValueError, match=r"^name 'm\\u202em'"):
        store.queue_many([TINY], name="m\u202em")
    with pytest.raises(ValueError, match=r"^tag 'a\\x00b'"):
        store.queue_many([TINY], tags=["a\x00b"])
    assert list(store.list()["id"]) == [run.run_id]


def test_api_submit_refuses_before_queueing(tmp_path):
    url = str(tmp_path / "runs.db")
    with pytest.raises(ValueError, match=r"^tag 'a\\u202eb' contains U\+202E"):
        jobs.submit(TINY, store_url=url, tags=["a\u202eb"])
    with pytest.raises(ValueError, match=r"^name 'x\\ty' contains U\+0009"):
        jobs.submit(TINY, store_url=url, name="x\ty")
    with pytest.raises(ValueError, match=r"^name 'x\\u2067y' contains U\+2067"):
        jobs.submit_many([TINY], store_url=url, name="x\u2067y")
    with RunStore(url) as s:
        assert s.list().empty


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return cli.main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_refuses_bad_names_and_tags_like_other_bad_input(tmp_path, monkeypatch):
    db = str(tmp_path / "runs.db")
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained a run whose name is refused"))
    tiny = ["--seq-len", "5", "--steps", "2", "--hidden-size", "3", "--batch-size", "2", "--eval-size", "2"]
    code, out, err = _cli("run", "--db", db, *tiny, "--name", "abc\u202etxt.exe")
    assert (code, out) == (2, "")
    assert err.startswith("lstmlab: error: name 'abc\\u202etxt.exe' contains U+202E RIGHT-TO-LEFT OVERRIDE")
    code, out, err = _cli("submit", "--db", db, *tiny, "--tag", "ok", "--tag", "x" * 201)
    assert (code, out) == (2, "") and err.startswith("lstmlab: error: tag 'xxx") and "expected at most 200" in err
    with RunStore(db) as s:
        assert s.list().empty
        run_id = s.save(make_run(862))
    code, _, err = _cli("rename", "--db", db, run_id[:8], "new\x00name")
    assert code == 2 and err.startswith("lstmlab: error: name 'new\\x00name' contains U+0000")
    code, _, err = _cli("tag", "--db", db, run_id[:8], "fine", "bad\u2067")
    assert code == 2 and err.startswith("lstmlab: error: tag 'bad\\u2067' contains U+2067")
    with RunStore(db) as s:
        back = s.load(run_id)
    assert (back.name, back.tags) == ("run 862", ("t", "s862"))
    assert _cli("rename", "--db", db, run_id[:8], "Ünïcode name")[0] == 0


def test_runs_page_shows_the_refusal_and_changes_nothing(app):
    at = app(page="runs.py")
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        run_id = s.save(make_run(863))
    at.run()
    at.multiselect(key="runs_selected").set_value([run_id]).run()
    at.text_input(key="runs.new_name").set_value("evil\u202egnp.exe")
    at.button(key="FormSubmitter:runs.rename_form-Rename").click().run()
    assert not at.exception
    shown = at.error[0].value.replace("\\", "").replace("\u2060", "")
    assert "name 'evilu202egnp.exe' contains U+202E RIGHT-TO-LEFT OVERRIDE" in shown
    assert "\u202e" not in at.error[0].value
    at.run()  # the page drew the forms up to the one submitted
    at.text_input(key="runs.new_tags").set_value("fine, x\u2069y")
    at.button(key="FormSubmitter:runs.tag_form-Tag 1 run(s)").click().run()
    assert not at.exception
    assert "tag 'xu2069y' contains U+2069" in at.error[0].value.replace("\\", "").replace("\u2060", "")
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        back = s.load(run_id)
    assert (back.name, back.tags) == ("run 863", ("t", "s863"))
    assert list(at.dataframe[0].value["name"]) == ["run 863"]
