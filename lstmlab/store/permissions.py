"""Who may change a run: the acting user (``Actor``) against the run's stored owner.

The store, not the page's button, enforces it: every method that changes a run takes ``actor`` and checks it in the
transaction that writes (``authorise``).
"""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from lstmlab.store.schema import runs_table

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_email(email: str) -> str:
    """The one form in which emails are compared (owners, admins, members, quotas): surrounding whitespace removed
    and ASCII letters in lower case. Other letters are kept as they are: a full Unicode lower-casing would map some
    of them onto ASCII ones (KELVIN SIGN -> "k"), letting a different address read as a member's."""
    return str(email).strip().translate(_ASCII_LOWER)


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who changes the store: a signed-in user's email, and whether the lab's config makes them an admin.

    ``email`` is kept in its compared form (``normalise_email``), whatever the caller passed. ``issuer`` and
    ``subject`` name the identity at the identity provider (the ``iss`` and ``sub`` claims; "" when the actor
    comes from a command line or a script); runs are owned by the email, which is what the lab's admins, members
    and quotas are written in.

    Methods that change a run take ``actor``; ``None`` is the local, anonymous mode, where everything is
    allowed. A signed-in user may change only the runs they own (an admin: every run); a run saved without
    sign-in (owner "") may be changed only by an admin or in anonymous mode.
    """

    email: str
    is_admin: bool = False
    issuer: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or not self.email.strip():
            raise ValueError(f"Actor.email: expected the signed-in user's email, got {self.email!r}")
        object.__setattr__(self, "email", normalise_email(self.email))


def may_change(actor: Actor | None, owner: str) -> bool:
    """Whether ``actor`` may rename, tag, delete or replace a run owned by ``owner`` (the rule ``Actor`` states);
    owners stored by earlier versions may differ from the email in case, so both are compared normalised."""
    return actor is None or actor.is_admin or bool(owner) and normalise_email(owner) == actor.email


def authorise(conn: sa.Connection, actor: Actor | None, run_id: str, action: str) -> str | None:
    """The stored owner of ``run_id`` (None if there is no such run); ``PermissionError`` if ``actor`` may not
    ``action`` it. Called inside the write transaction that changes the run."""
    cols = runs_table.c
    row = conn.execute(sa.select(cols.owner, cols.name).where(cols.id == run_id)).first()
    if row is None or may_change(actor, row.owner):
        return None if row is None else row.owner
    whose = f"it belongs to {row.owner}" if row.owner else "it was saved without sign-in, so only an admin may"
    raise PermissionError(f"{actor.email} may not {action} run {run_id} ({row.name!r}): {whose}")
