"""Ray jobs and the protocols they run, in three rooms:

* :mod:`libtrad.ray_jobs.embedding` — ``libtrad embed`` / ``check-encoder``: encoders, units, the
  actor pool;
* :mod:`libtrad.ray_jobs.evaluation` — ``libtrad evaluate SUITE`` / ``leaderboard``: suites on
  embeddings, metrics, reports;
* :mod:`libtrad.ray_jobs.lib_trad` — the LiB-TRAD paper's training and evaluation of its models;

and :mod:`libtrad.ray_jobs.cluster`, where every job starts or attaches to Ray. Models themselves
live in ``libtrad.models``.

The flat module names of release 0.1 (``libtrad.ray_jobs.embed``, ``…encoders``,
``…suites.siren_dcase``, ``…lib_trad_training`` …) still import for one release: each is the
moved module itself (same object, so patching either name patches both), with a
``DeprecationWarning`` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

# 0.1 module (below libtrad.ray_jobs) -> its home now. Remove in 0.3.
MOVED = {
    "embed": "embedding.embed",
    "embed_source": "embedding.source",
    "embed_units": "embedding.units",
    "embeddings_input": "embedding.embeddings_input",
    "encoders": "embedding.encoders",
    "check_encoder": "embedding.check_encoder",
    "evaluate": "evaluation.evaluate",
    "suite_runner": "evaluation.runner",
    "metrics": "evaluation.metrics",
    "report": "evaluation.report",
    "probe_report": "evaluation.probe_report",
    "leaderboard": "evaluation.leaderboard",
    "suites": "evaluation.suites",
    **{f"lib_trad_{m}": f"lib_trad.{m}" for m in ("training", "data", "evaluation", "loading", "scoring", "metrics",
                                                  "card")},
}
_PREFIX = __name__ + "."


def _new_name(fullname: str) -> str | None:
    """``libtrad.ray_jobs.suites.siren_dcase`` -> ``libtrad.ray_jobs.evaluation.suites.siren_dcase``."""
    if not fullname.startswith(_PREFIX):
        return None
    head, dot, rest = fullname[len(_PREFIX):].partition(".")
    if head not in MOVED:
        return None
    return _PREFIX + MOVED[head] + dot + rest


class _MovedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old name with the module at its new name (imported there, once)."""

    def find_spec(self, fullname, path, target=None):
        new = _new_name(fullname)
        if new is None:
            return None
        found = importlib.util.find_spec(new)
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=found.submodule_search_locations is not None)

    def create_module(self, spec):
        new = _new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {new}; the old name goes in libtrad 0.3", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # the import system sets module.__spec__ to this alias spec next
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state  # already executed under its new name: keep its own spec


if not any(isinstance(f, _MovedModule) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModule())
