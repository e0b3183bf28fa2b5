"""Test-wide setup: offline Hub, a throwaway HF_HOME, and the shared reference fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Before anything imports datasets/transformers/huggingface_hub (they read these at import).
_HF_HOME = tempfile.mkdtemp(prefix="libtrad-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the checkout (CI has it there); skip loudly if absent."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"reference fixtures not found at {path}")
    return path


@pytest.fixture
def fresh_python(tmp_path):
    """Run a Python snippet in a new offline interpreter (nothing imported yet); return its stdout.

    The round trips that must prove ``import libtrad`` + Auto classes / ``load_dataset`` work on
    their own use this instead of the test process, where everything is already imported.
    """

    def run(code: str, *args, cwd=None, timeout: int = 300) -> str:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "fresh-hf-home")}
        done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    return run


@pytest.fixture(scope="session")
def lib_trad_raw(tmp_path_factory) -> Path:
    """A small synthetic LiB-TRAD raw layout (6 segments per experiment, 2 of them abnormal)."""
    from libtrad.builders.synth_lib_trad import synthesize_lib_trad

    out = tmp_path_factory.mktemp("raw") / "lib-trad-raw"
    synthesize_lib_trad(out, scale=0.02, seed=7, progress=False)
    return out


@pytest.fixture(scope="session")
def lib_trad_export(lib_trad_raw, tmp_path_factory) -> Path:
    """The Hub-ready export of ``lib_trad_raw`` at ``<tmp>/lib-trad`` (all configs, defaults)."""
    from libtrad.builders.lib_trad_export import export_lib_trad

    out = tmp_path_factory.mktemp("export") / "lib-trad"
    export_lib_trad(lib_trad_raw, out, progress=False)
    return out
