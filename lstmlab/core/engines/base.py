"""What an engine hands back for one layer: the unrolled states and the backward error flow.

Shapes: T steps, B examples, H units, G gate blocks. Step t = 1..T is at row t - 1 of the (T, ...)
arrays; ``h`` and ``c`` have T + 1 rows with the initial state in row 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Unroll(NamedTuple):
    """One layer's forward pass.

    h:     (T+1, B, H) hidden states, h[0] the initial state
    c:     (T+1, B, H) cell states like h (the LSTMs, config.MEMORY_CELLS); None for the other cells
    gates: (T, B, G*H) gate activations (the RNN's one gate is h_t)
    cache: what the engine's backward pass reads besides these
    src:   (T+1, B, S) the recurrent input u_t that Wh multiplies, where it is more than h_t ("lstm97fc":
           u_t = [h_t, i_t, o_t], u_0 = [h_0, 0, 0]); None where it is h_t
    """

    h: np.ndarray
    c: np.ndarray | None
    gates: np.ndarray
    cache: Any
    src: np.ndarray | None = None

    @property
    def sources(self) -> np.ndarray:
        """u_t, t = 0..T: what Wh multiplies (``src``, or ``h``)."""
        return self.h if self.src is None else self.src


class Flow(NamedTuple):
    """One layer's backward pass.

    dh:  (T, B, H) total dL/dh_t (through every later step and the layers above)
    dc:  (T, B, H) total dL/dc_t (the LSTMs), None otherwise
    da:  (T, B, G*H) dL/d(pre-activation) of every gate; also dL/d(x_t Wx + b)
    dhh: (T, B, G*H) dL/d(u_{t-1} Wh) (u: ``Unroll.sources``); the same array as da except for the GRU
    dWx, db: (I, G*H) and (G*H,) sum_t x_t^T da_t and sum_t da_t when the engine summed them on its way
             (given the layer's input), else None
    dWh: (S, G*H) sum_t u_{t-1}^T dhh_t when the engine summed it (given the layer's input), else None
    """

    dh: np.ndarray
    dc: np.ndarray | None
    da: np.ndarray
    dhh: np.ndarray
    dWx: np.ndarray | None = None
    db: np.ndarray | None = None
    dWh: np.ndarray | None = None


def input_projection(x: np.ndarray, Wx: np.ndarray, b: np.ndarray) -> np.ndarray:
    """xw_t = x_t Wx + b for all T steps in one (T*B, I) @ (I, G*H) product: (T, B, G*H)."""
    T, B, _ = x.shape
    xw = x.reshape(T * B, -1) @ Wx
    xw += b
    return xw.reshape(T, B, -1)
