"""libtrad: acoustic anomaly detection for machines on Hugging Face and Ray.

Importing the package registers every libtrad config, model and feature extractor with
transformers' Auto classes, so ``AutoModel.from_pretrained(dir)`` works without
``trust_remote_code``. The registration happens as soon as transformers is (or already was)
imported: dataset-only work and ``libtrad --help`` never pay for importing torch and transformers.
"""

from libtrad.core.errors import LibtradError
from libtrad.core.version import __version__
from libtrad.models.auto_registration import register_on_transformers_import

register_on_transformers_import()

__all__ = ["LibtradError", "__version__"]
