"""``libtrad convert echo``: an official ECHO checkpoint -> a ``save_pretrained`` folder (config,
safetensors, preprocessor, card), written atomically and only where libtrad may."""

from __future__ import annotations

from pathlib import Path

from libtrad.cards.echo_card import write_echo_model_card
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.models.echo.convert_echo_checkpoint import model_from_checkpoint
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel


def convert_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    heads: int | None = None,
    model_type: str | None = None,
    write_card: bool = True,
) -> EchoModel:
    """Convert and save; returns the loaded model (eval mode).

    ``out_dir`` is checked before the checkpoint is read and written atomically (kind ``model``):
    a folder libtrad did not write, or the checkpoint's own folder, is refused.
    """
    checkpoint = Path(checkpoint)
    inputs = {"CHECKPOINT": checkpoint}
    output = check_output(out_dir, "model", option="OUT_DIR", inputs=inputs)
    model = model_from_checkpoint(checkpoint, heads=heads, model_type=model_type)
    with atomic_output(output, "model", option="OUT_DIR", inputs=inputs) as staging:
        model.save_pretrained(staging)
        EchoFeatureExtractor(sampling_rate=model.config.sampling_rate).save_pretrained(staging)
        if write_card:
            write_echo_model_card(model, staging, source=checkpoint.name)
    return model


__all__ = ["convert_checkpoint"]
