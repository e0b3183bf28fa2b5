"""Fixtures shared by the tests in this folder: a LiB-TRAD export and a model folder for the publish and verify
tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from libtrad.folders.marker import read_marker
from libtrad.folders.outputs import write_marker


# ----------------------------------------------------------------------------- an export and a model folder to break
@pytest.fixture(scope="module")
def tr1_export(lib_trad_raw, tmp_path_factory) -> Path:
    """One real export (``tr1`` only), marked as a libtrad dataset by the export itself."""
    from libtrad.builders.lib_trad.export import export_lib_trad

    out = tmp_path_factory.mktemp("tr1") / "lib-trad"
    export_lib_trad(lib_trad_raw, out, configs=("tr1",), progress=False)
    assert read_marker(out)["kind"] == "dataset"
    return out


@pytest.fixture
def export(tr1_export, tmp_path) -> Path:
    """A private copy of the export to break."""
    copy = tmp_path / "lib-trad"
    shutil.copytree(tr1_export, copy)
    return copy


@pytest.fixture
def model_folder(tmp_path) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "lib_trad_cnn", "hidden": 4}))
    (folder / "README.md").write_text("# a model\n")
    save_file(
        {"weight": torch.arange(64, dtype=torch.float32).reshape(8, 8), "bias": torch.ones(8)},
        str(folder / "model.safetensors"),
    )
    write_marker(folder, "model")
    return folder


def problems_about(report, fragment: str) -> list[str]:
    return [p for p in report.problems if fragment in p]


@pytest.fixture(name="problems_about")
def _problems_about_fixture():
    return problems_about
