"""`import libtrad` registers every model family with the Auto classes, without importing torch early;
the one model-type map says which Auto class loads each head."""

from __future__ import annotations

import pytest

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

# Every current model type, plus ECHO's old name "echo", registered only to refuse old folders with the fix.
REGISTERED = "['echo', 'libtrad-attention-ae', 'libtrad-cnn', 'libtrad-echo']"


def test_registration_follows_transformers_import(fresh_python):
    assert fresh_python(PROBE) == f"[] {REGISTERED}"


def test_registration_when_transformers_was_imported_first(fresh_python):
    assert fresh_python(ALREADY_IMPORTED) == REGISTERED


def test_every_model_type_is_prefixed_and_loaded_by_its_mapped_auto_class():
    from transformers import AutoConfig
    from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING

    import libtrad  # noqa: F401
    from libtrad.core.resolve import resolve
    from libtrad.models.model_types import MODEL_TYPES

    for name, spec in MODEL_TYPES.items():
        assert name.startswith("libtrad-")
        config = AutoConfig.for_model(name, **({"num_hidden_layers": 1} if spec.family == "echo" else {}))
        assert type(resolve(spec.auto_class).from_config(config)).__module__.startswith(spec.package)
        assert FEATURE_EXTRACTOR_MAPPING[type(config)] is resolve(spec.feature_extractor)


@pytest.mark.parametrize("name", ["libtrad-cnn", "libtrad-attention-ae"])
def test_every_anomaly_model_returns_scores(name):
    """The one scoring interface: a ``scores`` per clip from every anomaly head, whatever the family."""
    import torch
    from transformers import AutoConfig

    from libtrad.core.resolve import resolve
    from libtrad.models.model_types import MODEL_TYPES, frames_dim

    spec = MODEL_TYPES[name]
    assert spec.anomaly
    torch.manual_seed(0)
    model = resolve(spec.auto_class).from_config(AutoConfig.for_model(name)).eval()
    if hasattr(model, "fit_scorer"):  # the auto-encoder scores once its Mahalanobis statistics are fitted
        model.fit_scorer(torch.randn(100, model.config.latent_size))
    shape = [2, 64, 40] if frames_dim(spec) == 1 else [2, 40, 64]
    with torch.no_grad():
        scores = model(input_features=torch.randn(*shape)).scores
    assert scores.shape == (2,) and torch.isfinite(scores).all()


def test_an_old_name_transformers_uses_is_never_taken():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    import libtrad  # noqa: F401
    from libtrad.models.auto_registration import register_renamed

    before = CONFIG_MAPPING["bert"]
    register_renamed("bert")
    assert CONFIG_MAPPING["bert"] is before and "bert" not in CONFIG_MAPPING._extra_content
