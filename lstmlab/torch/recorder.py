"""watch(module) -> Recorder: the error flow of a user's own PyTorch RNN, LSTM or GRU, recorded into the run store
while it trains.

    rec = watch(model.lstm, store="lstmlab-data/runs.db", name="my-lstm", every=10)
    for x, y in loader:
        out, _ = model.lstm(x)
        loss = criterion(model.head(out[:, -1]), y)
        loss.backward()
        rec.step(loss)            # after backward, before the optimiser's step
        opt.step(); opt.zero_grad()
    rec.close()                   # or: with watch(...) as rec:

Every call of ``rec.step`` is one step k = 0, 1, ... (updates done before it). At a recorded step (k a multiple of
``every``), a forward hook has kept the module's input and initial states, and tensor hooks the gradients the loss
sent to its outputs, h_n and c_n; ``rec.step`` copies them and the module's current weights, the lab's engine runs
from exactly those (:func:`lstmlab.core.model.stack_flow`: on the recorder's own thread while torch leaves a core
free, else in ``rec.step``, see :meth:`Recorder.beside`), and the recorder's thread stores, per layer and time step,
the flow columns of the lab's runs. Every step adds a ``steps`` row: its loss, the module's gradient
norms, and at recorded steps the mean forget gate (LSTM) and sigma_max of W_h's gate blocks.

The run is an ordinary run of the store (``RunConfig.source`` says where it came from; it has no lab task): the Runs,
Error flow and Training pages, the live view and the CSV export read it as they read the lab's own. It is written as
a job writes its run (``RunStore.save`` of the running run at its first recording, ``append`` per recording, ``beat``
while idle, ``finish`` at close), so it reads "running" while the user trains and "lost" if the process dies.

Several calls of the module before one backward are recorded as one pass: calls that each start from the state the
previous one ended with (a truncated-BPTT loop, detached or not) one after the other in time, calls that do not
(gradient accumulation over micro-batches of one length) side by side as one larger batch. A module on a GPU is
copied to the CPU at each recording: its input, the gradients at its outputs, its initial and final states' and its
weights, itemsize x (T B (I + H) + 4 L B H + L G H (I + H + 2)) bytes (4.1 MB for a float32 2-layer LSTM, H = 128,
I = 2, T = 100, B = 64), with the device synchronised then; every step also reads the loss and the gradient norms
back from the device (one synchronisation).

The store never stops training: a recording that cannot be computed or stored is skipped with one
``RecorderWarning`` naming the error, its steps rows go with the next recording, and the run's final message names
the recordings it lacks.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmlab.core import analysis, engines
from lstmlab.core.config import check_field
from lstmlab.core.model import stack_flow
from lstmlab.core.torch_interop import module_layers
from lstmlab.jobs.limits import HEARTBEAT_S
from lstmlab.runs.records import EVAL_COLUMNS, STEPS_FIXED_COLUMNS, Record, Run, flow_columns
from lstmlab.store import RunStore, StaleAttempt, check_labels, default_url, display_location
from lstmlab.torch.module import ModuleInfo, gradient_norms, inspect_module, run_config
from lstmlab.training.train import flow_block

MAX_PENDING = 2  # recordings copied but not yet stored: rec.step waits beyond this
WRITER_NICE = 19  # the recorder's thread, which stores recordings, gives way to training (Recorder.beside)
ATTEMPT = 0  # a recorded run has one attempt: the store's job writes (append, beat, finish) name it


class RecorderWarning(UserWarning):
    """A recording the recorder could not compute or store, or the end of recording asked from the dashboard;
    the user's training goes on."""


@dataclass
class _Call:
    """One forward call of the module at a recorded step: its input, initial states, outputs, and the gradients
    that reached them (summed over backward passes)."""

    x: torch.Tensor
    h0: torch.Tensor | None
    c0: torch.Tensor | None
    final: dict[str, torch.Tensor]  # h_n (and c_n), detached: the hooks on the outputs hold this call, not vice versa
    continues: bool  # it starts from the final state of the call before it
    unbatched: bool
    grads: dict[str, torch.Tensor] = field(default_factory=dict)

    def hook(self, name: str):
        def add(grad: torch.Tensor | None) -> None:
            if grad is None:  # an output the loss never used (PyTorch's float32 CPU LSTM hands it an undefined gradient)
                return
            self.grads[name] = grad.detach().clone() if name not in self.grads else self.grads[name] + grad
        return add


