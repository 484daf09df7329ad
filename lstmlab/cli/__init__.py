"""Command line interface: ``python -m lstmlab {run,submit,sweep,ls,sweeps,show,stop,resubmit,export,rm,rename,tag}``.

``run`` trains in this process; ``submit`` and ``sweep`` queue jobs (``lstmlab.jobs.api``) on the Dask scheduler named
by ``--scheduler`` or ``$LSTMLAB_SCHEDULER``, else on a local process pool that lives as long as the command, which
therefore follows its jobs to the end (to queue jobs and return, name a scheduler: its queue outlives the command;
the jobs of a command that is killed read as lost after ``LOST_AFTER_S`` and can be resubmitted). The config flags
are derived from the ``RunConfig`` dataclass fields, so they never drift from it.
Errors a user can cause (bad flags, invalid config values, unknown run ids) print one line,
``lstmlab: error: ...``, on stderr and exit non-zero: 2 for usage errors, 1 for the rest; a command whose reader
goes away (``lstmlab show ID | head``) exits quietly with 141 (128 + SIGPIPE), as other tools do.
Set ``LSTMLAB_DEBUG=1`` to get tracebacks instead.

The package: ``parser`` (the argument parser), ``app`` (``main``: runs one command, its errors read from one table
of exit codes), one module per command group (``runs``: run, ls, show, export, rm, rename, tag; ``jobs``: submit,
resubmit, stop; ``sweeps``: sweep, sweeps), ``output`` (the text the commands print) and ``progress`` (the progress
bar, Ctrl-C). A command imports what it needs when it runs: ``ls`` loads no training, no executor and no compiler.
"""
from lstmlab.cli.app import main
from lstmlab.cli.parser import build_parser
from lstmlab.cli.progress import ProgressBar

__all__ = ["ProgressBar", "build_parser", "main"]
