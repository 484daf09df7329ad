"""Following work on a terminal: a progress bar, and Ctrl-C asking a run to stop rather than killing it."""
from __future__ import annotations

import signal
import time
from typing import Any, TextIO

from lstmlab.cli.parser import PROG


class ProgressBar:
    """Progress on a stream: a redrawn carriage-return bar on a terminal, a line every 10% otherwise.

    Called by ``train`` as ``progress(step, ...)`` or ``progress(info)`` with a ``step`` entry; extra
    values (a loss) are shown when present.
    """

    def __init__(self, total: int, stream: TextIO, enabled: bool = True, width: int = 30) -> None:
        self.total = max(int(total), 1)
        self.stream = stream
        self.enabled = enabled
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn = False

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        step, loss = _progress_values(args, kwargs)
        if step is None:
            return
        frac = min(max(step / self.total, 0.0), 1.0)
        loss_text = f" loss {loss:.4g}" if loss is not None else ""
        elapsed = time.perf_counter() - self.start
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw < 0.1 and step < self.total:
                return
            self._last_draw = now
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {frac:4.0%} {step}/{self.total}{loss_text} {elapsed:.1f}s ")
            self._drawn = True
        else:
            decile = int(frac * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(f"{PROG}: {frac:4.0%} step {step}/{self.total}{loss_text} {elapsed:.1f}s\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _progress_values(args: tuple, kwargs: dict) -> tuple[int | None, float | None]:
    """(step, loss) from ``progress(done, total, metrics)`` or a dict with "step" and "loss" entries."""
    info: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, dict):
            info.update(arg)
    info.update(kwargs)
    if args and not isinstance(args[0], dict):
        info["step"] = args[0]
    try:
        step = int(info["step"]) if info.get("step") is not None else None
        loss = float(info["loss"]) if info.get("loss") is not None else None
    except (TypeError, ValueError):
        return None, None
    return step, loss


class StopOnInterrupt:
    """First Ctrl-C asks training to stop (the run is saved as stopped); a second one aborts."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> bool:
        return self.interrupted

    def _handle(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self) -> StopOnInterrupt:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
