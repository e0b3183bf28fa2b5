"""Training, evaluation, model cards and the LiB-TRAD model commands, on a tiny synthetic LiB-TRAD
built by the real builders (``synthesize_lib_trad`` + ``export_lib_trad``)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from libtrad.cli import main
from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.lib_trad.training import Recipe, train_attention_ae, train_cnn


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    from libtrad.builders.lib_trad.export import export_lib_trad
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    root = tmp_path_factory.mktemp("lib-trad")
    synthesize_lib_trad(root / "raw", scale=0.02, seed=0, progress=False)
    export_lib_trad(root / "raw", root / "hub", configs=("tr1", "tr1_cls"), progress=False)
    return str(root / "hub")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets-cache")


@pytest.fixture(scope="module")
def trained_cnn(dataset, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn")
    return train_cnn(
        dataset, out, config="tr1_cls", recipe=Recipe(epochs=3, batch_size=4), cache_dir=cache, progress=False
    )


@pytest.fixture(scope="module")
def trained_ae(dataset, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    return train_attention_ae(
        dataset, out, config="tr1", recipe=Recipe(epochs=4, batch_size=128), cache_dir=cache, progress=False
    )


def test_cnn_training_lowers_the_loss_and_saves_everything(trained_cnn):
    losses = [h["loss"] for h in trained_cnn.history]
    assert losses[-1] < losses[0]
    assert all(h["val_auc"] is not None for h in trained_cnn.history)
    names = {p.name for p in trained_cnn.output_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "training_history.json",
    } <= names


def test_ae_training_lowers_the_loss_and_fits_the_scorer(trained_ae):
    from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model

    losses = [h["loss"] for h in trained_ae.history]
    assert losses[-1] < losses[0]
    model, _ = load_lib_trad_model(trained_ae.output_dir)
    assert model.is_scorer_fitted
    assert trained_ae.eval_results and trained_ae.eval_results[0]["split"] == "test"


def test_context_attention_trains_too(dataset, cache, tmp_path):
    result = train_attention_ae(
        dataset,
        tmp_path,
        config="tr1",
        recipe=Recipe(epochs=2, batch_size=256),
        model_kwargs={"context_frames": 3},
        cache_dir=cache,
        progress=False,
    )
    assert json.loads((tmp_path / "config.json").read_text())["context_frames"] == 3
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_model_card_validates_and_carries_the_eval_results(trained_cnn, trained_ae):
    from huggingface_hub import ModelCard

    for result in (trained_cnn, trained_ae):
        card = ModelCard.load(result.output_dir / "README.md")
        [ev] = card.data.eval_results
        expected = result.eval_results[0]
        assert (ev.dataset_config, ev.dataset_split, ev.metric_type) == (
            expected["config"],
            expected["split"],
            "roc_auc",
        )
        assert ev.metric_value == pytest.approx(expected["value"])
        assert "synthetic-data" in card.data.tags
        assert "Trained on synthetic stand-in data" in card.text
        assert "learning_rate" in card.text
    assert ModelCard.load(trained_cnn.output_dir / "README.md").data.pipeline_tag == "audio-classification"


@pytest.mark.parametrize("family", ["cnn", "ae"])
def test_evaluate_writes_json_markdown_and_roc(family, trained_cnn, trained_ae, dataset, cache, tmp_path):
    model_dir = (trained_cnn if family == "cnn" else trained_ae).output_dir
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            "lib-trad",
            "--model",
            f"tr1={model_dir}",
            "--dataset",
            dataset,
            "--experiments",
            "tr1",
            "--output",
            str(out),
            "--cache-dir",
            str(cache),
        ],
    )
    assert result.exit_code == 0, result.output
    stem = "lib_trad_table2_cnn" if family == "cnn" else "lib_trad_table3_attention_ae"
    summary = json.loads((out / f"{stem}.json").read_text())
    [row] = summary["rows"]
    assert row["split"] == ("validation" if family == "cnn" else "test") and 0.0 <= row["auc"] <= 1.0
    assert row["inference_ms_per_clip"] > 0
    assert (out / f"{stem}.md").read_text().startswith("## LiB-TRAD Table")
    assert (out / row["roc_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if family == "ae":
        assert summary["harmonic_mean_auc"] == pytest.approx(row["auc"])


def test_train_command_end_to_end(dataset, cache, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train",
            "ae",
            "--dataset",
            dataset,
            "--config",
            "tr1",
            "--output",
            str(tmp_path / "m"),
            "--epochs",
            "1",
            "--cache-dir",
            str(cache),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "saved auto-encoder" in result.output and (tmp_path / "m" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "cnn", "--dataset", "/no/such/folder", "--output", "OUT"],
            "--dataset /no/such/folder: no such dataset folder",
        ),
        (["train", "ae", "--dataset", "DATASET", "--config", "tr9", "--output", "OUT"], "cannot load config 'tr9'"),
        (
            ["train", "ae", "--dataset", "DATASET", "--output", "OUT", "--epochs", "0"],
            "--epochs 0: must be within [1, 100000]",
        ),
        (["train", "ae", "--dataset", "DATASET", "--output", "OUT", "--context-frames", "2"], "--context-frames 2"),
        (["train", "cnn", "--dataset", "DATASET", "--config", "tr1", "--output", "OUT"], "one class only"),
        (
            ["evaluate", "lib-trad", "--model", "/no/model", "--dataset", "DATASET"],
            "--model /no/model: not a saved model folder",
        ),
        (["evaluate", "lib-trad", "--model", "tr7=x", "--dataset", "DATASET"], "experiment 'tr7'"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args, message, dataset, cache, tmp_path):
    args = [dataset if a == "DATASET" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    if args[0] == "train":
        args += ["--cache-dir", str(cache)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.output


def test_publish_model_dry_run_lists_files(trained_cnn, tmp_path):
    result = CliRunner().invoke(
        main, ["publish", "model", str(trained_cnn.output_dir), "--repo-id", "me/lib-trad-cnn", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    for name in ("config.json", "model.safetensors", "README.md", "preprocessor_config.json"):
        assert name in result.output
    assert "model repo me/lib-trad-cnn" in result.output
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    bad = CliRunner().invoke(main, ["publish", "model", str(tmp_path / "half"), "--repo-id", "me/x", "--dry-run"])
    assert bad.exit_code == 2 and "missing model.safetensors, README.md" in bad.stderr


# ----------------------------------------------------------------------------- from test_reliability_models.py
# ----------------------------------------------------------------------------- train: outputs
@pytest.mark.parametrize(
    "where, fragment",
    [
        ("the dataset itself", "is the input --dataset"),
        ("inside the dataset", "lies inside the input --dataset"),
        ("another dataset export", "is a libtrad dataset folder, not a model folder"),
    ],
)
def test_train_never_writes_into_a_dataset(
    where, fragment, lib_trad_copy, lib_trad_export, tmp_path, cli, rel, train_args
):
    if where == "the dataset itself":
        output = lib_trad_copy
    elif where == "inside the dataset":
        output = lib_trad_copy / "data" / "model"
    else:
        output = tmp_path / "other-export"
        shutil.copytree(lib_trad_export, output)
    before = rel.snapshot(lib_trad_copy, output)
    rel.assert_error_line(cli(*train_args(lib_trad_copy, output)), "--output", fragment)
    assert rel.snapshot(lib_trad_copy, output) == before


def test_train_refuses_an_unrelated_folder(lib_trad_copy, tmp_path, cli, rel, train_args, user_folder):
    output = user_folder(tmp_path / "thesis", notes__txt="my notes\n", config__json='{"mine": true}\n')
    before = rel.snapshot(lib_trad_copy, output)
    rel.assert_error_line(
        cli(*train_args(lib_trad_copy, output, family="ae")), f"--output {output}", "not a libtrad folder"
    )
    assert rel.snapshot(lib_trad_copy, output) == before


def test_training_twice_replaces_the_model_and_keeps_the_users_files(lib_trad_export, tmp_path, cli, rel, train_args):
    from huggingface_hub import ModelCard

    from libtrad.folders.marker import read_marker

    output = tmp_path / "my-cnn"
    first = cli(*train_args(lib_trad_export, output))
    assert first.exit_code == 0, first.output
    (output / "notes.txt").write_text("lr sweep, run 1\n")
    second = cli(*train_args(lib_trad_export, output, "--seed", "1"))
    assert second.exit_code == 0, second.output
    assert (output / "notes.txt").read_text() == "lr sweep, run 1\n"
    marker = read_marker(output)
    assert marker["kind"] == "model" and "notes.txt" not in marker["files"]
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(marker["files"])
    assert json.loads((output / "training_history.json").read_text())["recipe"]["seed"] == 1
    card = ModelCard.load(output / "README.md")
    assert card.data.model_name == "my-cnn" and "partial" not in card.text  # named after the output, not staging
    assert [p.name for p in tmp_path.iterdir()] == ["my-cnn"]  # no staging folder left behind


def wav_bytes(samples: int) -> bytes:
    import io

    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.full(samples, 0.1, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def test_a_clip_too_short_for_the_cnn(tmp_path, cli, rel, plain_dataset, train_args):
    folder = plain_dataset(
        tmp_path / "plain", [wav_bytes(10), wav_bytes(20_000)], [0, 1], splits=("train", "validation")
    )
    rel.assert_error_line(
        cli(*train_args(folder, tmp_path / "out", "--config", "default")),
        "default/train row 0",
        "10 samples",
        "needs at least 8",
    )


@pytest.mark.parametrize(
    "flag, value, fragment",
    [
        ("--lr", "nan", "--lr nan"),
        ("--lr", "inf", "--lr inf"),
        ("--lr", "0", "--lr 0"),
        ("--epochs", "0", "--epochs 0"),
        ("--batch-size", "0", "--batch-size 0"),
        ("--seed", "-1", "--seed -1"),
    ],
)
def test_bad_recipe_options(flag, value, fragment, lib_trad_export, tmp_path, cli, rel, train_args):
    args = [a for a in train_args(lib_trad_export, tmp_path / "out") if a not in ("--epochs", "1")] + [flag, value]
    rel.assert_error_line(cli(*args), fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("learning_rate", float("inf"), "learning_rate=inf"),
        ("learning_rate", float("nan"), "learning_rate=nan"),
        ("learning_rate", -1e-3, "learning_rate=-0.001"),
        ("epochs", 0, "epochs=0"),
        ("epochs", 2.5, "epochs=2.5"),
        ("epochs", 10**6, "epochs=1000000"),
        ("batch_size", 0, "batch_size=0"),
        ("seed", 2**32, "seed=4294967296"),
    ],
)
def test_recipe_refuses_what_the_library_is_given(field, value, fragment):
    """The library names the parameter; the CLI names the flag (test_bad_recipe_options)."""
    with pytest.raises(LibtradError, match=fragment.replace(".", r"\.").replace("+", r"\+")):
        Recipe(**{"epochs": 1, "batch_size": 4, field: value})


def test_cnn_batches_of_one_are_refused(lib_trad_export, tmp_path, cli, rel, train_args):
    rel.assert_error_line(cli(*train_args(lib_trad_export, tmp_path / "out", "--batch-size", "1")), "--batch-size 1")
