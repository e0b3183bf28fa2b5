"""A broken or foreign encoder folder is one ``error:`` line naming the file (exit 2), from
``libtrad check-encoder``, from ``libtrad embed`` before Ray starts, and from the Python API
(``load_encoder``, ``from_pretrained``); the user's folder is byte-identical afterwards.

Each case breaks a private copy of the session's tiny converted ECHO (``echo_dir``) or of a tiny
wav2vec2 made here; the ECHO whose weights are another model's (the attention AE's) used to pass
``check-encoder`` and embed with random weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from libtrad.core.errors import LibtradError

LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 118018\n"
)


# ----------------------------------------------------------------------------- breakages
def _weights(folder: Path) -> Path:
    return folder / "model.safetensors"


def _truncate(folder: Path, ae: Path) -> None:
    data = _weights(folder).read_bytes()
    _weights(folder).write_bytes(data[: len(data) // 2])


def _cut_header(folder: Path, ae: Path) -> None:
    _weights(folder).write_bytes(_weights(folder).read_bytes()[:200])


def _text(folder: Path, ae: Path) -> None:
    _weights(folder).write_text("these are my notes, not weights\n")


def _lfs_pointer(folder: Path, ae: Path) -> None:
    _weights(folder).write_text(LFS_POINTER)


def _other_models_weights(folder: Path, ae: Path) -> None:
    shutil.copyfile(_weights(ae), _weights(folder))


def _other_shape(folder: Path, ae: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "intermediate_size": 48}))


def _one_missing(folder: Path, ae: Path) -> None:
    state = load_file(str(_weights(folder)))
    del state["norm.bias"]
    save_file(state, str(_weights(folder)), metadata={"format": "pt"})


def _one_unexpected(folder: Path, ae: Path) -> None:
    state = load_file(str(_weights(folder)))
    state["extra_head.weight"] = torch.zeros(4, 32)
    save_file(state, str(_weights(folder)), metadata={"format": "pt"})


ECHO_BREAKAGES = [
    (_truncate, ["model.safetensors", "not a complete safetensors file"]),
    (_cut_header, ["model.safetensors", "not a complete safetensors file", "the whole file holds 200"]),
    (_text, ["model.safetensors", "a text file (starts 'these are my notes", "not safetensors weights"]),
    (_lfs_pointer, ["model.safetensors", "git-LFS pointer file", "run `git lfs pull`"]),
    (
        _other_models_weights,
        [
            "model.safetensors",
            "does not match config.json",
            "18 missing tensors: cls_token",
            "... 13 more",
            "11 unexpected tensors: attention.k_proj.weight",
        ],
    ),
    (
        _other_shape,
        [
            "model.safetensors",
            "does not match config.json",
            "3 tensors of another shape",
            "encoder.layers.0.linear1.bias (64,) in the file, (48,) in the model",
        ],
    ),
    (_one_missing, ["model.safetensors", "1 missing tensor: norm.bias"]),
    (_one_unexpected, ["model.safetensors", "1 unexpected tensor: extra_head.weight"]),
]
ECHO_IDS = [
    "truncated",
    "header-cut",
    "text-file",
    "lfs-pointer",
    "another-models-weights",
    "shape-mismatch",
    "missing-key",
    "unexpected-key",
]


@pytest.fixture
def broken_echo(request, echo_dir, ae_dir, tmp_path):
    """A copy of the tiny ECHO broken by ``request.param`` (the session fixture is never touched)."""
    folder = tmp_path / "my-echo"
    shutil.copytree(echo_dir, folder)
    request.param(folder, ae_dir)
    return folder


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if ``libtrad embed`` gets as far as starting (or attaching to) Ray."""
    import libtrad.ray_jobs.cluster as cluster

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started for an encoder folder that should have been refused before")

    monkeypatch.setattr(cluster, "ray_session", refuse)


def embed_args(dataset: Path, encoder: str, output: Path) -> tuple:
    return ("embed", "--dataset", dataset, "--config", "tr1", "--encoder", encoder, "--output", output)


# ----------------------------------------------------------------------------- ECHO folders
@pytest.mark.parametrize("broken_echo, fragments", ECHO_BREAKAGES, ids=ECHO_IDS, indirect=["broken_echo"])
def test_check_encoder_names_the_broken_weights(broken_echo, fragments, cli, rel):
    before = rel.snapshot(broken_echo)
    line = rel.assert_error_line(cli("check-encoder", "--quick", f"echo:{broken_echo}"), str(broken_echo), *fragments)
    assert "internal error" not in line
    assert rel.snapshot(broken_echo) == before


@pytest.mark.parametrize("broken_echo, fragments", ECHO_BREAKAGES, ids=ECHO_IDS, indirect=["broken_echo"])
def test_embed_refuses_the_folder_before_ray_starts(
    broken_echo, fragments, lib_trad_export, tmp_path, cli, rel, no_ray
):
    before = rel.snapshot(broken_echo, lib_trad_export)
    rel.assert_error_line(
        cli(*embed_args(lib_trad_export, f"echo:{broken_echo}", tmp_path / "emb")), str(broken_echo), *fragments
    )
    assert rel.snapshot(broken_echo, lib_trad_export) == before
    assert not (tmp_path / "emb").exists()


