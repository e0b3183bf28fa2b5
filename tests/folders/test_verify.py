"""libtrad.folders.verify (and ``libtrad verify``): every check of a dataset or model folder, problems listed
rather than raised."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from libtrad.core.errors import LibtradError
from libtrad.folders.outputs import write_marker
from libtrad.folders.verify import verify_dataset_split, verify_folder

SHARD = "data/tr1/train-00000-of-00001.parquet"


TEST_SHARD = "data/tr1/test-00000-of-00001.parquet"


# ----------------------------------------------------------------------------- verify
def test_verify_good_export(export):
    report = verify_folder(export)
    assert report.ok and report.kind == "dataset", report.describe()
    assert any(SHARD in item and "schema matches" in item for item in report.checked)
    assert report.describe().splitlines()[-1].startswith("OK")


def _edit_card(folder: Path, old: str, new: str) -> None:
    card = folder / "README.md"
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new, 1))
    write_marker(folder, "dataset")  # a card edited before marking: only the structural checks can tell


def test_verify_card_naming_a_missing_shard(export, problems_about):
    _edit_card(export, "    path: data/tr1/test-*", "    path: data/tr1/valid-*")
    report = verify_folder(export)
    assert problems_about(report, "split test: no file matches data/tr1/valid-*"), report.describe()
    assert problems_about(report, f"{export / TEST_SHARD}: not loaded by any config")


def test_verify_card_row_count_and_schema_mismatch(export, problems_about):
    _edit_card(export, "    num_examples: 12", "    num_examples: 13")
    _edit_card(export, "  - name: segment\n    dtype: int32", "  - name: segment\n    dtype: int64")
    report = verify_folder(export)
    assert problems_about(report, "has 13 rows, its shards hold 12"), report.describe()
    assert problems_about(report, "column segment is int32, expected int64")


def test_verify_broken_card_yaml_is_a_problem_not_a_crash(export, problems_about):
    _edit_card(export, "configs:", "configs: [unclosed")
    report = verify_folder(export)
    assert problems_about(report, "invalid YAML metadata"), report.describe()
    with pytest.raises(LibtradError, match="invalid YAML"):
        verify_dataset_split(export, "tr1", "train")


def test_verify_dataset_split_checks_exactly_that_split(export, tmp_path, flip_byte):
    verify_dataset_split(export, "tr1", "train")
    flip_byte(export / TEST_SHARD)
    verify_dataset_split(export, "tr1", "train")  # the test shard is not read for train
    for split in ("test", "train+test[:50%]", None):
        with pytest.raises(LibtradError, match=re.escape(f"{export / TEST_SHARD}: corrupted")):
            verify_dataset_split(export, "tr1", split)
    with pytest.raises(LibtradError, match=re.escape(f"{export / TEST_SHARD}: corrupted")):
        verify_dataset_split(export, None, "test")  # the default config
    with pytest.raises(LibtradError, match="cannot load config 'tr9'.*no such config"):
        verify_dataset_split(export, "tr9", "train")
    with pytest.raises(LibtradError, match="no split 'validation'"):
        verify_dataset_split(export, "tr1", "validation")
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    shutil.copy(export / SHARD, plain / "data" / "train.parquet")
    verify_dataset_split(plain, None, "train")  # not a libtrad folder: nothing to check
    verify_dataset_split("someone/some-dataset", "default", "train")  # a Hub id


def test_verify_model_folder(model_folder, problems_about):
    report = verify_folder(model_folder)
    assert report.ok and report.kind == "model", report.describe()
    weights = model_folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    write_marker(model_folder, "model")  # the checksum agrees with the broken file
    report = verify_folder(model_folder)
    assert problems_about(report, f"{weights}: truncated"), report.describe()
    (model_folder / "config.json").write_text('{"hidden": 4')
    write_marker(model_folder, "model")
    assert problems_about(verify_folder(model_folder), "config.json: not valid JSON")


def test_verify_refuses_links_and_unmarked_folders(export, tmp_path, problems_about):
    (export / "data" / "tr1" / "extra.parquet").symlink_to(export / SHARD)
    report = verify_folder(export)
    assert problems_about(report, "extra.parquet: is a symbolic link"), report.describe()
    assert verify_folder(tmp_path / "nowhere").problems == [f"{tmp_path / 'nowhere'}: no such folder"]


def test_verify_command_reports_and_exits_by_the_verdict(cli, lib_trad_raw, tmp_path):
    from libtrad.builders.lib_trad.export import export_lib_trad

    out = tmp_path / "export"
    export_lib_trad(lib_trad_raw, out, configs=("tr1",), progress=False)
    good = cli("verify", out)
    assert good.exit_code == 0 and good.output.strip().splitlines()[-1].startswith("OK:"), good.output
    shard = sorted((out / "data" / "tr1").glob("train-*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = cli("verify", out)
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "corrupted" in bad.output and shard.name in bad.output
    assert bad.output.strip().splitlines()[-1].startswith("error: ")
