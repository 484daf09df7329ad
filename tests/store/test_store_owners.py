"""Owned runs at the store layer: every run records who saved it; only its owner or an admin may rename, tag,
delete or replace it (a new status is a replacing save); anonymous mode (actor None) may do everything. On a
SQLite file and a PostgreSQL database."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.jobs import quotas
from lstmlab.store import Actor, RunStore, compute_table, may_change, normalise_email, runs_table
from tests.support.runs import assert_same_run, make_run

ALICE, BOB = Actor("alice@lab.example"), Actor("bob@lab.example")
ADMIN = Actor("root@lab.example", is_admin=True)


@pytest.fixture
def store(store_url):
    with RunStore(store_url) as s:
        yield s


def test_owner_is_recorded_listed_and_filtered(store):
    store.save(make_run(700), actor=ALICE)
    store.save(make_run(701), actor=BOB)
    store.save(make_run(702))
    assert store.load(make_run(700).run_id).owner == "alice@lab.example"
    assert store.load(make_run(702).run_id).owner == ""
    listed = store.list()
    assert dict(zip(listed["id"], listed["owner"])) == {
        make_run(700).run_id: "alice@lab.example", make_run(701).run_id: "bob@lab.example", make_run(702).run_id: ""}
    assert list(store.list(owner="bob@lab.example")["id"]) == [make_run(701).run_id]
    assert list(store.list(owner=["", "alice@lab.example"])["id"]) == [make_run(702).run_id, make_run(700).run_id]


@pytest.mark.parametrize("action", ["rename", "tag", "delete", "replace"])
def test_another_user_may_not_change_a_run(store, action):
    run = make_run(710)
    store.save(run, actor=ALICE)
    change = {
        "rename": lambda: store.rename(run.run_id[:8], "mine now", actor=BOB),
        "tag": lambda: store.tag(run.run_id, ["stolen"], actor=BOB),
        "delete": lambda: store.delete(run.run_id, actor=BOB),
        "replace": lambda: store.save(make_run(710, steps=3), actor=BOB),
    }[action]
    with pytest.raises(PermissionError) as caught:
        change()
    assert str(caught.value) == (f"bob@lab.example may not {action} run {run.run_id} ('run 710'): it belongs to "
                                 f"alice@lab.example")
    back = store.load(run.run_id)
    assert_same_run(back, run)
    assert back.owner == "alice@lab.example"


def test_forged_delete_through_a_second_store_leaves_every_table(store_url):
    """A request that claims another user's run is refused by the store itself, whatever the page showed."""
    run = make_run(720)
    with RunStore(store_url) as alices:
        alices.save(run, actor=ALICE)
    with RunStore(store_url) as forged:
        with pytest.raises(PermissionError, match="it belongs to alice@lab.example"):
            forged.delete(run.run_id, actor=Actor("mallory@evil.example"))
    with RunStore(store_url) as check:
        assert_same_run(check.load(run.run_id), run)


def test_owner_admin_and_anonymous_mode_may_change_it(store):
    run = make_run(730)
    store.save(run, actor=ALICE)
    store.rename(run.run_id, "by alice", actor=ALICE)
    store.tag(run.run_id, ["a"], actor=ADMIN)
    store.rename(run.run_id, "local", actor=None)
    back = store.load(run.run_id)
    assert (back.name, back.tags, back.owner) == ("local", ("a",), "alice@lab.example")
    run.status, run.message = "stopped", "stopped by an admin"
    store.save(run, actor=ADMIN)  # a new status keeps the owner
    back = store.load(run.run_id)
    assert (back.status, back.owner) == ("stopped", "alice@lab.example")
    store.delete(run.run_id, actor=ALICE)
    assert run.run_id not in store


def test_run_saved_without_sign_in_only_an_admin_may_change(store):
    run = make_run(740)
    store.save(run)
    with pytest.raises(PermissionError, match=r"it was saved without sign-in, so only an admin may"):
        store.delete(run.run_id, actor=BOB)
    store.rename(run.run_id, "claimed by nobody", actor=ADMIN)
    assert store.load(run.run_id).owner == ""


def test_actor_needs_an_email():
    with pytest.raises(ValueError, match="Actor.email"):
        Actor("  ")


def test_actor_keeps_its_email_normalised_and_carries_the_subject():
    bob = Actor(" Bob@LAB.Example ", issuer="http://idp.example", subject="bob-sub")
    assert (bob.email, bob.issuer, bob.subject) == ("bob@lab.example", "http://idp.example", "bob-sub")
    assert Actor("BOB@lab.example") == Actor("bob@lab.example")
    # Only ASCII letters change: a KELVIN SIGN does not become the "k" of another user's address.
    assert Actor("\u212aate@lab.example").email == "\u212aate@lab.example"
    assert normalise_email("\u212aate@lab.example") != normalise_email("kate@lab.example")


def _set_owner(store: RunStore, run_id: str, owner: str) -> None:
    """What an earlier version stored: the provider's email as it came, in mixed case."""
    with store.engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(owner=owner))


def test_mixed_case_owners_are_one_owner_with_one_quota(store):
    legacy, new = make_run(750), make_run(751)
    store.save(legacy, actor=BOB)
    _set_owner(store, legacy.run_id, "Bob@Lab.Example")
    store.save(new, actor=Actor("BOB@lab.example"))
    assert store.load(new.run_id).owner == "bob@lab.example"
    for asked in ("bob@lab.example", "Bob@LAB.example", ["BOB@LAB.EXAMPLE"]):
        assert sorted(store.list(owner=asked)["id"]) == sorted([legacy.run_id, new.run_id])
    assert list(store.list(owner="alice@lab.example")["id"]) == []
    store.rename(legacy.run_id, "still bob's", actor=Actor("bob@lab.example"))
    with pytest.raises(PermissionError, match="it belongs to Bob@Lab.Example"):
        store.rename(legacy.run_id, "not alice's", actor=ALICE)
    assert may_change(BOB, "Bob@Lab.Example") and not may_change(ALICE, "Bob@Lab.Example")
    # jobs in flight and the compute ledger: a queued run an earlier version wrote in mixed case counts for Bob
    queued_legacy, _, _ = store.queue(RunConfig(cell="rnn", seq_len=5, hidden_size=3, steps=2, batch_size=2, seed=753),
                                      actor=BOB)
    _set_owner(store, queued_legacy, "Bob@Lab.Example")
    started, _, _ = store.queue(RunConfig(cell="rnn", seq_len=5, hidden_size=3, steps=2, batch_size=2, seed=754),
                                actor=Actor("BOB@lab.example"))
    _set_owner(store, started, "bOB@lab.example")
    assert store.start(started, 0) == -1  # its ledger row opens under the normalised owner
    usage = quotas.usage(store, "BOB@lab.example")
    assert (usage.running, usage.queued) == (1, 1)
    assert quotas.usage(store, "bob@lab.example").compute_s >= 0.0
    with store.engine.begin() as conn:
        assert conn.execute(sa.select(compute_table.c.owner)).scalars().all() == ["bob@lab.example"]
    assert (quotas.usage(store, "alice@lab.example").running, quotas.usage(store, "alice@lab.example").queued) == (0, 0)


def test_owner_filter_does_not_fold_letters_beyond_ascii(store):
    run = make_run(752)
    store.save(run, actor=Actor("\u00c5sa@lab.example"))  # "Å": kept as it is, as an address may differ by it
    assert list(store.list(owner="\u00c5sa@lab.example")["id"]) == [run.run_id]
    assert list(store.list(owner="\u00e5sa@lab.example")["id"]) == []
