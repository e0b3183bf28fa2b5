"""LiB-TRAD CNN (supervised baseline)."""

from libtrad.models.cnn.configuration_cnn import LibTradCNNConfig
from libtrad.models.cnn.feature_extraction_cnn import LibTradCNNFeatureExtractor
from libtrad.models.cnn.modeling_cnn import (
    LibTradCNNForAudioClassification,
    LibTradCNNModel,
    LibTradCNNPreTrainedModel,
)

__all__ = [
    "LibTradCNNConfig",
    "LibTradCNNFeatureExtractor",
    "LibTradCNNForAudioClassification",
    "LibTradCNNModel",
    "LibTradCNNPreTrainedModel",
]


def _register() -> None:
    """Make ``AutoConfig/AutoModel/AutoModelForAudioClassification/AutoFeatureExtractor`` know the CNN."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

    AutoConfig.register(LibTradCNNConfig.model_type, LibTradCNNConfig, exist_ok=True)
    AutoModel.register(LibTradCNNConfig, LibTradCNNModel, exist_ok=True)
    AutoModelForAudioClassification.register(LibTradCNNConfig, LibTradCNNForAudioClassification, exist_ok=True)
    AutoFeatureExtractor.register(LibTradCNNConfig, LibTradCNNFeatureExtractor, exist_ok=True)


_register()
