"""ECHO converter: both official formats, strict key/shape errors, CLI, model card, round trip."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from libtrad.cli import main
from libtrad.convert.echo import convert_checkpoint
from libtrad.core.errors import LibtradError
from libtrad.models.echo import EchoConfig, EchoModel


@pytest.fixture(scope="module")
def ref_dir(shared_fixtures):
    return shared_fixtures / "echo_reference"


@pytest.fixture(scope="module")
def official_state(ref_dir):
    return load_file(ref_dir / "echo_reference.safetensors")


def test_pth_and_safetensors_give_the_same_model(ref_dir, tmp_path):
    a = convert_checkpoint(ref_dir / "echo_reference.pth", tmp_path / "a", heads=2, write_card=False)
    b = convert_checkpoint(ref_dir / "echo_reference.safetensors", tmp_path / "b", heads=2, write_card=False)
    assert a.config.official_model_type == "fixture"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_heads_from_model_type(official_state, tmp_path):
    path = tmp_path / "small.pth"
    torch.save({"encoder": official_state, "model_type": "ECHO-Small"}, path)
    with pytest.raises(LibtradError, match="not divisible by 6 heads"):  # D=64 is not a Small; heads came from the type
        convert_checkpoint(path, tmp_path / "out", write_card=False)
    assert (
        convert_checkpoint(
            path, tmp_path / "out", model_type="tiny-base", heads=4, write_card=False
        ).config.num_attention_heads
        == 4
    )


def test_unknown_model_type_needs_heads(ref_dir, tmp_path):
    with pytest.raises(LibtradError, match=r"echo_reference\.pth.*pass --heads"):
        convert_checkpoint(ref_dir / "echo_reference.pth", tmp_path / "out")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.pop("encoder.layers.1.norm2.bias"), r"missing keys: encoder\.layers\.1\.norm2\.bias"),
        (lambda s: s.__setitem__("head.weight", torch.zeros(2)), r"unexpected keys: head\.weight"),
        (
            lambda s: s.__setitem__("encoder.layers.0.linear2.bias", torch.zeros(65)),
            r"shape mismatch: encoder\.layers\.0\.linear2\.bias \(65,\) != \(64,\)",
        ),
    ],
)
def test_strict_key_and_shape_errors(official_state, tmp_path, edit, message):
    state = dict(official_state)
    edit(state)
    path = tmp_path / "bad.safetensors"
    save_file(state, path)
    with pytest.raises(LibtradError, match=rf"bad\.safetensors.*{message}"):
        convert_checkpoint(path, tmp_path / "out", heads=2, write_card=False)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(LibtradError, match="junk.pth"):
        convert_checkpoint(path, tmp_path / "out", heads=2)


def test_cli_convert_and_card(ref_dir, tmp_path):
    out = tmp_path / "converted"
    result = CliRunner().invoke(
        main, ["convert", "echo", str(ref_dir / "echo_reference.pth"), str(out), "--heads", "2"]
    )
    assert result.exit_code == 0, result.output
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers" and "echo" in card.data.tags
    assert "141,056" in card.text


@pytest.mark.parametrize("args", [["/nonexistent/echo.pth"], ["__REF__", "--heads", "5"]])
def test_cli_errors_are_one_line(ref_dir, tmp_path, args):
    args = [str(ref_dir / "echo_reference.pth") if a == "__REF__" else a for a in args]
    result = CliRunner().invoke(main, ["convert", "echo", args[0], str(tmp_path / "out"), *args[1:]])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "echo" in lines[0]


def test_parameter_count_of_small_layout(shared_fixtures):
    layout = json.loads((shared_fixtures / "echo_reference" / "official_layouts.json").read_text())["small"]
    model = EchoModel(EchoConfig())
    assert model.num_parameters() == layout["num_parameters"] == 21_540_096
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == layout["state_dict"]


def test_auto_round_trip_in_fresh_process(ref_dir, tmp_path, fresh_python):
    """save_pretrained -> AutoModel/AutoFeatureExtractor in a new interpreter, only `import libtrad`."""
    out = tmp_path / "saved"
    model = convert_checkpoint(ref_dir / "echo_reference.pth", out, heads=2)
    wave = load_file(ref_dir / "inputs.safetensors")["case3"]
    torch.save(wave, tmp_path / "wave.pt")
    script = textwrap.dedent(
        f"""
        import torch, libtrad
        from transformers import AutoFeatureExtractor, AutoModel
        fe = AutoFeatureExtractor.from_pretrained({str(out)!r})
        model = AutoModel.from_pretrained({str(out)!r}).eval()
        inputs = fe(torch.load({str(tmp_path / "wave.pt")!r}), sampling_rate=12000, return_tensors="pt")
        with torch.inference_mode():
            out = model(**inputs, sampling_rate=12000)
        torch.save({{"type": type(model).__name__, "fe": type(fe).__name__, "pos": model.pos_embed.detach().clone(),
                    "utt": out.pooler_output, "frames": out.last_hidden_state}}, {str(tmp_path / "result.pt")!r})
        """
    )
    fresh_python(script)
    got = torch.load(tmp_path / "result.pt")
    assert (got["type"], got["fe"]) == ("EchoModel", "EchoFeatureExtractor")
    assert torch.equal(got["pos"], model.pos_embed.detach())
    expected = load_file(ref_dir / "outputs.safetensors")
    assert (got["utt"][0] - expected["case3.utterance"]).abs().max() <= 1e-5
    assert (got["frames"][0] - expected["case3.frames"]).abs().max() <= 1e-5


def test_converted_folder_has_the_prefixed_model_type(ref_dir, tmp_path):
    convert_checkpoint(ref_dir / "echo_reference.pth", tmp_path / "out", heads=2, write_card=False)
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "libtrad-echo"


@pytest.fixture
def old_folder(ref_dir, tmp_path):
    """A folder as the converter wrote it before ECHO's model type was renamed ("echo")."""
    out = tmp_path / "old-echo"
    convert_checkpoint(ref_dir / "echo_reference.pth", out, heads=2)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "model_type": "echo"}))
    from libtrad.folders.outputs import write_marker

    write_marker(out, "model")  # the old converter listed that config.json in its marker
    return out


