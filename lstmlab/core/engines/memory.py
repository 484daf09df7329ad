"""Memory for a pass's large arrays, kept by lstmlab between passes: a repeated pass touches no fresh pages.

A pass's arrays (hidden and cell states, gates, their gradients: several MB at T = 100, B = 32) are freed
when the caller drops the result; glibc then hands the top of its heap back to the kernel (its trim
threshold is a few MB unless a program changes it), and the next pass faults the same amount in again, page
by page: about 2,700 minor page faults at T = 100, B = 32, H = 32, LSTM, float64, most of that pass's time.
:func:`lstmlab.training.runtime.configure_worker` changes glibc's settings for its process (a program's choice); a
library call may not, so the engines take their large arrays from here instead: each from a block of
exactly its size that an earlier pass's array gave back when it died (or a new one), with no setting of the
process changed.

Every array handed out is made by numpy from a fresh :class:`_Handout` (the block's memory through the array
interface), which numpy keeps as the base of the array and of every view of it; a ``weakref.finalize`` on the
handout gives the block back when the last of them dies, in whatever thread. Blocks given back
are kept up to :data:`LIMIT` bytes in all, the least recently given back dropped first; :func:`release`
drops them all. Arrays below :data:`SMALL` bytes come from numpy as usual.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

LIMIT = 512 * 2**20  # bytes of free blocks kept: a library holds no more than this of its callers' memory
SMALL = 256 * 2**10  # below this glibc's heap serves and keeps arrays anyway

_free: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # size in bytes -> free blocks, least recent first
_held = 0
_lock = threading.RLock()  # a finalizer may run inside a locked section of its own thread (a GC pass)


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array like ``np.empty(shape, dtype)``, from a kept block when one fits."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    if nbytes < SMALL:
        return np.empty(shape, dtype=dtype)
    global _held
    block = None
    with _lock:
        blocks = _free.get(nbytes)
        if blocks:
            block = blocks.pop()
            _held -= nbytes
            if not blocks:
                del _free[nbytes]
    if block is None:
        block = np.empty(nbytes, dtype=np.uint8)
    handout = _Handout()
    handout.block = block
    handout.__array_interface__ = {"data": (block.ctypes.data, False), "shape": tuple(shape),
                                   "typestr": dtype.str, "version": 3}
    weakref.finalize(handout, _give_back, block).atexit = False
    return np.asarray(handout)


class _Handout:
    """One array's claim on a block: numpy's base for the array and its views."""

    __slots__ = ("__array_interface__", "block", "__weakref__")


def zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Like ``np.zeros(shape, dtype)``, from a kept block when one fits."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def stack(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.stack(arrays)`` into an array from :func:`empty`."""
    out = empty((len(arrays),) + arrays[0].shape, np.result_type(*arrays))
    return np.stack(arrays, out=out)


def held() -> int:
    """Bytes of free blocks kept."""
    return _held


def release() -> int:
    """Drop every kept block (glibc may hand the memory back to the kernel); returns the bytes dropped."""
    global _held
    with _lock:
        dropped, _held = _held, 0
        _free.clear()
    return dropped


def _give_back(block: np.ndarray) -> None:
    global _held
    nbytes = block.nbytes
    with _lock:
        if nbytes > LIMIT:
            return
        _free.setdefault(nbytes, []).append(block)
        _free.move_to_end(nbytes)
        _held += nbytes
        while _held > LIMIT:
            size, blocks = next(iter(_free.items()))
            blocks.pop(0)
            _held -= size
            if not blocks:
                del _free[size]
