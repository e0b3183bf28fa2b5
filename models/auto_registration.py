"""One way every libtrad model family joins transformers' Auto classes (no trust_remote_code).

Which Auto class loads a family's task head is read from :mod:`libtrad.models.model_types`, the
one map from ``model_type`` to Auto class; a family only hands over its classes.

``import libtrad`` must make ``AutoModel.from_pretrained(dir)`` work, but importing the model code
pulls in torch and transformers (seconds, hundreds of MB) that dataset-only work never needs. So
(:func:`register_on_transformers_import`): if transformers is already imported, register now;
otherwise a one-shot import hook registers right after transformers finishes importing, before the
caller can use it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from libtrad.core.resolve import resolve
from libtrad.models.model_types import MODEL_TYPES, RENAMED, renamed_error


def register_family(config_class, feature_extractor_class, base_model, head_model=None) -> None:
    """Register ``config_class`` with AutoConfig, its feature extractor, ``AutoModel`` -> ``base_model``
    and the map's Auto class -> ``head_model``; old names of this model type get :func:`register_renamed`."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    spec = MODEL_TYPES[config_class.model_type]
    AutoConfig.register(spec.name, config_class, exist_ok=True)
    AutoFeatureExtractor.register(config_class, feature_extractor_class, exist_ok=True)
    AutoModel.register(config_class, base_model, exist_ok=True)
    if head_model is not None:
        resolve(spec.auto_class).register(config_class, head_model, exist_ok=True)
    for old, (new, _) in RENAMED.items():
        if new == spec.name:
            register_renamed(old)


def register_renamed(old: str) -> None:
    """Make ``AutoConfig.from_pretrained`` on a folder saved as ``old`` fail with the one-line fix.

    Only while transformers itself has no model type ``old``: the old name is never taken from a
    transformers model (which is why it was renamed).
    """
    from transformers import AutoConfig, PreTrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if old in CONFIG_MAPPING:
        return

    class RenamedModelType(PreTrainedConfig):
        model_type = old

        @classmethod
        def from_dict(cls, config_dict, **kwargs):
            raise renamed_error(old, kwargs.get("name_or_path"))

    RenamedModelType.__name__ = RenamedModelType.__qualname__ = f"Renamed_{old}_Config"
    AutoConfig.register(old, RenamedModelType)


# ----------------------------------------------------------------------------- on import libtrad
def _families() -> tuple[str, ...]:
    """The packages of every model type (``libtrad.models.model_types``, which imports no torch)."""
    return tuple(dict.fromkeys(t.package for t in MODEL_TYPES.values()))


def register_now() -> None:
    """Import every model family; each registers its config, models and feature extractor."""
    for name in _families():
        importlib.import_module(name)


class _AfterTransformersImport(importlib.abc.MetaPathFinder):
    """A meta-path finder that only wraps the loader of ``transformers`` itself."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "transformers":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            register_now()

        spec.loader.exec_module = exec_module
        return spec


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterTransformersImport)]


def register_on_transformers_import() -> None:
    if "transformers" in sys.modules:
        register_now()
    elif not any(isinstance(f, _AfterTransformersImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTransformersImport())
