"""`import libtrad` registers every model family with the Auto classes, without importing torch early."""

from __future__ import annotations


PROBE = """
import sys
import libtrad
early = sorted(m for m in ("torch", "transformers") if m in sys.modules)
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
print(early, sorted(CONFIG_MAPPING._extra_content))
"""

ALREADY_IMPORTED = """
import transformers
import libtrad
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
print(sorted(CONFIG_MAPPING._extra_content))
"""


def test_registration_follows_transformers_import(fresh_python):
    assert fresh_python(PROBE) == "[] ['echo', 'libtrad-attention-ae', 'libtrad-cnn']"


def test_registration_when_transformers_was_imported_first(fresh_python):
    assert fresh_python(ALREADY_IMPORTED) == "['echo', 'libtrad-attention-ae', 'libtrad-cnn']"
