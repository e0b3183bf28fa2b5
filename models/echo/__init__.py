"""ECHO: band-split ViT foundation encoder for machine signals.

Importing this package registers ECHO with transformers' Auto classes (model type ``echo``), so
``AutoModel.from_pretrained(dir)`` and ``AutoFeatureExtractor.from_pretrained(dir)`` work after
``import libtrad`` without ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from libtrad.models.echo.configuration_echo import EchoConfig
from libtrad.models.echo.encoder_echo import EchoEncoder
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel, EchoModelOutput, EchoPreTrainedModel

AutoConfig.register(EchoConfig.model_type, EchoConfig, exist_ok=True)
AutoModel.register(EchoConfig, EchoModel, exist_ok=True)
AutoFeatureExtractor.register(EchoConfig, EchoFeatureExtractor, exist_ok=True)

__all__ = ["EchoConfig", "EchoEncoder", "EchoFeatureExtractor", "EchoModel", "EchoModelOutput", "EchoPreTrainedModel"]
