"""The store's record of named sweeps: the first spec recorded under a name stays, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from lstmlab.store import Actor, RunStore


def test_a_sweep_name_keeps_its_first_spec(store_url):
    store = RunStore(store_url)
    assert store.sweeps().empty
    with pytest.raises(KeyError, match="no sweep named 'lag'"):
        store.sweep_spec("lag")
    assert store.record_sweep("lag", '{"grid": 1}', actor=Actor("a@example.org")) == '{"grid": 1}'
    assert store.record_sweep("lag", '{"grid": 2}') == '{"grid": 1}'  # the recorded one is returned, unchanged
    assert store.sweep_spec("lag") == '{"grid": 1}'
    assert store.record_sweep("lag", '{"grid": 3}', replace=True) == '{"grid": 3}'  # a definition the lab changed
    assert store.sweep_spec("lag") == '{"grid": 3}'
    store.record_sweep("other", "{}")
    listed = store.sweeps()
    assert sorted(listed["name"]) == ["lag", "other"]
    assert listed.set_index("name").loc["lag", "owner"] == "a@example.org"
