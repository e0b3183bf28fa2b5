"""libtrad.ray_jobs.lib_trad.evaluation and loading (through ``libtrad evaluate lib-trad --model``): trained
folders checked, never written into; results folders replaced as libtrad's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 4096\n"


@pytest.mark.parametrize(
    "breakage, fragments",
    [
        (lambda m: (m / "config.json").write_text("{not json"), ["config.json", "not readable as UTF-8 JSON"]),
        (lambda m: (m / "config.json").write_text('{"hidden_size": 4}'), ["config.json", "no model_type"]),
        (
            lambda m: (m / "config.json").write_text('{"model_type": "bert"}'),
            ["config.json", "'bert' is not a LiB-TRAD model"],
        ),
        (
            lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:-100]),
            ["model.safetensors", "not a complete safetensors file"],
        ),
        (lambda m: (m / "model.safetensors").unlink(), ["model.safetensors", "missing"]),
        (lambda m: (m / "preprocessor_config.json").write_text("[1, 2"), ["preprocessor_config.json", "JSON"]),
        (
            lambda m: (m / "preprocessor_config.json").write_text('{"feature_extractor_type": "NoSuchExtractor"}'),
            ["preprocessor_config.json", "'NoSuchExtractor'", "LibTradCNNFeatureExtractor"],
        ),
        (
            lambda m: _edit_json(m / "preprocessor_config.json", feature_size=16),
            ["preprocessor_config.json", "feature_size 16 differs from num_mel_bins 64"],
        ),
        (lambda m: _edit_json(m / "config.json", conv_channels=[16, 32, 8]), ["model.safetensors", "shape mismatch"]),
        (
            lambda m: (m / "model.safetensors").write_text(LFS_POINTER),
            ["model.safetensors", "git-LFS pointer", "git lfs pull"],
        ),
        (
            lambda m: (m / "model.safetensors").write_text("my notes\n"),
            ["model.safetensors", "a text file (starts 'my notes')"],
        ),
    ],
    ids=[
        "config-not-json",
        "no-model-type",
        "unknown-model-type",
        "truncated-weights",
        "no-weights",
        "preprocessor-not-json",
        "unknown-extractor",
        "mel-bins-differ",
        "weights-of-another-shape",
        "lfs-pointer",
        "text-file",
    ],
)
def test_evaluate_names_the_broken_model_file(
    breakage, fragments, model_copy, lib_trad_export, tmp_path, cli, rel, evaluate_args
):
    breakage(model_copy)
    before = rel.snapshot(model_copy)
    rel.assert_error_line(
        cli(*evaluate_args(model_copy, lib_trad_export, tmp_path / "eval")), str(model_copy), *fragments
    )
    assert rel.snapshot(model_copy) == before and not (tmp_path / "eval").exists()


def test_evaluate_refuses_a_trained_folder_changed_after_training_and_no_verify_loads_it(
    cnn_model, lib_trad_export, tmp_path, cli, rel, evaluate_args
):
    """libtrad's own model folder is checked against its marker first: the changed file is named; with
    --no-verify the content checks run (and pass: the edit keeps the model valid), with a note."""
    copy = tmp_path / "marked"
    shutil.copytree(cnn_model, copy)
    _edit_json(copy / "preprocessor_config.json")  # same values, other bytes (no indentation)
    before = rel.snapshot(copy)
    rel.assert_error_line(
        cli(*evaluate_args(copy, lib_trad_export, tmp_path / "eval")),
        str(copy / "preprocessor_config.json"),
        "corrupted",
        "--no-verify",
    )
    used = cli(*evaluate_args(copy, lib_trad_export, tmp_path / "eval"), "--no-verify")
    assert used.exit_code == 0, used.output
    assert "WITHOUT verification (--no-verify)" in used.output and rel.snapshot(copy) == before


def test_evaluate_weights_of_another_model_are_refused(model_copy, lib_trad_export, tmp_path, cli, rel, evaluate_args):
    save_file({"something.else": torch.zeros(3)}, str(model_copy / "model.safetensors"))
    rel.assert_error_line(
        cli(*evaluate_args(model_copy, lib_trad_export, tmp_path / "eval")),
        "model.safetensors",
        "does not match config.json",
    )


def test_evaluate_never_writes_into_a_model_or_dataset(
    cnn_model, lib_trad_copy, tmp_path, cli, rel, evaluate_args, user_folder
):
    before = rel.snapshot(cnn_model, lib_trad_copy)
    rel.assert_error_line(cli(*evaluate_args(cnn_model, lib_trad_copy, cnn_model)), "is the input --model")
    rel.assert_error_line(cli(*evaluate_args(cnn_model, lib_trad_copy, lib_trad_copy)), "is the input --dataset")
    rel.assert_error_line(
        cli(*evaluate_args(cnn_model, lib_trad_copy, user_folder(tmp_path / "mine", a__txt="x"))),
        "not a libtrad folder",
    )
    assert rel.snapshot(cnn_model, lib_trad_copy) == before


def test_evaluate_writes_a_results_folder_twice(cnn_model, lib_trad_export, tmp_path, cli, evaluate_args):
    from libtrad.folders.marker import read_marker

    out = tmp_path / "eval"
    for _ in range(2):
        result = cli(*evaluate_args(cnn_model, lib_trad_export, out))
        assert result.exit_code == 0, result.output
        (out / "notes.txt").write_text("keep\n")
    assert read_marker(out)["kind"] == "results" and (out / "notes.txt").read_text() == "keep\n"
    assert (out / "lib_trad_table2_cnn.json").is_file() and (out / "roc_cnn_tr1.png").is_file()


@pytest.mark.parametrize("suite", ["lib-trad", "lib-trad-events"])
@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--embeddings", "emb", "--experiments", "tr1,tr9"), "--experiments tr1,tr9: expected a comma-separated"),
        (("--experiments", "tr1"), "give --model (trained"),
        (("--model", "some-model"), "--model needs --dataset"),
    ],
)
def test_the_lib_trad_suites_check_their_model_and_embedding_options_alike(suite, args, fragment, tmp_path, cli, rel):
    rel.assert_error_line(cli("evaluate", suite, *args, "--output", tmp_path / "out"), fragment)
    assert not (tmp_path / "out").exists()
