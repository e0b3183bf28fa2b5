"""Train, evaluate and convert never overwrite what libtrad did not write, and every bad input is
one ``error:`` line naming the file (exit 2, no traceback).

Each case breaks a private copy of the small session export (``lib_trad_export``), a trained
model or a tiny ECHO checkpoint made here, runs the CLI, and checks the one line and that the
user's files are byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.lib_trad.training import Recipe

TRAIN_SHARD = "data/tr1_cls/train-00000-of-00001.parquet"
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 4096\n"
VALID_SHARD = "data/tr1_cls/validation-00000-of-00001.parquet"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def dataset(lib_trad_export, tmp_path) -> Path:
    """A private copy of the session export, free to break (the session fixture is never touched)."""
    copy = tmp_path / "lib-trad"
    shutil.copytree(lib_trad_export, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def cnn_model(lib_trad_export, tmp_path_factory) -> Path:
    """One CNN trained for an epoch on ``tr1_cls`` (read only: tests break copies of it)."""
    from libtrad.ray_jobs.lib_trad.training import train_cnn

    out = tmp_path_factory.mktemp("cnn") / "cnn-model"
    train_cnn(str(lib_trad_export), out, config="tr1_cls", recipe=Recipe(epochs=1, batch_size=4), progress=False)
    return out


@pytest.fixture
def model_copy(cnn_model, tmp_path) -> Path:
    """A trained model's files without libtrad's marker (a folder copied by hand): what the content checks
    see once the checksums can no longer say which file changed (those are tested on their own)."""
    copy = tmp_path / "model"
    shutil.copytree(cnn_model, copy)
    (copy / ".libtrad.json").unlink()
    return copy


def user_folder(path: Path, **files: str) -> Path:
    """A folder of the user's (no libtrad marker) holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name.replace("__", ".")).write_text(text)
    return path


def echo_state() -> dict[str, torch.Tensor]:
    """A tiny ECHO encoder's state dict (D=16, one layer) in the official key layout."""
    from libtrad.models.echo import EchoConfig, EchoModel

    torch.manual_seed(0)
    config = EchoConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_frames=64)
    return {k: v.clone() for k, v in EchoModel(config).state_dict().items()}


def train_args(dataset, output, *extra, family="cnn"):
    return ("train", family, "--dataset", dataset, "--output", output, "--epochs", "1", *extra)


# ----------------------------------------------------------------------------- train: outputs
@pytest.mark.parametrize("where, fragment", [
    ("the dataset itself", "is the input --dataset"),
    ("inside the dataset", "lies inside the input --dataset"),
    ("another dataset export", "is a libtrad dataset folder, not a model folder"),
])
def test_train_never_writes_into_a_dataset(where, fragment, dataset, lib_trad_export, tmp_path, cli, rel):
    if where == "the dataset itself":
        output = dataset
    elif where == "inside the dataset":
        output = dataset / "data" / "model"
    else:
        output = tmp_path / "other-export"
        shutil.copytree(lib_trad_export, output)
    before = rel.snapshot(dataset, output)
    rel.assert_error_line(cli(*train_args(dataset, output)), "--output", fragment)
    assert rel.snapshot(dataset, output) == before


def test_train_refuses_an_unrelated_folder(dataset, tmp_path, cli, rel):
    output = user_folder(tmp_path / "thesis", notes__txt="my notes\n", config__json='{"mine": true}\n')
    before = rel.snapshot(dataset, output)
    rel.assert_error_line(cli(*train_args(dataset, output, family="ae")), f"--output {output}", "not a libtrad folder")
    assert rel.snapshot(dataset, output) == before


def test_training_twice_replaces_the_model_and_keeps_the_users_files(lib_trad_export, tmp_path, cli, rel):
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


# ----------------------------------------------------------------------------- train: bad data
@pytest.mark.parametrize("shard", [TRAIN_SHARD, VALID_SHARD])
def test_a_truncated_shard_is_named(shard, dataset, tmp_path, cli, rel):
    path = dataset / shard
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = rel.snapshot(dataset)
    rel.assert_error_line(cli(*train_args(dataset, tmp_path / "out")), Path(shard).name)
    assert rel.snapshot(dataset) == before and not (tmp_path / "out").exists()


