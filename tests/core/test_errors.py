"""libtrad's error types survive pickling (how Ray sends a worker's exception to the driver) as themselves."""

from __future__ import annotations

import ast
import importlib
import pickle
from pathlib import Path

import pytest

from libtrad.core.errors import LibtradError, ParameterError

ROOT = Path(__file__).resolve().parents[2]

# One real instance of every LibtradError subclass in the package (the scan below finds them all).
EXAMPLES = {
    "libtrad.core.errors.LibtradError": lambda: LibtradError("data/tr1/train-0.parquet: corrupted"),
    "libtrad.core.errors.ParameterError": lambda: ParameterError("--train-fraction", 1.5, "must lie in (0, 1)"),
    "libtrad.builders.archives.DamagedArchive": lambda: _damaged(),
}


def _damaged():
    from libtrad.builders.archives import DamagedArchive

    return DamagedArchive("raw/fan.zip", "truncated (the central directory is missing)", "; download it again")


def _error_classes() -> set[str]:
    """``module.Class`` of every class in the package deriving (by name, transitively) from LibtradError."""
    found: dict[str, tuple[str, list[str]]] = {}
    skip = {".venv", "tests", "bench", "build", "dist"}
    for path in sorted(ROOT.rglob("*.py")):
        if skip & set(path.relative_to(ROOT).parts):
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(["libtrad", *parts])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                found[node.name] = (module, bases)
    errors = {"LibtradError"}
    while True:
        more = {name for name, (_, bases) in found.items() if set(bases) & errors} - errors
        if not more:
            break
        errors |= more
    return {f"{found[name][0]}.{name}" for name in errors}


def test_every_error_class_has_an_example():
    assert _error_classes() == set(EXAMPLES), "add an example for each new LibtradError subclass"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_pickle_round_trip_keeps_type_message_and_attributes(name):
    import cloudpickle

    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    error = EXAMPLES[name]()
    assert type(error) is cls
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)):
        again = loads(dumps(error))
        assert type(again) is cls and str(again) == str(error) and again.args == error.args
        assert vars(again) == vars(error)
    if isinstance(error, ParameterError):
        assert again.for_flag("--train-fraction") == "--train-fraction 1.5: must lie in (0, 1)"
