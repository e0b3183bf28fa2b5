"""Official ECHO checkpoint -> ``save_pretrained`` folder (config, safetensors, preprocessor, card).

Accepts the released ``.pth`` (``{'encoder': state_dict, 'model_type': ...}``) and safetensors in
the official key layout. The architecture is read off the tensor shapes; the number of heads is
not visible in the weights, so it comes from the model type (Small 6, Base 12) or ``heads``.
Keys and shapes are checked strictly: any missing, unexpected or mis-shaped tensor is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from libtrad.errors import LibtradError
from libtrad.models.echo.configuration_echo import HEADS_BY_MODEL_TYPE, EchoConfig
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel

_LAYER_KEY = re.compile(r"^encoder\.layers\.(\d+)\.")


def load_official_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """(state_dict, model_type or None) from a ``.pth``/``.pt`` or ``.safetensors`` file."""
    path = Path(path)
    if not path.is_file():
        raise LibtradError(f"checkpoint {path}: file not found")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                state = {k: f.get_tensor(k) for k in f.keys()}
                model_type = (f.metadata() or {}).get("model_type")
        except Exception as exc:  # safetensors raises several types for a bad header
            raise LibtradError(f"checkpoint {path}: not a readable safetensors file ({exc})") from None
        return state, model_type
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LibtradError(f"checkpoint {path}: cannot be loaded with torch.load(weights_only=True) ({exc})") from None
    if isinstance(blob, dict) and isinstance(blob.get("encoder"), dict):
        return dict(blob["encoder"]), blob.get("model_type")
    if isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor) for v in blob.values()):
        return dict(blob), None
    raise LibtradError(f"checkpoint {path}: expected {{'encoder': state_dict, 'model_type': ...}} or a state_dict")


def heads_for(model_type: str | None, heads: int | None, source: Path) -> int:
    """Heads from the explicit flag, else from a model type naming a released size."""
    if heads is not None:
        if heads < 1:
            raise LibtradError(f"--heads: must be a positive integer, got {heads}")
        return heads
    name = (model_type or "").lower()
    matches = [n for size, n in HEADS_BY_MODEL_TYPE.items() if size in name]
    if len(matches) != 1:
        raise LibtradError(
            f"checkpoint {source}: cannot tell the number of attention heads from model type "
            f"{model_type!r} (known: {', '.join(HEADS_BY_MODEL_TYPE)}); pass --heads N"
        )
    return matches[0]


def config_from_state_dict(state: dict[str, torch.Tensor], heads: int, source: Path, **overrides) -> EchoConfig:
    """D, depth, FFN width, band width, patch length and chunk length from the tensor shapes."""
    needed = ("cls_token", "pos_embed", "patch_embed.proj.weight", "encoder.layers.0.linear1.weight")
    absent = [k for k in needed if k not in state]
    if absent:
        raise LibtradError(f"checkpoint {source}: not an ECHO encoder state_dict (missing {', '.join(absent)})")
    dim = state["cls_token"].shape[-1]
    depth = 1 + max(int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k)))
    _, _, band_width, patch_frames = state["patch_embed.proj.weight"].shape
    rows = state["pos_embed"].shape[1]
    if dim % heads:
        raise LibtradError(f"checkpoint {source}: embedding dim {dim} is not divisible by {heads} heads")
    return EchoConfig(
        hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads,
        intermediate_size=state["encoder.layers.0.linear1.weight"].shape[0],
        band_width=band_width, patch_frames=patch_frames, max_frames=(rows - 1) * patch_frames,
        **overrides,
    )


def check_state_dict(model: EchoModel, state: dict[str, torch.Tensor], source: Path) -> None:
    """Strict: the same key set and the same shapes as the model built from the config."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape
    ]
    problems = [
        f"{label}: {', '.join(items)}"
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", mismatched))
        if items
    ]
    if problems:
        raise LibtradError(f"checkpoint {source}: does not match the ECHO layout; " + "; ".join(problems))


def convert_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    heads: int | None = None,
    model_type: str | None = None,
    write_card: bool = True,
) -> EchoModel:
    """Convert and save; returns the loaded model (eval mode)."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    state, stored_type = load_official_checkpoint(checkpoint)
    model_type = model_type or stored_type
    n_heads = heads_for(model_type, heads, checkpoint)
    config = config_from_state_dict(state, n_heads, checkpoint, official_model_type=model_type)
    model = EchoModel(config)
    check_state_dict(model, state, checkpoint)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    model.eval()
    if out_dir.exists() and not out_dir.is_dir():
        raise LibtradError(f"OUT_DIR {out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    EchoFeatureExtractor(sampling_rate=config.sampling_rate).save_pretrained(out_dir)
    if write_card:
        from libtrad.models.echo.model_card import write_echo_model_card

        write_echo_model_card(model, out_dir, source=checkpoint.name)
    return model


__all__ = ["convert_checkpoint", "load_official_checkpoint", "config_from_state_dict", "check_state_dict"]
