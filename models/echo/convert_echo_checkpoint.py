"""Official ECHO checkpoint -> :class:`EchoModel` (the model side of ``libtrad convert echo``).

Accepts the released ``.pth`` (``{'encoder': state_dict, 'model_type': ...}``) and safetensors in
the official key layout. The architecture is read off the tensor shapes; the number of heads is
not visible in the weights, so it comes from the model type (Small 6, Base 12) or ``heads``.
Keys, shapes and dtypes are checked strictly: any missing, unexpected, mis-shaped, non-floating or
non-finite tensor is an error naming the checkpoint and the tensor. Writing the converted folder
(atomically, with its card) is :func:`libtrad.convert.echo.convert_checkpoint`'s.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from libtrad.core.errors import LibtradError, first_line
from libtrad.models.echo.configuration_echo import HEADS_BY_MODEL_TYPE, EchoConfig
from libtrad.models.echo.modeling_echo import EchoModel

_LAYER_KEY = re.compile(r"^encoder\.layers\.(\d+)\.")


def load_official_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """(state_dict, model_type or None) from a ``.pth``/``.pt`` or ``.safetensors`` file.

    Every value must be a floating-point tensor with finite values under a string key; anything
    else is refused naming the checkpoint and the tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise LibtradError(f"checkpoint {path}: {'not a file' if path.exists() else 'file not found'}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                state = {k: f.get_tensor(k) for k in f.keys()}
                model_type = (f.metadata() or {}).get("model_type")
        except Exception as exc:  # safetensors raises several types for a bad header
            raise LibtradError(f"checkpoint {path}: not a readable safetensors file ({first_line(exc)})") from None
        return _checked_state(state, path), model_type
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LibtradError(
            f"checkpoint {path}: cannot be loaded with torch.load(weights_only=True) ({first_line(exc)})"
        ) from None
    if isinstance(blob, dict) and isinstance(blob.get("encoder"), dict):
        model_type = blob.get("model_type")
        if model_type is not None and not isinstance(model_type, str):
            raise LibtradError(f"checkpoint {path}: model_type must be a string, found {type(model_type).__name__}")
        return _checked_state(blob["encoder"], path), model_type
    if isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor) for v in blob.values()):
        return _checked_state(blob, path), None
    raise LibtradError(f"checkpoint {path}: expected {{'encoder': state_dict, 'model_type': ...}} or a state_dict")


def _checked_state(state: dict, source: Path) -> dict[str, torch.Tensor]:
    """String keys, floating-point tensors, finite values."""
    if not state:
        raise LibtradError(f"checkpoint {source}: the state_dict is empty")
    for key, value in state.items():
        if not isinstance(key, str):
            raise LibtradError(f"checkpoint {source}: key {key!r} is not a tensor name")
        if not isinstance(value, torch.Tensor):
            raise LibtradError(f"checkpoint {source}: {key} is a {type(value).__name__}, not a tensor")
        if not value.is_floating_point():
            raise LibtradError(
                f"checkpoint {source}: tensor {key} has dtype {str(value.dtype).removeprefix('torch.')}; "
                "expected floating-point weights"
            )
        if not torch.isfinite(value).all():
            raise LibtradError(f"checkpoint {source}: tensor {key} holds NaN or infinite values")
    return dict(state)


def heads_for(model_type: str | None, heads: int | None, source: Path) -> int:
    """Heads from the explicit flag, else from a model type naming a released size."""
    if heads is not None:
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
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


def _shape(state: dict[str, torch.Tensor], key: str, source: Path, layout: str, ndim: int) -> tuple[int, ...]:
    """The shape of ``state[key]``, which must have ``ndim`` non-zero dimensions (``layout`` names them)."""
    shape = tuple(state[key].shape)
    if len(shape) != ndim or not all(shape):
        raise LibtradError(f"checkpoint {source}: tensor {key} has shape {shape}; expected {layout}")
    return shape


