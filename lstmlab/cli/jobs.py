"""Commands on jobs: ``submit`` (queue one config), ``resubmit`` (queue a lost, stopped or failed run again) and
``stop``, and following a job to its end.

The jobs layer (executors, workers, training) is imported when one of these commands runs. A command that
submitted shuts its executors down when it ends (``uses_executors``): its local pool's workers finish their job, a
Dask client hands its last submissions to the scheduler as it closes.
"""
from __future__ import annotations

import argparse
import functools
import os
from typing import Any, Callable, TextIO

from lstmlab.cli.output import print_summary
from lstmlab.cli.parser import config_of
from lstmlab.cli.progress import ProgressBar
from lstmlab.jobs.limits import SCHEDULER_ENV
from lstmlab.runs.status import TRAINED_STATUSES


def uses_executors(command: Callable[..., int]) -> Callable[..., int]:
    """``command`` with this process's executors shut down when it ends, however it ends."""

    @functools.wraps(command)
    def run(*args: Any) -> int:
        from lstmlab.jobs import executors

        try:
            return command(*args)
        finally:
            executors.shutdown()

    return run


def is_local(args: argparse.Namespace) -> bool:
    """Whether the jobs run in this command's own process pool (no scheduler named anywhere)."""
    return not (args.scheduler or os.environ.get(SCHEDULER_ENV))


@uses_executors
def cmd_submit(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.jobs import api as jobs

    config = config_of(args)
    url = store.url.render_as_string(hide_password=False)
    before = set(store.find(config))
    run_id = jobs.submit(config, store_url=url, name=args.name, tags=tuple(args.tag), scheduler=args.scheduler)
    attached = f" ({store.progress(run_id)['status']}: this config was submitted before)" if run_id in before else ""
    print(f"run {run_id}{attached}", file=out)
    out.flush()
    if not (args.wait or is_local(args)):
        return 0
    return _follow(run_id, url, store, out, err, quiet=args.quiet)


@uses_executors
def cmd_resubmit(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.jobs import api as jobs

    url = store.url.render_as_string(hide_password=False)
    run_id = jobs.resubmit(args.run, store_url=url, scheduler=args.scheduler)
    print(f"resubmitted {run_id}", file=out)
    out.flush()
    if not (args.wait or is_local(args)):
        return 0
    return _follow(run_id, url, store, out, err, quiet=args.quiet)


def cmd_stop(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.jobs import api as jobs

    url = store.url.render_as_string(hide_password=False)
    run_id = store.resolve(args.run)
    status = jobs.stop(run_id, store_url=url)
    said = {"running": "stop requested: it stops at its next step", "stopped": "stopped"}
    print(f"{run_id}: {said.get(status, f'{status}: nothing to stop')}", file=out)
    return 0


def _follow(run_id: str, url: str, store: Any, out: TextIO, err: TextIO, quiet: bool) -> int:
    """Follow a job with a progress bar, then print its summary. Ctrl-C leaves a job on a scheduler running and
    asks one of this command's pool to stop."""
    from lstmlab.jobs import api as jobs

    bar = ProgressBar(store.progress(run_id)["steps"], err, enabled=not quiet)
    try:
        status = jobs.wait(run_id, store_url=url, on_progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(f"stopping run {run_id}", file=err)
        jobs.stop(run_id, store_url=url)
        status = jobs.wait(run_id, store_url=url)
    bar.close()
    print_summary(store.load(run_id), out)
    return 0 if status in TRAINED_STATUSES else 1