def test_a_bit_flipped_shard_is_named(dataset, tmp_path, cli, rel):
    path = dataset / TRAIN_SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rel.assert_error_line(cli(*train_args(dataset, tmp_path / "out")), Path(TRAIN_SHARD).name)
    assert not (tmp_path / "out").exists()


def test_an_unknown_config_lists_the_available_ones(lib_trad_export, tmp_path, cli, rel):
    line = rel.assert_error_line(cli(*train_args(lib_trad_export, tmp_path / "out", "--config", "tr9")),
                                 "cannot load config 'tr9'", "available:")
    assert "tr1_cls" in line and "tr2" in line
    assert not (tmp_path / "out").exists()


def test_a_manifest_that_is_not_utf8(dataset, tmp_path, cli, rel):
    (dataset / "manifest.json").write_bytes(b'{"synthetic": \xff\xfe}')
    rel.assert_error_line(cli(*train_args(dataset, tmp_path / "out")), "manifest.json", "UTF-8")


def plain_dataset(folder: Path, audio: list[bytes], labels: list[int], splits=("train",)) -> Path:
    """A Parquet dataset folder that libtrad did not write (no marker, no card): config ``default``."""
    import datasets

    (folder / "data").mkdir(parents=True)
    features = datasets.Features({"audio": datasets.Audio(decode=False), "label": datasets.ClassLabel(names=["normal", "abnormal"])})
    for split in splits:
        datasets.Dataset.from_dict({"audio": [{"bytes": b, "path": None} for b in audio], "label": labels},
                                   features=features).to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    datasets.load_dataset(str(folder))  # prepared now, so the CLI shows no generation bar before its error
    return folder


def wav_bytes(samples: int) -> bytes:
    import io

    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.full(samples, 0.1, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def test_a_row_that_is_not_audio(tmp_path, cli, rel):
    folder = plain_dataset(tmp_path / "plain", [b"this is not a WAV file"], [0])
    rel.assert_error_line(cli(*train_args(folder, tmp_path / "out", "--config", "default", family="ae")),
                          "row 0", "undecodable audio (Format not recognised.)")


def test_a_clip_too_short_for_the_cnn(tmp_path, cli, rel):
    folder = plain_dataset(tmp_path / "plain", [wav_bytes(10), wav_bytes(20_000)], [0, 1], splits=("train", "validation"))
    rel.assert_error_line(cli(*train_args(folder, tmp_path / "out", "--config", "default")),
                          "default/train row 0", "10 samples", "needs at least 8")


@pytest.mark.parametrize("flag, value, fragment", [
    ("--lr", "nan", "--lr nan"), ("--lr", "inf", "--lr inf"), ("--lr", "0", "--lr 0"),
    ("--epochs", "0", "--epochs 0"), ("--batch-size", "0", "--batch-size 0"), ("--seed", "-1", "--seed -1"),
])
def test_bad_recipe_options(flag, value, fragment, lib_trad_export, tmp_path, cli, rel):
    args = [a for a in train_args(lib_trad_export, tmp_path / "out") if a not in ("--epochs", "1")] + [flag, value]
    rel.assert_error_line(cli(*args), fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value, fragment", [
    ("learning_rate", float("inf"), "learning_rate=inf"), ("learning_rate", float("nan"), "learning_rate=nan"),
    ("learning_rate", -1e-3, "learning_rate=-0.001"), ("epochs", 0, "epochs=0"), ("epochs", 2.5, "epochs=2.5"),
    ("epochs", 10**6, "epochs=1000000"), ("batch_size", 0, "batch_size=0"), ("seed", 2**32, "seed=4294967296"),
])
def test_recipe_refuses_what_the_library_is_given(field, value, fragment):
    """The library names the parameter; the CLI names the flag (test_bad_recipe_options)."""
    with pytest.raises(LibtradError, match=fragment.replace(".", r"\.").replace("+", r"\+")):
        Recipe(**{"epochs": 1, "batch_size": 4, field: value})


def test_cnn_batches_of_one_are_refused(lib_trad_export, tmp_path, cli, rel):
    rel.assert_error_line(cli(*train_args(lib_trad_export, tmp_path / "out", "--batch-size", "1")), "--batch-size 1")


