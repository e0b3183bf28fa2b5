"""ECHO: band-split ViT foundation encoder for machine signals.

Importing this package registers ECHO with transformers' Auto classes (model type
``libtrad-echo``), so ``AutoModel.from_pretrained(dir)`` and ``AutoFeatureExtractor.from_pretrained(dir)``
work after ``import libtrad`` without ``trust_remote_code``. A folder converted under the old
model type ``echo`` is refused with the command that rewrites it.
"""

from libtrad.models.auto_registration import register_family
from libtrad.models.echo.configuration_echo import EchoConfig
from libtrad.models.echo.encoder_echo import EchoWaveformEncoder
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel, EchoModelOutput, EchoPreTrainedModel

register_family(EchoConfig, EchoFeatureExtractor, EchoModel)

__all__ = [
    "EchoConfig",
    "EchoFeatureExtractor",
    "EchoModel",
    "EchoModelOutput",
    "EchoPreTrainedModel",
    "EchoWaveformEncoder",
]
