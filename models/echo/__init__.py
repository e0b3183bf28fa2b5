"""ECHO: band-split ViT foundation encoder for machine signals.

Importing this package registers ECHO with transformers' Auto classes (model type ``echo``), so
``AutoModel.from_pretrained(dir)`` and ``AutoFeatureExtractor.from_pretrained(dir)`` work after
``import libtrad`` without ``trust_remote_code``.
"""

from transformers import AutoModel

from libtrad.models.auto_registration import register_family
from libtrad.models.echo.configuration_echo import EchoConfig
from libtrad.models.echo.encoder_echo import EchoEncoder
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel, EchoModelOutput, EchoPreTrainedModel

register_family(EchoConfig, EchoFeatureExtractor, {AutoModel: EchoModel})

__all__ = ["EchoConfig", "EchoEncoder", "EchoFeatureExtractor", "EchoModel", "EchoModelOutput", "EchoPreTrainedModel"]
