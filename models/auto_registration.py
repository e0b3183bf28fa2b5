"""One way every libtrad model family joins transformers' Auto classes (no trust_remote_code)."""

from __future__ import annotations


def register_family(config_class, feature_extractor_class, models: dict) -> None:
    """Register ``config_class`` with AutoConfig, its feature extractor, and ``{AutoClass: model_class}``."""
    from transformers import AutoConfig, AutoFeatureExtractor

    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoFeatureExtractor.register(config_class, feature_extractor_class, exist_ok=True)
    for auto_class, model_class in models.items():
        auto_class.register(config_class, model_class, exist_ok=True)
