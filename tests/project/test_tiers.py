"""The tiers: tests/conftest.py marks each test from its folder, the fixtures it uses and the job calls it makes, and
a `-m` expression over those markers selects what runs."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import tier_markers

ROOT = Path(__file__).resolve().parents[2]
FAST = "not (postgres or dask or oidc or jobs or app or browser)"


def _item(folder: str, fixtures=(), params=None, function=None):
    return SimpleNamespace(path=ROOT / "tests" / folder / "test_x.py", fixturenames=list(fixtures),
                           callspec=None if params is None else SimpleNamespace(params=params),
                           function=function or (lambda: None))


def test_markers_follow_the_folder_the_fixtures_and_their_parameters():
    assert tier_markers(_item("core", ["engine", "tmp_path"], {"engine": "compiled"})) == set()
    assert tier_markers(_item("app", ["app"])) == {"app"}
    assert tier_markers(_item("browser", ["browser", "requirements"])) == {"browser"}
    assert tier_markers(_item("browser", ["browser", "oidc"])) == {"browser", "oidc"}
    assert tier_markers(_item("jobs")) == {"jobs"}
    assert tier_markers(_item("store", ["store_url"], {"store_url": "sqlite"})) == set()
    assert tier_markers(_item("store", ["store_url"], {"store_url": "postgresql"})) == {"postgres"}
    assert tier_markers(_item("project", ["password_role", "postgres_server"])) == {"postgres"}
    assert tier_markers(_item("cli", ["scheduler"], {"scheduler": "dask"})) == {"dask", "jobs"}
    assert tier_markers(_item("cli", ["scheduler"], {"scheduler": "pool"})) == {"jobs"}
    assert tier_markers(_item("app", ["idle_scheduler"])) == {"app", "dask", "jobs"}
    assert tier_markers(_item("cli", ["tiny_sweep"])) == {"jobs"}


def test_a_test_that_queues_jobs_is_marked_jobs_whatever_its_folder():
    def through_the_api(jobs):
        return jobs.submit(None)

    def through_the_cli(call):
        return [call("resubmit", "abc") for _ in range(1)]  # in a nested code object

    def refused(call):
        return call("ls")

    assert tier_markers(_item("store", function=through_the_api)) == {"jobs"}
    assert tier_markers(_item("training", function=through_the_cli)) == {"jobs"}
    assert tier_markers(_item("cli", function=refused)) == set()


def test_the_fast_tier_leaves_out_services_workers_and_the_dashboard():
    files = ["tests/store/test_store_sweeps.py", "tests/views/test_limits.py", "tests/app/test_app_why.py"]
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", FAST,
                          *files], cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    selected = [line for line in out.splitlines() if "::" in line]
    assert "tests/store/test_store_sweeps.py::test_a_sweep_name_keeps_its_first_spec[sqlite]" in selected, out
    assert not [t for t in selected if "[postgresql]" in t or t.startswith("tests/app/")], selected
    assert sum(t.startswith("tests/views/test_limits.py::") for t in selected) == 3, out