@dataclass
class _Snapshot:
    """What a recorded step hands to the recorder's thread: numpy copies, time-major, with a batch axis."""

    step: int
    loss: float
    params: dict[str, np.ndarray]
    calls: list[dict[str, np.ndarray | None]]  # x, d_out, h0, c0, dh_n, dc_n
    side_by_side: bool  # the calls are examples of one batch (else: consecutive in time)


def watch(module, store: Any = None, name: str = "", every: int = 10, tags: Iterable[str] = (), steps: int = 0,
          engine: str | None = None) -> Recorder:
    """Record the error flow of ``module`` (a ``torch.nn.RNN``, ``LSTM`` or ``GRU``) into the run store while it
    trains; returns the :class:`Recorder`, whose ``step(loss)`` goes after each backward.

    store: a path or SQLAlchemy URL (None: ``$LSTMLAB_DB`` or ``./lstmlab-data/runs.db``); name, tags: the run's
    labels; every: record steps 0, every, 2 every, ...; steps: how many steps the run will take, for its progress
    and to record the last of them too (0: unknown); engine: the lab's engine (lstmlab.core.engines; None: the
    environment's choice).
    ValueError naming the feature for a module the recorder cannot follow (see lstmlab.torch.module), a bad
    argument or store location; an unreachable store is no error (see the module's docstring).
    """
    return Recorder(module, store=store, name=name, every=every, tags=tags, steps=steps, engine=engine)


