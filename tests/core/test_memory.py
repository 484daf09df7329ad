"""The memory a pass's large arrays come from (lstmlab.core.engines.memory): blocks reused, never while in use."""

import gc
import threading

import numpy as np
import pytest

from lstmlab.core.engines import memory

SHAPE = (10, 32, 1024)  # 2.5 MiB in float64


@pytest.fixture(autouse=True)
def empty_pool():
    memory.release()
    yield
    memory.release()


def test_a_block_comes_back_only_when_the_last_view_of_its_array_dies():
    a = memory.empty(SHAPE, np.float64)
    a.fill(1.0)
    view = a[3:].reshape(-1)
    del a
    gc.collect()
    assert memory.held() == 0  # the view still uses the block
    other = memory.empty(SHAPE, np.float64)
    other.fill(2.0)
    assert (view == 1.0).all()
    del view
    assert memory.held() == np.prod(SHAPE) * 8
    again = memory.empty(SHAPE, np.float64)  # the block given back, in use again
    assert memory.held() == 0 and again.shape == SHAPE and again.flags.c_contiguous and again.flags.writeable
    del other, again


def test_zeros_and_stack_fill_their_reused_blocks():
    a = memory.empty(SHAPE, np.float32)
    a.fill(7.0)
    del a
    z = memory.zeros(SHAPE, np.float32)
    assert memory.held() == 0 and not z.any() and z.dtype == np.float32
    parts = [np.full(SHAPE[1:], k, dtype=np.float64) for k in range(3)]
    assert np.array_equal(memory.stack(parts), np.stack(parts))


def test_small_arrays_come_from_numpy_and_kept_memory_is_bounded(monkeypatch):
    small = memory.empty((4, 4), np.float64)
    del small
    assert memory.held() == 0
    monkeypatch.setattr(memory, "LIMIT", 6 * 2**20)
    arrays = [memory.empty(SHAPE, np.float64) for _ in range(3)]  # 7.5 MiB
    del arrays
    assert memory.held() == 2 * np.prod(SHAPE) * 8  # the least recently given back dropped
    assert memory.release() == 2 * np.prod(SHAPE) * 8 and memory.held() == 0


def test_arrays_die_in_other_threads_safely():
    def churn():
        for _ in range(200):
            memory.empty(SHAPE, np.float64).fill(1.0)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0 < memory.held() <= 4 * np.prod(SHAPE) * 8
