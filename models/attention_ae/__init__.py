"""LiB-TRAD attention auto-encoder with Mahalanobis scoring."""

from libtrad.models.attention_ae.auto import AutoModelForAudioAnomalyDetection
from libtrad.models.attention_ae.configuration_attention_ae import LibTradAttentionAEConfig
from libtrad.models.attention_ae.feature_extraction_attention_ae import LibTradAttentionAEFeatureExtractor
from libtrad.models.attention_ae.modeling_attention_ae import (
    LibTradAttentionAEForAnomalyDetection,
    LibTradAttentionAEModel,
    LibTradAttentionAEPreTrainedModel,
)
from libtrad.models.auto_registration import register_family

__all__ = [
    "AutoModelForAudioAnomalyDetection",
    "LibTradAttentionAEConfig",
    "LibTradAttentionAEFeatureExtractor",
    "LibTradAttentionAEForAnomalyDetection",
    "LibTradAttentionAEModel",
    "LibTradAttentionAEPreTrainedModel",
]


def _register() -> None:
    register_family(
        LibTradAttentionAEConfig,
        LibTradAttentionAEFeatureExtractor,
        LibTradAttentionAEModel,
        LibTradAttentionAEForAnomalyDetection,
    )


_register()