class Recorder:
    """The recording of one module into one run (:func:`watch`). ``run_id`` is the run's id once it is in the
    store (None before); ``missing`` the recorded steps the store lacks; ``stopped`` whether recording ended
    (closed, or stopped from the dashboard)."""

    def __init__(self, module, store: Any = None, name: str = "", every: int = 10, tags: Iterable[str] = (),
                 steps: int = 0, engine: str | None = None) -> None:
        self.info: ModuleInfo = inspect_module(module)
        if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 1_000_000:
            raise ValueError(f"every={every!r}: expected an integer from 1 to 1000000 (record every that many steps)")
        self.every = every
        self.expected_steps = check_field("steps", steps)
        self.name, self.tags = check_labels(name, tags)
        self.location = default_url() if store is None else store
        self.shown_location = display_location(self.location)  # a bad URL raises here, before training starts
        self.engine = engines.engine_name(engine)
        self.module = module
        self.run_id: str | None = None
        self.missing: list[int] = []
        self.stopped = False
        self._step = 0  # rec.step calls so far
        self._calls: list[_Call] = []
        self._config = None
        self._t0 = time.perf_counter()
        self._created_at = time.time()
        self._warned = False
        self._slots = threading.BoundedSemaphore(MAX_PENDING)
        self._queue: queue.Queue = queue.Queue()
        self._writer = _Writer(self)
        self._hook = module.register_forward_hook(self._forward, with_kwargs=True)
        self._writer.start()

    # ---- the user's side ---------------------------------------------------------------------------------

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recording(self) -> bool:
        """Whether the module's next forward calls belong to a recorded step: every ``every``-th, and the last of
        the ``steps`` the recorder was told to expect (as the lab records its runs' last step)."""
        k = self._step
        return not self.stopped and (k % self.every == 0 or k == self.expected_steps - 1)

    def step(self, loss: Any = None) -> None:
        """End step k (after the loss's backward, before the optimiser's step): a steps row with ``loss`` (a tensor
        or a number; None: NaN) and the module's gradient norms, and at a recorded step the recording of the
        module's calls since the last step. ValueError when a recorded step has nothing the recorder can follow
        (no call with gradients, no gradient at its outputs, calls neither chained nor of one length)."""
        if self.stopped:
            self._step += 1
            return
        k = self._step
        value = math.nan if loss is None else float(loss.detach() if torch.is_tensor(loss) else loss)
        norms = gradient_norms(self.module, self.info)
        if self.recording():
            snapshot = self._snapshot(k, value)
            if self.beside():
                self._slots.acquire()  # at most MAX_PENDING recordings wait for the recorder's thread
                self._queue.put(("record", snapshot))
            else:  # torch's threads wait meanwhile: the engine may use as many
                with engines.using_threads(torch.get_num_threads(), self.engine):
                    computed = self._writer.compute(snapshot)
                self._slots.acquire()  # at most MAX_PENDING recordings wait to be stored
                self._queue.put(("computed", (snapshot, computed)))
        self._calls = []
        self._queue.put(("row", (k + 1, value, norms, time.perf_counter() - self._t0)))
        self._step = k + 1

    def beside(self) -> bool:
        """Whether recordings are computed on the recorder's thread, beside training: while torch's intra-op threads
        leave one of this process's cores free. Otherwise ``step`` computes them on the training thread, and the
        recorder's thread only stores them: a thread competing with torch's for the cores stalls its parallel
        regions, which costs training more wall time than the recording's own work (docs/performance.md,
        "Recording a PyTorch training loop")."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return cores > torch.get_num_threads()

    def flush(self) -> None:
        """Wait until every recording made so far has been computed and written (or found missing)."""
        if self._writer.is_alive():
            done = threading.Event()
            self._queue.put(("flush", done))
            while not done.wait(HEARTBEAT_S) and self._writer.is_alive():
                pass

    def close(self) -> None:
        """Stop recording: the hooks go, every recording made so far is stored, and the run ends "finished" (its
        message naming any recording the store lacks). Waits for the recorder's thread; idempotent."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
            self._queue.put(("close", None))
        if self._writer.is_alive():
            self._writer.join()
        self.stopped = True

    # ---- hooks -----------------------------------------------------------------------------------------

    def _forward(self, module, args: tuple, kwargs: dict, output) -> None:
        """Forward hook: at a recorded step, keep a call that computes gradients and hook its outputs."""
        if not self.recording() or not torch.is_grad_enabled():
            return
        x = args[0] if args else kwargs.get("input")
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        if isinstance(x, torch.nn.utils.rnn.PackedSequence):
            raise ValueError("input: a PackedSequence (sequences of several lengths) runs each example for its own "
                             "number of steps, which the lab's engines do not; pad the batch to one length, or "
                             "record batches of one length")
        out, hidden = output
        if not out.requires_grad:
            return  # nothing of this call reaches a gradient
        if out.dtype != x.dtype or str(out.dtype).removeprefix("torch.") != self.info.dtype:
            raise ValueError(f"dtype: the module computed in {out.dtype} (autocast?), its weights are "
                             f"{self.info.dtype}; the recorder recomputes in the weights' dtype: record outside "
                             "torch.autocast")
        h_n, c_n = hidden if isinstance(hidden, tuple) else (hidden, None)
        h0, c0 = (hx if isinstance(hx, tuple) else (hx, None)) if hx is not None else (None, None)
        previous = self._calls[-1] if self._calls else None
        continues = (previous is not None and h0 is not None and h0.shape == previous.final["h_n"].shape
                     and torch.equal(h0, previous.final["h_n"])
                     and (c0 is None or torch.equal(c0, previous.final["c_n"])))
        outputs = {"out": out, "h_n": h_n, **({"c_n": c_n} if c_n is not None else {})}
        call = _Call(x.detach(), None if h0 is None else h0.detach(), None if c0 is None else c0.detach(),
                     {k: v.detach() for k, v in outputs.items() if k != "out"}, continues, unbatched=x.dim() == 2)
        for key, tensor in outputs.items():
            if tensor.requires_grad:
                tensor.register_hook(call.hook(key))
        self._calls.append(call)

    def _snapshot(self, k: int, loss: float) -> _Snapshot:
        """Numpy copies of a recorded step's calls and the module's weights, checked for what the recorder follows."""
        calls = list(self._calls)
        if not calls:
            raise ValueError(f"step {k}: the module was not called with gradients since the last rec.step() (under "
                             "torch.no_grad(), or nothing in it requires a gradient): nothing to record")
        reached = [c for c in calls if c.grads]
        if not reached:
            raise ValueError(f"step {k}: no gradient reached the module's outputs; call rec.step(loss) after "
                             "loss.backward()")
        chained = all(c.continues for c in calls[1:])
        if len(calls) > 1 and not chained:
            if any(c.continues for c in calls[1:]):
                raise ValueError(f"step {k}: of the module's {len(calls)} calls before this step some continue the "
                                 "state of the call before them and some do not; the recorder follows one "
                                 "truncated-BPTT loop, or calls of one length side by side")
            calls = reached  # side by side: calls the loss did not use were not part of its batch
            lengths = {self._length(c) for c in calls}
            if len(lengths) > 1:
                raise ValueError(f"step {k}: the module was called {len(calls)} times with sequences of lengths "
                                 f"{sorted(lengths)}, none continuing another; the recorder puts such calls side "
                                 "by side as one batch, which needs one length")
        return _Snapshot(step=k, loss=loss, params=module_layers(self.module, self.info.cell),
                         calls=[self._arrays(c) for c in calls], side_by_side=not chained)

    def _length(self, call: _Call) -> int:
        return call.x.shape[0 if call.unbatched or not self.info.batch_first else 1]

    def _arrays(self, call: _Call) -> dict[str, np.ndarray | None]:
        """A call's input, initial states and gradients as numpy copies: x, d_out (T, B, *) time-major, h0, c0,
        dh_n, dc_n (L, B, H); a gradient no backward reached is zero (d_out) or None."""
        def array(t: torch.Tensor | None, time_axis: bool) -> np.ndarray | None:
            if t is None:
                return None
            a = t.detach().to("cpu", copy=True).numpy()
            if call.unbatched:  # (T, *) or (L, H): one example
                return a[:, None]
            return a.transpose(1, 0, 2) if time_axis and self.info.batch_first else a

        x = array(call.x, True)
        d_out = array(call.grads.get("out"), True)
        if d_out is None:
            d_out = np.zeros(x.shape[:2] + (self.info.hidden_size,), dtype=x.dtype)
        return {"x": x, "d_out": d_out, "h0": array(call.h0, False), "c0": array(call.c0, False),
                "dh_n": array(call.grads.get("h_n"), False), "dc_n": array(call.grads.get("c_n"), False)}

    # ---- the recorder's thread ---------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        """One RecorderWarning per recorder for failures (the run's message names the rest)."""
        if not self._warned:
            self._warned = True
            warnings.warn(message, RecorderWarning, stacklevel=2)


