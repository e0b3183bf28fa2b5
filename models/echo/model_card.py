"""The model card written next to a converted ECHO checkpoint (README.md with YAML metadata).

Kept here until libtrad has a shared model-card renderer; the template lives with the others in
``libtrad/cards/templates``.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parents[2] / "cards" / "templates" / "echo_model_card.md"


def echo_model_card(model, *, source: str, repo_hint: str = "path/to/converted-echo") -> ModelCard:
    """Card for a converted :class:`EchoModel`; ``source`` names the original checkpoint file."""
    cfg = model.config
    size = {384: "Small", 768: "Base"}.get(cfg.hidden_size, f"D{cfg.hidden_size}")
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="feature-extraction",
        tags=["audio", "machine-sound", "anomaly-detection", "echo", "libtrad"],
    )
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        size_name=f"ECHO-{size}",
        source=source,
        repo_hint=repo_hint,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads,
        num_parameters=f"{model.num_parameters():,}",
        official_model_type=cfg.official_model_type or "unknown",
        short_band_padding=cfg.short_band_padding,
        output_dim=cfg.output_dim(),
    )


__all__ = ["echo_model_card"]
