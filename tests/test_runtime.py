"""The process settings behind fast BPTT passes."""

import os
import subprocess
import sys

from threadpoolctl import threadpool_info

from lstmlab.runtime import fast_loops


def test_fast_loops_limits_blas_to_one_thread_inside_only():
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with fast_loops():
        inside = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert after == before


PASSES = """
import resource, sys
import numpy as np
from lstmlab import ModelSpec, bptt, init_params
spec = ModelSpec(cell="lstm", input_size=2, hidden_size=32, output_size=1)
p = init_params(spec, seed=0)
rng = np.random.default_rng(0)
x, y = rng.standard_normal((100, 32, 2)), rng.standard_normal((32, 1))
bptt(spec, p, x, y)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    bptt(spec, p, x, y)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5)
"""


def faults_per_pass(env_value: str) -> float:
    out = subprocess.run([sys.executable, "-c", PASSES], capture_output=True, text=True, check=True,
                         env={**os.environ, "LSTMLAB_KEEP_HEAP": env_value})
    return float(out.stdout)


def test_passes_reuse_the_heap_instead_of_faulting_memory_in():
    """With the heap kept, a repeated pass maps no new pages; with the allocator left alone it faults thousands."""
    kept, default = faults_per_pass("1"), faults_per_pass("0")
    assert kept < 100
    assert default > 10 * max(kept, 10)