def config_from_state_dict(state: dict[str, torch.Tensor], heads: int, source: Path, **overrides) -> EchoConfig:
    """D, depth, FFN width, band width, patch length and chunk length from the tensor shapes."""
    needed = ("cls_token", "pos_embed", "patch_embed.proj.weight", "encoder.layers.0.linear1.weight")
    absent = [k for k in needed if k not in state]
    if absent:
        raise LibtradError(f"checkpoint {source}: not an ECHO encoder state_dict (missing {', '.join(absent)})")
    *ones, dim = _shape(state, "cls_token", source, "(1, 1, D)", 3)
    if ones != [1, 1]:
        raise LibtradError(
            f"checkpoint {source}: tensor cls_token has shape {tuple(state['cls_token'].shape)}; expected (1, 1, D)"
        )
    one, rows, pos_dim = _shape(state, "pos_embed", source, "(1, patches + 1, D)", 3)
    if one != 1 or pos_dim != dim or rows < 2:
        raise LibtradError(
            f"checkpoint {source}: tensor pos_embed has shape {(one, rows, pos_dim)}; "
            f"expected (1, patches + 1, {dim}) with at least one patch"
        )
    out_dim, channels, band_width, patch_frames = _shape(
        state, "patch_embed.proj.weight", source, "(D, 1, band width, patch frames)", 4
    )
    if (out_dim, channels) != (dim, 1):
        raise LibtradError(
            f"checkpoint {source}: tensor patch_embed.proj.weight has shape "
            f"{(out_dim, channels, band_width, patch_frames)}; expected ({dim}, 1, band width, patch frames)"
        )
    layers = sorted({int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k))})
    if layers != list(range(len(layers))):
        gap = next(i for i in range(len(layers) + 1) if i not in layers)
        raise LibtradError(
            f"checkpoint {source}: layer {gap} is missing (encoder.layers.{gap}.*) but "
            f"layer {layers[-1]} is present; layers must be numbered 0..N-1"
        )
    for i in layers:
        key = f"encoder.layers.{i}.linear1.weight"
        if key not in state:
            raise LibtradError(f"checkpoint {source}: not an ECHO encoder state_dict (missing {key})")
    ffn, ffn_in = _shape(state, "encoder.layers.0.linear1.weight", source, "(FFN width, D)", 2)
    if ffn_in != dim:
        raise LibtradError(
            f"checkpoint {source}: tensor encoder.layers.0.linear1.weight has shape {(ffn, ffn_in)}; "
            f"expected (FFN width, {dim})"
        )
    if dim % heads:
        raise LibtradError(f"checkpoint {source}: embedding dim {dim} is not divisible by {heads} heads")
    try:
        return EchoConfig(
            hidden_size=dim,
            num_hidden_layers=len(layers),
            num_attention_heads=heads,
            intermediate_size=ffn,
            band_width=band_width,
            patch_frames=patch_frames,
            max_frames=(rows - 1) * patch_frames,
            **overrides,
        )
    except (ValueError, TypeError) as exc:  # EchoConfig's own checks (e.g. D not a multiple of 4)
        raise LibtradError(f"checkpoint {source}: not a valid ECHO architecture ({first_line(exc)})") from None


def check_state_dict(model: EchoModel, state: dict[str, torch.Tensor], source: Path) -> None:
    """Strict: the same key set and the same shapes as the model built from the config."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = [
        f"{label}: {', '.join(items)}"
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", mismatched))
        if items
    ]
    if problems:
        raise LibtradError(f"checkpoint {source}: does not match the ECHO layout; " + "; ".join(problems))


def model_from_checkpoint(
    checkpoint: str | Path, *, heads: int | None = None, model_type: str | None = None
) -> EchoModel:
    """The :class:`EchoModel` an official checkpoint holds (eval mode, float32), every tensor checked.

    The layout is checked on the meta device first, so a checkpoint claiming huge sizes allocates
    nothing before it is refused.
    """
    checkpoint = Path(checkpoint)
    state, stored_type = load_official_checkpoint(checkpoint)
    model_type = model_type or stored_type
    n_heads = heads_for(model_type, heads, checkpoint)
    config = config_from_state_dict(state, n_heads, checkpoint, official_model_type=model_type)
    with torch.device("meta"):  # the layout check allocates nothing, whatever sizes the checkpoint claims
        layout = EchoModel(config)
    check_state_dict(layout, state, checkpoint)
    model = EchoModel(config)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    model.eval()
    return model


__all__ = ["model_from_checkpoint", "load_official_checkpoint", "config_from_state_dict", "check_state_dict"]