@pytest.mark.parametrize("broken_echo, fragments", ECHO_BREAKAGES, ids=ECHO_IDS, indirect=["broken_echo"])
def test_the_python_api_refuses_it_too(broken_echo, fragments):
    from transformers import AutoModel

    from libtrad.models.echo import EchoModel
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    for load in (
        lambda: load_encoder(f"echo:{broken_echo}"),
        lambda: EchoModel.from_pretrained(broken_echo),
        lambda: AutoModel.from_pretrained(broken_echo),
    ):
        with pytest.raises(LibtradError) as info:
            load()
        assert all(f in str(info.value) for f in fragments), str(info.value)
        assert "\n" not in str(info.value)


def test_another_families_folder_is_refused_by_model_type(ae_dir, cli, rel):
    from libtrad.models.echo import EchoModel

    rel.assert_error_line(
        cli("check-encoder", "--quick", f"echo:{ae_dir}"),
        str(ae_dir / "config.json"),
        "model type 'libtrad-attention-ae' is not what EchoModel loads",
    )
    with pytest.raises(LibtradError, match="libtrad-attention-ae"):
        EchoModel.from_pretrained(ae_dir)


def test_a_sound_folder_still_loads_and_reports_its_loading_info(echo_dir):
    """The checks refuse nothing sound; output_loading_info keeps returning transformers' report."""
    from libtrad.models.echo import EchoModel

    model, info = EchoModel.from_pretrained(echo_dir, output_loading_info=True)
    assert type(model).__name__ == "EchoModel"
    assert (set(info["missing_keys"]), set(info["unexpected_keys"]), list(info["mismatched_keys"])) == (
        set(),
        set(),
        [],
    )


def test_a_lfs_pointer_fails_at_once_in_a_fresh_process(echo_dir, lib_trad_export, tmp_path, rel):
    """The user's report: a git-LFS pointer cost a 46-s restart loop with four tracebacks and
    "out of memory?". Now the real command exits 2 with one line, and Ray never starts."""
    folder = tmp_path / "cloned-without-lfs"
    shutil.copytree(echo_dir, folder)
    _lfs_pointer(folder, folder)
    done = rel.subprocess_cli(*embed_args(lib_trad_export, f"echo:{folder}", tmp_path / "emb"), timeout=120)
    rel.assert_error_line(done, "model.safetensors", "git-LFS pointer file", "git lfs pull")
    assert not (tmp_path / "emb").exists()


def test_a_folder_broken_after_the_drivers_check_stops_the_job_in_one_line(
    echo_dir, lib_trad_export, tmp_path, monkeypatch
):
    """What the driver's check cannot see (the folder changed, or another node's copy differs) still
    ends the job with the actor's own line, not a retry loop ending in "died 4 times"."""
    import libtrad.ray_jobs.embedding.embed as embed

    folder = tmp_path / "my-echo"
    shutil.copytree(echo_dir, folder)
    monkeypatch.setattr(embed, "preflight", lambda spec, precision: None)  # as if the driver saw a sound folder
    monkeypatch.setattr(embed, "parse_encoder_spec", lambda text, weights=None: _parsed_then_broken(text, folder))
    with pytest.raises(LibtradError) as info:
        embed.embed_dataset(
            str(lib_trad_export),
            f"echo:{folder}",
            tmp_path / "emb",
            config="tr1",
            actors=1,
            threads_per_actor=1,
            progress=False,
        )
    message = str(info.value)
    assert message.startswith(f"{folder / 'model.safetensors'}: a git-LFS pointer file") and "\n" not in message


def _parsed_then_broken(text: str, folder: Path):
    """Parse the sound folder (the driver's view), then break it before any actor reads it."""
    from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec

    spec = parse_encoder_spec(text)
    _lfs_pointer(folder, folder)
    return spec


# ----------------------------------------------------------------------------- hf: folders
@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    """A tiny random BERT saved with save_pretrained: a text model, no feature extractor."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("bert") / "tiny-bert"
    BertModel(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        )
    ).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def ctc_dir(tmp_path_factory) -> Path:
    """A tiny wav2vec2 *with its CTC head* (Wav2Vec2ForCTC) and its feature extractor: what a Hub
    speech model folder looks like; ``hf:`` reads it through AutoModel, without the head."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ctc") / "tiny-wav2vec2-ctc"
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=12,
    )
    Wav2Vec2ForCTC(config).save_pretrained(out)
    Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(out)
    return out


