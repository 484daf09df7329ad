"""``main(argv)``: parse the command line, open the store, run the command, and turn what went wrong into one line
and an exit code.

What a user can cause is read from one table, ``ERRORS``: the first row whose classes match the exception gives the
exit code (2 for usage errors, 1 for the rest) and how its message reads. Anything else is a bug and keeps its
traceback; so does everything with ``LSTMLAB_DEBUG=1``.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable, NamedTuple, Sequence, TextIO

from sqlalchemy.exc import SQLAlchemyError

from lstmlab.cli import jobs, reproduce, runs, sweeps
from lstmlab.cli.parser import PROG, UsageError, build_parser
from lstmlab.jobs.errors import JobError
from lstmlab.store import RunStore, StoreError

COMMANDS: dict[str, Callable[..., int]] = {
    "run": runs.cmd_run, "ls": runs.cmd_ls, "show": runs.cmd_show, "export": runs.cmd_export, "rm": runs.cmd_rm,
    "rename": runs.cmd_rename, "tag": runs.cmd_tag,
    "submit": jobs.cmd_submit, "resubmit": jobs.cmd_resubmit, "stop": jobs.cmd_stop,
    "sweep": sweeps.cmd_sweep, "sweeps": sweeps.cmd_sweeps, "reproduce": reproduce.cmd_reproduce,
}


class Outcome(NamedTuple):
    """A row of ``ERRORS``: the exception classes, the exit code, and the message shown for one of them."""

    errors: tuple[type[BaseException], ...]
    code: int
    message: Callable[[BaseException], str] = str


def _key_message(e: BaseException) -> str:
    return str(e.args[0]) if e.args else "not found"


def _typed_message(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


# First match wins, so a class comes before its bases (PermissionError before OSError) and a sweep's malformed spec,
# both a JobError and a ValueError, reads as the usage error it is.
ERRORS: tuple[Outcome, ...] = (
    Outcome((UsageError, ValueError), 2),  # bad flags; RunConfig's and the arguments' checks: the user's input
    Outcome((KeyError,), 1, _key_message),  # an unknown run id or sweep
    Outcome((StoreError, PermissionError, JobError), 1),  # messages written for the user, passwords hidden
    Outcome((OSError, SQLAlchemyError), 1, _typed_message),
)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    debug = bool(os.environ.get("LSTMLAB_DEBUG"))
    try:
        args = build_parser().parse_args(argv)
        with RunStore(args.db) as store:
            code = COMMANDS[args.command](args, store, out, err)
        out.flush()  # here, so that a reader gone away (``| head``) is met below, not at the interpreter's exit
        return code
    except BrokenPipeError:  # the reader of the output went away: stop quietly, as other command-line tools do
        if out is sys.stdout:  # the interpreter's last flush at exit would fail again, noisily
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return int(128 + signal.SIGPIPE)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except Exception as e:
        outcome = next((o for o in ERRORS if isinstance(e, o.errors)), None)
        if outcome is None or debug:
            raise
        return fail(err, outcome.message(e), outcome.code)


def fail(err: TextIO, message: str, code: int) -> int:
    """Print ``lstmlab: error: `` and the first line of ``message`` (blanks folded) on ``err``; returns ``code``."""
    line = " ".join(message.split("\n", 1)[0].split()) or "failed"
    print(f"{PROG}: error: {line}", file=err)
    return code
