"""The one reader of ``"module:attr"`` registrations.

Registries name what they list by text — a dataset component, an encoder kind's class, a suite's
module, a model type's Auto class, a folder kind's check — so that listing them (``libtrad --help``,
an error naming the choices) imports none of the modules they name, and so that a registry in a
lower room can name code in a higher one without importing it. :func:`resolve` imports the module
only when the object is needed. ``tests/test_architecture.py`` checks that every such reference in
the package names a module that exists and an attribute it defines.
"""

from __future__ import annotations

import importlib


def resolve(reference: str):
    """The object ``"package.module:attr"`` names (its module imported on first use)."""
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise ValueError(f"{reference!r}: expected 'module:attr'")
    return getattr(importlib.import_module(module), attribute)