def _with_audio_extractor(folder: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(folder)


@pytest.mark.parametrize("extractor", [False, True], ids=["bert-alone", "bert-with-an-audio-extractor-beside-it"])
def test_a_text_model_is_not_an_audio_encoder(extractor, bert_dir, lib_trad_export, tmp_path, cli, rel, no_ray):
    folder = tmp_path / "bert"
    shutil.copytree(bert_dir, folder)
    if extractor:
        _with_audio_extractor(folder)
    before = rel.snapshot(folder)
    fragments = (str(folder), "not an audio encoder", "BertModel (model type 'bert')", "token ids", "input_ids")
    rel.assert_error_line(cli(*embed_args(lib_trad_export, f"hf:{folder}", tmp_path / "emb")), *fragments)
    rel.assert_error_line(cli("check-encoder", "--quick", f"hf:{folder}"), *fragments)
    assert rel.snapshot(folder) == before and not (tmp_path / "emb").exists()


def test_an_audio_model_without_its_feature_extractor(ctc_dir, lib_trad_export, tmp_path, cli, rel, no_ray):
    folder = tmp_path / "w2v"
    shutil.copytree(ctc_dir, folder)
    (folder / "preprocessor_config.json").unlink()
    rel.assert_error_line(
        cli(*embed_args(lib_trad_export, f"hf:{folder}", tmp_path / "emb")),
        str(folder),
        "not an audio encoder folder: no preprocessor_config.json",
    )


def test_a_head_folder_loads_as_its_base_model_and_passes(ctc_dir):
    """The CTC head's tensors (lm_head.*) are the head the config's architectures names: left out, as
    transformers intends; every other tensor must match."""
    from libtrad.ray_jobs.embedding.check_encoder import check_encoder_spec

    assert [r.message for r in check_encoder_spec(f"hf:{ctc_dir}", quick=True) if not r.passed] == []


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda d: _add_tensor(d, "wav2vec2.extra.weight"), ["1 unexpected tensor: wav2vec2.extra.weight"]),
        (
            lambda d: _edit_config(d, intermediate_size=24),
            ["tensors of another shape", "(32, 16) in the file, (24, 16)"],
        ),
        (
            lambda d: _edit_config(d, architectures=["Wav2Vec2Model"]),
            ["2 unexpected tensors: lm_head.bias, lm_head.weight"],
        ),
        (lambda d: _lfs_pointer(d, d), ["git-LFS pointer file"]),
    ],
    ids=["foreign-tensor", "shape-mismatch", "head-not-declared", "lfs-pointer"],
)
def test_hf_weights_that_do_not_match_are_refused(
    edit, fragments, ctc_dir, lib_trad_export, tmp_path, cli, rel, no_ray
):
    folder = tmp_path / "w2v"
    shutil.copytree(ctc_dir, folder)
    edit(folder)
    before = rel.snapshot(folder)
    rel.assert_error_line(
        cli(*embed_args(lib_trad_export, f"hf:{folder}", tmp_path / "emb")),
        str(folder / "model.safetensors"),
        *fragments,
    )
    rel.assert_error_line(
        cli("check-encoder", "--quick", f"hf:{folder}"), str(folder / "model.safetensors"), *fragments
    )
    assert rel.snapshot(folder) == before


def _add_tensor(folder: Path, name: str) -> None:
    state = load_file(str(_weights(folder)))
    state[name] = torch.zeros(3)
    save_file(state, str(_weights(folder)), metadata={"format": "pt"})


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def test_an_audio_model_that_is_not_an_encoder_is_named(tmp_path, cli, rel):
    """Whisper's AutoModel is the encoder-decoder: it takes audio but cannot run without decoder
    inputs, so it is no ``hf:`` encoder; the run on silence says so in one line."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    folder = tmp_path / "tiny-whisper"
    WhisperModel(
        WhisperConfig(
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            vocab_size=60,
            max_target_positions=16,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        )
    ).save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    rel.assert_error_line(
        cli("check-encoder", "--quick", f"hf:{folder}"),
        str(folder),
        "WhisperModel does not run as an audio encoder on 1 s of silence",
        "last_hidden_state",
    )


# ----------------------------------------------------------------------------- libtrad's own encoder folders
def test_a_libtrad_encoder_folder_changed_after_it_was_written_is_refused(
    echo_dir, lib_trad_export, tmp_path, cli, rel
):
    """A folder libtrad wrote (its marker) is checked against its checksums by check-encoder and embed
    before the encoder loads; --no-verify (embed) uses it anyway and says so."""
    import json
    import shutil

    from libtrad.folders.outputs import write_marker
    from libtrad.ray_jobs.embedding.encoders import check_encoder_folder, parse_encoder_spec

    folder = tmp_path / "echo"
    shutil.copytree(echo_dir, folder)
    write_marker(folder, "model")
    spec = f"echo:{folder}"
    assert check_encoder_folder(parse_encoder_spec(spec)) == {"verified": True}
    config = folder / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text())))  # same values, other bytes
    before = rel.snapshot(folder)
    rel.assert_error_line(cli("check-encoder", spec, "--quick"), str(config), "corrupted")
    rel.assert_error_line(
        cli("embed", "--dataset", lib_trad_export, "--config", "tr1", "--encoder", spec, "--output", tmp_path / "emb"),
        str(config),
        "corrupted",
        "--no-verify",
    )
    assert not (tmp_path / "emb").exists()
    record = check_encoder_folder(parse_encoder_spec(spec), no_verify=True)
    assert record["verified"] is False and str(config) in record["problems"][0]
    assert rel.snapshot(folder) == before