# ----------------------------------------------------------------------------- evaluate
def evaluate_args(model, dataset, output):
    return ("evaluate", "lib-trad", "--model", f"tr1={model}", "--dataset", dataset, "--experiments", "tr1",
            "--output", output)


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("breakage, fragments", [
    (lambda m: (m / "config.json").write_text("{not json"), ["config.json", "not readable as UTF-8 JSON"]),
    (lambda m: (m / "config.json").write_text('{"hidden_size": 4}'), ["config.json", "no model_type"]),
    (lambda m: (m / "config.json").write_text('{"model_type": "bert"}'), ["config.json", "'bert' is not a LiB-TRAD model"]),
    (lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:-100]),
     ["model.safetensors", "not a complete safetensors file"]),
    (lambda m: (m / "model.safetensors").unlink(), ["model.safetensors", "missing"]),
    (lambda m: (m / "preprocessor_config.json").write_text("[1, 2"), ["preprocessor_config.json", "JSON"]),
    (lambda m: (m / "preprocessor_config.json").write_text('{"feature_extractor_type": "NoSuchExtractor"}'),
     ["preprocessor_config.json", "'NoSuchExtractor'", "LibTradCNNFeatureExtractor"]),
    (lambda m: _edit_json(m / "preprocessor_config.json", feature_size=16),
     ["preprocessor_config.json", "feature_size 16 differs from num_mel_bins 64"]),
    (lambda m: _edit_json(m / "config.json", conv_channels=[16, 32, 8]), ["model.safetensors", "shape mismatch"]),
    (lambda m: (m / "model.safetensors").write_text(LFS_POINTER), ["model.safetensors", "git-LFS pointer", "git lfs pull"]),
    (lambda m: (m / "model.safetensors").write_text("my notes\n"), ["model.safetensors", "a text file (starts 'my notes')"]),
], ids=["config-not-json", "no-model-type", "unknown-model-type", "truncated-weights", "no-weights",
        "preprocessor-not-json", "unknown-extractor", "mel-bins-differ", "weights-of-another-shape", "lfs-pointer",
        "text-file"])
def test_evaluate_names_the_broken_model_file(breakage, fragments, model_copy, lib_trad_export, tmp_path, cli, rel):
    breakage(model_copy)
    before = rel.snapshot(model_copy)
    rel.assert_error_line(cli(*evaluate_args(model_copy, lib_trad_export, tmp_path / "eval")), str(model_copy), *fragments)
    assert rel.snapshot(model_copy) == before and not (tmp_path / "eval").exists()


def test_evaluate_refuses_a_trained_folder_changed_after_training_and_no_verify_loads_it(cnn_model, lib_trad_export,
                                                                                         tmp_path, cli, rel):
    """libtrad's own model folder is checked against its marker first: the changed file is named; with
    --no-verify the content checks run (and pass: the edit keeps the model valid), with a note."""
    copy = tmp_path / "marked"
    shutil.copytree(cnn_model, copy)
    _edit_json(copy / "preprocessor_config.json")  # same values, other bytes (no indentation)
    before = rel.snapshot(copy)
    rel.assert_error_line(cli(*evaluate_args(copy, lib_trad_export, tmp_path / "eval")),
                          str(copy / "preprocessor_config.json"), "corrupted", "--no-verify")
    used = cli(*evaluate_args(copy, lib_trad_export, tmp_path / "eval"), "--no-verify")
    assert used.exit_code == 0, used.output
    assert "WITHOUT verification (--no-verify)" in used.output and rel.snapshot(copy) == before


def test_evaluate_weights_of_another_model_are_refused(model_copy, lib_trad_export, tmp_path, cli, rel):
    save_file({"something.else": torch.zeros(3)}, str(model_copy / "model.safetensors"))
    rel.assert_error_line(cli(*evaluate_args(model_copy, lib_trad_export, tmp_path / "eval")),
                          "model.safetensors", "does not match config.json")


# ----------------------------------------------------------------------------- from_pretrained (the Python API)
def _other_weights(m: Path) -> None:
    save_file({"something.else": torch.zeros(3)}, str(m / "model.safetensors"))


