"""LiB-TRAD CNN (supervised baseline)."""

from libtrad.models.auto_registration import register_family
from libtrad.models.cnn.configuration_cnn import LibTradCNNConfig
from libtrad.models.cnn.feature_extraction_cnn import LibTradCNNFeatureExtractor
from libtrad.models.cnn.modeling_cnn import LibTradCNNForAudioClassification, LibTradCNNModel, LibTradCNNPreTrainedModel

__all__ = [
    "LibTradCNNConfig",
    "LibTradCNNFeatureExtractor",
    "LibTradCNNForAudioClassification",
    "LibTradCNNModel",
    "LibTradCNNPreTrainedModel",
]


def _register() -> None:
    register_family(LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNModel, LibTradCNNForAudioClassification)


_register()
