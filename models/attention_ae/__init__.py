"""LiB-TRAD attention auto-encoder with Mahalanobis scoring."""

from libtrad.models.attention_ae.auto import AutoModelForAudioAnomalyDetection
from libtrad.models.attention_ae.configuration_attention_ae import LibTradAttentionAEConfig
from libtrad.models.attention_ae.feature_extraction_attention_ae import LibTradAttentionAEFeatureExtractor
from libtrad.models.attention_ae.modeling_attention_ae import (
    LibTradAttentionAEForAnomalyDetection,
    LibTradAttentionAEModel,
    LibTradAttentionAEPreTrainedModel,
)

__all__ = [
    "AutoModelForAudioAnomalyDetection",
    "LibTradAttentionAEConfig",
    "LibTradAttentionAEFeatureExtractor",
    "LibTradAttentionAEForAnomalyDetection",
    "LibTradAttentionAEModel",
    "LibTradAttentionAEPreTrainedModel",
]


def _register() -> None:
    """Make ``AutoConfig/AutoModel/AutoFeatureExtractor`` (and libtrad's anomaly Auto class) know the AE."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    AutoConfig.register(LibTradAttentionAEConfig.model_type, LibTradAttentionAEConfig, exist_ok=True)
    AutoModel.register(LibTradAttentionAEConfig, LibTradAttentionAEModel, exist_ok=True)
    AutoModelForAudioAnomalyDetection.register(LibTradAttentionAEConfig, LibTradAttentionAEForAnomalyDetection, exist_ok=True)
    AutoFeatureExtractor.register(LibTradAttentionAEConfig, LibTradAttentionAEFeatureExtractor, exist_ok=True)


_register()