def _drop_tensor(m: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(m / "model.safetensors"))
    dropped = sorted(k for k in state if k.startswith("cnn.") and k.endswith(".weight"))[0]  # the base model's
    del state[dropped]
    save_file(state, str(m / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize("breakage, fragments", [
    (lambda m: (m / "model.safetensors").write_text(LFS_POINTER), ["git-LFS pointer file", "run `git lfs pull`"]),
    (_other_weights, ["does not match config.json", "1 unexpected tensor: something.else", "missing tensors: "]),
    (_drop_tensor, ["does not match config.json", "1 missing tensor: ", "blocks.0.0.weight"]),
    (lambda m: _edit_json(m / "config.json", conv_channels=[16, 32, 8]), ["tensors of another shape"]),
], ids=["lfs-pointer", "another-models-weights", "missing-tensor", "shape-mismatch"])
@pytest.mark.parametrize("loader", ["AutoModelForAudioClassification", "LibTradCNNForAudioClassification", "AutoModel"])
def test_from_pretrained_refuses_weights_that_are_not_the_configs(loader, breakage, fragments, model_copy, rel):
    """transformers alone loads these with random tensors (or a SafetensorError); libtrad's models refuse them."""
    import transformers

    from libtrad.models.cnn import LibTradCNNForAudioClassification

    load = (LibTradCNNForAudioClassification if loader.startswith("LibTrad") else getattr(transformers, loader)).from_pretrained
    breakage(model_copy)
    before = rel.snapshot(model_copy)
    with pytest.raises(LibtradError) as caught:
        load(model_copy)
    message = str(caught.value)
    assert message.startswith(f"{model_copy / 'model.safetensors'}: ") and "\n" not in message, message
    assert all(f in message for f in fragments), message
    assert rel.snapshot(model_copy) == before


def test_a_trained_head_folder_still_loads_as_its_base_model(model_copy):
    """The classifier's own tensors are left out when the bare CNN is read from its folder (the head
    config.json's architectures names), as transformers intends; nothing else is excused."""
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(model_copy, output_loading_info=True)
    assert type(model).__name__ == "LibTradCNNModel" and not info["missing_keys"] and info["unexpected_keys"]
    _edit_json(model_copy / "config.json", architectures=["LibTradCNNModel"])  # no head declared: nothing excused
    with pytest.raises(LibtradError, match="unexpected tensor"):
        AutoModel.from_pretrained(model_copy)


def test_an_attention_ae_folder_of_another_family_is_refused(model_copy):
    from libtrad.models.attention_ae import LibTradAttentionAEModel

    with pytest.raises(LibtradError, match="model type 'libtrad-cnn' is not what LibTradAttentionAEModel loads"):
        LibTradAttentionAEModel.from_pretrained(model_copy)


def test_evaluate_never_writes_into_a_model_or_dataset(cnn_model, dataset, tmp_path, cli, rel):
    before = rel.snapshot(cnn_model, dataset)
    rel.assert_error_line(cli(*evaluate_args(cnn_model, dataset, cnn_model)), "is the input --model")
    rel.assert_error_line(cli(*evaluate_args(cnn_model, dataset, dataset)), "is the input --dataset")
    rel.assert_error_line(cli(*evaluate_args(cnn_model, dataset, user_folder(tmp_path / "mine", a__txt="x"))),
                          "not a libtrad folder")
    assert rel.snapshot(cnn_model, dataset) == before


def test_evaluate_writes_a_results_folder_twice(cnn_model, lib_trad_export, tmp_path, cli):
    from libtrad.folders.marker import read_marker

    out = tmp_path / "eval"
    for _ in range(2):
        result = cli(*evaluate_args(cnn_model, lib_trad_export, out))
        assert result.exit_code == 0, result.output
        (out / "notes.txt").write_text("keep\n")
    assert read_marker(out)["kind"] == "results" and (out / "notes.txt").read_text() == "keep\n"
    assert (out / "lib_trad_table2_cnn.json").is_file() and (out / "roc_cnn_tr1.png").is_file()


# ----------------------------------------------------------------------------- convert
def test_convert_refuses_a_users_folder(tmp_path, cli, rel):
    ckpt = tmp_path / "echo.safetensors"
    save_file(echo_state(), str(ckpt))
    out = user_folder(tmp_path / "mine", config__json='{"my": "config"}\n', README__md="# my notes\n")
    before = rel.snapshot(out, ckpt)
    rel.assert_error_line(cli("convert", "echo", ckpt, out, "--heads", "2"), f"OUT_DIR {out}", "not a libtrad folder")
    rel.assert_error_line(cli("convert", "echo", ckpt, tmp_path, "--heads", "2"), "contains the input CHECKPOINT")
    assert rel.snapshot(out, ckpt) == before


def test_convert_twice_keeps_the_users_files(tmp_path, cli):
    ckpt = tmp_path / "echo.safetensors"
    save_file(echo_state(), str(ckpt))
    out = tmp_path / "echo-out"
    assert cli("convert", "echo", ckpt, out, "--heads", "2").exit_code == 0
    (out / "notes.txt").write_text("mine\n")
    result = cli("convert", "echo", ckpt, out, "--heads", "4")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["num_attention_heads"] == 4
    assert (out / "notes.txt").read_text() == "mine\n"


def _drop_linear1(state):
    state["encoder.layers.1.norm1.weight"] = torch.ones(16)


@pytest.mark.parametrize("edit, fragments", [
    (lambda s: s.__setitem__("cls_token", torch.zeros(16)), ["cls_token", "shape (16,)"]),
    (lambda s: s.__setitem__("patch_embed.proj.weight", torch.zeros(16, 512)), ["patch_embed.proj.weight", "shape (16, 512)"]),
    (lambda s: s.__setitem__("pos_embed", torch.tensor(1.0)), ["pos_embed", "shape ()"]),
    (lambda s: s.__setitem__("pos_embed", torch.zeros(1, 1, 16)), ["pos_embed", "at least one patch"]),
    (lambda s: s.__setitem__("encoder.layers.0.linear1.weight", torch.zeros(32, 8)), ["encoder.layers.0.linear1.weight"]),
    (_drop_linear1, ["encoder.layers.1.linear1.weight"]),
    (lambda s: s.__setitem__("encoder.layers.7.linear1.weight", torch.zeros(32, 16)), ["layer 1 is missing"]),
    (lambda s: s.__setitem__("norm.weight", torch.ones(16, dtype=torch.int64)), ["norm.weight", "dtype int64"]),
    (lambda s: s.__setitem__("norm.bias", torch.full((16,), float("nan"))), ["norm.bias", "NaN"]),
], ids=["cls-1d", "patch-2d", "pos-scalar", "pos-no-patch", "linear1-width", "layer-without-linear1", "layer-gap",
        "integer-dtype", "nan"])
def test_convert_names_the_bad_tensor(edit, fragments, tmp_path, cli, rel):
    state = echo_state()
    edit(state)
    ckpt = tmp_path / "bad.safetensors"
    save_file(state, str(ckpt))
    rel.assert_error_line(cli("convert", "echo", ckpt, tmp_path / "out", "--heads", "2"), "bad.safetensors", *fragments)
    assert not (tmp_path / "out").exists()


def test_convert_names_a_value_that_is_not_a_tensor(tmp_path, cli, rel):
    state = echo_state()
    state["cls_token"] = [0.0] * 16
    ckpt = tmp_path / "bad.pth"
    torch.save({"encoder": state, "model_type": "tiny"}, ckpt)
    rel.assert_error_line(cli("convert", "echo", ckpt, tmp_path / "out", "--heads", "2"), "bad.pth", "cls_token is a list")
    assert not (tmp_path / "out").exists()


def test_a_fifo_in_place_of_a_shard_is_named_not_read(dataset, tmp_path, rel):
    """A named pipe where a shard should be would block any reader: refused by name, in bounded time."""
    shard = dataset / TRAIN_SHARD
    shard.unlink()
    os.mkfifo(shard)
    done = rel.subprocess_cli(*train_args(dataset, tmp_path / "out", "--config", "tr1_cls"), timeout=120)
    rel.assert_error_line(done, TRAIN_SHARD, "FIFO")
    assert not (tmp_path / "out").exists()
