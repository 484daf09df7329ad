"""``RunStore``: the one public class, composed of one mixin per concern over the connection (``StoreBase``)."""
from __future__ import annotations

import os

from lstmlab.store.attempts import AttemptsMixin
from lstmlab.store.ledger import LedgerMixin
from lstmlab.store.lost import lost_after_from_environment
from lstmlab.store.queue import QueueMixin
from lstmlab.store.sweeps import SweepsMixin


class RunStore(QueueMixin, AttemptsMixin, LedgerMixin, SweepsMixin):
    """Saves, loads, lists and edits runs in a SQL database, and keeps the job queue and the compute ledger.

    ``url``: a file path or SQLAlchemy URL; None -> ``$LSTMLAB_DB`` or ``./lstmlab-data/runs.db``.
    ``lost_after``: seconds of heartbeat silence after which a running run reads as "lost" (default
    ``$LSTMLAB_LOST_AFTER_S`` or ``LOST_AFTER_S``).
    Opening upgrades the schema to the newest revision; ``StoreError`` if the store cannot be opened.
    An existing SQLite file this process may not write opens read-only (``read_only``): it lists and
    loads, and a write raises ``StoreError``. ``location`` is the location as safe to show.
    One store per process (do not share it across ``fork``); threads may share it.
    """

    def __init__(self, url: str | os.PathLike | None = None, lost_after: float | None = None) -> None:
        self.lost_after = lost_after_from_environment() if lost_after is None else float(lost_after)
        super().__init__(url)
