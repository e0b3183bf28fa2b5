"""The ``convert`` commands of ``libtrad`` (``convert echo``). Wired into the main group by ``libtrad.cli``;
torch and transformers are imported only inside a command."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import group, number


@group()
def convert() -> None:
    """Convert official checkpoints to libtrad's save_pretrained format."""


@convert.command("echo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--heads",
    type=number("--heads", low=1, high=1024, integer=True),
    default=None,
    help="Attention heads (not stored in the weights; Small 6, Base 12).",
)
@click.option("--model-type", default=None, help="Override the checkpoint's model type (e.g. small, base).")
def convert_echo(checkpoint: Path, out_dir: Path, heads: int | None, model_type: str | None) -> None:
    """Convert an official ECHO checkpoint (.pth or .safetensors) to OUT_DIR."""
    from libtrad.convert.echo import convert_checkpoint

    model = convert_checkpoint(checkpoint, out_dir, heads=heads, model_type=model_type)
    cfg = model.config
    click.echo(
        f"wrote {out_dir}: ECHO D={cfg.hidden_size} layers={cfg.num_hidden_layers} "
        f"heads={cfg.num_attention_heads} ({model.num_parameters():,} parameters)"
    )