class _Writer(threading.Thread):
    """The recorder's thread: computes each recording with the lab's engine and writes it to the store, beats the
    run's heartbeat while idle, and ends the run at close. Steps rows are kept in order and each write sends the
    ones the store does not hold yet, so they reach it whole once a write goes through."""

    def __init__(self, rec: Recorder) -> None:
        super().__init__(name=f"lstmlab-recorder {rec.name or id(rec)}", daemon=True)
        self.rec = rec
        self.store: RunStore | None = None
        self.rows: list[dict] = []  # every steps row, in order
        self.sent = 0  # steps rows the store holds
        self.last: tuple[int, float, np.ndarray] | None = None  # (step, forget mean, sigma_max per layer)
        self.failures: list[str] = []
        self.resync = False
        self.spec = rec.info.spec()
        self.steps_columns = [*STEPS_FIXED_COLUMNS, *(f"gnorm:{n}" for n in rec.info.param_names()),
                              *(f"sigma_max:l{k}" for k in range(rec.info.layers))]

    def run(self) -> None:
        rec = self.rec
        if sys.platform.startswith("linux"):  # a thread's id names it alone there (elsewhere it could be a process)
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
            except OSError:
                pass  # the thread runs at the process's priority
        while True:
            try:
                kind, item = rec._queue.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                self._beat()
                continue
            try:
                if kind == "row":
                    self._row(*item)
                elif kind == "record":
                    self._record(item)
                elif kind == "computed":
                    self._record(*item)
                elif kind == "flush":
                    item.set()
                else:
                    self._finish()
                    return
            except Exception as e:  # noqa: BLE001 -- the recorder's own failure never stops the user's training
                rec.warn(f"lstmlab: the recorder failed ({type(e).__name__}: {e}); training goes on")
            finally:
                if kind in ("record", "computed"):
                    rec._slots.release()

    def _row(self, step: int, loss: float, norms: dict, wall: float) -> None:
        forget, sigma = math.nan, [math.nan] * self.rec.info.layers
        if self.last is not None and self.last[0] + 1 == step:  # the recording of this row's batch and weights
            forget, sigma = self.last[1], self.last[2]
        gnorms = np.array(list(norms.values()), dtype=np.float64)
        row = {"step": step, "loss": loss, "metric": math.nan,
               "grad_norm": float(np.sqrt(np.sum(gnorms * gnorms))) if np.isfinite(gnorms).any() else math.nan,
               "clipped": False, "forget_mean": forget, "wall_time": wall,
               **{f"gnorm:{n}": v for n, v in norms.items()},
               **{f"sigma_max:l{k}": s for k, s in enumerate(sigma)}}
        self.rows.append(row)

    def _record(self, snap: _Snapshot, computed: tuple | str | None = None) -> None:
        """Store a recording: ``computed`` by :meth:`compute` on the training thread, else computed here."""
        rec = self.rec
        if rec.stopped:
            return
        if computed is None:
            computed = self.compute(snap)
        if isinstance(computed, str):
            self._lost(snap.step, computed)
            return
        flow, self.last = computed
        record = Record(step=snap.step, steps=self._steps_frame(snap.step),
                        flow=pd.DataFrame(flow, columns=flow_columns(self._config(snap))),
                        eval=pd.DataFrame([(snap.step, snap.loss, math.nan)], columns=list(EVAL_COLUMNS))
                        .astype({"step": np.int64}))
        try:
            self._open(snap)
            if self.resync:  # a write that failed may have gone through unacknowledged: count what the store holds
                self.sent = int(self.store.progress(rec.run_id)["step"])
                record = dataclasses.replace(record, steps=self._steps_frame(snap.step))
                self.resync = False
            stop = self.store.append(rec.run_id, ATTEMPT, record)
        except StaleAttempt:
            rec.stopped = True
            return
        except Exception as e:  # noqa: BLE001 -- the store's failure never stops the user's training
            self.resync = rec.run_id is not None
            self._lost(snap.step, f"the store did not take it ({type(e).__name__})", f": {e}")
            return
        self.sent += len(record.steps)
        if stop:
            self._stop_requested(snap.step)

    def compute(self, snap: _Snapshot) -> tuple | str:
        """:meth:`_compute`, or why the lab could not compute the recording (it is skipped; training goes on)."""
        try:
            return self._compute(snap)
        except Exception as e:  # noqa: BLE001 -- a recording that fails is skipped, training goes on
            return f"the lab could not compute it ({type(e).__name__}: {e})"

    def _compute(self, snap: _Snapshot) -> tuple[dict[str, np.ndarray], tuple[int, float, list[float]]]:
        """The recording's flow rows, and for the steps row of its batch (step, mean forget gate, sigma_max per
        layer). Reads only the snapshot and the module's spec, so it may run on the training thread."""
        flows = [stack_flow(self.spec, snap.params, c["x"], c["d_out"], h0=c["h0"], c0=c["c0"], dh_n=c["dh_n"],
                            dc_n=c["dc_n"], engine=self.rec.engine) for c in snap.calls]
        axis = 1 if snap.side_by_side else 0  # a layer's (T, B, ...): examples side by side, or calls in turn
        joined = flows[0] if len(flows) == 1 else _Joined({
            name: None if flows[0].per_layer(name) is None else
            [np.concatenate(arrays, axis) for arrays in zip(*(f.per_layer(name) for f in flows))]
            for name in ("dh", "dc", "dacts")})
        each = engines.get(self.rec.engine).each  # the norms, sums and sigma_max side by side where threads allow
        H, L = self.spec.hidden_size, self.spec.layers
        gates = [a for f in flows for a in f.per_layer("acts")] if self.spec.cell == "lstm" else []
        jobs = ([lambda k=k: analysis.sigma_max(snap.params[f"l{k}.Wh"], own_blas=True) for k in range(L)]
                + [lambda a=a: (np.sum(a[..., H : 2 * H], dtype=np.float64), a[..., H : 2 * H].size) for a in gates])
        done = each(lambda job: job(), jobs)
        forget = sum(t for t, _ in done[L:]) / sum(n for _, n in done[L:]) if gates else math.nan
        return flow_block(snap.step, joined, self.spec, each=each), (snap.step, float(forget), done[:L])

    def _config(self, snap: _Snapshot):
        if self.rec._config is None:
            x = snap.calls[0]["x"]
            T = sum(c["x"].shape[0] for c in snap.calls) if not snap.side_by_side else x.shape[0]
            B = sum(c["x"].shape[1] for c in snap.calls) if snap.side_by_side else x.shape[1]
            self.rec._config = run_config(self.rec.info, T, B, self.rec.every, self.rec.expected_steps)
        return self.rec._config

    def _steps_frame(self, upto: int) -> pd.DataFrame:
        """The steps rows the store lacks, up to the row of step ``upto`` (the updates done at a recording)."""
        rows = [r for r in self.rows[self.sent:] if r["step"] <= upto]
        return self._frame(rows)

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        """The steps rows as the steps table: one typed column array each (no per-column astype of a frame)."""
        kinds = {"step": np.int64, "clipped": bool}
        return pd.DataFrame({c: np.array([r[c] for r in rows], dtype=kinds.get(c, np.float64))
                             for c in self.steps_columns}, columns=self.steps_columns)

    def _open(self, snap: _Snapshot | None) -> None:
        """Open the store and write the run (status running, empty tables) at its first recording."""
        rec = self.rec
        if self.store is None:
            self.store = RunStore(rec.location)
        if rec.run_id is None and snap is not None:
            config = self._config(snap)
            ints = ("step", "layer", "t", "lag")
            run = Run(run_id=uuid.uuid4().hex, config=config, status="running", message="",
                      created_at=rec._created_at, wall_time=0.0, name=rec.name, tags=rec.tags,
                      steps=self._frame([]),
                      flow=pd.DataFrame({c: np.array([], dtype=np.int64 if c in ints else np.float64)
                                         for c in flow_columns(config)}),
                      eval=pd.DataFrame({c: np.array([], dtype=np.int64 if c in ints else np.float64)
                                         for c in EVAL_COLUMNS}),
                      engine=rec.engine, engine_version=engines.version(rec.engine))
            rec.run_id = self.store.save(run)

    def _lost(self, step: int, why: str, detail: str = "") -> None:
        """A recording the store will lack: the run's message will say ``why`` (shown on the dashboard, so without
        the store's own words, which name its location); the user's warning adds ``detail``."""
        rec = self.rec
        rec.missing.append(step)
        self.failures.append(why)
        rec.warn(f"lstmlab: the recording of step {step} is lost: {why}{detail}. Training goes on; later recordings "
                 f"go to the run store {rec.shown_location} once it takes them, and the run's message names the ones "
                 "it lacks (Recorder.missing lists them meanwhile).")

    def _beat(self) -> None:
        rec = self.rec
        if self.store is None or rec.run_id is None or rec.stopped:
            return
        try:
            if self.store.beat(rec.run_id, ATTEMPT, len(self.rows)):
                self._stop_requested(len(self.rows))
        except StaleAttempt:
            rec.stopped = True
        except Exception:  # noqa: BLE001 -- a missed beat is retried at the next; the store's outage shows as "lost"
            pass

    def _stop_requested(self, step: int) -> None:
        rec = self.rec
        rec.stopped = True
        self._end("stopped", f"recording stopped on request after step {step}; {self._summary()}")
        warnings.warn(f"lstmlab: recording of run {rec.run_id} stopped on request from the run store after step "
                      f"{step}; training goes on unrecorded", RecorderWarning, stacklevel=2)

    def _finish(self) -> None:
        rec = self.rec
        if rec.stopped:
            return
        rec.stopped = True
        if rec.run_id is None and not self.rows:
            return  # closed before its first step: no run
        self._end("finished", self._summary())

    def _summary(self) -> str:
        rec = self.rec
        said = f"recorded from PyTorch every {rec.every} steps, {len(self.rows)} steps"
        if rec.missing:
            shown = ", ".join(map(str, rec.missing[:20])) + (", ..." if len(rec.missing) > 20 else "")
            said += (f"; {len(rec.missing)} recording(s) missing, of step(s) {shown}: {self.failures[0]}")
        return said

    def _end(self, status: str, message: str) -> None:
        """Write the steps rows the store lacks, the wall time and the final status."""
        rec = self.rec
        try:
            if rec.run_id is None:
                raise RuntimeError("no recording was ever stored, so the run was never written")
            run = Run(run_id=rec.run_id, config=rec._config, status=status, message=message,
                      created_at=rec._created_at, wall_time=time.perf_counter() - rec._t0,
                      steps=self._frame(self.rows), flow=pd.DataFrame(), eval=pd.DataFrame(),
                      engine=rec.engine, engine_version=engines.version(rec.engine))
            self._open(None)
            self.store.finish(rec.run_id, ATTEMPT, run)
        except StaleAttempt:
            pass
        except Exception as e:  # noqa: BLE001 -- reported to the user; the run reads as lost once its heartbeat ages
            if rec.run_id is not None:
                rec.warn(f"lstmlab: could not end run {rec.run_id} in the run store {rec.shown_location} "
                         f"({type(e).__name__}: {e}); it will read as lost")
        finally:
            if self.store is not None:
                self.store.close()


@dataclass(frozen=True)
class _Joined:
    """The flows of a recording's calls joined into one, layer by layer (what flow_block reads)."""

    layers: dict[str, list[np.ndarray] | None]  # dh, dc, dacts -> the layers' (T, B, ...) arrays

    def per_layer(self, name: str) -> list[np.ndarray] | None:
        return self.layers[name]