def _old_name_message(folder) -> str:
    return (
        f"{folder / 'config.json'}: model_type 'echo' is the old name of 'libtrad-echo'; rewrite the folder by "
        f"re-running `libtrad convert echo CHECKPOINT {folder}` on the original checkpoint"
    )


@pytest.mark.parametrize(
    "loader", ["AutoConfig", "AutoModel", "EchoModel", "EchoConfig", "EchoWaveformEncoder", "evaluation"]
)
def test_an_old_folder_is_refused_with_the_fix(old_folder, loader):
    from transformers import AutoConfig, AutoModel

    from libtrad.models.echo import EchoWaveformEncoder
    from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model

    load = {
        "AutoConfig": AutoConfig.from_pretrained,
        "AutoModel": AutoModel.from_pretrained,
        "EchoModel": EchoModel.from_pretrained,
        "EchoConfig": EchoConfig.from_pretrained,
        "EchoWaveformEncoder": EchoWaveformEncoder.from_pretrained,
        "evaluation": load_lib_trad_model,
    }[loader]
    with pytest.raises(LibtradError) as caught:
        load(old_folder if loader == "evaluation" else str(old_folder))
    assert str(caught.value) == _old_name_message(old_folder)


@pytest.mark.parametrize(
    "command", [["verify", "DIR"], ["evaluate", "lib-trad", "--model", "DIR", "--dataset", "no/dataset"]]
)
def test_cli_names_the_fix_for_an_old_folder(old_folder, tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [str(old_folder) if a == "DIR" else a for a in command])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert _old_name_message(old_folder) in result.output


def test_rerunning_convert_fixes_an_old_folder(old_folder, ref_dir):
    from transformers import AutoModel

    convert_checkpoint(ref_dir / "echo_reference.pth", old_folder, heads=2)
    assert type(AutoModel.from_pretrained(str(old_folder))) is EchoModel


# ----------------------------------------------------------------------------- from test_reliability_models.py
def echo_state() -> dict[str, torch.Tensor]:
    """A tiny ECHO encoder's state dict (D=16, one layer) in the official key layout."""
    from libtrad.models.echo import EchoConfig, EchoModel

    torch.manual_seed(0)
    config = EchoConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_frames=64)
    return {k: v.clone() for k, v in EchoModel(config).state_dict().items()}


# ----------------------------------------------------------------------------- convert
def test_convert_refuses_a_users_folder(tmp_path, cli, rel, user_folder):
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


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda s: s.__setitem__("cls_token", torch.zeros(16)), ["cls_token", "shape (16,)"]),
        (
            lambda s: s.__setitem__("patch_embed.proj.weight", torch.zeros(16, 512)),
            ["patch_embed.proj.weight", "shape (16, 512)"],
        ),
        (lambda s: s.__setitem__("pos_embed", torch.tensor(1.0)), ["pos_embed", "shape ()"]),
        (lambda s: s.__setitem__("pos_embed", torch.zeros(1, 1, 16)), ["pos_embed", "at least one patch"]),
        (
            lambda s: s.__setitem__("encoder.layers.0.linear1.weight", torch.zeros(32, 8)),
            ["encoder.layers.0.linear1.weight"],
        ),
        (_drop_linear1, ["encoder.layers.1.linear1.weight"]),
        (lambda s: s.__setitem__("encoder.layers.7.linear1.weight", torch.zeros(32, 16)), ["layer 1 is missing"]),
        (lambda s: s.__setitem__("norm.weight", torch.ones(16, dtype=torch.int64)), ["norm.weight", "dtype int64"]),
        (lambda s: s.__setitem__("norm.bias", torch.full((16,), float("nan"))), ["norm.bias", "NaN"]),
    ],
    ids=[
        "cls-1d",
        "patch-2d",
        "pos-scalar",
        "pos-no-patch",
        "linear1-width",
        "layer-without-linear1",
        "layer-gap",
        "integer-dtype",
        "nan",
    ],
)
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
    rel.assert_error_line(
        cli("convert", "echo", ckpt, tmp_path / "out", "--heads", "2"), "bad.pth", "cls_token is a list"
    )
    assert not (tmp_path / "out").exists()
