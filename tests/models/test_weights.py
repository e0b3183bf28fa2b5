"""libtrad.models.weights: every from_pretrained checks that a folder's weights are the config's, one line naming
what differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from libtrad.core.errors import LibtradError


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 4096\n"


# ----------------------------------------------------------------------------- from_pretrained (the Python API)
def _other_weights(m: Path) -> None:
    save_file({"something.else": torch.zeros(3)}, str(m / "model.safetensors"))


def _drop_tensor(m: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(m / "model.safetensors"))
    dropped = sorted(k for k in state if k.startswith("cnn.") and k.endswith(".weight"))[0]  # the base model's
    del state[dropped]
    save_file(state, str(m / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize(
    "breakage, fragments",
    [
        (lambda m: (m / "model.safetensors").write_text(LFS_POINTER), ["git-LFS pointer file", "run `git lfs pull`"]),
        (_other_weights, ["does not match config.json", "1 unexpected tensor: something.else", "missing tensors: "]),
        (_drop_tensor, ["does not match config.json", "1 missing tensor: ", "blocks.0.0.weight"]),
        (lambda m: _edit_json(m / "config.json", conv_channels=[16, 32, 8]), ["tensors of another shape"]),
    ],
    ids=["lfs-pointer", "another-models-weights", "missing-tensor", "shape-mismatch"],
)
@pytest.mark.parametrize("loader", ["AutoModelForAudioClassification", "LibTradCNNForAudioClassification", "AutoModel"])
def test_from_pretrained_refuses_weights_that_are_not_the_configs(loader, breakage, fragments, model_copy, rel):
    """transformers alone loads these with random tensors (or a SafetensorError); libtrad's models refuse them."""
    import transformers

    from libtrad.models.cnn import LibTradCNNForAudioClassification

    load = (
        LibTradCNNForAudioClassification if loader.startswith("LibTrad") else getattr(transformers, loader)
    ).from_pretrained
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
