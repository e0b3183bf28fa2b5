"""`import libtrad` registers every model family with the Auto classes, without importing torch early."""

from __future__ import annotations

import os
import subprocess
import sys

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


def run(code: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_registration_follows_transformers_import():
    assert run(PROBE) == "[] ['echo', 'libtrad-attention-ae', 'libtrad-cnn']"


def test_registration_when_transformers_was_imported_first():
    assert run(ALREADY_IMPORTED) == "['echo', 'libtrad-attention-ae', 'libtrad-cnn']"
