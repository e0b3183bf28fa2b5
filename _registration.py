"""Register libtrad's models with transformers' Auto classes when transformers is imported.

``import libtrad`` must make ``AutoModel.from_pretrained(dir)`` work, but importing the model
code pulls in torch and transformers (seconds, hundreds of MB) that dataset-only work never
needs. So: if transformers is already imported, register now; otherwise a one-shot import hook
registers right after transformers finishes importing, before the caller can use it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


def _families() -> tuple[str, ...]:
    """The packages of every model type (``libtrad.models.model_types``, which imports no torch)."""
    from libtrad.models.model_types import MODEL_TYPES

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
