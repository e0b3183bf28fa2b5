"""libtrad: acoustic anomaly detection for machines on Hugging Face and Ray.

Importing the package registers every libtrad config, model and feature extractor with
transformers' Auto classes, so ``AutoModel.from_pretrained(dir)`` works without
``trust_remote_code``.
"""

__version__ = "0.1.0"

from libtrad.errors import LibtradError  # noqa: E402
from libtrad import models as _models  # noqa: E402,F401  (registers the Auto classes)

__all__ = ["LibtradError", "__version__"]
