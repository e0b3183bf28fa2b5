"""One contract for every registered dataset component: synth -> export -> load_dataset -> card -> rebuild.

Each component's synthetic stand-in (in its publisher's layout) is exported; the export must be a
valid libtrad dataset folder (``libtrad verify``), every config/split must load with
``load_dataset`` in a fresh process with the row and label counts the manifest states, the card's
YAML must name exactly the configs built, and a rebuild must write byte-identical shards. The
exports are made once per module and loaded by one fresh interpreter (one start, not one per
component); each component's test checks its own part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from libtrad.builders.registry import DATASETS

CASES = [
    pytest.param(entry.name, component, id=component) for entry in DATASETS.values() for component in entry.components
]

LOAD_EVERY_SPLIT = """
import json, sys
from collections import Counter
import datasets
result = {}
for folder, cache in zip(sys.argv[1::2], sys.argv[2::2]):
    out = result[folder] = {}
    for config in datasets.get_dataset_config_names(folder):
        for split in datasets.get_dataset_split_names(folder, config):
            ds = datasets.load_dataset(folder, config, split=split, cache_dir=cache)
            names = ds.features["label"].names
            labels = Counter(names[i] if i >= 0 else "unlabelled" for i in ds["label"])
            out[f"{config}/{split}"] = {"rows": ds.num_rows, "labels": dict(labels)}
print(json.dumps(result))
"""


def _build(entry, component, raw, out):
    return entry.build(raw, out, component=component if entry.multi else None, progress=False)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Every component synthesized and exported once: component -> (raw, export, summary) or the exception."""
    built = {}
    for case in CASES:
        family, component = case.values
        entry = DATASETS[family]
        work = tmp_path_factory.mktemp(component)
        raw, out = work / "raw", work / "export"
        try:
            entry.synthesize(
                raw, component=component if entry.multi else None, progress=False, **entry.extra.get("tiny_synth", {})
            )
            built[component] = (raw, out, _build(entry, component, raw, out))
        except Exception as exc:  # reported by that component's test, not by every test
            built[component] = exc
    return built


@pytest.fixture(scope="module")
def loaded(exports, tmp_path_factory):
    """``load_dataset`` of every config/split of every export, in ONE fresh offline interpreter (each
    export with its own cache folder): export folder -> {config/split: rows and label counts}."""
    folders = [item[1] for item in exports.values() if not isinstance(item, Exception)]
    caches = tmp_path_factory.mktemp("load-caches")
    args = [str(a) for i, folder in enumerate(folders) for a in (folder, caches / str(i))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path_factory.mktemp("fresh-hf-home"))}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_EVERY_SPLIT, *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family, component", CASES)
def test_component_contract(family, component, exports, loaded):
    from libtrad.folders.marker import read_marker
    from libtrad.folders.verify import verify_folder

    entry = DATASETS[family]
    if isinstance(exports[component], Exception):
        raise exports[component]
    raw, out, summary = exports[component]
    assert json.loads((raw / "SYNTHETIC.json").read_text())
    assert summary.synthetic and not summary.rejected, summary.describe()

    report = verify_folder(out)
    assert report.ok, report.describe()
    assert read_marker(out)["kind"] == "dataset"

    manifest = json.loads((out / "manifest.json").read_text())
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in meta["configs"]] == list(manifest["configs"])
    assert "synthetic" in meta["tags"] and "SYNTHETIC STAND-IN" in card
    # Every component declares which channels `embed` uses by default; the card carries it for every config.
    from libtrad.core.channels import read_policy

    chosen = entry.component(component if entry.multi else None)
    for config in manifest["configs"]:
        assert read_policy(meta, config, "README.md") == chosen.channel_policy(config) is not None, config

    expected = {
        f"{config}/{split}": {"rows": v["rows"], "labels": {k: n for k, n in v["labels"].items() if n}}
        for config, splits in manifest["configs"].items()
        for split, v in splits.items()
    }
    assert loaded[str(out)] == expected

    first = manifest["parquet_files"]
    _build(entry, component, raw, out)
    assert json.loads((out / "manifest.json").read_text())["parquet_files"] == first


def test_component_all_builds_each_component_folder_and_names_strays(cli, rel, tmp_path):
    root, out = tmp_path / "siren-raw", tmp_path / "siren"
    for component in ("iica", "dcase2023"):
        assert cli("synth", "siren", "--component", component, root / component).exit_code == 0
    (root / "notes").mkdir()
    before = rel.snapshot(root)
    rel.assert_error_line(
        cli("build", "siren", "--component", "all", "--data-dir", root, "--output", out),
        "notes",
        "not a component folder",
    )
    assert rel.snapshot(root) == before and not out.exists()
    (root / "notes").rmdir()
    result = cli("build", "siren", "--component", "all", "--data-dir", root, "--output", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["dcase2023", "iica"]
    assert "not built (no folder of that name in --data-dir): dcase2020" in result.output
    rel.assert_error_line(
        cli("build", "siren", "--component", "all", "--data-dir", root, "--output", root / "x"),
        "--output",
        "may not be, contain or lie inside --data-dir",
    )
