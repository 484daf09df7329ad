"""The process setup that entry points call once, and the library never does."""

import json
import os
import subprocess
import sys

import pytest

from lstmlab.training import runtime

SETUP = """
import json
from threadpoolctl import threadpool_info
from lstmlab.training import runtime

def blas():
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

import sys
before, interval = blas(), {"start": sys.getswitchinterval()}
import numpy as np
from lstmlab import ModelSpec, bptt, init_params
spec = ModelSpec(cell="lstm", input_size=2, hidden_size=4, output_size=1)
bptt(spec, init_params(spec), np.ones((3, 2, 2)), np.ones((2, 1)))
after_pass = blas()
interval["after_pass"] = sys.getswitchinterval()
first = runtime.configure_worker(warm="off")
interval["after_worker"] = sys.getswitchinterval()
interval["configure_server"] = runtime.configure_server()
interval["after_server"] = sys.getswitchinterval()
print(json.dumps({"before": before, "after_pass": after_pass, "after_setup": blas(), "first": first,
                  "again": runtime.configure_worker(warm="off"), "interval": interval}))
"""


def run_setup() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", SETUP], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def test_a_pass_leaves_blas_alone_and_configure_worker_sets_one_thread_once():
    r = run_setup()
    # importing lstmlab loads numpy's OpenBLAS only; the first pass loads the compiled engine's own
    # (lstmlab.core.engines.blas) at one thread
    assert any("numpy" in path for path in r["before"]) and all(n == 2 for n in r["before"].values())
    assert not any("scipy_openblas32" in path for path in r["before"])
    ours = [path for path in r["after_pass"] if "scipy_openblas32" in path]
    assert len(ours) == 1 and r["after_pass"][ours[0]] == 1
    # the library changed nothing process-wide (numba's first kernel may load SciPy's OpenBLAS: at its default)
    assert {path: r["after_pass"][path] for path in r["before"]} == r["before"]
    assert all(n == 2 for path, n in r["after_pass"].items() if path not in r["before"] and path not in ours)
    assert r["after_setup"].keys() == r["after_pass"].keys() and all(n == 1 for n in r["after_setup"].values())
    assert r["first"]["blas_threads"] == 1 and r["again"] == r["first"]


def test_only_configure_server_changes_the_gil_switch_interval():
    i = run_setup()["interval"]
    assert i["start"] == i["after_pass"] == i["after_worker"] == 0.005  # Python's default, left alone
    assert i["configure_server"] == i["after_server"] == runtime.SERVER_SWITCH_INTERVAL_S < 0.005


def test_the_dashboard_configures_its_server(app):
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        app().run()
        assert sys.getswitchinterval() == runtime.SERVER_SWITCH_INTERVAL_S
    finally:
        sys.setswitchinterval(before)


ALLOCATIONS = """
import resource
import numpy as np
from lstmlab.training.runtime import configure_worker
configure_worker(warm="off")

def arrays():  # several MB at once, freed together, as a pass's working arrays are
    return [np.ones(400_000) for _ in range(4)]

arrays()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    arrays()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5)
"""


def faults_per_round(env_value: str) -> float:
    out = subprocess.run([sys.executable, "-c", ALLOCATIONS], capture_output=True, text=True, check=True,
                         env={**os.environ, "LSTMLAB_KEEP_HEAP": env_value})
    return float(out.stdout)


def test_configured_processes_reuse_the_heap_instead_of_faulting_memory_in():
    """With the heap kept, repeated allocations map no new pages; with the allocator left alone they fault
    thousands (a pass's own arrays are kept by lstmlab.core.engines.memory either way: test_plain_process)."""
    kept, default = faults_per_round("1"), faults_per_round("0")
    assert kept < 100
    assert default > 10 * max(kept, 10)


def test_an_unknown_warm_choice_is_refused():
    with pytest.raises(ValueError, match=r"^warm='soon': expected one of 'now', 'background', 'off'$"):
        runtime.configure_worker(warm="soon")


THREADS = """
import json, sys
from lstmlab.training import runtime
from lstmlab.core.engines import compiled
before = compiled.threads()
try:
    first = runtime.configure_worker(warm="off")
except ValueError as e:
    print(json.dumps({"error": str(e), "threads": compiled.threads()}))
    sys.exit(0)
later = runtime.configure_worker(warm="off", threads=2)
print(json.dumps({"before": before, "first": first["threads"], "later": later["threads"],
                  "again": runtime.configure_worker(warm="off")["threads"]}))
"""


@pytest.mark.parametrize("value, first", [(None, 1), ("3", 3), (" 2 ", 2)])
def test_configure_worker_takes_the_threads_from_the_environment(value, first):
    env = {k: v for k, v in os.environ.items() if k != "LSTMLAB_THREADS"}
    if value is not None:
        env["LSTMLAB_THREADS"] = value
    out = json.loads(subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, check=True,
                                    env=env).stdout)
    assert out == {"before": 1, "first": first, "later": 2, "again": 2}


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_threads_variable_is_named_and_changes_nothing(value):
    env = {**os.environ, "LSTMLAB_THREADS": value}
    out = json.loads(subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, check=True,
                                    env=env).stdout)
    assert out == {"error": f"LSTMLAB_THREADS={value!r}: expected an integer >= 1", "threads": 1}


BACKGROUND = """
import json, time
import psutil
from lstmlab.training import runtime
from lstmlab.core.engines import compiled
runtime.configure_worker(warm="background")
me = psutil.Process()
deadline = time.monotonic() + 600
while not me.children() and time.monotonic() < deadline:
    time.sleep(0.005)
child = me.children()[0]
seen = {"first": sorted((c, d.name) for c, d in compiled._ready), "cmd": child.cmdline(), "nice": 0}
while time.monotonic() < deadline and seen["nice"] == 0:  # its interpreter starts, then sets its nice
    seen["nice"] = child.nice()
    time.sleep(0.005)
child.terminate()  # compiling the other kernel sets into this test's own cache: not needed further
print(json.dumps(seen))
"""


def test_the_background_warm_loads_the_default_study_first_then_the_rest_in_a_low_priority_process(tmp_path):
    """A server's background warm on a fresh install: the default study's kernels in its own thread, then the others
    in a process of its own at WARM_NICE (below the job workers': the first jobs get the cores first)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", BACKGROUND], capture_output=True, text=True, check=True, timeout=900,
                         env=env)
    seen = json.loads(out.stdout)
    assert seen["first"] == [["lstm", "float64"], ["rnn", "float64"]]
    assert seen["nice"] == min(19, runtime.WARM_NICE + os.nice(0)) and "engines.warm()" in seen["cmd"][-1]
