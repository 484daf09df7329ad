"""The jobs layer's error a caller shows as it is. A module of its own, importing nothing, so that code which only
names the error (the command line's table of exit codes, a sweep's spec) loads no executor and no training."""
from __future__ import annotations


class JobError(Exception):
    """A job cannot be submitted: the scheduler is unreachable (the message names its address), a worker
    refused it, a sweep is malformed. The message is fit to show as is."""
